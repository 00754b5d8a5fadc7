"""Registered volunteers in 东一社区, for teams to take in."""

from types import SimpleNamespace

import pytest

from tests import factories
from tests.conftest import login


def register(places, serial: int, name: str, verified: bool = False):
    return factories.volunteer(
        places.east_c,
        verified=verified,
        name=name,
        phone=f"137000000{serial:02d}",
        document_number=factories.resident_id(serial=serial),
    )


@pytest.fixture
def volunteers(app, places, people):
    """王小明 (verified), 李大华 and 赵六; log in with their phones 13700000011..13."""
    with app.test_request_context():
        return SimpleNamespace(
            wang=register(places, 11, "王小明", verified=True),
            li=register(places, 12, "李大华"),
            zhao=register(places, 13, "赵六"),
        )


def sign_in(client, login_name):
    """Sign out whoever is signed in on this client, then sign in as login_name."""
    client.post("/logout")
    response = login(client, login_name)
    assert response.status_code == 302, response.data
    return response

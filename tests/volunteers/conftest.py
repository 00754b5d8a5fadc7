"""Volunteer fixtures: register people through the service, each in its own request context."""

import pytest

from tests import factories


@pytest.fixture
def enrol(app, places):
    """enrol(region=None, **overrides) → a committed Volunteer (east community by default)."""

    def make(region=None, **overrides):
        with app.test_request_context():
            return factories.volunteer(region or places.east_c, **overrides)

    return make

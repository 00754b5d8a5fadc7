"""Ledger fixtures: people with a home community and a conversion rate in their district."""

from datetime import date
from types import SimpleNamespace

import pytest

from timebank.auth.models import User
from timebank.extensions import db
from timebank.ledger.models import ConversionRate
from timebank.regions.models import Region


@pytest.fixture
def world(ctx, places, people):
    """Loaded in the test's own session, ready for services called directly."""
    get = db.session.get
    alice = get(User, people.volunteer.id)
    bob = get(User, people.east_staff.id)
    carol = get(User, people.east_leader.id)
    for person in (alice, bob, carol):
        person.region_id = places.east_c.id
    db.session.add(
        ConversionRate(
            region_id=places.district.id, points_per_hour=10, effective_from=date(2020, 1, 1)
        )
    )
    db.session.flush()
    return SimpleNamespace(
        alice=alice,
        bob=bob,
        carol=carol,
        admin=get(User, people.east_admin.id),
        community=get(Region, places.east_c.id),
        street=get(Region, places.east.id),
        district=get(Region, places.district.id),
    )

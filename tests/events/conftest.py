"""Event fixtures: an event at the east station and volunteers to attend it."""

import pytest

from tests import factories
from timebank.extensions import db


@pytest.fixture
def make_event(app, places):
    """make_event(organizer=None, **details) → a published, committed event (east station)."""

    def make(organizer=None, **details):
        organizer = organizer or places.east_station
        with app.test_request_context():
            # Loaded again here: without a context kept pushed (API and page tests push
            # none, so each request gets its own), the fixture's objects are detached.
            fresh = db.session.get(type(organizer), organizer.id)
            return factories.event(fresh, **details)

    return make


@pytest.fixture
def enrol(app, places):
    """enrol(verified=True, **registration) → a committed Volunteer in the east community."""
    counter = iter(range(1, 10_000))

    def make(region=None, verified=True, **overrides):
        n = next(counter)
        overrides.setdefault("phone", f"137{n:08d}")
        overrides.setdefault("document_number", factories.resident_id(serial=n))
        overrides.setdefault("name", f"志愿者{n}")
        with app.test_request_context():
            return factories.volunteer(region or places.east_c, verified=verified, **overrides)

    return make

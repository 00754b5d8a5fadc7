"""Real processes approving whole events in one street at once: the rollup rows they share
are written at commit in one order, so neither waits for the other in a cycle, and the
rollups still equal their recomputation. Races are real on PostgreSQL."""

from datetime import timedelta

import pytest

from tests import racing
from tests.conftest import TEST_DATABASE_URL, fresh_database
from tests.events.test_concurrency import _setup

POSTGRES = TEST_DATABASE_URL.startswith("postgres")
ROUNDS = 3 if POSTGRES else 1
PER_EVENT = 12  # enough credits per transaction to touch every rollup slot

pytestmark = pytest.mark.slow


@pytest.fixture
def fresh_url(tmp_path):
    with fresh_database(tmp_path, "timebank_rollups") as url:
        yield url


def test_batch_approvals_in_one_street_at_once_both_succeed(fresh_url, tmp_path):
    instance = str(tmp_path)
    # Each event on its own day: their service rows differ, the ledger's rows of today are
    # shared, spread over the slots in the order of each transaction's credits.
    events = [dict(starts_in=-150 - n * 1440, lasts=120) for n in range(2 * ROUNDS)]
    ids = _setup(fresh_url, instance, 2 * ROUNDS * PER_EVENT, events)
    app = racing.make_app(fresh_url, instance)
    with app.test_request_context():
        from timebank.auth.models import User
        from timebank.events import attendance
        from timebank.events.models import Event, Via
        from timebank.extensions import db

        for n, event_id in enumerate(ids["events"]):
            event = db.session.get(Event, event_id)
            for user_id in ids["users"][n * PER_EVENT : (n + 1) * PER_EVENT]:
                person = db.session.get(User, user_id)
                arrived = event.starts_at + timedelta(minutes=5)
                attendance.check_in(event, person, via=Via.KIOSK, at=arrived)
                attendance.check_out(
                    event, person, via=Via.KIOSK, at=arrived + timedelta(minutes=60)
                )
        db.session.commit()
    racing.dispose(app)

    def plan(offset):
        return [
            ("POST", f"/api/v1/events/{event_id}/service-records/approve", None)
            for event_id in ids["events"][offset::2]
        ]

    answers = racing.race(fresh_url, instance, {"eaststaff": plan(0), "eaststaff2": plan(1)})

    for login, replies in answers.items():
        assert [status for status, _ in replies] == [200] * ROUNDS, (login, replies)
    total = 2 * ROUNDS * PER_EVENT
    assert (
        racing.scalar(fresh_url, "SELECT count(*) FROM service_record WHERE state = 'approved'")
        == total
    )
    assert racing.scalar(fresh_url, "SELECT sum(people_times) FROM rollup_service_day") == total
    assert (
        racing.scalar(
            fresh_url, "SELECT sum(amount) FROM rollup_ledger_day WHERE kind = 'service_credit'"
        )
        == 60 * total
    )
    racing.assert_ledger_verifies(fresh_url, instance)
    app = racing.make_app(fresh_url, instance)
    with app.app_context():
        from timebank.reports import rollups

        for model in rollups.ROLLUPS:
            assert rollups.current(model) == rollups.recompute(model), model.__tablename__
    racing.dispose(app)

"""Real processes racing through the Events API, each with its own app and connection:
two devices scanning the same person, two approvers deciding the same record, everyone
signing up for the last place. Run against the suite's backend (SQLite file or PostgreSQL,
where the races are real); each test gets a fresh database, as the rows are committed.
"""

from datetime import timedelta

import pytest

from tests import racing
from tests.conftest import TEST_DATABASE_URL, fresh_database

POSTGRES = TEST_DATABASE_URL.startswith("postgres")
VOLUNTEERS = 20  # people scanned by two devices at once, one round each
ROUNDS = 4 if POSTGRES else 2  # events whose last place everyone wants at once
SIGNUPS = 6 if POSTGRES else 4  # processes signing up for that place

pytestmark = pytest.mark.slow


@pytest.fixture
def fresh_url(tmp_path):
    with fresh_database(tmp_path, "timebank_events") as url:
        yield url


def _setup(url: str, instance: str, volunteers: int, events: list[dict], signed_up=()) -> dict:
    """Migrate; places, people, a second east staff member, `volunteers` verified
    volunteers, and events at the east station (factories.event keyword arguments).
    Volunteers at the indexes in `signed_up` are signed up for the first event."""
    from flask_migrate import upgrade

    from tests import factories
    from timebank.auth.models import Role
    from timebank.events import services
    from timebank.extensions import db

    app = racing.make_app(url, instance)
    with app.app_context():
        upgrade()
    with app.test_request_context():
        places = factories.places()
        for login in ("eaststaff", "eaststaff2"):  # two devices, two approvers
            factories.user(login, Role.STATION_STAFF, places.east_station.id)
        made = [
            factories.volunteer(
                places.east_c,
                verified=True,
                name=f"并发志愿者{n}",
                phone=f"137{n:08d}",
                document_number=factories.resident_id(serial=n),
            )
            for n in range(1, volunteers + 1)
        ]
        made_events = [factories.event(places.east_station, **details) for details in events]
        for n in signed_up:
            services.sign_up(made[n].user, made_events[0])
        db.session.commit()
        ids = {
            "volunteers": [v.id for v in made],
            "users": [v.user.id for v in made],
            "logins": [v.user.phone for v in made],
            "events": [e.id for e in made_events],
        }
    racing.dispose(app)
    return ids


def test_two_devices_scanning_one_person_record_one_attendance(fresh_url, tmp_path):
    """Two staff devices scan each of 20 volunteers at the same moment: half of them signed
    up beforehand (the race is on the attendance row), half walk-ins (on the sign-up too)."""
    instance = str(tmp_path)
    ids = _setup(
        fresh_url,
        instance,
        VOLUNTEERS,
        [dict(starts_in=-10, lasts=120)],
        signed_up=range(0, VOLUNTEERS, 2),
    )
    event_id = ids["events"][0]
    app = racing.make_app(fresh_url, instance)
    with app.test_request_context():
        from timebank.extensions import db
        from timebank.volunteers import codes
        from timebank.volunteers.models import Volunteer

        cards = [codes.card_token(db.session.get(Volunteer, v)) for v in ids["volunteers"]]
    racing.dispose(app)
    path = f"/api/v1/events/{event_id}/scans"

    def plan(device):
        return [
            ("POST", path, {"token": card, "purpose": "checkin", "nonce": f"{device}-{n:08d}"})
            for n, card in enumerate(cards)
        ]

    answers = racing.race(fresh_url, instance, {"eaststaff": plan("a"), "eaststaff2": plan("b")})

    for n, user_id in enumerate(ids["users"]):
        pair = [answers["eaststaff"][n], answers["eaststaff2"][n]]
        assert [status for status, _ in pair] == [200, 200], pair
        bodies = sorted((body for _, body in pair), key=lambda b: b["outcome"])
        assert [b["outcome"] for b in bodies] == ["already_checked_in", "checked_in"], pair
        assert [b["recorded"] for b in bodies] == [False, True]
        # The second device answers with the first one's time and record.
        assert bodies[0]["at"] == bodies[1]["at"]
        assert bodies[0]["attendance_id"] == bodies[1]["attendance_id"]
        assert {b["volunteer"]["user_id"] for b in bodies} == {user_id}
    per_person = racing.rows(
        fresh_url,
        "SELECT user_id, count(*) FROM attendance WHERE event_id = :e GROUP BY user_id",
        e=event_id,
    )
    assert sorted(per_person) == sorted((u, 1) for u in ids["users"])
    signups = racing.rows(
        fresh_url,
        "SELECT user_id, state, walk_in FROM signup WHERE event_id = :e ORDER BY user_id",
        e=event_id,
    )
    assert [(u, s) for u, s, _ in signups] == [(u, "confirmed") for u in sorted(ids["users"])]
    assert sum(bool(w) for _, _, w in signups) == VOLUNTEERS // 2
    assert racing.scalar(fresh_url, "SELECT count(*) FROM scan") == 2 * VOLUNTEERS


def _served(url: str, instance: str, count: int) -> tuple[dict, list[int]]:
    """`count` verified volunteers with an hour's pending record each at one east event."""
    ids = _setup(url, instance, count, [dict(starts_in=-90, lasts=120)])
    app = racing.make_app(url, instance)
    with app.test_request_context():
        from timebank.auth.models import User
        from timebank.events import attendance
        from timebank.events.models import Event, ServiceRecord, Via
        from timebank.extensions import db

        event = db.session.get(Event, ids["events"][0])
        for user_id in ids["users"]:
            person = db.session.get(User, user_id)
            arrived = event.starts_at + timedelta(minutes=5)
            attendance.check_in(event, person, via=Via.KIOSK, at=arrived)
            attendance.check_out(event, person, via=Via.KIOSK, at=arrived + timedelta(minutes=60))
        db.session.commit()
        record_ids = db.session.scalars(
            db.select(ServiceRecord.id).order_by(ServiceRecord.user_id)
        ).all()
    racing.dispose(app)
    return ids, record_ids


def test_two_approvers_at_once_credit_once(fresh_url, tmp_path):
    """Two staff members approve each of ten records at the same moment."""
    instance = str(tmp_path)
    count = VOLUNTEERS // 2
    ids, record_ids = _served(fresh_url, instance, count)
    assert len(record_ids) == count
    plan = [("POST", f"/api/v1/service-records/{r}/approve", None) for r in record_ids]

    answers = racing.race(fresh_url, instance, {"eaststaff": plan, "eaststaff2": plan})

    for n in range(count):
        pair = [answers["eaststaff"][n], answers["eaststaff2"][n]]
        assert sorted(status for status, _ in pair) == [200, 409], pair
        refused = next(body for status, body in pair if status == 409)
        assert refused["error"]["code"] == "already_decided"
    credits = racing.rows(
        fresh_url,
        "SELECT a.user_id, e.amount FROM ledger_entry e"
        " JOIN ledger_transaction t ON t.id = e.transaction_id"
        " JOIN ledger_account a ON a.id = e.account_id"
        " WHERE t.kind = 'service_credit' AND a.user_id IS NOT NULL ORDER BY a.user_id",
    )
    assert credits == [(u, 60) for u in sorted(ids["users"])]
    balances = racing.rows(
        fresh_url,
        "SELECT user_id, balance FROM ledger_account WHERE kind = 'hours' ORDER BY user_id",
    )
    assert balances == [(u, 60) for u in sorted(ids["users"])]
    states = racing.rows(fresh_url, "SELECT DISTINCT state FROM service_record")
    assert states == [("approved",)]
    racing.assert_ledger_verifies(fresh_url, instance)


def test_the_last_place_goes_to_exactly_one(fresh_url, tmp_path):
    """SIGNUPS volunteers sign up at the same moment for events with one place, round after
    round: one is confirmed, everyone else is on the waiting list."""
    instance = str(tmp_path)
    ids = _setup(
        fresh_url,
        instance,
        SIGNUPS,
        [dict(starts_in=24 * 60, capacity=1, title=f"名额{n}") for n in range(ROUNDS)],
    )
    plan = [("POST", f"/api/v1/events/{e}/signups", None) for e in ids["events"]]

    answers = racing.race(fresh_url, instance, {login: plan for login in ids["logins"]})

    for n, event_id in enumerate(ids["events"]):
        round_ = [answers[login][n] for login in ids["logins"]]
        assert [status for status, _ in round_] == [201] * SIGNUPS, round_
        states = sorted(body["state"] for _, body in round_)
        assert states == ["confirmed"] + ["waitlisted"] * (SIGNUPS - 1), round_
        stored = racing.rows(
            fresh_url,
            "SELECT state, count(*) FROM signup WHERE event_id = :e GROUP BY state ORDER BY state",
            e=event_id,
        )
        assert stored == [("confirmed", 1), ("waitlisted", SIGNUPS - 1)]


def test_approve_and_reject_at_once_decide_once(fresh_url, tmp_path):
    """One staff member approves each record as another rejects it: one of them wins, and
    the ledger holds a credit exactly for the records that ended approved."""
    instance = str(tmp_path)
    ids, record_ids = _served(fresh_url, instance, VOLUNTEERS // 2)
    approving = [("POST", f"/api/v1/service-records/{r}/approve", None) for r in record_ids]
    rejecting = [
        ("POST", f"/api/v1/service-records/{r}/reject", {"reason": "未见到本人"})
        for r in record_ids
    ]

    answers = racing.race(fresh_url, instance, {"eaststaff": approving, "eaststaff2": rejecting})

    for n in range(len(record_ids)):
        pair = [answers["eaststaff"][n], answers["eaststaff2"][n]]
        assert sorted(status for status, _ in pair) == [200, 409], pair
    approved = racing.rows(
        fresh_url,
        "SELECT user_id FROM service_record WHERE state = 'approved' ORDER BY user_id",
    )
    credited = racing.rows(
        fresh_url,
        "SELECT user_id FROM ledger_account WHERE kind = 'hours' AND balance = 60 ORDER BY user_id",
    )
    assert credited == approved
    assert (
        racing.scalar(fresh_url, "SELECT count(*) FROM service_record WHERE state = 'pending'") == 0
    )
    racing.assert_ledger_verifies(fresh_url, instance)


def test_two_staff_resolving_one_dispute_at_once_correct_it_once(fresh_url, tmp_path):
    """Each approved record is disputed; two staff members correct the dispute to 90
    minutes at the same moment: one supplementary record of 30 minutes, not two."""
    instance = str(tmp_path)
    ids, record_ids = _served(fresh_url, instance, VOLUNTEERS // 2)
    app = racing.make_app(fresh_url, instance)
    with app.test_request_context():
        from timebank.auth.models import User
        from timebank.events import records
        from timebank.events.models import ServiceRecord
        from timebank.extensions import db

        staff = db.session.scalar(db.select(User).filter_by(username="eaststaff"))
        disputes = []
        for record_id in record_ids:
            item = db.session.get(ServiceRecord, record_id)
            records.approve(staff, item)
            disputes.append(records.dispute(item.user, item, "我到得更早").id)
        db.session.commit()
    racing.dispose(app)
    body = {"resolution": "签到表核实", "corrected_minutes": 90}
    plan = [("POST", f"/api/v1/disputes/{d}/resolve", body) for d in disputes]

    answers = racing.race(fresh_url, instance, {"eaststaff": plan, "eaststaff2": plan})

    for n in range(len(disputes)):
        pair = [answers["eaststaff"][n], answers["eaststaff2"][n]]
        assert sorted(status for status, _ in pair) == [200, 409], pair
    supplements = racing.rows(
        fresh_url,
        "SELECT corrects_id, minutes FROM service_record WHERE corrects_id IS NOT NULL"
        " ORDER BY corrects_id",
    )
    assert supplements == [(r, 30) for r in record_ids]

"""Events API through HTTP with bearer tokens: organizing, sign-ups, event codes, check-ins,
staff scans and service records; every refusal in the one error shape."""

import io
import time
from datetime import UTC, datetime, timedelta

import pytest
import zxingcpp
from PIL import Image

from tests import factories
from timebank.auth.models import Role, User
from timebank.core.db import utcnow
from timebank.events import tokens
from timebank.events.models import Attendance, Event, Scan, ServiceRecord, Signup
from timebank.extensions import db
from timebank.ledger.models import Account, AccountKind, Entry, Transaction, TransactionKind
from timebank.volunteers import codes

API = "/api/v1"


# Helpers


def refused(response, status: int, code: str | None = None, field: str | None = None) -> dict:
    """The one error shape, with this status (and code, and field when given)."""
    assert response.status_code == status, response.json
    assert set(response.json) == {"error"}, response.json
    error = response.json["error"]
    assert {"code", "message", "status"} <= error.keys()
    assert error["status"] == status
    assert isinstance(error["message"], str) and error["message"]
    if code is not None:
        assert error["code"] == code, error
    if field is not None:
        assert field in error.get("fields", {}), error
    return error


def ok(response, status: int = 200) -> dict:
    assert response.status_code == status, response.json
    return response.json


def count(model, **filters) -> int:
    """Rows as the database has them now (the test body shares the requests' connection)."""
    return db.session.scalar(db.select(db.func.count()).select_from(model).filter_by(**filters))


def service_credits(user_id: int) -> list[int]:
    """Minutes of every service credit into this person's hours account, oldest first."""
    return db.session.scalars(
        db.select(Entry.amount)
        .join(Transaction, Entry.transaction_id == Transaction.id)
        .join(Account, Entry.account_id == Account.id)
        .where(
            Account.user_id == user_id,
            Account.kind == AccountKind.HOURS,
            Transaction.kind == TransactionKind.SERVICE_CREDIT,
        )
        .order_by(Entry.id)
    ).all()


def at(value: str) -> datetime:
    return datetime.fromisoformat(value)


def decode(png: bytes) -> str:
    results = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))
    assert len(results) == 1
    return results[0].text


def iso(moment: datetime) -> str:
    return moment.isoformat()


# Codes are made with the app's keys, in an app context of their own.
_APP = {}


@pytest.fixture(autouse=True)
def _codes_app(app):
    _APP["app"] = app
    yield
    _APP.clear()


def _in_app(make, *args, **kwargs):
    with _APP["app"].app_context():
        return make(*args, **kwargs)


def kiosk(event, purpose=tokens.CHECK_IN, now=None) -> str:
    return _in_app(tokens.kiosk_token, event, purpose, now=now)[0]


def poster(event, purpose=tokens.CHECK_IN) -> str:
    return _in_app(tokens.poster_token, event, purpose)


def card(volunteer) -> str:
    return _in_app(codes.card_token, volunteer)


def phone_code(volunteer, now=None) -> str:
    return _in_app(codes.phone_token, volunteer, now=now)[0]


@pytest.fixture
def staff_user(app, places):
    """staff_user(login, station) → a committed station staff member."""

    def make(login, station=None):
        with app.test_request_context():
            return factories.user(login, Role.STATION_STAFF, (station or places.east_station).id)

    return make


def volunteer_login(volunteer) -> str:
    return volunteer.user.phone


def event_body(**overrides) -> dict:
    start = utcnow().replace(microsecond=0) + timedelta(days=2)
    body = {
        "title": "敬老院陪伴",
        "starts_at": iso(start),
        "ends_at": iso(start + timedelta(hours=2)),
        "category": "elderly",
        "capacity": 10,
    }
    body.update(overrides)
    return body


def check_in(client, headers, event, purpose=tokens.CHECK_IN, **body):
    token = kiosk(event, purpose)
    return client.post(f"{API}/checkins", json={"token": token, **body}, headers=headers)


def scan(client, headers, event, token, purpose=tokens.CHECK_IN, nonce=None, **body):
    nonce = nonce or f"nonce-{time.monotonic_ns()}"
    return client.post(
        f"{API}/events/{event.id}/scans",
        json={"token": token, "purpose": purpose, "nonce": nonce, **body},
        headers=headers,
    )


# Creating and changing events


def test_station_staff_create_events_for_their_own_station_only(client, places, auth):
    staff = auth("eaststaff")
    made = ok(
        client.post(
            f"{API}/events", json=event_body(station_id=places.east_station.id), headers=staff
        ),
        201,
    )
    assert made["state"] == "draft" and made["station_id"] == places.east_station.id
    assert made["organizer"] == "东一站" and made["region_id"] == places.east_c.id
    assert made["signed_up"] == 0

    west = client.post(
        f"{API}/events", json=event_body(station_id=places.west_station.id), headers=staff
    )
    refused(west, 403, "forbidden")
    missing = client.post(f"{API}/events", json=event_body(station_id=999_999), headers=staff)
    refused(missing, 422, field="station_id")
    both = client.post(
        f"{API}/events",
        json=event_body(station_id=places.east_station.id, organization_id=places.east_team.id),
        headers=staff,
    )
    refused(both, 422, field="station_id")
    assert count(Event) == 1


def test_team_leaders_create_events_for_their_team(client, places, auth):
    leader = auth("eastleader")
    made = ok(
        client.post(
            f"{API}/events", json=event_body(organization_id=places.east_team.id), headers=leader
        ),
        201,
    )
    assert made["organization_id"] == places.east_team.id and made["station_id"] is None
    assert made["organizer"] == "东街服务队"
    for other in ({"organization_id": places.west_team.id}, {"station_id": places.east_station.id}):
        refused(client.post(f"{API}/events", json=event_body(**other), headers=leader), 403)
    # A volunteer organizes nothing.
    refused(
        client.post(
            f"{API}/events",
            json=event_body(station_id=places.east_station.id),
            headers=auth("13900000001"),
        ),
        403,
    )


def test_an_event_ending_before_it_starts_is_refused_on_its_field(client, places, auth):
    start = utcnow().replace(microsecond=0) + timedelta(days=1)
    body = event_body(
        station_id=places.east_station.id,
        starts_at=iso(start),
        ends_at=iso(start - timedelta(minutes=30)),
    )
    error = refused(client.post(f"{API}/events", json=body, headers=auth("eaststaff")), 422)
    assert list(error["fields"]) == ["ends_at"]
    # Several mistakes are reported at once, each on its field.
    body.update(title="  ", capacity=0)
    error = refused(client.post(f"{API}/events", json=body, headers=auth("eaststaff")), 422)
    assert {"title", "ends_at", "capacity"} <= error["fields"].keys()
    assert count(Event) == 0


def test_capacity_cannot_drop_below_the_sign_ups(client, places, auth, make_event, enrol):
    event = make_event(starts_in=24 * 60, capacity=5, walk_ins=False, description="带上水杯")
    for _ in range(3):
        volunteer = enrol()
        ok(
            client.post(
                f"{API}/events/{event.id}/signups", headers=auth(volunteer_login(volunteer))
            ),
            201,
        )
    staff = auth("eaststaff")
    error = refused(
        client.patch(f"{API}/events/{event.id}", json={"capacity": 2}, headers=staff),
        422,
        "validation_error",
        field="capacity",
    )
    assert "3" in error["fields"]["capacity"][0]
    assert ok(client.get(f"{API}/events/{event.id}"))["capacity"] == 5
    changed = ok(
        client.patch(
            f"{API}/events/{event.id}", json={"capacity": 3, "title": "改名活动"}, headers=staff
        )
    )
    assert (changed["capacity"], changed["title"], changed["signed_up"]) == (3, "改名活动", 3)
    # A PATCH changes only what it sends: the rest keeps its values, not the defaults.
    assert (changed["walk_ins"], changed["description"]) == (False, "带上水杯")
    # Volunteers change nothing.
    refused(
        client.patch(f"{API}/events/{event.id}", json={"title": "x"}, headers=auth("13900000001")),
        403,
    )


# Life cycle and visibility


def test_publish_cancel_and_drafts_invisible_to_others(client, places, auth):
    staff = auth("eaststaff")
    draft = ok(
        client.post(
            f"{API}/events", json=event_body(station_id=places.east_station.id), headers=staff
        ),
        201,
    )
    url = f"{API}/events/{draft['id']}"
    assert ok(client.get(url, headers=staff))["state"] == "draft"
    refused(client.get(url), 404, "not_found")
    refused(client.get(url, headers=auth("13900000001")), 404, "not_found")
    refused(client.get(url, headers=auth("eastleader")), 404, "not_found")
    refused(client.post(f"{url}/publish", headers=auth("13900000001")), 404)
    assert ok(client.get(f"{API}/events"))["total"] == 0

    assert ok(client.post(f"{url}/publish", headers=staff))["state"] == "published"
    refused(client.post(f"{url}/publish", headers=staff), 409)
    assert ok(client.get(url))["state"] == "published"
    assert [e["id"] for e in ok(client.get(f"{API}/events"))["items"]] == [draft["id"]]
    refused(client.post(f"{url}/cancel", headers=auth("13900000001"), json={"reason": "x"}), 403)

    refused(client.post(f"{url}/cancel", json={}, headers=staff), 422, field="reason")
    refused(
        client.post(f"{url}/cancel", json={"reason": "   "}, headers=staff), 422, field="reason"
    )
    assert ok(client.get(url))["state"] == "published"
    cancelled = ok(client.post(f"{url}/cancel", json={"reason": "暴雨预警"}, headers=staff))
    assert cancelled["state"] == "cancelled"
    assert ok(client.get(f"{API}/events"))["total"] == 0
    refused(client.post(f"{url}/finish", headers=staff), 409)
    refused(client.patch(url, json={"title": "再来"}, headers=staff), 409)


def test_finish_closes_forgotten_check_outs_flagged(client, auth, make_event, enrol):
    upcoming = make_event(starts_in=120)
    refused(client.post(f"{API}/events/{upcoming.id}/finish", headers=auth("eaststaff")), 409)

    event = make_event(starts_in=-30, lasts=60)
    volunteer = enrol()
    ok(check_in(client, auth(volunteer_login(volunteer)), event))
    finished = ok(client.post(f"{API}/events/{event.id}/finish", headers=auth("eaststaff")))
    assert finished["state"] == "finished"
    listed = ok(
        client.get(f"{API}/service-records?event_id={event.id}", headers=auth("eaststaff"))
    )["items"]
    assert len(listed) == 1
    assert listed[0]["flagged"] and listed[0]["state"] == "pending"
    assert listed[0]["flag_reason"]
    refused(client.post(f"{API}/events/{event.id}/finish", headers=auth("eaststaff")), 409)


def test_list_filters_by_words_category_region_and_start(client, places, make_event):
    now = utcnow()
    soon = make_event(title="社区助老活动", category="elderly", starts_in=60)
    later = make_event(title="河道清洁", category="environment", starts_in=3 * 24 * 60)
    west = make_event(places.west_station, title="西街助老", category="elderly", starts_in=120)
    team = make_event(places.east_team, title="东街义诊", category="health", starts_in=30)
    running = make_event(title="正在进行", starts_in=-30, lasts=120)
    make_event(title="草稿", publish=False)
    make_event(title="已结束", starts_in=-300, lasts=60)

    def ids(query=""):
        return [e["id"] for e in ok(client.get(f"{API}/events{query}"))["items"]]

    assert ids() == [running.id, team.id, soon.id, west.id, later.id]
    assert ids("?q=助老") == [soon.id, west.id]
    assert ids("?category=elderly") == [soon.id, west.id]
    assert ids(f"?region_id={places.east.id}") == [running.id, team.id, soon.id, later.id]
    assert ids(f"?region_id={places.west_c.id}") == [west.id]
    after = (now + timedelta(days=1)).isoformat()
    assert ids("?" + _query(starts_after=after)) == [later.id]
    assert ids("?" + _query(starts_before=after, category="elderly")) == [soon.id, west.id]
    page = ok(client.get(f"{API}/events?per_page=2&page=2"))
    assert page["total"] == 5 and [e["id"] for e in page["items"]] == [soon.id, west.id]
    refused(client.get(f"{API}/events?region_id=999999"), 422, field="region_id")
    refused(client.get(f"{API}/events?category=parties"), 422, field="category")


def _query(**params) -> str:
    from urllib.parse import urlencode

    return urlencode(params)


# Sign-ups


def test_waiting_list_moves_up_when_someone_cancels(client, auth, make_event, enrol):
    event = make_event(starts_in=24 * 60, capacity=1)
    first, second, third = (auth(volunteer_login(enrol())) for _ in range(3))
    url = f"{API}/events/{event.id}/signups"
    assert ok(client.post(url, headers=first), 201)["state"] == "confirmed"
    assert ok(client.post(url, headers=second), 201)["state"] == "waitlisted"
    assert ok(client.post(url, headers=third), 201)["state"] == "waitlisted"
    refused(client.post(url, headers=first), 409, "already_signed_up")
    assert ok(client.get(f"{API}/events/{event.id}"))["signed_up"] == 1

    # Each volunteer sees their own sign-up; the organizers see everyone.
    mine = ok(client.get(url, headers=second))["items"]
    assert [s["state"] for s in mine] == ["waitlisted"]
    everyone = ok(client.get(url, headers=auth("eaststaff")))["items"]
    assert [s["state"] for s in everyone] == ["confirmed", "waitlisted", "waitlisted"]

    cancelled = ok(client.delete(f"{url}/mine", headers=first))
    assert cancelled["state"] == "cancelled"
    assert [s["state"] for s in ok(client.get(url, headers=second))["items"]] == ["confirmed"]
    assert [s["state"] for s in ok(client.get(url, headers=third))["items"]] == ["waitlisted"]
    assert ok(client.get(f"{API}/events/{event.id}"))["signed_up"] == 1
    refused(client.delete(f"{url}/mine", headers=first), 404)
    # Signing up again goes to the back of the queue.
    assert ok(client.post(url, headers=first), 201)["state"] == "waitlisted"
    # More room moves the queue up, first come first served.
    staff = auth("eaststaff")
    ok(client.patch(f"{API}/events/{event.id}", json={"capacity": 2}, headers=staff))
    assert [s["state"] for s in ok(client.get(url, headers=third))["items"]] == ["confirmed"]
    assert [s["state"] for s in ok(client.get(url, headers=first))["items"]] == ["waitlisted"]


def test_a_volunteer_must_register_before_signing_up(client, auth, make_event):
    event = make_event(starts_in=24 * 60)
    refused(
        client.post(f"{API}/events/{event.id}/signups", headers=auth("13900000001")),
        422,
        "not_registered",
    )
    assert count(Signup) == 0


def test_cancelling_after_the_deadline_is_refused(client, auth, make_event, enrol):
    event = make_event(starts_in=60, cancel_before_minutes=120, capacity=1)
    signed, waiting = auth(volunteer_login(enrol())), auth(volunteer_login(enrol()))
    url = f"{API}/events/{event.id}/signups"
    ok(client.post(url, headers=signed), 201)
    ok(client.post(url, headers=waiting), 201)
    refused(client.delete(f"{url}/mine", headers=signed), 409, "too_late")
    assert [s["state"] for s in ok(client.get(url, headers=signed))["items"]] == ["confirmed"]
    # Leaving the waiting list is always possible.
    assert ok(client.delete(f"{url}/mine", headers=waiting))["state"] == "cancelled"


def test_staff_add_a_walk_in_whatever_the_capacity(client, auth, make_event, enrol):
    event = make_event(starts_in=-10, capacity=1)
    taken, walk_in = enrol(), enrol()
    url = f"{API}/events/{event.id}/signups"
    ok(client.post(url, headers=auth(volunteer_login(taken))), 201)
    added = ok(client.post(url, json={"user_id": walk_in.user.id}, headers=auth("eaststaff")), 201)
    assert added["walk_in"] and added["state"] == "confirmed"
    assert added["user_id"] == walk_in.user.id
    assert ok(client.get(f"{API}/events/{event.id}"))["signed_up"] == 2
    # Only organizers add other people.
    other = enrol()
    refused(
        client.post(url, json={"user_id": other.user.id}, headers=auth(volunteer_login(taken))),
        403,
    )
    refused(
        client.post(url, json={"user_id": 999_999}, headers=auth("eaststaff")),
        422,
        field="user_id",
    )
    assert count(Signup, user_id=other.user.id) == 0


# Event codes


def test_event_qr_as_svg_and_png_carries_the_absolute_scan_url(client, auth, make_event):
    event = make_event()
    staff = auth("eaststaff")
    svg = client.get(f"{API}/events/{event.id}/qr", headers=staff)
    assert svg.status_code == 200 and svg.mimetype == "image/svg+xml"
    assert svg.data.lstrip().startswith((b"<?xml", b"<svg"))
    assert svg.headers["Cache-Control"] == "no-store"
    assert int(svg.headers["X-Code-Expires"]) > time.time()

    png = client.get(f"{API}/events/{event.id}/qr?format=png&purpose=checkout", headers=staff)
    assert png.status_code == 200 and png.mimetype == "image/png"
    link = decode(png.data)
    assert link == png.headers["X-Code-URL"]
    assert link.startswith(("http://", "https://")) and "/e/TBK." in link
    token = link.rsplit("/e/", 1)[1]
    assert ".O." in token  # a check-out code
    with client.application.test_request_context():
        presented = tokens.resolve(token)
        assert (presented.event.id, presented.purpose) == (event.id, tokens.CHECK_OUT)

    poster = client.get(f"{API}/events/{event.id}/qr?kind=poster&format=png", headers=staff)
    assert decode(poster.data) == poster.headers["X-Code-URL"]
    assert "/e/TBS." in poster.headers["X-Code-URL"]
    assert "X-Code-Expires" not in poster.headers

    refused(client.get(f"{API}/events/{event.id}/qr", headers=auth("13900000001")), 403)
    refused(client.get(f"{API}/events/{event.id}/qr?format=gif", headers=staff), 422)


def test_a_kiosk_check_in_is_recorded_once(client, auth, make_event, enrol):
    event = make_event(starts_in=-10)
    volunteer = enrol()
    me = auth(volunteer_login(volunteer))
    ok(client.post(f"{API}/events/{event.id}/signups", headers=me), 201)
    first = ok(check_in(client, me, event))
    assert first["outcome"] == "checked_in" and first["recorded"]
    assert first["event_id"] == event.id and not first["walk_in"]
    assert first["volunteer"]["user_id"] == volunteer.user.id
    assert not first["pending_verification"] and first["message"]
    again = ok(check_in(client, me, event))
    assert again["outcome"] == "already_checked_in" and not again["recorded"]
    assert at(again["at"]) == at(first["at"])
    assert again["attendance_id"] == first["attendance_id"]
    assert count(Attendance, event_id=event.id) == 1


def test_tampered_and_expired_codes_record_nothing(client, app, auth, make_event, enrol):
    event = make_event(starts_in=-10)
    me = auth(volunteer_login(enrol()))
    token = kiosk(event, tokens.CHECK_IN)
    head, mac = token.rsplit(".", 1)
    tampered = f"{head}.{'A' if mac[0] != 'A' else 'B'}{mac[1:]}"
    for bad in (tampered, token.replace(".I.", ".O."), "https://example.com/e/x", ""):
        response = client.post(f"{API}/checkins", json={"token": bad}, headers=me)
        refused(response, 422, "unknown_code", field="token")
    period = app.config["EVENT_CODE_SECONDS"]
    old = kiosk(event, tokens.CHECK_IN, now=time.time() - 2 * period)
    refused(client.post(f"{API}/checkins", json={"token": old}, headers=me), 422, "code_expired")
    assert count(Attendance) == 0 and count(Signup) == 0


def test_the_previous_kiosk_code_works_only_within_the_grace(
    client, app, auth, make_event, enrol, monkeypatch
):
    from timebank.events import attendance

    event = make_event(starts_in=-10)
    period, grace = app.config["EVENT_CODE_SECONDS"], app.config["EVENT_CODE_GRACE_SECONDS"]
    rotated = (time.time() // period) * period  # the current code took over then
    previous = kiosk(event, tokens.CHECK_IN, now=rotated - 1)
    clock = {"now": rotated + grace - 1}
    monkeypatch.setattr(attendance, "utcnow", lambda: datetime.fromtimestamp(clock["now"], UTC))
    late, later = enrol(), enrol()
    accepted = client.post(
        f"{API}/checkins", json={"token": previous}, headers=auth(volunteer_login(late))
    )
    assert ok(accepted)["outcome"] == "checked_in"
    clock["now"] = rotated + grace + 1
    response = client.post(
        f"{API}/checkins", json={"token": previous}, headers=auth(volunteer_login(later))
    )
    refused(response, 422, "code_expired")
    assert count(Attendance, user_id=later.user.id) == 0


def test_a_code_checks_into_the_event_it_names_only(client, places, auth, make_event, enrol):
    mine = make_event(starts_in=-10, title="我报名的活动")
    other = make_event(places.east_team, starts_in=-10, title="另一个活动")
    me = auth(volunteer_login(enrol()))
    ok(client.post(f"{API}/events/{mine.id}/signups", headers=me), 201)
    # The other event's code checks in to the other event, never to mine.
    done = ok(check_in(client, me, other))
    assert done["event_id"] == other.id
    assert count(Attendance, event_id=mine.id) == 0
    assert count(Attendance, event_id=other.id) == 1
    # Swapping the event inside a code breaks its signature.
    token = kiosk(other, tokens.CHECK_IN)
    swapped = token.replace(other.qr_handle, mine.qr_handle)
    refused(
        client.post(f"{API}/checkins", json={"token": swapped}, headers=me), 422, "unknown_code"
    )
    assert count(Attendance, event_id=mine.id) == 0


def test_regenerated_codes_revoke_the_old_ones(client, auth, make_event, enrol):
    event = make_event(starts_in=-10)
    staff = auth("eaststaff")
    old_kiosk = kiosk(event, tokens.CHECK_IN)
    old_poster = poster(event, tokens.CHECK_IN)
    ok(client.post(f"{API}/events/{event.id}/regenerate-codes", headers=staff))
    me = auth(volunteer_login(enrol()))
    for old in (old_kiosk, old_poster):
        response = client.post(f"{API}/checkins", json={"token": old}, headers=me)
        refused(response, 422, "code_revoked")
    assert count(Attendance) == 0
    fresh = client.get(f"{API}/events/{event.id}/qr?format=png", headers=staff)
    link = decode(fresh.data)
    token = link.rsplit("/e/", 1)[1]
    assert token != old_kiosk
    assert ok(client.post(f"{API}/checkins", json={"token": token}, headers=me))["recorded"]


def test_a_poster_code_works_only_around_the_event(client, app, auth, make_event, enrol):
    opens = app.config["CHECKIN_OPENS_MINUTES_BEFORE"]
    early = make_event(starts_in=opens + 60)
    me = auth(volunteer_login(enrol()))
    code = poster(early, tokens.CHECK_IN)
    refused(client.post(f"{API}/checkins", json={"token": code}, headers=me), 422, "outside_window")
    over = make_event(starts_in=-300, lasts=60, grace_minutes=15)
    code = poster(over, tokens.CHECK_IN)
    refused(client.post(f"{API}/checkins", json={"token": code}, headers=me), 422, "outside_window")
    running = make_event(starts_in=-10)
    code = poster(running, tokens.CHECK_IN)
    assert ok(client.post(f"{API}/checkins", json={"token": code}, headers=me))["recorded"]
    assert count(Attendance) == 1


def test_check_out_without_check_in_is_refused(client, auth, make_event, enrol):
    event = make_event(starts_in=-10)
    refused(
        check_in(client, auth(volunteer_login(enrol())), event, tokens.CHECK_OUT),
        409,
        "not_checked_in",
    )
    assert count(Attendance) == 0 and count(ServiceRecord) == 0


def test_walk_ins_by_the_event_code(client, auth, make_event, enrol):
    closed = make_event(starts_in=-10, walk_ins=False)
    volunteer = enrol()
    me = auth(volunteer_login(volunteer))
    refused(check_in(client, me, closed), 409, "not_signed_up")
    assert count(Attendance) == 0 and count(Signup) == 0

    open_ = make_event(starts_in=-10, capacity=2)
    done = ok(check_in(client, me, open_))
    assert done["outcome"] == "checked_in" and done["walk_in"]
    signups = ok(client.get(f"{API}/events/{open_.id}/signups", headers=me))["items"]
    assert [(s["state"], s["walk_in"]) for s in signups] == [("confirmed", True)]


def test_check_in_refused_before_it_opens_and_after_the_event(client, app, auth, make_event, enrol):
    me = auth(volunteer_login(enrol()))
    early = make_event(starts_in=app.config["CHECKIN_OPENS_MINUTES_BEFORE"] + 30)
    refused(check_in(client, me, early), 409, "not_open_yet")
    draft = make_event(starts_in=-10, publish=False)
    refused(check_in(client, me, draft), 409, "not_open_yet")
    over = make_event(starts_in=-300, lasts=120, grace_minutes=15)
    refused(check_in(client, me, over), 409, "event_over")
    cancelled = make_event(starts_in=-10)
    ok(
        client.post(
            f"{API}/events/{cancelled.id}/cancel",
            json={"reason": "停电"},
            headers=auth("eaststaff"),
        )
    )
    refused(check_in(client, me, cancelled), 409, "event_cancelled")
    assert count(Attendance) == 0


def test_an_unverified_volunteer_is_recorded_but_not_credited(client, auth, make_event, enrol):
    event = make_event(starts_in=-90, lasts=120)
    volunteer = enrol(verified=False)
    me = auth(volunteer_login(volunteer))
    staff = auth("eaststaff")
    arrived = utcnow().replace(microsecond=0) - timedelta(minutes=55)
    personal = card(volunteer)
    scanned = ok(scan(client, staff, event, personal, scanned_at=iso(arrived)))
    assert scanned["outcome"] == "checked_in" and scanned["pending_verification"]
    left = ok(check_in(client, me, event, tokens.CHECK_OUT))
    assert left["outcome"] == "checked_out" and left["pending_verification"]
    assert left["minutes"] == 60
    [item] = ok(client.get(f"{API}/service-records?mine=true", headers=me))["items"]
    assert item["state"] == "pending" and item["minutes"] == 60
    refused(
        client.post(f"{API}/service-records/{item['id']}/approve", headers=staff),
        409,
        "not_verified",
    )
    assert ok(client.get(f"{API}/service-records/{item['id']}", headers=me))["state"] == "pending"
    assert service_credits(volunteer.user.id) == []
    # An unverified volunteer's own kiosk check-in says so too.
    other = make_event(starts_in=-10)
    done = ok(check_in(client, me, other))
    assert done["recorded"] and done["pending_verification"]


def test_geofence_refuses_far_check_ins(client, auth, make_event, enrol):
    event = make_event(starts_in=-10, latitude=26.0745, longitude=119.2965, radius_m=300)
    far, near, unknown = enrol(), enrol(), enrol()
    response = check_in(client, auth(volunteer_login(far)), event, latitude=26.1, longitude=119.3)
    refused(response, 409, "too_far")
    assert count(Attendance, user_id=far.user.id) == 0
    done = check_in(
        client, auth(volunteer_login(near)), event, latitude=26.0750, longitude=119.2968
    )
    assert ok(done)["recorded"]
    assert ok(check_in(client, auth(volunteer_login(unknown)), event))["recorded"]
    assert count(Attendance, event_id=event.id) == 2


# Staff scans


def test_staff_scan_a_card_once_per_nonce(client, auth, make_event, enrol):
    event = make_event(starts_in=-10)
    volunteer = enrol()
    staff = auth("eaststaff")
    personal = card(volunteer)
    first = ok(scan(client, staff, event, personal, nonce="device-1-000001"))
    assert first["outcome"] == "checked_in" and first["recorded"] and not first["replayed"]
    assert first["walk_in"] and first["volunteer"]["user_id"] == volunteer.user.id
    retried = ok(scan(client, staff, event, personal, nonce="device-1-000001"))
    assert retried["replayed"] and retried["outcome"] == "checked_in" and retried["recorded"]
    assert retried["attendance_id"] == first["attendance_id"]
    assert at(retried["at"]) == at(first["at"])
    another = ok(scan(client, staff, event, personal, nonce="device-2-000001"))
    assert another["outcome"] == "already_checked_in" and not another["replayed"]
    assert at(another["at"]) == at(first["at"])
    assert count(Attendance, event_id=event.id) == 1
    assert count(Scan, event_id=event.id) == 2


def test_staff_scan_a_phone_code_in_and_out(client, app, auth, make_event, enrol):
    event = make_event(starts_in=-90, lasts=120)
    volunteer = enrol()
    staff = auth("eaststaff")
    arrived = utcnow().replace(microsecond=0) - timedelta(minutes=62)
    # Queued offline: the code is checked as of the moment it was scanned.
    refused(scan(client, staff, event, phone_code(volunteer), scanned_at=iso(arrived)), 422)
    phone = phone_code(volunteer, now=arrived.timestamp())
    assert ok(scan(client, staff, event, phone, scanned_at=iso(arrived)))["outcome"] == "checked_in"
    phone = phone_code(volunteer)
    out = ok(scan(client, staff, event, phone, tokens.CHECK_OUT))
    assert out["outcome"] == "checked_out" and out["minutes"] == 60
    again = ok(scan(client, staff, event, phone, tokens.CHECK_OUT))
    assert again["outcome"] == "already_checked_out" and at(again["at"]) == at(out["at"])
    assert count(ServiceRecord, user_id=volunteer.user.id) == 1


def test_forged_personal_codes_and_other_stations_record_nothing(
    client, places, auth, staff_user, make_event, enrol
):
    event = make_event(starts_in=-10)
    volunteer = enrol()
    staff = auth("eaststaff")
    personal = card(volunteer)
    forged = personal[:-1] + ("A" if personal[-1] != "A" else "B")
    for bad in (forged, "TBC.0123456789ABCDEF.1." + "A" * 26, "not a code"):
        refused(scan(client, staff, event, bad), 422, field="token")
    staff_user("weststaff", places.west_station)
    refused(scan(client, auth("weststaff"), event, personal), 403, "forbidden")
    refused(scan(client, auth(volunteer_login(enrol())), event, personal), 403)
    refused(scan(client, staff, event, personal, nonce="short"), 422, field="nonce")
    assert count(Attendance) == 0 and count(Scan) == 0 and count(Signup) == 0


def test_a_queued_scan_records_when_it_was_made(client, auth, make_event, enrol):
    event = make_event(starts_in=-30)
    volunteer = enrol()
    made = utcnow().replace(microsecond=0) - timedelta(minutes=10)
    done = ok(scan(client, auth("eaststaff"), event, card(volunteer), scanned_at=iso(made)))
    assert at(done["at"]) == made
    row = db.session.scalar(db.select(Attendance).filter_by(user_id=volunteer.user.id))
    assert row.checked_in_at == made
    future = utcnow() + timedelta(hours=1)
    response = scan(client, auth("eaststaff"), event, card(enrol()), scanned_at=iso(future))
    refused(response, 422, field="scanned_at")


# Service records


@pytest.fixture
def served(client, auth, make_event, enrol):
    """served(volunteer, minutes=60, event=None) → the pending record of an hour at an event
    (checked in by staff `minutes` ago, checked out by the volunteer now)."""
    default = {}

    def serve(volunteer, minutes=60, event=None):
        if event is None:
            if "event" not in default:
                default["event"] = make_event(starts_in=-90, lasts=120)
            event = default["event"]
        arrived = utcnow().replace(microsecond=0) - timedelta(minutes=minutes)
        ok(
            scan(
                client,
                auth("eaststaff"),
                event,
                card(volunteer),
                scanned_at=iso(arrived),
            )
        )
        out = ok(check_in(client, auth(volunteer_login(volunteer)), event, tokens.CHECK_OUT))
        assert out["outcome"] == "checked_out"
        return db.session.scalar(
            db.select(ServiceRecord).filter_by(user_id=volunteer.user.id, event_id=event.id)
        )

    return serve


def hours_balance(client, headers) -> int:
    return ok(client.get(f"{API}/me/volunteer", headers=headers))["hours_balance"]


def test_records_listed_mine_and_by_event(client, auth, served, enrol, make_event):
    alice, bob = enrol(), enrol()
    mine = served(alice)
    theirs = served(bob)
    me = auth(volunteer_login(alice))
    listed = ok(client.get(f"{API}/service-records?mine=true", headers=me))["items"]
    assert [r["id"] for r in listed] == [mine.id]
    assert listed[0]["minutes"] == 60 and listed[0]["state"] == "pending"
    by_event = ok(
        client.get(f"{API}/service-records?event_id={mine.event_id}", headers=auth("eaststaff"))
    )
    assert {r["id"] for r in by_event["items"]} == {mine.id, theirs.id}
    refused(client.get(f"{API}/service-records?event_id={mine.event_id}", headers=me), 403)
    refused(client.get(f"{API}/service-records", headers=me), 422, field="event_id")
    refused(client.get(f"{API}/service-records/{theirs.id}", headers=me), 404)


def test_approval_credits_the_hours_once(client, auth, served, enrol):
    volunteer = enrol()
    item = served(volunteer)
    staff, me = auth("eaststaff"), auth(volunteer_login(volunteer))
    assert hours_balance(client, me) == 0
    approved = ok(client.post(f"{API}/service-records/{item.id}/approve", headers=staff))
    assert approved["state"] == "approved" and approved["transaction_id"]
    assert hours_balance(client, me) == 60
    refused(
        client.post(f"{API}/service-records/{item.id}/approve", headers=staff),
        409,
        "already_decided",
    )
    refused(
        client.post(f"{API}/service-records/{item.id}/approve", headers=auth("district")),
        409,
        "already_decided",
    )
    assert hours_balance(client, me) == 60
    assert service_credits(volunteer.user.id) == [60]


def test_nobody_approves_their_own_hours(client, places, auth, served, enrol):
    from timebank.auth.services import grant_role
    from timebank.core.security import SYSTEM

    volunteer = enrol()
    with client.application.test_request_context():
        person = db.session.get(User, volunteer.user.id)
        grant_role(SYSTEM, person, Role.STATION_STAFF, places.east_station.id)
        db.session.commit()
    item = served(volunteer)
    me = auth(volunteer_login(volunteer))
    refused(client.post(f"{API}/service-records/{item.id}/approve", headers=me), 403)
    refused(
        client.post(f"{API}/service-records/{item.id}/reject", json={"reason": "x"}, headers=me),
        403,
    )
    assert ok(client.get(f"{API}/service-records/{item.id}", headers=me))["state"] == "pending"
    assert service_credits(volunteer.user.id) == []


def test_staff_of_another_station_cannot_decide(client, places, auth, staff_user, served, enrol):
    volunteer = enrol()
    item = served(volunteer)
    staff_user("weststaff", places.west_station)
    west = auth("weststaff")
    refused(client.post(f"{API}/service-records/{item.id}/approve", headers=west), 404, "not_found")
    refused(
        client.post(f"{API}/service-records/{item.id}/reject", json={"reason": "x"}, headers=west),
        404,
    )
    refused(client.get(f"{API}/service-records/{item.id}", headers=west), 404)
    refused(client.get(f"{API}/service-records?event_id={item.event_id}", headers=west), 403)
    me = auth(volunteer_login(volunteer))
    assert ok(client.get(f"{API}/service-records/{item.id}", headers=me))["state"] == "pending"
    assert service_credits(volunteer.user.id) == []


def test_rejection_needs_a_reason_the_volunteer_sees(client, auth, served, enrol):
    volunteer = enrol()
    item = served(volunteer)
    staff = auth("eaststaff")
    url = f"{API}/service-records/{item.id}/reject"
    refused(client.post(url, json={}, headers=staff), 422, field="reason")
    refused(client.post(url, json={"reason": "  "}, headers=staff), 422, field="reason")
    rejected = ok(client.post(url, json={"reason": "当天未到场"}, headers=staff))
    assert rejected["state"] == "rejected"
    listed = ok(
        client.get(f"{API}/service-records?mine=true", headers=auth(volunteer_login(volunteer)))
    )["items"]
    assert [(r["state"], r["reason"]) for r in listed] == [("rejected", "当天未到场")]
    refused(client.post(f"{API}/service-records/{item.id}/approve", headers=staff), 409)
    assert service_credits(volunteer.user.id) == []


def test_bulk_approval_skips_flagged_records(client, auth, served, make_event, enrol):
    event = make_event(starts_in=-90, lasts=120)
    present, forgetful, unverified = enrol(), enrol(), enrol(verified=False)
    normal = served(present, event=event)
    waiting = served(unverified, event=event)
    ok(check_in(client, auth(volunteer_login(forgetful)), event))  # never checks out
    staff = auth("eaststaff")
    ok(client.post(f"{API}/events/{event.id}/finish", headers=staff))
    flagged = db.session.scalar(
        db.select(ServiceRecord).filter_by(user_id=forgetful.user.id, event_id=event.id)
    )
    assert flagged.flagged
    result = ok(client.post(f"{API}/events/{event.id}/service-records/approve", headers=staff))
    assert [r["id"] for r in result["approved"]] == [normal.id]
    skipped = {s["record_id"]: s["reason"] for s in result["skipped"]}
    assert skipped.keys() == {flagged.id, waiting.id}
    assert all(skipped.values())
    assert service_credits(present.user.id) == [60]
    assert service_credits(forgetful.user.id) == []
    states = {
        r["id"]: r["state"]
        for r in ok(client.get(f"{API}/service-records?event_id={event.id}", headers=staff))[
            "items"
        ]
    }
    assert states == {normal.id: "approved", flagged.id: "pending", waiting.id: "pending"}
    # Reviewed on its own, the flagged record can be approved.
    ok(client.post(f"{API}/service-records/{flagged.id}/approve", headers=staff))


def test_a_large_staff_entry_waits_for_a_second_staff_member(
    client, app, places, auth, staff_user, enrol
):
    volunteer = enrol()
    staff_user("eaststaff2")
    threshold = app.config["STAFF_ENTRY_SECOND_APPROVAL_MINUTES"]
    body = {
        "station_id": places.east_station.id,
        "user_ids": [volunteer.user.id],
        "served_on": (utcnow() - timedelta(days=1)).date().isoformat(),
        "minutes": threshold + 30,
        "description": "社区防汛值守",
        "reason": "纸质签到表补录",
    }
    entry = ok(client.post(f"{API}/staff-entries", json=body, headers=auth("eaststaff")), 201)
    assert entry["needs_second_approval"]
    [item] = entry["records"]
    assert item["state"] == "pending" and item["minutes"] == threshold + 30
    url = f"{API}/service-records/{item['id']}/approve"
    refused(client.post(url, headers=auth("eaststaff")), 403, "second_approval_required")
    assert service_credits(volunteer.user.id) == []
    assert ok(client.post(url, headers=auth("eaststaff2")))["state"] == "approved"
    assert service_credits(volunteer.user.id) == [threshold + 30]

    earlier = (utcnow() - timedelta(days=2)).date().isoformat()
    small = {**body, "minutes": 90, "served_on": earlier}
    entry = ok(client.post(f"{API}/staff-entries", json=small, headers=auth("eaststaff")), 201)
    assert not entry["needs_second_approval"]
    assert [r["state"] for r in entry["records"]] == ["approved"]
    assert service_credits(volunteer.user.id) == [threshold + 30, 90]
    me = auth(volunteer_login(volunteer))
    assert hours_balance(client, me) == threshold + 120

    # The same large day split into small entries still needs someone else.
    rest = {**small, "minutes": threshold - 60}
    entry = ok(client.post(f"{API}/staff-entries", json=rest, headers=auth("eaststaff")), 201)
    assert entry["needs_second_approval"]
    assert [r["state"] for r in entry["records"]] == ["pending"]
    url = f"{API}/service-records/{entry['records'][0]['id']}/approve"
    refused(client.post(url, headers=auth("eaststaff")), 403, "second_approval_required")
    assert service_credits(volunteer.user.id) == [threshold + 30, 90]


def test_staff_entries_are_checked_and_scoped(client, places, auth, enrol):
    volunteer = enrol()
    body = {
        "station_id": places.east_station.id,
        "user_ids": [volunteer.user.id],
        "served_on": (utcnow() + timedelta(days=2)).date().isoformat(),
        "minutes": 0,
        "description": "",
        "reason": "",
    }
    error = refused(client.post(f"{API}/staff-entries", json=body, headers=auth("eaststaff")), 422)
    assert {"served_on", "minutes", "description", "reason"} <= error["fields"].keys()
    body.update(
        served_on=utcnow().date().isoformat(), minutes=60, description="值守", reason="补录"
    )
    west = {**body, "station_id": places.west_station.id}
    refused(client.post(f"{API}/staff-entries", json=west, headers=auth("eaststaff")), 403)
    refused(client.post(f"{API}/staff-entries", json=body, headers=auth("13900000001")), 403)
    assert count(ServiceRecord) == 0


def test_a_dispute_corrects_an_approved_record_with_a_supplement(client, auth, served, enrol):
    volunteer = enrol()
    item = served(volunteer)
    staff, me = auth("eaststaff"), auth(volunteer_login(volunteer))
    ok(client.post(f"{API}/service-records/{item.id}/approve", headers=staff))
    disputed = ok(
        client.post(
            f"{API}/service-records/{item.id}/disputes",
            json={"reason": "我九点就到了", "claimed_minutes": 90},
            headers=me,
        ),
        201,
    )
    assert disputed["state"] == "open" and disputed["claimed_minutes"] == 90
    refused(
        client.post(
            f"{API}/service-records/{item.id}/disputes", json={"reason": "再次"}, headers=me
        ),
        409,
        "dispute_open",
    )
    url = f"{API}/disputes/{disputed['id']}/resolve"
    refused(client.post(url, json={"resolution": "x", "corrected_minutes": 90}, headers=me), 404)
    refused(
        client.post(url, json={"resolution": "核实", "corrected_minutes": 30}, headers=staff),
        422,
        field="corrected_minutes",
    )
    resolved = ok(
        client.post(url, json={"resolution": "签到表核实", "corrected_minutes": 90}, headers=staff)
    )
    assert resolved["state"] == "corrected" and resolved["resolution"] == "签到表核实"
    listed = ok(client.get(f"{API}/service-records?mine=true", headers=me))["items"]
    by_id = {r["id"]: r for r in listed}
    assert by_id[item.id]["state"] == "approved" and by_id[item.id]["minutes"] == 60
    [supplement] = [r for r in listed if r["corrects_id"] == item.id]
    assert supplement["state"] == "pending" and supplement["minutes"] == 30
    assert hours_balance(client, me) == 60
    ok(client.post(f"{API}/service-records/{supplement['id']}/approve", headers=staff))
    assert hours_balance(client, me) == 90
    assert service_credits(volunteer.user.id) == [60, 30]
    refused(client.post(url, json={"resolution": "again"}, headers=staff), 409, "already_resolved")

    # A second dispute counts the first correction: 90 minutes are credited already.
    again = ok(
        client.post(
            f"{API}/service-records/{item.id}/disputes", json={"reason": "还是少了"}, headers=me
        ),
        201,
    )
    url = f"{API}/disputes/{again['id']}/resolve"
    refused(
        client.post(url, json={"resolution": "核实", "corrected_minutes": 90}, headers=staff),
        422,
        field="corrected_minutes",
    )
    # Never beyond what the event can credit (120 scheduled minutes plus grace).
    refused(
        client.post(url, json={"resolution": "核实", "corrected_minutes": 600}, headers=staff),
        422,
        field="corrected_minutes",
    )
    ok(client.post(url, json={"resolution": "再次核实", "corrected_minutes": 120}, headers=staff))
    supplements = [
        r
        for r in ok(client.get(f"{API}/service-records?mine=true", headers=me))["items"]
        if r["corrects_id"] == item.id
    ]
    assert sorted(r["minutes"] for r in supplements) == [30, 30]
    # A supplement is not disputed on its own: the original record is.
    refused(
        client.post(
            f"{API}/service-records/{supplement['id']}/disputes", json={"reason": "x"}, headers=me
        ),
        409,
        "dispute_the_original",
    )


def test_whoever_corrects_large_hours_does_not_approve_them(
    client, app, monkeypatch, auth, staff_user, make_event, served, enrol
):
    monkeypatch.setitem(app.config, "STAFF_ENTRY_SECOND_APPROVAL_MINUTES", 60)
    staff_user("eaststaff2")
    volunteer = enrol()
    item = served(volunteer, minutes=40, event=make_event(starts_in=-200, lasts=180))
    staff, me = auth("eaststaff"), auth(volunteer_login(volunteer))
    disputed = ok(
        client.post(
            f"{API}/service-records/{item.id}/disputes", json={"reason": "我待了三小时"}, headers=me
        ),
        201,
    )
    ok(
        client.post(
            f"{API}/disputes/{disputed['id']}/resolve",
            json={"resolution": "签到表核实", "corrected_minutes": 180},
            headers=staff,
        )
    )
    url = f"{API}/service-records/{item.id}/approve"
    refused(client.post(url, headers=staff), 403, "second_approval_required")
    assert ok(client.post(url, headers=auth("eaststaff2")))["minutes"] == 180
    assert service_credits(volunteer.user.id) == [180]


def test_a_staff_entry_for_an_event_adds_only_what_attendance_missed(
    client, auth, places, make_event, served, enrol
):
    event = make_event(starts_in=-90, lasts=120)
    attended, missed = enrol(), enrol()
    served(attended, minutes=60, event=event)
    body = {
        "station_id": places.east_station.id,
        "event_id": event.id,
        "user_ids": [attended.user.id, missed.user.id],
        "served_on": (utcnow() - timedelta(days=1)).date().isoformat(),
        "minutes": 60,
        "description": "活动补录",
        "reason": "扫码设备故障",
    }
    staff = auth("eaststaff")
    answer = refused(client.post(f"{API}/staff-entries", json=body, headers=staff), 422)
    assert attended.user.name in str(answer)
    only_missed = {**body, "user_ids": [missed.user.id]}
    too_long = {**only_missed, "minutes": 600}
    refused(client.post(f"{API}/staff-entries", json=too_long, headers=staff), 422, field="minutes")
    entry = ok(client.post(f"{API}/staff-entries", json=only_missed, headers=staff), 201)
    assert [r["user_id"] for r in entry["records"]] == [missed.user.id]
    assert count(ServiceRecord, user_id=attended.user.id) == 1


def test_a_dispute_on_a_rejected_record_sends_it_back_for_approval(client, auth, served, enrol):
    volunteer = enrol()
    item = served(volunteer)
    staff, me = auth("eaststaff"), auth(volunteer_login(volunteer))
    ok(
        client.post(
            f"{API}/service-records/{item.id}/reject", json={"reason": "未签退"}, headers=staff
        )
    )
    disputed = ok(
        client.post(
            f"{API}/service-records/{item.id}/disputes", json={"reason": "我签退了"}, headers=me
        ),
        201,
    )
    resolved = ok(
        client.post(
            f"{API}/disputes/{disputed['id']}/resolve",
            json={"resolution": "确认到场", "corrected_minutes": 45},
            headers=staff,
        )
    )
    assert resolved["state"] == "corrected"
    again = ok(client.get(f"{API}/service-records/{item.id}", headers=me))
    assert (again["state"], again["minutes"], again["reason"]) == ("pending", 45, "")
    assert count(ServiceRecord, user_id=volunteer.user.id) == 1


# Language


def test_errors_are_translated_for_chinese_readers(
    client, places, auth, staff_user, make_event, enrol
):
    event = make_event(starts_in=-10)
    personal = card(enrol())
    staff_user("weststaff", places.west_station)
    english = refused(
        scan(client, auth("weststaff", **{"Accept-Language": "en"}), event, personal), 403
    )
    chinese = refused(
        scan(client, auth("weststaff", **{"Accept-Language": "zh"}), event, personal), 403
    )
    assert english["code"] == chinese["code"] == "forbidden"
    assert english["message"] == "You do not have permission to do this."
    assert chinese["message"] == "您没有执行此操作的权限。"

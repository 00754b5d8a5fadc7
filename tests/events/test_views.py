"""Event pages: the list and detail, sign-up and the waiting list, creating events, the
organizer's dashboard, /e/<token> after a scan, approvals, disputes and staff entries."""

import html
import re
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo

import pytest

from tests import factories
from tests.conftest import login
from timebank.auth.models import User
from timebank.core.db import utcnow
from timebank.events import attendance, services, tokens
from timebank.events.models import (
    Attendance,
    Dispute,
    Event,
    EventState,
    RecordState,
    ServiceRecord,
    Signup,
    SignupState,
    StaffEntry,
)
from timebank.extensions import db

EN = {"Accept-Language": "en"}


def sign_in(client, login_name):
    """Sign in as login_name, reading pages in English (the catalogue's source language)."""
    client.post("/logout")
    client.post("/language", data={"lang": "en"})
    response = login(client, login_name)
    assert response.status_code == 302, response.text
    return response


def text(response) -> str:
    """The page's visible text, tags stripped and spaces collapsed."""
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.text)))


def outcome_of(response) -> str | None:
    found = re.search(
        r'<section class="[^"]*scan-result[^"]*" data-outcome="([a-z_]+)"', response.text
    )
    return found.group(1) if found else None


def reload(model, id_):
    db.session.expire_all()
    return db.session.get(model, id_)


# -- list and detail --------------------------------------------------------------------------


def test_anyone_sees_upcoming_events_with_places_and_filters(client, places, people, make_event):
    make_event(title="周末助老", capacity=3, address="东一社区活动室", starts_in=24 * 60)
    make_event(places.west_station, title="西街清洁", category="environment", starts_in=48 * 60)
    make_event(title="已结束的活动", starts_in=-300, lasts=60)
    make_event(title="草稿活动", publish=False)

    page = text(client.get("/events/", headers=EN))
    assert "周末助老" in page and "西街清洁" in page
    assert "3 of 3 places left" in page and "东一站" in page and "东一社区活动室" in page
    assert "已结束的活动" not in page and "草稿活动" not in page

    assert "周末助老" not in client.get(f"/events/?region_id={places.west.id}").text
    assert "西街清洁" in client.get(f"/events/?region_id={places.west.id}").text
    assert "周末助老" not in client.get("/events/?category=environment").text
    assert "西街清洁" not in client.get("/events/?q=助老").text
    tomorrow = (utcnow() + timedelta(hours=32)).date().isoformat()  # the day after, in Shanghai
    only_later = client.get(f"/events/?date_from={tomorrow}").text
    assert "西街清洁" in only_later


def test_has_room_filter_hides_full_events(client, places, make_event, enrol):
    full = make_event(title="满员活动", capacity=1, starts_in=24 * 60)
    make_event(title="有空位活动", capacity=5, starts_in=24 * 60)
    volunteer = enrol()
    sign_in(client, volunteer.user.phone)
    client.post(f"/events/{full.id}/signup")
    client.post("/logout")
    page = text(client.get("/events/?has_room=y", headers=EN))
    assert "有空位活动" in page and "满员活动" not in page
    assert "Full" in text(client.get("/events/", headers=EN))


def test_detail_for_anonymous_asks_to_sign_in_and_drafts_are_hidden(
    client, places, people, make_event
):
    event = make_event(
        title="社区义诊", description="量血压、测血糖", capacity=10, grace_minutes=10
    )
    page = client.get(f"/events/{event.id}", headers=EN)
    assert page.status_code == 200
    assert "量血压、测血糖" in page.text and "Sign in to sign up" in page.text
    assert f"/login?next=/events/{event.id}" in unquote(page.text)
    assert "10 minutes' grace" in text(page)

    draft = make_event(title="未发布", publish=False)
    assert client.get(f"/events/{draft.id}").status_code == 404
    sign_in(client, "13900000001")
    assert client.get(f"/events/{draft.id}").status_code == 404
    sign_in(client, "eaststaff")
    assert client.get(f"/events/{draft.id}").status_code == 200
    sign_in(client, "westadmin")
    assert client.get(f"/events/{draft.id}").status_code == 404


# -- sign-up, cancel, waiting list --------------------------------------------------------------


def test_sign_up_waiting_list_and_cancel_through_the_pages(client, places, make_event, enrol):
    event = make_event(title="敬老院探访", capacity=1, starts_in=2 * 24 * 60)
    first, second = enrol(), enrol()

    sign_in(client, first.user.phone)
    done = client.post(f"/events/{event.id}/signup", headers=EN, follow_redirects=True)
    assert "You are signed up." in text(done)
    assert "You can cancel online until" in text(done)

    sign_in(client, second.user.phone)
    waiting = client.post(f"/events/{event.id}/signup", headers=EN, follow_redirects=True)
    assert "number 1 on the waiting list" in text(waiting)
    mine = text(client.get("/me/events", headers=EN))
    assert "Waiting list" in mine and "Number 1 on the waiting list" in mine

    sign_in(client, first.user.phone)
    cancelled = client.post(f"/events/{event.id}/cancel-signup", headers=EN, follow_redirects=True)
    assert "Your sign-up is cancelled." in text(cancelled)

    sign_in(client, second.user.phone)
    assert "You are signed up." in text(client.get(f"/events/{event.id}", headers=EN))
    states = {
        s.user_id: s.state
        for s in db.session.scalars(db.select(Signup).filter_by(event_id=event.id))
    }
    assert states == {
        first.user_id: SignupState.CANCELLED,
        second.user_id: SignupState.CONFIRMED,
    }


def test_too_late_to_cancel_and_not_registered_people(client, places, people, make_event, enrol):
    event = make_event(title="马上开始", starts_in=30, cancel_before_minutes=60)
    volunteer = enrol()
    sign_in(client, volunteer.user.phone)
    client.post(f"/events/{event.id}/signup")
    page = text(client.get(f"/events/{event.id}", headers=EN))
    assert "too late to cancel online" in page
    refused = client.post(f"/events/{event.id}/cancel-signup", headers=EN, follow_redirects=True)
    assert "too late to cancel online" in text(refused)
    assert services.signup_of(volunteer.user, reload(Event, event.id)).state == "confirmed"

    sign_in(client, "13900000001")  # a login, but no volunteer registration
    page = text(client.get(f"/events/{event.id}", headers=EN))
    assert "Register as a volunteer" in page
    refused = client.post(f"/events/{event.id}/signup", headers=EN, follow_redirects=True)
    assert "real name" in text(refused)


# -- creating and editing events ----------------------------------------------------------------


def event_form(places, **overrides):
    data = {
        "organizer": f"station-{places.east_station.id}",
        "title": "垃圾分类宣传",
        "description": "在小区门口宣传",
        "category": "environment",
        "address": "东一社区广场",
        "starts_at": "2031-05-01T09:00",
        "ends_at": "2031-05-01T11:30",
        "capacity": "20",
        "cancel_before_minutes": "120",
        "audience": "public",
        "walk_ins": "y",
        "rounding": "half_hour",
        "grace_minutes": "15",
    }
    data.update(overrides)
    return data


def test_create_event_shows_every_mistake_at_once_then_saves_a_draft(client, places, people):
    sign_in(client, "eaststaff")
    form = client.get("/events/new", headers=EN)
    assert form.status_code == 200 and "东一站" in form.text and "西一站" not in form.text

    bad = client.post(
        "/events/new",
        headers=EN,
        data=event_form(
            places,
            title="",
            ends_at="2031-05-01T08:00",
            capacity="0",
            grace_minutes="500",
            latitude="31.2",
            signup_closes_at="2031-05-02T08:00",
        ),
    )
    page = text(bad)
    for message in (
        "Enter a title.",
        "The event must end after it starts.",
        "Enter a capacity above zero",
        "Grace is between 0 and 120 minutes.",
        "Enter both latitude and longitude",
        "Sign-up must close before the event ends.",
    ):
        assert message in page, message
    assert db.session.scalar(db.select(db.func.count()).select_from(Event)) == 0

    missing = text(client.post("/events/new", headers=EN, data=event_form(places, starts_at="")))
    assert "Enter when the event starts." in missing

    saved = client.post("/events/new", data=event_form(places))
    assert saved.status_code == 302 and "/manage" in saved.location
    event = db.session.scalar(db.select(Event))
    assert event.state == EventState.DRAFT and event.station_id == places.east_station.id
    # Typed in Shanghai time, stored in UTC.
    assert event.starts_at == datetime(2031, 5, 1, 1, 0, tzinfo=UTC)
    assert event.ends_at == datetime(2031, 5, 1, 3, 30, tzinfo=UTC)
    assert event.capacity == 20 and event.walk_ins is True

    edit = client.get(f"/events/{event.id}/edit")
    assert 'value="2031-05-01T09:00"' in edit.text
    client.post(
        f"/events/{event.id}/edit", data=event_form(places, title="垃圾分类宣传（改）", walk_ins="")
    )
    changed = reload(Event, event.id)
    assert changed.title == "垃圾分类宣传（改）" and changed.walk_ins is False

    published = client.post(f"/events/{event.id}/publish", headers=EN, follow_redirects=True)
    assert "Published" in text(published)
    assert reload(Event, event.id).state == EventState.PUBLISHED


def test_only_organizers_create_and_manage(client, places, people, make_event):
    event = make_event()
    sign_in(client, "13900000001")
    assert client.get("/events/new").status_code == 403
    assert client.get(f"/events/{event.id}/manage").status_code == 403
    assert client.post(f"/events/{event.id}/publish").status_code == 403
    sign_in(client, "westadmin")
    assert client.get(f"/events/{event.id}/manage").status_code == 403
    sign_in(client, "eastleader")  # leads 东街服务队, not the station
    organizers = client.get("/events/new").text
    assert "东街服务队" in organizers and "东一站" not in organizers
    assert client.get(f"/events/{event.id}/manage").status_code == 403


def test_cancel_needs_a_reason_that_signed_up_people_see(client, places, people, make_event, enrol):
    event = make_event(title="雨天取消", starts_in=24 * 60)
    volunteer = enrol()
    sign_in(client, volunteer.user.phone)
    client.post(f"/events/{event.id}/signup")

    sign_in(client, "eaststaff")
    refused = client.post(f"/events/{event.id}/cancel", headers=EN, follow_redirects=True)
    assert "Say why the event is cancelled" in text(refused)
    client.post(f"/events/{event.id}/cancel", data={"cancel-reason": "暴雨预警"})
    assert reload(Event, event.id).state == EventState.CANCELLED

    sign_in(client, volunteer.user.phone)
    page = text(client.get(f"/events/{event.id}", headers=EN))
    assert "cancelled" in page and "暴雨预警" in page


def test_regenerating_codes_revokes_the_printed_poster(app, client, places, people, make_event):
    event = make_event(starts_in=-10)
    with app.test_request_context():
        old = tokens.poster_token(reload(Event, event.id), tokens.CHECK_IN)
    sign_in(client, "eaststaff")
    page = client.get(f"/events/{event.id}/manage", headers=EN).text
    assert "stops working" in page
    client.post(f"/events/{event.id}/regenerate-codes")
    assert outcome_of(client.get(f"/e/{old}")) == "code_revoked"


# -- the organizer's dashboard ------------------------------------------------------------------


def test_dashboard_walk_in_and_staff_check_in_and_out(
    app, client, places, people, make_event, enrol
):
    event = make_event(title="助老午餐", starts_in=-60, lasts=120, capacity=5)
    signed = enrol(name="王阿姨")
    walk = enrol(name="李叔叔")
    sign_in(client, signed.user.phone)
    client.post(f"/events/{event.id}/signup")

    sign_in(client, "eaststaff")
    page = client.get(f"/events/{event.id}/manage", headers=EN)
    assert page.status_code == 200 and "王阿姨" in page.text
    assert 'data-count="confirmed">1 / 5' in page.text
    for screen in ("kiosk", "poster", "scanner"):  # pages another module provides
        if f"event_screens.{screen}" in app.view_functions:
            assert f"/events/{event.id}/{screen}" in page.text

    unknown = client.post(
        f"/events/{event.id}/walk-ins",
        data={"walkin-phone": "13811112222"},
        headers=EN,
        follow_redirects=True,
    )
    assert "No registered volunteer has the mobile number 13811112222" in text(unknown)
    added = client.post(
        f"/events/{event.id}/walk-ins",
        data={"walkin-phone": walk.user.phone},
        headers=EN,
        follow_redirects=True,
    )
    assert "李叔叔 is signed up as a walk-in." in text(added)
    assert "Walk-in" in added.text

    checked = client.post(
        f"/events/{event.id}/people/{walk.user_id}/check-in", headers=EN, follow_redirects=True
    )
    assert "李叔叔 checked in at" in text(checked)
    row = db.session.scalar(db.select(Attendance).filter_by(user_id=walk.user_id))
    assert row.check_in_via == "staff"
    out = client.post(
        f"/events/{event.id}/people/{walk.user_id}/check-out", headers=EN, follow_redirects=True
    )
    assert "李叔叔 checked out at" in text(out)
    page = client.get(f"/events/{event.id}/manage", headers=EN).text
    assert 'data-count="checked_in">1' in page and 'data-count="checked_out">1' in page
    assert "By staff" in page


# -- /e/<token> --------------------------------------------------------------------------------


def test_scan_signs_in_then_checks_in_once(app, client, places, make_event, enrol):
    event = make_event(title="扫码签到", starts_in=-10)
    volunteer = enrol()
    with app.test_request_context():
        token, _ = tokens.kiosk_token(reload(Event, event.id), tokens.CHECK_IN)

    first = client.get(f"/e/{token}")
    assert first.status_code == 302
    parts = urlsplit(first.location)
    assert parts.path == "/login"
    next_url = unquote(parts.query.split("next=", 1)[1])
    assert next_url.startswith(f"/e/{token}?seen=")

    back = login(client, volunteer.user.phone, next=next_url)
    assert back.status_code == 302 and back.location == next_url
    page = client.get(next_url, headers=EN)
    assert "Check in now" in page.text and "扫码签到" in page.text
    assert db.session.scalar(db.select(db.func.count()).select_from(Attendance)) == 0  # GET only

    done = client.post(next_url, data={"seen": next_url.split("seen=")[1]})
    assert done.status_code == 302 and done.location.endswith("/scan/result")
    result = client.get("/scan/result", headers=EN)
    assert outcome_of(result) == "checked_in"
    assert "Checked in at" in text(result) and "signed up on the spot" in text(result)
    row = db.session.scalar(db.select(Attendance).filter_by(user_id=volunteer.user_id))
    assert row is not None and row.check_in_via == "kiosk"
    local = row.checked_in_at.astimezone(ZoneInfo("Asia/Shanghai"))
    assert local.strftime("%H:%M") in result.text

    client.post(f"/e/{token}")
    again = client.get("/scan/result", headers=EN)
    assert outcome_of(again) == "already_checked_in"
    assert f"already checked in at {local:%H:%M}" in text(again)
    assert db.session.scalar(db.select(db.func.count()).select_from(Attendance)) == 1


def test_scan_out_credits_minutes_pending_approval(app, client, places, make_event, enrol):
    event = make_event(starts_in=-100, lasts=120)
    volunteer = enrol(verified=False)
    with app.test_request_context():
        attendance.check_in(
            reload(Event, event.id),
            reload(User, volunteer.user_id),
            via="kiosk",
            at=utcnow() - timedelta(minutes=95),
        )
        db.session.commit()
        token, _ = tokens.kiosk_token(reload(Event, event.id), tokens.CHECK_OUT)
    sign_in(client, volunteer.user.phone)
    assert "Check out now" in client.get(f"/e/{token}", headers=EN).text
    client.post(f"/e/{token}")
    result = client.get("/scan/result", headers=EN)
    assert outcome_of(result) == "checked_out"
    assert "1 h 30 min credited, waiting for the organizers' approval" in text(result)
    assert "identity is not verified yet" in text(result)
    record = db.session.scalar(db.select(ServiceRecord).filter_by(user_id=volunteer.user_id))
    assert record.state == RecordState.PENDING and record.minutes == 90


def test_expired_code_says_scan_again(app, client, places, make_event, enrol):
    event = make_event(starts_in=-10)
    volunteer = enrol()
    with app.test_request_context():
        old, _ = tokens.kiosk_token(reload(Event, event.id), tokens.CHECK_IN, time.time() - 600)
    sign_in(client, volunteer.user.phone)
    page = client.get(f"/e/{old}", headers=EN)
    assert outcome_of(page) == "code_expired" and "Scan the code on the screen again" in page.text
    assert outcome_of(client.post(f"/e/{old}", headers=EN)) == "code_expired"
    assert outcome_of(client.get("/e/not-a-code")) == "unknown_code"
    assert db.session.scalar(db.select(db.func.count()).select_from(Attendance)) == 0


def test_a_code_seen_before_signing_in_still_counts_briefly(
    app, client, places, make_event, enrol, monkeypatch
):
    """Typing a password outlasts a kiosk code: the scan made before signing in counts."""
    event = make_event(starts_in=-10)
    volunteer = enrol()
    scanned = time.time() - 120
    with app.test_request_context():
        token, _ = tokens.kiosk_token(reload(Event, event.id), tokens.CHECK_IN, scanned)
        from timebank.events.scan_views import _vouchers

        monkeypatch.setattr(time, "time", lambda: scanned)
        voucher = _vouchers().dumps(token)
        monkeypatch.undo()
    sign_in(client, volunteer.user.phone)
    assert outcome_of(client.get(f"/e/{token}")) == "code_expired"  # no voucher: too late
    assert "Check in now" in client.get(f"/e/{token}?seen={voucher}", headers=EN).text
    client.post(f"/e/{token}", data={"seen": voucher})
    assert outcome_of(client.get("/scan/result")) == "checked_in"
    row = db.session.scalar(db.select(Attendance).filter_by(user_id=volunteer.user_id))
    assert abs(row.checked_in_at.timestamp() - scanned) < 2  # recorded when it was scanned
    forged = client.post(f"/e/{token}", data={"seen": voucher + "x"})
    assert outcome_of(forged) == "code_expired"


def test_draft_codes_are_404_and_too_far_is_refused(app, client, places, people, make_event, enrol):
    draft = make_event(publish=False, starts_in=-10)
    far = make_event(starts_in=-10, latitude=31.23, longitude=121.47, radius_m=200)
    volunteer = enrol()
    with app.test_request_context():
        draft_token, _ = tokens.kiosk_token(reload(Event, draft.id), tokens.CHECK_IN)
        far_token, _ = tokens.kiosk_token(reload(Event, far.id), tokens.CHECK_IN)
    assert client.get(f"/e/{draft_token}").status_code == 404
    sign_in(client, volunteer.user.phone)
    assert client.get(f"/e/{draft_token}").status_code == 404
    assert client.post(f"/e/{draft_token}").status_code == 404

    page = client.get(f"/e/{far_token}")
    assert 'data-locate="1"' in page.text and "js/scan.js" in page.text
    client.post(f"/e/{far_token}", data={"latitude": "31.30", "longitude": "121.47"})
    assert outcome_of(client.get("/scan/result")) == "too_far"
    client.post(f"/e/{far_token}", data={"latitude": "31.2301", "longitude": "121.4701"})
    assert outcome_of(client.get("/scan/result")) == "checked_in"


def test_scan_post_needs_the_csrf_token(other_app):
    from tests.conftest import populate

    with other_app(WTF_CSRF_ENABLED=True) as app:
        places, _people = populate(app)
        with app.test_request_context():
            volunteer = factories.volunteer(places.east_c, verified=True)
            event = factories.event(places.east_station, starts_in=-10)
            token, _ = tokens.kiosk_token(event, tokens.CHECK_IN)
        client = app.test_client()
        page = client.get("/login")
        csrf = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.text).group(1)
        client.post(
            "/login",
            data={
                "login": volunteer.user.phone,
                "password": factories.PASSWORD,
                "csrf_token": csrf,
            },
        )
        client.post(f"/e/{token}")  # no token: nothing recorded
        with app.app_context():
            assert db.session.scalar(db.select(db.func.count()).select_from(Attendance)) == 0
        form = client.get(f"/e/{token}").text
        csrf = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', form).group(1)
        client.post(f"/e/{token}", data={"csrf_token": csrf})
        assert outcome_of(client.get("/scan/result")) == "checked_in"


# -- approvals, rejections, disputes ----------------------------------------------------------


@pytest.fixture
def attended(app, places, people, make_event, enrol):
    """An event that ran two hours ago: 甲 (verified) and 乙 (not verified) checked out after
    100 minutes; 丙 (verified) forgot to check out and was closed at the end, flagged."""
    event = make_event(title="河道清洁", starts_in=-150, lasts=120)
    jia, yi, bing = enrol(name="甲"), enrol(name="乙", verified=False), enrol(name="丙")
    with app.test_request_context():
        ev = reload(Event, event.id)
        start = ev.starts_at
        for v in (jia, yi, bing):
            attendance.check_in(ev, reload(User, v.user_id), via="kiosk", at=start)
        for v in (jia, yi):
            attendance.check_out(
                ev, reload(User, v.user_id), via="kiosk", at=start + timedelta(minutes=100)
            )
        from timebank.core.security import SYSTEM

        services.finish(SYSTEM, ev)
        db.session.commit()
    return event, jia, yi, bing


def _record(volunteer):
    db.session.expire_all()
    return db.session.scalar(db.select(ServiceRecord).filter_by(user_id=volunteer.user_id))


def test_bulk_approval_skips_flagged_and_unverified(client, attended):
    event, jia, yi, bing = attended
    sign_in(client, "eaststaff")
    page = text(client.get(f"/staff/service-records?event_id={event.id}", headers=EN))
    assert "甲" in page and "乙" in page and "丙" in page
    assert "Flagged" in page and _record(bing).flag_text in page
    assert "Identity not verified" in page

    done = text(client.post(f"/events/{event.id}/approve-all", headers=EN, follow_redirects=True))
    assert "1 record approved." in done
    assert "Left pending: 乙" in done and "not verified" in done
    assert "Left pending: 丙" in done and "Flagged" in done
    assert _record(jia).state == RecordState.APPROVED
    assert _record(yi).state == RecordState.PENDING
    assert _record(bing).state == RecordState.PENDING

    single = client.post(f"/staff/service-records/{_record(bing).id}/approve", headers=EN)
    assert single.status_code == 302
    assert _record(bing).state == RecordState.APPROVED


def test_approvals_are_for_deciders_only(client, attended):
    event, jia, *_ = attended
    sign_in(client, jia.user.phone)
    assert client.get("/staff/service-records").status_code == 403
    assert client.post(f"/staff/service-records/{_record(jia).id}/approve").status_code == 404
    assert client.post(f"/events/{event.id}/approve-all").status_code == 403
    sign_in(client, "westadmin")
    assert "甲" not in client.get("/staff/service-records").text
    assert client.post(f"/staff/service-records/{_record(jia).id}/approve").status_code == 404
    assert _record(jia).state == RecordState.PENDING
    sign_in(client, "district")
    assert "甲" in client.get("/staff/service-records").text


def test_reject_with_reason_then_dispute_and_correct(client, attended):
    event, jia, *_ = attended
    record_id = _record(jia).id
    sign_in(client, "eaststaff")
    refused = client.post(
        f"/staff/service-records/{record_id}/reject", headers=EN, follow_redirects=True
    )
    assert "Say why; the volunteer sees the reason." in text(refused)
    assert _record(jia).state == RecordState.PENDING
    client.post(
        f"/staff/service-records/{record_id}/reject", data={"reject-reason": "提前离开，未完成任务"}
    )
    assert _record(jia).state == RecordState.REJECTED

    sign_in(client, jia.user.phone)
    mine = text(client.get("/me/events", headers=EN))
    assert "Rejected: 提前离开，未完成任务" in mine and "河道清洁" in mine
    client.post(
        f"/me/service-records/{record_id}/dispute",
        data={"dispute-reason": "我一直在现场", "dispute-claimed_minutes": "120"},
    )
    item = db.session.scalar(db.select(Dispute).filter_by(record_id=record_id))
    assert item.state == "open" and item.claimed_minutes == 120
    assert "Something wrong? Dispute this record" not in client.get("/me/events", headers=EN).text

    sign_in(client, "eaststaff")
    page = text(client.get("/staff/service-records", headers=EN))
    assert "Open disputes" in page and "我一直在现场" in page
    missing = client.post(
        f"/staff/disputes/{item.id}/resolve",
        data={"resolve-decision": "correct", "resolve-resolution": "核实属实"},
        headers=EN,
        follow_redirects=True,
    )
    assert "Enter the corrected minutes." in text(missing)
    client.post(
        f"/staff/disputes/{item.id}/resolve",
        data={
            "resolve-decision": "correct",
            "resolve-corrected_minutes": "120",
            "resolve-resolution": "核实属实，按两小时计",
        },
    )
    record = _record(jia)
    assert record.state == RecordState.PENDING and record.minutes == 120

    sign_in(client, jia.user.phone)
    mine = text(client.get("/me/events", headers=EN))
    assert "Corrected" in mine and "核实属实，按两小时计" in mine and "Pending approval" in mine


# -- staff entries (补录) -------------------------------------------------------------------------


def test_staff_entry_lists_unknown_numbers_and_says_what_happened(client, places, people, enrol):
    known = enrol(name="赵老师")
    unverified = enrol(name="钱同学", verified=False)
    sign_in(client, "eaststaff")
    page = client.get("/staff/entries/new", headers=EN)
    assert page.status_code == 200 and "东一站" in page.text and "西一站" not in page.text

    data = {
        "station_id": str(places.east_station.id),
        "people": f"{known.user.phone}\n13800009999\n13800008888\n",
        "served_on": (utcnow() - timedelta(days=1)).date().isoformat(),
        "minutes": "90",
        "description": "",
        "reason": "老人不会用手机",
    }
    bad = text(client.post("/staff/entries/new", data=data, headers=EN))
    assert "No registered volunteer has these numbers: 13800009999, 13800008888" in bad
    assert "Describe the service." in bad
    assert db.session.scalar(db.select(db.func.count()).select_from(StaffEntry)) == 0

    data.update(people=f"{known.user.phone}\n{unverified.user.phone}", description="陪老人就医")
    saved = text(client.post("/staff/entries/new", data=data, headers=EN, follow_redirects=True))
    assert "Hours logged for 2 people." in saved
    assert "1 approved at once; 1 wait on the approvals page" in saved
    assert _record(known).state == RecordState.APPROVED and _record(known).minutes == 90
    assert _record(unverified).state == RecordState.PENDING

    data.update(people=known.user.phone, minutes="300")
    large = text(client.post("/staff/entries/new", data=data, headers=EN, follow_redirects=True))
    assert "another staff member must approve it" in large


def test_staff_entries_are_for_station_staff_and_administrators(client, people):
    sign_in(client, "13900000001")
    assert client.get("/staff/entries/new").status_code == 403
    sign_in(client, "eastleader")
    assert client.get("/staff/entries/new").status_code == 403
    client.post("/logout")
    assert client.get("/staff/entries/new").status_code == 302


def test_navigation_links_by_role(client, people, places, enrol):
    assert "/events/" in client.get("/events/").text
    volunteer = enrol()
    sign_in(client, volunteer.user.phone)
    page = client.get("/events/").text
    assert 'href="/me/events"' in page and 'href="/staff/service-records"' not in page
    sign_in(client, "eastleader")
    assert 'href="/staff/service-records"' in client.get("/events/").text

"""Check-in and check-out rules, forgotten check-outs, staff scans, and who decides records."""

from datetime import timedelta

import pytest

from timebank.core.db import utcnow
from timebank.core.errors import Conflict, DomainError, PermissionDenied
from timebank.events import attendance, records, services
from timebank.events.models import Attendance, RecordState, ServiceRecord, Via
from timebank.extensions import db
from timebank.ledger import services as ledger
from timebank.volunteers import codes


def _refused(code, call, *args, **kwargs):
    with pytest.raises(DomainError) as caught:
        call(*args, **kwargs)
    assert caught.value.code == code
    return caught.value


def _record_of(user):
    return db.session.scalar(db.select(ServiceRecord).filter_by(user_id=user.id))


def test_check_in_window(ctx, app, make_event, enrol):
    user = enrol().user
    early = make_event(starts_in=app.config["CHECKIN_OPENS_MINUTES_BEFORE"] + 30)
    _refused("not_open_yet", attendance.check_in, early, user, via=Via.KIOSK)
    over = make_event(starts_in=-200, lasts=120, grace_minutes=15)
    _refused("event_over", attendance.check_in, over, user, via=Via.KIOSK)
    draft = make_event(publish=False)
    _refused("not_open_yet", attendance.check_in, draft, user, via=Via.KIOSK)
    assert db.session.scalar(db.select(db.func.count()).select_from(Attendance)) == 0


def test_check_out_without_check_in_records_nothing(ctx, make_event, enrol):
    event = make_event(starts_in=-10)
    user = enrol().user
    _refused("not_checked_in", attendance.check_out, event, user, via=Via.KIOSK)
    assert _record_of(user) is None


def test_walk_ins_refused_when_the_event_takes_none_or_is_full(ctx, make_event, enrol):
    closed = make_event(starts_in=-10, walk_ins=False)
    user = enrol().user
    _refused("not_signed_up", attendance.check_in, closed, user, via=Via.KIOSK)
    full = make_event(starts_in=-10, capacity=1)
    attendance.check_in(full, enrol().user, via=Via.KIOSK)  # takes the one place
    _refused("not_signed_up", attendance.check_in, full, user, via=Via.KIOSK)


def test_staff_add_a_walk_in_even_when_full(ctx, people, make_event, enrol):
    full = make_event(starts_in=-10, capacity=1, walk_ins=False)
    attendance.check_in(full, enrol().user, via=Via.STAFF, actor=people.east_staff)
    outcome = attendance.check_in(full, enrol().user, via=Via.STAFF, actor=people.east_staff)
    assert outcome.code == attendance.CHECKED_IN and outcome.walk_in


def test_forgotten_check_out_is_closed_at_the_end_flagged_and_not_credited_beyond(
    ctx, people, make_event, enrol
):
    event = make_event(starts_in=-30, lasts=60, grace_minutes=15)
    user = enrol().user
    arrived = event.starts_at + timedelta(minutes=5)
    attendance.check_in(event, user, via=Via.KIOSK, at=arrived)
    event.ends_at = utcnow() - timedelta(minutes=20)  # the event has since ended
    event.starts_at = event.ends_at - timedelta(minutes=60)
    arrived_row = attendance.attendance_of(event, user)
    arrived_row.checked_in_at = event.starts_at + timedelta(minutes=5)
    finished = attendance.finish_ended()
    assert [e.id for e in finished] == [event.id]
    closed = attendance.attendance_of(event, user)
    assert closed.checked_out_at == event.ends_at
    assert closed.check_out_via == Via.AUTO and closed.flagged
    assert closed.minutes == 60  # 55 minutes present -> 60 by the rule, not past the end
    service_record = _record_of(user)
    assert service_record.flagged and service_record.state == RecordState.PENDING
    # Bulk approval leaves flagged records for review one by one.
    result = records.approve_event(people.east_staff, event)
    assert result.approved == [] and result.skipped[0][0].id == service_record.id


def test_closing_at_the_end_leaves_a_check_out_made_meanwhile_alone(ctx, make_event, enrol):
    """The cron job read the open attendance just before the volunteer checked out."""
    event = make_event(starts_in=-30, lasts=60)
    user = enrol().user
    attendance.check_in(event, user, via=Via.KIOSK, at=event.starts_at)
    stale = attendance.attendance_of(event, user)
    attendance.check_out(event, user, via=Via.KIOSK, at=event.starts_at + timedelta(minutes=25))
    assert attendance._close_at_end(event, stale) is False
    [service_record] = db.session.scalars(db.select(ServiceRecord)).all()
    assert (service_record.minutes, service_record.flagged) == (30, False)
    assert stale.check_out_via == Via.KIOSK


def test_queued_staff_scans_made_in_time_count_after_the_event_is_finished(
    ctx, people, make_event, enrol
):
    """A scanner offline until after the event: its check-in and check-out arrive late."""
    event = make_event(starts_in=-100, lasts=60, grace_minutes=15)
    services.finish(people.east_staff, event)
    volunteer = enrol()
    card = codes.card_token(volunteer)
    staff = people.east_staff
    too_late = event.ends_at + timedelta(minutes=20)
    _refused(
        "event_over",
        attendance.staff_scan,
        staff,
        event,
        card,
        "checkin",
        nonce="late-0001",
        scanned_at=too_late,
    )
    arrived = event.starts_at + timedelta(minutes=5)
    outcome = attendance.staff_scan(
        staff, event, card, "checkin", nonce="late-0002", scanned_at=arrived
    )
    assert outcome.code == attendance.CHECKED_IN
    # Nobody would close it any more: it is closed at the end, flagged, like the others.
    service_record = _record_of(volunteer.user)
    assert service_record.flagged and service_record.minutes == 60
    left = event.starts_at + timedelta(minutes=30)
    outcome = attendance.staff_scan(
        staff, event, card, "checkout", nonce="late-0003", scanned_at=left
    )
    assert outcome.code == attendance.CHECKED_OUT
    db.session.refresh(service_record)
    assert (service_record.minutes, service_record.flagged) == (30, False)
    assert outcome.attendance.checked_out_at == left
    # Once decided, a late check-out no longer changes the record.
    records.approve(staff, service_record)
    outcome = attendance.staff_scan(
        staff, event, card, "checkout", nonce="late-0004", scanned_at=left
    )
    assert outcome.code == attendance.ALREADY_OUT


def test_an_unverified_volunteer_is_recorded_but_hours_wait(ctx, people, make_event, enrol):
    event = make_event(starts_in=-60)
    user = enrol(verified=False).user
    outcome = attendance.check_in(event, user, via=Via.KIOSK, at=event.starts_at)
    assert outcome.code == attendance.CHECKED_IN and outcome.pending_verification
    attendance.check_out(event, user, via=Via.KIOSK, at=event.starts_at + timedelta(minutes=50))
    service_record = _record_of(user)
    _refused("not_verified", records.approve, people.east_staff, service_record)
    db.session.refresh(service_record)
    assert service_record.state == RecordState.PENDING
    assert ledger.find_person_account(user, ledger.AccountKind.HOURS) is None


def test_staff_of_another_station_cannot_decide_or_scan(ctx, places, people, make_event, enrol):
    from tests import factories
    from timebank.auth.models import Role

    west_staff = factories.user("weststaff", Role.STATION_STAFF, places.west_station.id)
    event = make_event(starts_in=-60)
    volunteer = enrol()
    attendance.check_in(event, volunteer.user, via=Via.KIOSK)
    attendance.check_out(event, volunteer.user, via=Via.KIOSK)
    service_record = _record_of(volunteer.user)
    with pytest.raises(PermissionDenied):
        records.approve(west_staff, service_record)
    with pytest.raises(PermissionDenied):
        attendance.staff_scan(
            west_staff, event, codes.card_token(volunteer), "checkin", nonce="n-12345678"
        )
    # The district administrator above the station may.
    records.approve(people.district_admin, service_record)
    assert service_record.state == RecordState.APPROVED


def test_staff_scan_replays_by_nonce_and_records_the_scan_time(ctx, people, make_event, enrol):
    event = make_event(starts_in=-60)
    volunteer = enrol()
    scanned = utcnow().replace(microsecond=0) - timedelta(minutes=10)
    card = codes.card_token(volunteer)
    first = attendance.staff_scan(
        people.east_staff, event, card, "checkin", nonce="device-1-0001", scanned_at=scanned
    )
    again = attendance.staff_scan(
        people.east_staff, event, card, "checkin", nonce="device-1-0001", scanned_at=scanned
    )
    assert first.code == attendance.CHECKED_IN and first.at == scanned
    assert again.replayed and again.code == attendance.CHECKED_IN
    assert again.attendance.id == first.attendance.id
    other = attendance.staff_scan(people.east_staff, event, card, "checkin", nonce="device-2-0001")
    assert other.code == attendance.ALREADY_IN and other.at == scanned
    # A forged code differs from the real one in its last character, whatever that was.
    forged = card[:-1] + ("A" if card[-1] != "A" else "B")
    with pytest.raises(DomainError):
        attendance.staff_scan(people.east_staff, event, forged, "checkin", nonce="device-1-0002")


def test_geofence_refuses_far_check_ins_only_when_both_sides_have_a_place(ctx, make_event, enrol):
    from timebank.events import tokens

    event = make_event(starts_in=-10, latitude=26.0745, longitude=119.2965, radius_m=300)
    token, _ = tokens.kiosk_token(event, tokens.CHECK_IN)
    user = enrol().user
    _refused("too_far", attendance.present, user, token, location=(26.1, 119.3))
    assert attendance.present(user, token, location=(26.0750, 119.2968)).recorded
    assert attendance.present(enrol().user, token).recorded  # no location shared


def test_approval_is_once_even_when_asked_twice(ctx, people, make_event, enrol):
    event = make_event(starts_in=-90)
    user = enrol().user
    attendance.check_in(event, user, via=Via.KIOSK, at=event.starts_at)
    attendance.check_out(event, user, via=Via.KIOSK, at=event.starts_at + timedelta(minutes=60))
    service_record = _record_of(user)
    records.approve(people.east_staff, service_record)
    with pytest.raises(Conflict):
        records.approve(people.district_admin, service_record)
    account = ledger.find_person_account(user, ledger.AccountKind.HOURS)
    assert ledger.balance_of(account) == 60


def test_capacity_cannot_drop_below_sign_ups(ctx, people, make_event, enrol):
    event = make_event(starts_in=24 * 60, capacity=5)
    for _ in range(3):
        services.sign_up(enrol().user, event)
    details = services.EventDetails.of(event)
    details.capacity = 2
    error = _refused("validation_error", services.update_event, people.east_staff, event, details)
    assert error.field == "capacity"
    details.ends_at = details.starts_at - timedelta(hours=1)
    details.capacity = 3
    error = _refused("validation_error", services.update_event, people.east_staff, event, details)
    assert error.field == "ends_at"


def test_cron_command_finishes_ended_events(app, ctx, make_event):
    event = make_event(starts_in=-200, lasts=120, grace_minutes=15)
    running = make_event(starts_in=-30, lasts=120)
    result = app.test_cli_runner().invoke(args=["events", "finish-ended"])
    assert result.exit_code == 0, result.output
    assert f"finished event {event.id}" in result.output
    assert "1 event(s) finished." in result.output
    db.session.expire_all()
    assert db.session.get(type(event), event.id).state == "finished"
    assert db.session.get(type(event), running.id).state == "published"

"""From the event's code to hours in the time bank, through the services."""

from datetime import timedelta

import pytest

from timebank.core.errors import Conflict, PermissionDenied
from timebank.events import attendance, records, services, tokens
from timebank.events.models import RecordState, ServiceRecord, SignupState
from timebank.extensions import db
from timebank.ledger import services as ledger


def test_scan_in_scan_out_approve_credits_once(ctx, places, people, make_event, enrol):
    event = make_event(starts_in=-30, lasts=120)
    volunteer = enrol()
    user = volunteer.user
    token_in, _ = tokens.kiosk_token(event, tokens.CHECK_IN)
    first = attendance.present(user, token_in)
    assert first.code == attendance.CHECKED_IN and first.walk_in
    again = attendance.present(user, token_in)
    assert again.code == attendance.ALREADY_IN
    assert again.at == first.at

    token_out, _ = tokens.kiosk_token(event, tokens.CHECK_OUT)
    later = first.at + timedelta(minutes=100)
    done = attendance.check_out(event, user, via="kiosk", at=later)
    assert done.code == attendance.CHECKED_OUT
    assert done.attendance.minutes == 90  # 100 min: one hour and 40 minutes -> 1.5 h

    service_record = db.session.scalar(db.select(ServiceRecord).filter_by(user_id=user.id))
    assert service_record.state == RecordState.PENDING and service_record.minutes == 90
    records.approve(people.east_staff, service_record)
    with pytest.raises(Conflict):
        records.approve(people.east_staff, service_record)
    account = ledger.find_person_account(user, ledger.AccountKind.HOURS)
    assert ledger.balance_of(account) == 90


def test_capacity_waiting_list_and_promotion(ctx, places, make_event, enrol):
    event = make_event(capacity=1, starts_in=24 * 60)
    a, b = enrol().user, enrol().user
    assert services.sign_up(a, event).state == SignupState.CONFIRMED
    assert services.sign_up(b, event).state == SignupState.WAITLISTED
    services.cancel_signup(a, event)
    assert services.signup_of(b, event).state == SignupState.CONFIRMED


def test_nobody_approves_their_own_hours(ctx, places, people, make_event, enrol):
    event = make_event(starts_in=-30)
    staff_volunteer = enrol()
    from timebank.auth.models import Role
    from timebank.auth.services import grant_role
    from timebank.core.security import SYSTEM

    grant_role(SYSTEM, staff_volunteer.user, Role.STATION_STAFF, places.east_station.id)
    attendance.check_in(event, staff_volunteer.user, via="staff", actor=people.east_staff)
    attendance.check_out(event, staff_volunteer.user, via="staff", actor=people.east_staff)
    service_record = db.session.scalar(
        db.select(ServiceRecord).filter_by(user_id=staff_volunteer.user.id)
    )
    with pytest.raises(PermissionDenied):
        records.approve(staff_volunteer.user, service_record)

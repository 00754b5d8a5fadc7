"""Check-in and check-out: by the volunteer scanning the event's code, or by staff scanning
the volunteer's personal code (queued offline, replayed by nonce); forgotten check-outs."""

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import update

from timebank.audit.services import record
from timebank.core.db import insert_unique, utcnow
from timebank.core.errors import Conflict, DomainError, ValidationFailed
from timebank.core.security import ensure
from timebank.events import records, services, tokens
from timebank.events.hours import credited_minutes
from timebank.events.models import (
    NO_CHECK_OUT,
    Attendance,
    Event,
    EventState,
    Scan,
    Signup,
    SignupState,
    Via,
)
from timebank.extensions import db

# Outcome codes: the result page and the scanner show one message and one colour per code.
CHECKED_IN = "checked_in"
ALREADY_IN = "already_checked_in"
CHECKED_OUT = "checked_out"
ALREADY_OUT = "already_checked_out"
RECORDED = (CHECKED_IN, CHECKED_OUT)


@dataclass
class Outcome:
    code: str
    attendance: Attendance
    purpose: str
    walk_in: bool = False
    # The volunteer's identity is not verified yet: recorded, but hours wait for it.
    pending_verification: bool = False
    replayed: bool = False
    extra: dict = field(default_factory=dict)

    @property
    def at(self) -> datetime:
        a = self.attendance
        return (
            a.checked_out_at
            if self.purpose == tokens.CHECK_OUT and a.checked_out_at
            else a.checked_in_at
        )

    @property
    def recorded(self) -> bool:
        return self.code in RECORDED


class Refused(Conflict):
    """A scan that records nothing; the code names the reason for the result page."""


def _opens(event: Event) -> datetime:
    return event.starts_at - timedelta(minutes=current_app.config["CHECKIN_OPENS_MINUTES_BEFORE"])


def _closes(event: Event) -> datetime:
    return event.ends_at + timedelta(minutes=event.grace_minutes)


def _check_open(event: Event, at: datetime, *, late_upload: bool = False) -> None:
    """Refuse a check-in outside the event's window. A staff scan queued offline keeps the
    moment it was made, so it counts if it was made in time, even if the event has been
    finished since."""
    if event.state == EventState.CANCELLED:
        raise Refused(_("This event has been cancelled."), code="event_cancelled")
    if event.state == EventState.DRAFT:
        raise Refused(_("This event is not open yet."), code="not_open_yet")
    finished = event.state == EventState.FINISHED and not late_upload
    if finished or at > _closes(event):
        raise Refused(_("This event is over."), code="event_over")
    if at < _opens(event):
        raise Refused(
            _(
                "Check-in is not open yet. It opens %(minutes)d minutes before the start.",
                minutes=current_app.config["CHECKIN_OPENS_MINUTES_BEFORE"],
            ),
            code="not_open_yet",
        )


def attendance_of(event: Event, user) -> Attendance | None:
    return db.session.scalar(db.select(Attendance).filter_by(event_id=event.id, user_id=user.id))


def _state(event: Event, user) -> tuple[str | None, str | None, Attendance | None]:
    """The person's volunteer status, sign-up state and attendance at this event, read
    in one statement: this is the path every scan at a busy event takes."""
    from timebank.volunteers.models import Volunteer

    if not getattr(user, "id", None):
        return None, None, None
    row = db.session.execute(
        db.select(Volunteer.status, Signup.state, Attendance)
        .select_from(Volunteer)
        .outerjoin(Signup, (Signup.event_id == event.id) & (Signup.user_id == Volunteer.user_id))
        .outerjoin(
            Attendance,
            (Attendance.event_id == event.id) & (Attendance.user_id == Volunteer.user_id),
        )
        .where(Volunteer.user_id == user.id)
    ).first()
    return (row[0], row[1], row[2]) if row else (None, None, None)


def _verified_status(status: str | None, user) -> bool:
    """Refuse people with no volunteer profile or a suspended one; True when verified."""
    from timebank.volunteers.models import VolunteerStatus

    if status is None:
        raise Refused(
            _("Register as a volunteer under your real name first."), code="not_registered"
        )
    if status == VolunteerStatus.SUSPENDED or not user.active:
        raise Refused(_("This volunteer is suspended."), code="volunteer_suspended")
    return status == VolunteerStatus.VERIFIED


def _sign_up_on_the_spot(event: Event, user, *, by_staff: bool) -> None:
    """Add a walk-in, or refuse one the event cannot take."""
    if by_staff:
        # Staff see the person in front of them: they are added whatever the capacity.
        services.add_walk_in(services.SYSTEM, event, user, late_upload=True)
        return
    if not event.walk_ins:
        raise Refused(
            _("You have not signed up for this event, and it does not take walk-ins."),
            code="not_signed_up",
        )
    services._lock(event)
    if event.capacity is not None and services.confirmed_count(event) >= event.capacity:
        raise Refused(
            _("You have not signed up for this event, and it is full."), code="not_signed_up"
        )
    if event.audience == "team" and not services.is_member(user, event):
        raise Refused(
            _("Only members of %(team)s can take part.", team=event.organizer.name),
            code="not_signed_up",
        )
    services.add_walk_in(services.SYSTEM, event, user)


def _insert_once(values: dict) -> int | None:
    """INSERT … ON CONFLICT DO NOTHING RETURNING id: the new row's id, or None when
    another device recorded the same person first (no savepoint needed on either backend)."""
    if db.engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    statement = (
        insert(Attendance)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["event_id", "user_id"])
        .returning(Attendance.id)
    )
    return db.session.execute(statement).scalar()


def check_in(event: Event, user, *, via: str, actor=None, at: datetime | None = None) -> Outcome:
    """Record that the person arrived; a second check-in answers with the first one's time.

    Of two devices scanning the same person at once, the unique (event, person) pair
    keeps one row; the other answers "already checked in" with the first one's time.
    A volunteer's own scan is recorded in the attendance row itself (how, when); staff
    actions also go to the audit log.
    """
    at = at or utcnow()
    status, signup_state, existing = _state(event, user)
    verified = _verified_status(status, user)
    if existing is not None:
        return Outcome(ALREADY_IN, existing, tokens.CHECK_IN)
    _check_open(event, at, late_upload=actor is not None)
    walk_in = signup_state != SignupState.CONFIRMED
    if walk_in:
        _sign_up_on_the_spot(event, user, by_staff=actor is not None)
    values = dict(
        event_id=event.id,
        user_id=user.id,
        checked_in_at=at,
        check_in_via=str(via),
        checked_in_by_id=getattr(actor, "id", None),
        flagged=False,
    )
    new_id = _insert_once(values)
    if new_id is None:
        # Another device recorded this person at the same moment; theirs stands.
        return Outcome(ALREADY_IN, attendance_of(event, user), tokens.CHECK_IN)
    if event.state == EventState.FINISHED:
        # A queued scan from before the end, uploaded after it: nobody will close this
        # attendance now, so it is closed at the end like the others (a queued
        # check-out uploaded later corrects it).
        attendance = db.session.get(Attendance, new_id)
        _close_at_end(event, attendance)
    else:
        # The row as inserted, without reading it back; not added to the session.
        attendance = Attendance(id=new_id, **values)
        attendance.user, attendance.event = user, event
    if actor is not None:
        record(actor, "attendance.check_in", attendance, region=event.region, via=str(via))
    return Outcome(
        CHECKED_IN,
        attendance,
        tokens.CHECK_IN,
        walk_in=walk_in,
        pending_verification=not verified,
    )


class _Raced(Exception):
    pass


def check_out(event: Event, user, *, via: str, actor=None, at: datetime | None = None) -> Outcome:
    """Record that the person left; their credited minutes become a pending service record."""
    at = at or utcnow()
    status, _signup, attendance = _state(event, user)
    verified = _verified_status(status, user)
    if attendance is None:
        raise Refused(
            _("There is no check-in for this event to check out from. Check in first."),
            code="not_checked_in",
        )
    if attendance.checked_out_at is not None:
        if actor is not None and attendance.check_out_via == Via.AUTO:
            corrected = _correct_auto_close(event, attendance, via=via, actor=actor, at=at)
            if corrected is not None:
                return Outcome(
                    CHECKED_OUT,
                    corrected,
                    tokens.CHECK_OUT,
                    pending_verification=not verified,
                    extra={"minutes": corrected.minutes},
                )
        return Outcome(ALREADY_OUT, attendance, tokens.CHECK_OUT)
    if event.state == EventState.CANCELLED:
        raise Refused(_("This event has been cancelled."), code="event_cancelled")
    at = max(at, attendance.checked_in_at)
    minutes = credited_minutes(event, attendance.checked_in_at, at)
    # Compare-and-set: of two devices checking out at once, one wins, the other hears so.
    done = db.session.execute(
        update(Attendance)
        .where(Attendance.id == attendance.id, Attendance.checked_out_at.is_(None))
        .values(
            checked_out_at=at,
            check_out_via=via,
            checked_out_by_id=getattr(actor, "id", None),
            minutes=minutes,
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.refresh(attendance)
    if not done:
        return Outcome(ALREADY_OUT, attendance, tokens.CHECK_OUT)
    records.from_attendance(attendance)
    if actor is not None:
        record(actor, "attendance.check_out", attendance, region=event.region, minutes=minutes)
    return Outcome(
        CHECKED_OUT,
        attendance,
        tokens.CHECK_OUT,
        pending_verification=not verified,
        extra={"minutes": minutes},
    )


def present(user, token: str, *, location: tuple[float, float] | None = None, now=None) -> Outcome:
    """A volunteer scanned an event's code (kiosk or poster)."""
    now = now or utcnow()
    presented = tokens.resolve(token, now.timestamp())
    event = presented.event
    if location is not None:
        check_distance(event, location)
    act = check_in if presented.purpose == tokens.CHECK_IN else check_out
    return act(event, user, via=presented.via, at=now)


def distance_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance in metres (haversine; ample at a few kilometres)."""
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * 6_371_000 * math.asin(math.sqrt(h))


def check_distance(event: Event, location: tuple[float, float]) -> None:
    """Refuse a scan far outside the event's radius; only when both sides gave a place."""
    if event.latitude is None or event.longitude is None or not event.radius_m:
        return
    away = distance_m((event.latitude, event.longitude), location)
    if away > event.radius_m:
        raise Refused(
            _(
                "You seem to be %(distance)s m from the event, outside its %(radius)d m. "
                "Check in at the event itself.",
                distance=f"{away:,.0f}",
                radius=event.radius_m,
            ),
            code="too_far",
        )


# Staff scanning volunteers' personal codes


MAX_SCAN_AGE = timedelta(days=2)  # an offline queue older than this is refused
MAX_CLOCK_AHEAD = timedelta(minutes=5)


def staff_scan(
    actor, event: Event, token: str, purpose: str, *, nonce: str, scanned_at: datetime | None = None
) -> Outcome:
    """Staff scanned a volunteer's phone code or card for this event.

    The device's nonce makes an upload repeated after a network drop answer the first
    result again and record nothing more. A queued scan keeps the moment it was made:
    codes are checked and the time is recorded as of then.
    """
    from timebank.volunteers import codes

    ensure(services.can_manage(actor, event))
    if purpose not in (tokens.CHECK_IN, tokens.CHECK_OUT):
        raise ValidationFailed(_("Choose check-in or check-out."), field="purpose")
    nonce = (nonce or "").strip()
    if not 8 <= len(nonce) <= 64:
        raise ValidationFailed(
            _("A scan needs a client nonce of 8 to 64 characters."), field="nonce"
        )
    if (done := _replay(actor, nonce)) is not None:
        return done
    now = utcnow()
    scanned_at = scanned_at or now
    if scanned_at.tzinfo is None:
        scanned_at = scanned_at.replace(tzinfo=UTC)
    if scanned_at > now + MAX_CLOCK_AHEAD or scanned_at < now - MAX_SCAN_AGE:
        raise ValidationFailed(
            _("The scan's time is not plausible; check the device's clock."), field="scanned_at"
        )
    presented = codes.resolve(token, now=scanned_at.timestamp())
    via = Via.PHONE_CODE if presented.via == "phone" else Via.CARD
    user = presented.volunteer.user
    act = check_in if purpose == tokens.CHECK_IN else check_out
    outcome = act(event, user, via=via, actor=actor, at=scanned_at)
    scan = Scan(
        actor_id=actor.id,
        nonce=nonce,
        event_id=event.id,
        user_id=user.id,
        purpose=purpose,
        scanned_at=scanned_at,
        outcome=outcome.code,
        attendance_id=outcome.attendance.id,
    )
    try:
        insert_unique(db.session, scan, _Raced())
    except _Raced:
        # The same upload raced itself (two tabs, a retry): the first one's answer stands.
        db.session.rollback()
        return _replay(actor, nonce)
    return outcome


def _replay(actor, nonce: str) -> Outcome | None:
    scan = db.session.scalar(db.select(Scan).filter_by(actor_id=actor.id, nonce=nonce))
    if scan is None:
        return None
    attendance = db.session.get(Attendance, scan.attendance_id)
    return Outcome(scan.outcome, attendance, scan.purpose, replayed=True)


# Forgotten check-outs


def _auto_minutes(event: Event, attendance: Attendance) -> tuple[datetime, int]:
    end = max(event.ends_at, attendance.checked_in_at)
    # Rounded as usual, but never past the scheduled span: no grace after the end.
    minutes = min(credited_minutes(event, attendance.checked_in_at, end), event.scheduled_minutes)
    return end, minutes


def _close_at_end(event: Event, attendance: Attendance) -> bool:
    """Close one open attendance at the event's end, flagged; False when a check-out got
    there first (compare-and-set: a scan and the cron job may meet here)."""
    end, minutes = _auto_minutes(event, attendance)
    done = db.session.execute(
        update(Attendance)
        .where(Attendance.id == attendance.id, Attendance.checked_out_at.is_(None))
        .values(checked_out_at=end, check_out_via=Via.AUTO, minutes=minutes, flagged=True)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.refresh(attendance)
    if done:
        records.from_attendance(attendance, flag_reason=NO_CHECK_OUT)
    return bool(done)


def close_forgotten(event: Event, actor=None) -> int:
    """Close every open attendance at the event's scheduled end, flagged for review and
    credited no further than that end."""
    open_ = db.session.scalars(
        db.select(Attendance).filter_by(event_id=event.id, checked_out_at=None)
    ).all()
    closed = sum(_close_at_end(event, attendance) for attendance in open_)
    if closed:
        record(actor, "attendance.close_forgotten", event, region=event.region, count=closed)
    return closed


def _correct_auto_close(event: Event, attendance: Attendance, *, via, actor, at):
    """A staff check-out queued offline reaches the server after the event was closed
    without it: while the record waits for approval, the real time replaces the automatic
    one and the flag is lifted. Once decided, the record stands (dispute it instead)."""
    from timebank.events.models import RecordState, ServiceRecord

    if at > _closes(event):
        return None
    service_record = db.session.scalar(
        db.select(ServiceRecord)
        .filter_by(attendance_id=attendance.id, state=RecordState.PENDING)
        .with_for_update()
    )
    if service_record is None:
        return None
    at = max(at, attendance.checked_in_at)
    minutes = credited_minutes(event, attendance.checked_in_at, at)
    done = db.session.execute(
        update(Attendance)
        .where(Attendance.id == attendance.id, Attendance.check_out_via == Via.AUTO)
        .values(
            checked_out_at=at,
            check_out_via=via,
            checked_out_by_id=actor.id,
            minutes=minutes,
            flagged=False,
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    if not done:
        return None
    service_record.minutes = minutes
    service_record.flagged = False
    service_record.flag_reason = ""
    db.session.refresh(attendance)
    record(actor, "attendance.check_out", attendance, region=event.region, minutes=minutes)
    return attendance


def finish_ended(now: datetime | None = None) -> list[Event]:
    """Finish every published event whose end plus grace has passed (for cron or a timer)."""
    from timebank.core.security import SYSTEM

    now = now or utcnow()
    candidates = db.session.scalars(
        db.select(Event).where(Event.state == EventState.PUBLISHED, Event.ends_at < now)
    ).all()
    finished = []
    for event in candidates:
        if now > _closes(event):
            # One savepoint per event: an event that cannot be finished now (a person
            # finished it first) does not stop the others.
            try:
                with db.session.begin_nested():
                    services.finish(SYSTEM, event)
            except DomainError:
                continue
            finished.append(event)
    return finished


def outcome_message(outcome: Outcome) -> str:
    """One plain sentence for the person who scanned, with the local time."""
    from flask_babel import format_time

    at = format_time(outcome.at, "HH:mm")
    name = outcome.attendance.user.name
    if outcome.code == CHECKED_IN:
        text = _("%(name)s checked in at %(time)s.", name=name, time=at)
        if outcome.walk_in:
            text += " " + _("Signed up on the spot.")
    elif outcome.code == ALREADY_IN:
        text = _("%(name)s already checked in at %(time)s.", name=name, time=at)
    elif outcome.code == CHECKED_OUT:
        text = _(
            "%(name)s checked out at %(time)s: %(minutes)d minutes, waiting for approval.",
            name=name,
            time=at,
            minutes=outcome.attendance.minutes or 0,
        )
    else:
        text = _("%(name)s already checked out at %(time)s.", name=name, time=at)
    if outcome.pending_verification:
        text += " " + _(
            "The identity is not verified yet: recorded, but the hours wait until station "
            "staff verify it."
        )
    return text


def answer(outcome: Outcome) -> dict:
    """What the API answers, built before the commit expires the objects it reads."""
    attendance = outcome.attendance
    return {
        "outcome": outcome.code,
        # A replayed upload was recorded by its first attempt: the scanner shows it as done.
        "recorded": outcome.recorded,
        "replayed": outcome.replayed,
        "at": outcome.at,
        "message": outcome_message(outcome),
        "event_id": attendance.event_id,
        "attendance_id": attendance.id,
        "volunteer": {"user_id": attendance.user_id, "name": attendance.user.name},
        "walk_in": outcome.walk_in,
        "pending_verification": outcome.pending_verification,
        "minutes": attendance.minutes,
    }

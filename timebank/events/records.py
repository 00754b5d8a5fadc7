"""Service records: made from attendance or by staff (补录), approved once into the time
bank or rejected with a reason, and disputed (申诉) by the volunteer."""

from dataclasses import dataclass, field
from datetime import date

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import func, update

from timebank.audit.services import record
from timebank.core import signals
from timebank.core.db import utcnow
from timebank.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from timebank.core.security import SYSTEM, can_staff_station, ensure
from timebank.events import services
from timebank.events.models import (
    Attendance,
    Dispute,
    DisputeState,
    Event,
    RecordState,
    ServiceRecord,
    StaffEntry,
)
from timebank.extensions import db
from timebank.stations.models import Station

MAX_ENTRY_MINUTES = 24 * 60
MAX_ENTRY_PEOPLE = 200


def _local_date(moment) -> date:
    from flask_babel import to_user_timezone

    return to_user_timezone(moment).date()


def from_attendance(attendance: Attendance, flag_reason: str = "") -> ServiceRecord:
    event = attendance.event
    service_record = ServiceRecord(
        user_id=attendance.user_id,
        event_id=event.id,
        attendance_id=attendance.id,
        station_id=event.station_id,
        region_id=event.region_id,
        served_on=_local_date(event.starts_at),
        minutes=attendance.minutes or 0,
        description=event.title,
        flagged=bool(flag_reason),
        flag_reason=str(flag_reason),
    )
    db.session.add(service_record)
    db.session.flush()
    return service_record


# Who decides


def can_decide(actor, service_record: ServiceRecord) -> bool:
    """Organizers of the event; for staff entries, staff of the station and administrators."""
    if actor is SYSTEM or getattr(actor, "is_superadmin", False):
        return True
    if service_record.event is not None:
        return services.can_manage(actor, service_record.event)
    if service_record.station is not None:
        return can_staff_station(actor, service_record.station)
    from timebank.core.security import can_admin_region

    return can_admin_region(actor, service_record.region)


def get_record(actor, record_id: int) -> ServiceRecord:
    """A record its volunteer or someone who may decide it can see; 404 for anyone else."""
    service_record = db.session.get(ServiceRecord, record_id)
    if service_record is None or not (
        service_record.user_id == getattr(actor, "id", None) or can_decide(actor, service_record)
    ):
        raise NotFound(_("No such service record."))
    return service_record


def approve(actor, service_record: ServiceRecord) -> ServiceRecord:
    """Approve and credit the time bank exactly once.

    The state moves from pending to approved with a compare-and-set, so two approvers
    at once credit once; the ledger's idempotency key (the record's id) backs that up.
    """
    from timebank.ledger import services as ledger
    from timebank.volunteers.services import ensure_may_be_credited

    ensure(can_decide(actor, service_record))
    services.ensure_not_self(actor, service_record.user)
    if service_record.state != RecordState.PENDING:
        raise Conflict(
            _("This record is already %(state)s.", state=RecordState(service_record.state).label),
            code="already_decided",
        )
    if _needs_someone_else(actor, service_record):
        raise PermissionDenied(
            _("This entry is large: another staff member must approve it."),
            code="second_approval_required",
        )
    if service_record.minutes > 0:
        # Refused before anything changes: the record stays pending until staff verify
        # (or reinstate) the volunteer.
        ensure_may_be_credited(service_record.user)
    now = utcnow()
    moved = db.session.execute(
        update(ServiceRecord)
        .where(ServiceRecord.id == service_record.id, ServiceRecord.state == RecordState.PENDING)
        .values(
            state=RecordState.APPROVED, decided_by_id=getattr(actor, "id", None), decided_at=now
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    if not moved:
        db.session.refresh(service_record)
        raise Conflict(_("Someone else has just decided this record."), code="already_decided")
    db.session.refresh(service_record)
    signals.service_approved.send(service_record)
    if service_record.minutes > 0:
        posted = ledger.credit_service(
            service_record.user,
            service_record.minutes,
            service_record.region,
            key=f"service-record:{service_record.id}",
            actor=actor if actor is not SYSTEM else None,
            memo=service_record.description[:200],
        )
        service_record.transaction_id = posted.transaction.id
    record(
        actor,
        "service_record.approve",
        service_record,
        region=service_record.region,
        minutes=service_record.minutes,
        user_id=service_record.user_id,
    )
    return service_record


def _needs_someone_else(actor, service_record: ServiceRecord) -> bool:
    """Large hours typed by hand need a second person: whoever entered them (a staff
    entry, a dispute's supplement) or corrected them (a dispute) does not approve them."""
    actor_id = getattr(actor, "id", None)
    if actor_id is None:
        return False
    entry = service_record.staff_entry
    if entry is not None and entry.needs_second_approval and entry.created_by_id == actor_id:
        return True
    if service_record.minutes <= current_app.config["STAFF_ENTRY_SECOND_APPROVAL_MINUTES"]:
        return False
    if service_record.created_by_id == actor_id:
        return True
    corrected_by_actor = db.select(Dispute.id).filter_by(
        record_id=service_record.id, resolved_by_id=actor_id, state=DisputeState.CORRECTED
    )
    return db.session.scalar(corrected_by_actor.limit(1)) is not None


def _lock(instance) -> None:
    """Read the row again under a row lock (PostgreSQL; SQLite writes are serialized by
    BEGIN IMMEDIATE): decisions on one record or dispute happen one after another, each
    seeing the state the previous one left."""
    db.session.refresh(instance, with_for_update=True)


def reject(actor, service_record: ServiceRecord, reason: str) -> ServiceRecord:
    ensure(can_decide(actor, service_record))
    services.ensure_not_self(actor, service_record.user, _("Nobody decides on their own hours."))
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(_("Say why; the volunteer sees the reason."), field="reason")
    _lock(service_record)
    if service_record.state != RecordState.PENDING:
        raise Conflict(
            _("This record is already %(state)s.", state=RecordState(service_record.state).label),
            code="already_decided",
        )
    service_record.state = RecordState.REJECTED
    service_record.reason = reason
    service_record.decided_by_id = getattr(actor, "id", None)
    service_record.decided_at = utcnow()
    record(
        actor,
        "service_record.reject",
        service_record,
        region=service_record.region,
        reason=reason,
        user_id=service_record.user_id,
    )
    return service_record


@dataclass
class BulkResult:
    approved: list[ServiceRecord] = field(default_factory=list)
    # Records left pending, each with the reason (flagged, unverified, the approver's own).
    skipped: list[tuple[ServiceRecord, str]] = field(default_factory=list)


def approve_event(actor, event: Event) -> BulkResult:
    """Approve every pending record of an event, except flagged ones (reviewed one by one),
    the approver's own, and volunteers whose identity is not yet verified."""
    from timebank.core.errors import DomainError

    ensure(services.can_manage(actor, event))
    result = BulkResult()
    pending = db.session.scalars(
        db.select(ServiceRecord)
        .filter_by(event_id=event.id, state=RecordState.PENDING)
        .order_by(ServiceRecord.id)
    ).all()
    for service_record in pending:
        if service_record.flagged:
            result.skipped.append((service_record, _("Flagged: review it on its own.")))
            continue
        try:
            with db.session.begin_nested():
                approve(actor, service_record)
        except DomainError as exc:
            result.skipped.append((service_record, str(exc.message)))
        else:
            result.approved.append(service_record)
    return result


# Staff entries (补录)


def create_entry(
    actor,
    station: Station,
    people: list,
    *,
    served_on: date,
    minutes: int,
    description: str,
    reason: str,
    event: Event | None = None,
) -> StaffEntry:
    """Log hours for people who served together. Small entries are approved by the person
    entering them (never their own hours); above the threshold they wait for a second
    staff member."""
    from timebank.volunteers.services import profile_of

    ensure(can_staff_station(actor, station))
    problems = []
    description, reason = (description or "").strip(), (reason or "").strip()
    if not description:
        problems.append(ValidationFailed(_("Describe the service."), field="description"))
    if not reason:
        problems.append(
            ValidationFailed(_("Say why the hours are logged by hand."), field="reason")
        )
    if not isinstance(minutes, int) or not 0 < minutes <= MAX_ENTRY_MINUTES:
        problems.append(ValidationFailed(_("Enter between 1 and 1,440 minutes."), field="minutes"))
    if served_on > _local_date(utcnow()):
        problems.append(ValidationFailed(_("The date cannot be in the future."), field="served_on"))
    if not people:
        problems.append(ValidationFailed(_("Choose at least one volunteer."), field="people"))
    elif len(people) > MAX_ENTRY_PEOPLE:
        problems.append(ValidationFailed(_("At most 200 people per entry."), field="people"))
    for person in people:
        if profile_of(person) is None:
            problems.append(
                ValidationFailed(
                    _("%(name)s has not registered as a volunteer.", name=person.name),
                    field="people",
                )
            )
    if problems:
        from timebank.core.errors import Problems

        collected = Problems()
        collected.errors = problems
        collected.raise_any()
    if event is not None and event.station_id != station.id:
        raise ValidationFailed(_("That event is not this station's."), field="event_id")
    if event is not None:
        _ensure_not_counted(event, people, minutes)
    threshold = current_app.config["STAFF_ENTRY_SECOND_APPROVAL_MINUTES"]
    large = minutes > threshold or _entered_today(actor, people, served_on) + minutes > threshold
    entry = StaffEntry(
        station_id=station.id,
        event_id=event.id if event else None,
        region_id=station.region_id,
        served_on=served_on,
        minutes=minutes,
        description=description,
        reason=reason,
        needs_second_approval=large,
        created_by_id=getattr(actor, "id", None),
    )
    db.session.add(entry)
    db.session.flush()
    record(
        actor,
        "staff_entry.create",
        entry,
        region=station.region,
        minutes=minutes,
        people=len(people),
        reason=reason,
    )
    seen = set()
    for person in people:
        if person.id in seen:
            continue
        seen.add(person.id)
        service_record = ServiceRecord(
            user_id=person.id,
            event_id=entry.event_id,
            staff_entry_id=entry.id,
            station_id=station.id,
            region_id=station.region_id,
            served_on=served_on,
            minutes=minutes,
            description=description,
            created_by_id=getattr(actor, "id", None),
        )
        db.session.add(service_record)
        db.session.flush()
        own = getattr(actor, "id", None) == person.id
        if not entry.needs_second_approval and not own:
            from timebank.core.errors import DomainError

            try:
                with db.session.begin_nested():
                    approve(actor, service_record)
            except DomainError:
                pass  # stays pending (an unverified volunteer): visible on the approvals page
    return entry


def _ensure_not_counted(event: Event, people: list, minutes: int) -> None:
    """An entry for an event adds what attendance missed: never more than an attendance
    could be credited, and never for someone whose time there is already recorded."""
    from timebank.events.hours import cap_minutes
    from timebank.events.models import Attendance

    if minutes > (cap := cap_minutes(event)):
        raise ValidationFailed(
            _("This event credits at most %(minutes)d minutes.", minutes=cap), field="minutes"
        )
    ids = [person.id for person in people]
    counted = set(
        db.session.scalars(
            db.select(ServiceRecord.user_id).where(
                ServiceRecord.event_id == event.id,
                ServiceRecord.user_id.in_(ids),
                ServiceRecord.state != RecordState.REJECTED,
            )
        )
    ) | set(
        db.session.scalars(
            db.select(Attendance.user_id).where(
                Attendance.event_id == event.id,
                Attendance.user_id.in_(ids),
                Attendance.checked_out_at.is_(None),
            )
        )
    )
    if counted:
        names = ", ".join(person.name for person in people if person.id in counted)
        raise ValidationFailed(
            _(
                "Already recorded at this event: %(names)s. Dispute or correct that record "
                "instead.",
                names=names,
            ),
            field="people",
        )


def _entered_today(actor, people: list, served_on: date) -> int:
    """The most minutes this person has already entered by hand for any of these people on
    that day: splitting a large entry into small ones still needs a second approver."""
    actor_id = getattr(actor, "id", None)
    if actor_id is None:
        return 0
    totals = db.session.execute(
        db.select(func.sum(ServiceRecord.minutes))
        .where(
            ServiceRecord.created_by_id == actor_id,
            ServiceRecord.staff_entry_id.is_not(None),
            ServiceRecord.served_on == served_on,
            ServiceRecord.user_id.in_([person.id for person in people]),
            ServiceRecord.state != RecordState.REJECTED,
        )
        .group_by(ServiceRecord.user_id)
    ).scalars()
    return max(totals, default=0) or 0


# Disputes (申诉)


def dispute(
    user, service_record: ServiceRecord, reason: str, claimed_minutes: int | None = None
) -> Dispute:
    if service_record.user_id != user.id:
        raise NotFound(_("No such service record."))
    if service_record.corrects_id is not None:
        raise Conflict(
            _("This record corrects an earlier one: dispute the earlier record."),
            code="dispute_the_original",
        )
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(_("Say what is wrong with this record."), field="reason")
    if claimed_minutes is not None and not 0 <= claimed_minutes <= MAX_ENTRY_MINUTES:
        raise ValidationFailed(_("Enter between 0 and 1,440 minutes."), field="claimed_minutes")
    _lock(service_record)  # two taps on "dispute" open one dispute
    if db.session.scalar(
        db.select(Dispute.id).filter_by(record_id=service_record.id, state=DisputeState.OPEN)
    ):
        raise Conflict(_("This record already has an open dispute."), code="dispute_open")
    item = Dispute(
        record_id=service_record.id, user_id=user.id, reason=reason, claimed_minutes=claimed_minutes
    )
    db.session.add(item)
    db.session.flush()
    record(user, "dispute.open", item, region=service_record.region, record_id=service_record.id)
    return item


def credited_or_pending(service_record: ServiceRecord) -> int:
    """Minutes a record stands for with its supplements that are not rejected."""
    supplements = db.session.scalar(
        db.select(func.coalesce(func.sum(ServiceRecord.minutes), 0)).where(
            ServiceRecord.corrects_id == service_record.id,
            ServiceRecord.state != RecordState.REJECTED,
        )
    )
    return service_record.minutes + supplements


def resolve(actor, item: Dispute, *, corrected_minutes: int | None, resolution: str) -> Dispute:
    """Uphold the record as it is, or correct its minutes.

    A pending or rejected record takes the corrected minutes and goes back to pending.
    An approved record is never edited (its credit is in the ledger): when the correction
    is larger than the record and its earlier supplements, a supplementary pending record
    carries the difference. A correction over the second-approval size waits for someone
    other than the resolver.
    """
    from timebank.events.hours import cap_minutes

    service_record = item.record
    ensure(can_decide(actor, service_record))
    services.ensure_not_self(actor, service_record.user, _("Nobody decides on their own hours."))
    resolution = (resolution or "").strip()
    if not resolution:
        raise ValidationFailed(_("Explain the decision to the volunteer."), field="resolution")
    if corrected_minutes is not None:
        limit = MAX_ENTRY_MINUTES
        if service_record.event is not None:
            limit = min(limit, cap_minutes(service_record.event))
        if not 0 <= corrected_minutes <= limit:
            raise ValidationFailed(
                _("Enter between 0 and %(minutes)d minutes.", minutes=limit),
                field="corrected_minutes",
            )
    # Locked in this order (dispute, then record) everywhere: two resolvers, or a resolver
    # and an approver, act one after the other on what the first one left.
    _lock(item)
    _lock(service_record)
    if item.state != DisputeState.OPEN:
        raise Conflict(_("This dispute is already resolved."), code="already_resolved")
    supplement = None
    if corrected_minutes is None:
        item.state = DisputeState.UPHELD
    else:
        if service_record.state == RecordState.APPROVED:
            standing = credited_or_pending(service_record)
            if corrected_minutes <= standing:
                raise ValidationFailed(
                    _(
                        "This record already stands for %(minutes)d minutes with its "
                        "corrections; an approved record can only be corrected upwards "
                        "(reverse the credit in the ledger to lower it).",
                        minutes=standing,
                    ),
                    field="corrected_minutes",
                )
            supplement = ServiceRecord(
                user_id=service_record.user_id,
                event_id=service_record.event_id,
                corrects_id=service_record.id,
                station_id=service_record.station_id,
                region_id=service_record.region_id,
                served_on=service_record.served_on,
                minutes=corrected_minutes - standing,
                description=service_record.description,
                created_by_id=getattr(actor, "id", None),
            )
            db.session.add(supplement)
        else:
            service_record.minutes = corrected_minutes
            service_record.state = RecordState.PENDING
            service_record.reason = ""
            service_record.flagged = False
        item.state = DisputeState.CORRECTED
    item.resolution = resolution
    item.resolved_by_id = getattr(actor, "id", None)
    item.resolved_at = utcnow()
    db.session.flush()
    record(
        actor,
        "dispute.resolve",
        item,
        region=service_record.region,
        state=item.state,
        corrected_minutes=corrected_minutes,
        supplement_id=getattr(supplement, "id", None),
    )
    return item

"""Events: who may organize them, their life cycle (draft, published, cancelled, finished)
and sign-ups with capacity, a waiting list and walk-ins."""

from dataclasses import dataclass, fields
from datetime import datetime, timedelta

from flask_babel import gettext as _
from sqlalchemy import func

from timebank.audit.services import record
from timebank.auth.models import Role
from timebank.core.db import insert_unique, utcnow
from timebank.core.errors import Conflict, NotFound, PermissionDenied, Problems, ValidationFailed
from timebank.core.security import SYSTEM, can_lead_organization, can_staff_station, ensure
from timebank.events import tokens
from timebank.events.models import (
    Audience,
    Event,
    EventCategory,
    EventState,
    Rounding,
    Signup,
    SignupState,
)
from timebank.extensions import db
from timebank.organizations.models import Membership, Organization
from timebank.stations.models import Station

MAX_EVENT_DAYS = 14  # one event spans at most two weeks; longer work is several events
MAX_CAPACITY = 100_000


# Permissions


def can_organize(actor, organizer) -> bool:
    """Staff of a station, leaders of a team, and administrators above either."""
    if actor is SYSTEM or getattr(actor, "is_superadmin", False):
        return True
    if isinstance(organizer, Station):
        return can_staff_station(actor, organizer)
    return can_lead_organization(actor, organizer)


def can_manage(actor, event: Event) -> bool:
    return can_organize(actor, event.organizer)


def organizers_for(actor) -> list:
    """Stations and teams this person may publish events for, by name."""
    if actor.is_superadmin:
        stations = db.session.scalars(db.select(Station).filter_by(active=True)).all()
        teams = db.session.scalars(db.select(Organization).filter_by(active=True)).all()
    else:
        from timebank.core.security import administered_regions
        from timebank.regions.models import Region

        station_ids = [g.scope_id for g in actor.grants_of(Role.STATION_STAFF)]
        team_ids = [g.scope_id for g in actor.grants_of(Role.TEAM_LEADER)]
        roots = administered_regions(actor)
        under = [Region.path.startswith(root.path, autoescape=True) for root in roots]
        stations = db.session.scalars(
            db.select(Station)
            .join(Station.region)
            .where(Station.active, db.or_(Station.id.in_(station_ids), *under))
        ).all()
        teams = db.session.scalars(
            db.select(Organization)
            .join(Organization.region)
            .where(Organization.active, db.or_(Organization.id.in_(team_ids), *under))
        ).all()
    return sorted(stations, key=lambda s: s.name) + sorted(teams, key=lambda t: t.name)


def get_event(event_id: int) -> Event:
    event = db.session.get(Event, event_id)
    if event is None:
        raise NotFound(_("No such event."))
    return event


def can_see(actor, event: Event) -> bool:
    """Drafts only to their organizers; everything else to everyone."""
    if event.state != EventState.DRAFT:
        return True
    return bool(getattr(actor, "is_authenticated", True)) and can_manage(actor, event)


def get_visible_event(actor, event_id: int) -> Event:
    event = get_event(event_id)
    if not can_see(actor, event):
        raise NotFound(_("No such event."))
    return event


def get_managed_event(actor, event_id: int) -> Event:
    event = get_visible_event(actor, event_id)
    ensure(can_manage(actor, event))
    return event


# Details and their checks


@dataclass
class EventDetails:
    title: str
    starts_at: datetime
    ends_at: datetime
    description: str = ""
    category: str = EventCategory.COMMUNITY
    address: str = ""
    latitude: float | None = None
    longitude: float | None = None
    radius_m: int | None = None
    capacity: int | None = None
    signup_opens_at: datetime | None = None
    signup_closes_at: datetime | None = None
    cancel_before_minutes: int = 120
    audience: str = Audience.PUBLIC
    walk_ins: bool = True
    rounding: str = Rounding.HALF_HOUR
    grace_minutes: int = 15
    max_minutes: int | None = None

    @classmethod
    def of(cls, event: Event) -> "EventDetails":
        return cls(**{f.name: getattr(event, f.name) for f in fields(cls)})


def check_details(details: EventDetails, event: Event | None = None) -> None:
    """Every mistake at once, each on its field; nothing is changed here."""
    problems = Problems()

    def refuse(message, field):
        problems.errors.append(ValidationFailed(message, field=field))

    details.title = (details.title or "").strip()
    if not details.title:
        refuse(_("Enter a title."), "title")
    elif len(details.title) > 120:
        refuse(_("Keep the title under 120 characters."), "title")
    for name in ("starts_at", "ends_at", "signup_opens_at", "signup_closes_at"):
        value = getattr(details, name)
        if value is not None and value.tzinfo is None:
            raise ValueError(f"{name} must be timezone-aware")
    if details.ends_at <= details.starts_at:
        refuse(_("The event must end after it starts."), "ends_at")
    elif details.ends_at - details.starts_at > timedelta(days=MAX_EVENT_DAYS):
        refuse(_("An event lasts at most %(days)d days.", days=MAX_EVENT_DAYS), "ends_at")
    if (
        details.signup_opens_at
        and details.signup_closes_at
        and details.signup_closes_at <= details.signup_opens_at
    ):
        refuse(_("Sign-up must close after it opens."), "signup_closes_at")
    if details.signup_closes_at and details.signup_closes_at > details.ends_at:
        refuse(_("Sign-up must close before the event ends."), "signup_closes_at")
    if details.category not in EventCategory.__members__.values():
        refuse(_("Choose a category."), "category")
    if details.audience not in Audience.__members__.values():
        refuse(_("Choose who may sign up."), "audience")
    if details.rounding not in Rounding.__members__.values():
        refuse(_("Choose a rounding rule."), "rounding")
    if details.capacity is not None and not 0 < details.capacity <= MAX_CAPACITY:
        refuse(_("Enter a capacity above zero, or leave it empty for no limit."), "capacity")
    elif details.capacity is not None and event is not None:
        taken = confirmed_count(event)
        if details.capacity < taken:
            refuse(
                _(
                    "%(count)d people have already signed up; the capacity cannot be lower.",
                    count=taken,
                ),
                "capacity",
            )
    if not 0 <= details.grace_minutes <= 120:
        refuse(_("Grace is between 0 and 120 minutes."), "grace_minutes")
    if not 0 <= details.cancel_before_minutes <= 7 * 24 * 60:
        refuse(
            _("The cancellation deadline is at most a week before the start."),
            "cancel_before_minutes",
        )
    if details.max_minutes is not None and details.max_minutes <= 0:
        refuse(_("Enter a maximum above zero, or leave it empty."), "max_minutes")
    located = (details.latitude, details.longitude)
    if any(v is not None for v in located):
        if None in located:
            refuse(_("Enter both latitude and longitude, or neither."), "latitude")
        elif not (-90 <= details.latitude <= 90 and -180 <= details.longitude <= 180):
            refuse(_("These coordinates are not on Earth."), "latitude")
        if details.radius_m is not None and not 10 <= details.radius_m <= 50_000:
            refuse(_("The radius is between 10 m and 50 km."), "radius_m")
    problems.raise_any()


# Life cycle


def create_event(actor, organizer, details: EventDetails) -> Event:
    ensure(
        can_organize(actor, organizer),
        _("You cannot publish events for %(name)s.", name=organizer.name),
    )
    if not organizer.active:
        raise ValidationFailed(_("%(name)s is no longer active.", name=organizer.name))
    check_details(details)
    event = Event(
        station_id=organizer.id if isinstance(organizer, Station) else None,
        organization_id=organizer.id if isinstance(organizer, Organization) else None,
        region_id=organizer.region_id,
        state=EventState.DRAFT,
        qr_handle=tokens.new_handle(),
        qr_secret=tokens.new_secret(),
        created_by_id=getattr(actor, "id", None),
        **{f.name: getattr(details, f.name) for f in fields(EventDetails)},
    )
    db.session.add(event)
    db.session.flush()
    record(actor, "event.create", event, region=organizer.region, title=event.title)
    return event


def update_event(actor, event: Event, details: EventDetails) -> Event:
    ensure(can_manage(actor, event))
    if event.state in (EventState.CANCELLED, EventState.FINISHED):
        raise Conflict(_("A cancelled or finished event cannot be changed."))
    _lock(event)
    check_details(details, event)
    changed = {}
    for f in fields(EventDetails):
        new = getattr(details, f.name)
        if getattr(event, f.name) != new:
            changed[f.name] = str(new)
            setattr(event, f.name, new)
    if changed:
        record(actor, "event.update", event, region=event.region, changed=sorted(changed))
    if "capacity" in changed:
        _promote(event)
    return event


def publish(actor, event: Event) -> Event:
    ensure(can_manage(actor, event))
    if event.state != EventState.DRAFT:
        raise Conflict(_("Only a draft can be published."))
    if event.ends_at <= utcnow():
        raise ValidationFailed(_("This event is already over."), field="ends_at")
    event.state = EventState.PUBLISHED
    record(actor, "event.publish", event, region=event.region)
    return event


def cancel(actor, event: Event, reason: str) -> Event:
    ensure(can_manage(actor, event))
    if event.state not in (EventState.DRAFT, EventState.PUBLISHED):
        raise Conflict(_("This event is already %(state)s.", state=EventState(event.state).label))
    if not (reason or "").strip():
        raise ValidationFailed(
            _("Say why the event is cancelled; people who signed up see it."), field="reason"
        )
    event.state = EventState.CANCELLED
    event.cancel_reason = reason.strip()
    record(actor, "event.cancel", event, region=event.region, reason=event.cancel_reason)
    return event


def finish(actor, event: Event) -> Event:
    """Close an event: forgotten check-outs are closed at its end and flagged."""
    from timebank.events import attendance

    ensure(can_manage(actor, event))
    # Locked and read again: two cron runs (or a person and cron) finish it once.
    _lock(event)
    db.session.refresh(event)
    if event.state != EventState.PUBLISHED:
        raise Conflict(_("Only a published event can be finished."))
    if utcnow() < event.starts_at:
        raise Conflict(_("This event has not started yet."))
    attendance.close_forgotten(event, actor=actor)
    event.state = EventState.FINISHED
    record(actor, "event.finish", event, region=event.region)
    return event


def regenerate_codes(actor, event: Event) -> Event:
    """A new secret: every code shown or printed so far stops working."""
    ensure(can_manage(actor, event))
    event.previous_qr_secret = event.qr_secret
    event.qr_secret = tokens.new_secret()
    record(actor, "event.regenerate_codes", event, region=event.region)
    return event


def _lock(event: Event) -> None:
    """Serialize sign-ups and check-ins on one event (PostgreSQL row lock; SQLite writes
    are serialized already by BEGIN IMMEDIATE)."""
    db.session.execute(db.select(Event.id).where(Event.id == event.id).with_for_update())


# Sign-ups


def signup_counts(event_ids) -> dict[int, dict[str, int]]:
    """{event_id: {"confirmed": n, "waitlisted": m}} for the events listed on a page."""
    counts = {event_id: {"confirmed": 0, "waitlisted": 0} for event_id in event_ids}
    if not counts:
        return counts
    rows = db.session.execute(
        db.select(Signup.event_id, Signup.state, func.count())
        .where(Signup.event_id.in_(list(counts)), Signup.state != SignupState.CANCELLED)
        .group_by(Signup.event_id, Signup.state)
    )
    for event_id, state, count in rows:
        counts[event_id][state] = count
    return counts


def confirmed_count(event: Event) -> int:
    return db.session.scalar(
        db.select(func.count())
        .select_from(Signup)
        .where(Signup.event_id == event.id, Signup.state == SignupState.CONFIRMED)
    )


def signup_of(user, event: Event) -> Signup | None:
    if not getattr(user, "id", None):
        return None
    return db.session.scalar(db.select(Signup).filter_by(event_id=event.id, user_id=user.id))


def is_member(user, event: Event) -> bool:
    if event.organization_id is None:
        return False
    return (
        db.session.scalar(
            db.select(Membership.id).filter_by(
                organization_id=event.organization_id, user_id=user.id
            )
        )
        is not None
    )


def signup_problem(user, event: Event, now: datetime | None = None) -> str | None:
    """Why this person cannot sign up now, in words; None when they can."""
    now = now or utcnow()
    if event.state != EventState.PUBLISHED:
        return _("This event is not open for sign-up.")
    if event.audience == Audience.TEAM and not is_member(user, event):
        return _("Only members of %(team)s can sign up.", team=event.organizer.name)
    if event.signup_opens_at and now < event.signup_opens_at:
        return _("Sign-up has not opened yet.")
    closes = event.signup_closes_at or event.ends_at
    if now >= closes:
        return _("Sign-up has closed.")
    return None


def sign_up(user, event: Event) -> Signup:
    """Sign up, or join the waiting list when the event is full."""
    from timebank.volunteers.services import profile_of

    _lock(event)
    if profile_of(user) is None:
        raise ValidationFailed(
            _("Register as a volunteer under your real name before signing up."),
            code="not_registered",
        )
    if problem := signup_problem(user, event):
        raise Conflict(problem, code="signup_closed")
    signup = signup_of(user, event)
    if signup is not None and signup.state != SignupState.CANCELLED:
        raise Conflict(_("You have already signed up."), code="already_signed_up")
    full = event.capacity is not None and confirmed_count(event) >= event.capacity
    state = SignupState.WAITLISTED if full else SignupState.CONFIRMED
    if signup is None:
        signup = insert_unique(
            db.session,
            Signup(event_id=event.id, user_id=user.id, state=state),
            Conflict(_("You have already signed up."), code="already_signed_up"),
        )
    else:
        signup.state = state
        signup.created_at = utcnow()  # back of the queue
    record(user, "signup.create", signup, region=event.region, state=str(state))
    return signup


def cancel_deadline(event: Event) -> datetime:
    return event.starts_at - timedelta(minutes=event.cancel_before_minutes)


def cancel_signup(user, event: Event) -> Signup:
    _lock(event)
    signup = signup_of(user, event)
    if signup is None or signup.state == SignupState.CANCELLED:
        raise NotFound(_("You have not signed up for this event."))
    if signup.state == SignupState.CONFIRMED and utcnow() > cancel_deadline(event):
        raise Conflict(
            _("It is too late to cancel online. Please tell the organizers."), code="too_late"
        )
    was = signup.state
    signup.state = SignupState.CANCELLED
    record(user, "signup.cancel", signup, region=event.region)
    if was == SignupState.CONFIRMED:
        _promote(event)
    return signup


def _promote(event: Event) -> list[Signup]:
    """Move people up from the waiting list, first come first served, while there is room."""
    waiting = db.session.scalars(
        db.select(Signup)
        .filter_by(event_id=event.id, state=SignupState.WAITLISTED)
        .order_by(Signup.created_at, Signup.id)
    ).all()
    if event.capacity is None:
        room = len(waiting)
    else:
        room = max(0, event.capacity - confirmed_count(event))
    promoted = waiting[:room]
    for signup in promoted:
        signup.state = SignupState.CONFIRMED
        record(SYSTEM, "signup.promote", signup, region=event.region, user_id=signup.user_id)
    return promoted


def add_walk_in(actor, event: Event, user, *, late_upload: bool = False) -> Signup:
    """Staff add someone who turned up; capacity does not stop a person who is here.
    A scan queued offline during the event may arrive once it is finished."""
    ensure(can_manage(actor, event))
    open_states = (
        (EventState.PUBLISHED, EventState.FINISHED) if late_upload else (EventState.PUBLISHED,)
    )
    if event.state not in open_states:
        raise Conflict(_("This event is not open."))
    _lock(event)
    signup = signup_of(user, event)
    if signup is not None and signup.state == SignupState.CONFIRMED:
        return signup
    if signup is None:
        signup = Signup(event_id=event.id, user_id=user.id)
        db.session.add(signup)
    signup.state = SignupState.CONFIRMED
    signup.walk_in = True
    signup.added_by_id = getattr(actor, "id", None)
    db.session.flush()
    record(actor, "signup.walk_in", signup, region=event.region, user_id=user.id)
    return signup


def ensure_not_self(actor, user, message=None) -> None:
    if getattr(actor, "id", None) is not None and actor.id == user.id:
        raise PermissionDenied(message or _("Nobody approves their own hours."))

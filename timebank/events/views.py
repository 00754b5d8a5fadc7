"""Pages: upcoming events, event detail and sign-up, my events, creating and editing
events, and the organizer's dashboard. Approvals live in approval_views, the scan landing
in scan_views (same blueprint)."""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import to_user_timezone, to_utc
from flask_login import current_user
from sqlalchemy import and_, false, func, or_

from timebank.auth.forms import EmptyForm
from timebank.auth.models import Role, User
from timebank.auth.services import normalise_login
from timebank.core.db import utcnow
from timebank.core.errors import DomainError
from timebank.core.forms import options
from timebank.core.security import requires
from timebank.events import attendance, records, services
from timebank.events.forms import (
    CancelEventForm,
    DisputeForm,
    EventForm,
    EventSearchForm,
    WalkInForm,
)
from timebank.events.models import (
    Attendance,
    Audience,
    Dispute,
    Event,
    EventState,
    RecordState,
    Rounding,
    ServiceRecord,
    Signup,
    SignupState,
    Via,
)
from timebank.extensions import db
from timebank.organizations.models import Organization
from timebank.regions.models import Region, RegionLevel
from timebank.stations.models import Station
from timebank.volunteers.models import Volunteer

bp = Blueprint("events", __name__)

PER_PAGE = 20
DECIDER_ROLES = (Role.STATION_STAFF, Role.TEAM_LEADER, Role.ADMIN)


# -- time zones: pages show and take local times; services get aware UTC -------------------


def _to_local(moment: datetime | None) -> datetime | None:
    """An aware UTC moment as the naive local time a datetime-local input shows."""
    return to_user_timezone(moment).replace(tzinfo=None) if moment else None


def _to_utc(local: datetime | None) -> datetime | None:
    """A naive local time typed in a form as an aware UTC moment."""
    return to_utc(local).replace(tzinfo=UTC) if local else None


def _day_start(day: date) -> datetime:
    return _to_utc(datetime.combine(day, time()))


def _int(value) -> int | None:
    return int(value) if value and str(value).isdigit() else None


def _flash_errors(form) -> None:
    for errors in form.errors.values():
        flash(" ".join(str(e) for e in errors), "error")


def _is_signed_in() -> bool:
    return bool(current_user and current_user.is_authenticated)


def _may_manage(event: Event) -> bool:
    return _is_signed_in() and services.can_manage(current_user, event)


@bp.app_template_filter("rounding_label")
def rounding_label(value) -> str:
    return str(Rounding(value).label)


@bp.app_template_filter("audience_label")
def audience_label(value) -> str:
    return str(Audience(value).label)


@bp.app_template_filter("via_label")
def via_label(value) -> str:
    return str(Via(value).label) if value else ""


# -- the list of upcoming events -----------------------------------------------------------


def _region_choices():
    regions = db.session.scalars(
        db.select(Region)
        .where(Region.level.in_([RegionLevel.STREET, RegionLevel.COMMUNITY]))
        .order_by(Region.path)
    )
    return options(
        [("", _("Everywhere"))] + [(r.id, f"{'— ' * max(r.depth - 1, 0)}{r.name}") for r in regions]
    )


def _confirmed_subquery():
    return (
        db.select(func.count(Signup.id))
        .where(Signup.event_id == Event.id, Signup.state == SignupState.CONFIRMED)
        .correlate(Event)
        .scalar_subquery()
    )


@bp.route("/events/")
def index():
    form = EventSearchForm(request.args)
    form.region_id.choices = _region_choices()
    form.validate()
    select = db.select(Event).where(Event.state == EventState.PUBLISHED, Event.ends_at > utcnow())
    if form.q.data:
        select = select.where(Event.title.contains(form.q.data, autoescape=True))
    if form.category.data:
        select = select.where(Event.category == form.category.data)
    region = db.session.get(Region, _int(form.region_id.data)) if form.region_id.data else None
    if region is not None:
        select = select.join(Event.region).where(
            Region.path.startswith(region.path, autoescape=True)
        )
    if form.date_from.data and not form.date_from.errors:
        select = select.where(Event.ends_at > _day_start(form.date_from.data))
    if form.date_to.data and not form.date_to.errors:
        select = select.where(Event.starts_at < _day_start(form.date_to.data + timedelta(days=1)))
    if form.has_room.data:
        select = select.where(or_(Event.capacity.is_(None), _confirmed_subquery() < Event.capacity))
    page = db.paginate(
        select.order_by(Event.starts_at, Event.id), per_page=PER_PAGE, error_out=False
    )
    search = {k: v for k, v in request.args.items() if k != "page" and v and k in form._fields}
    return render_template(
        "events/index.html",
        form=form,
        page=page,
        counts=services.signup_counts([e.id for e in page.items]),
        search=search,
        may_organize=_is_signed_in() and current_user.has_role(*DECIDER_ROLES),
    )


@bp.route("/events/organized")
@requires(*DECIDER_ROLES)
def organized():
    """Every event of the stations and teams the user organizes for, drafts included."""
    organizers = services.organizers_for(current_user)
    station_ids = [o.id for o in organizers if isinstance(o, Station)]
    team_ids = [o.id for o in organizers if isinstance(o, Organization)]
    conditions = []
    if station_ids:
        conditions.append(Event.station_id.in_(station_ids))
    if team_ids:
        conditions.append(Event.organization_id.in_(team_ids))
    select = (
        db.select(Event)
        .where(or_(*conditions) if conditions else false())
        .order_by(Event.starts_at.desc(), Event.id.desc())
    )
    page = db.paginate(select, per_page=PER_PAGE, error_out=False)
    return render_template(
        "events/organized.html",
        page=page,
        counts=services.signup_counts([e.id for e in page.items]),
        may_create=bool(organizers),
    )


# -- one event, sign-up ---------------------------------------------------------------------


def waiting_position(signup: Signup) -> int:
    """1 for the first person on the waiting list."""
    ahead = db.session.scalar(
        db.select(func.count())
        .select_from(Signup)
        .where(
            Signup.event_id == signup.event_id,
            Signup.state == SignupState.WAITLISTED,
            or_(
                Signup.created_at < signup.created_at,
                and_(Signup.created_at == signup.created_at, Signup.id < signup.id),
            ),
        )
    )
    return ahead + 1


def cancel_reason(event: Event) -> str:
    return event.cancel_reason if event.state == EventState.CANCELLED else ""


def _profile():
    from timebank.volunteers.services import profile_of

    return profile_of(current_user) if _is_signed_in() else None


@bp.route("/events/<int:event_id>")
def show(event_id: int):
    event = services.get_visible_event(current_user, event_id)
    now = utcnow()
    counts = services.signup_counts([event.id])[event.id]
    signup = services.signup_of(current_user, event) if _is_signed_in() else None
    if signup is not None and signup.state == SignupState.CANCELLED:
        signup = None
    problem = None
    registered = _profile() is not None
    if _is_signed_in() and signup is None and registered:
        problem = services.signup_problem(current_user, event, now)
    deadline = services.cancel_deadline(event)
    return render_template(
        "events/show.html",
        event=event,
        counts=counts,
        places_left=None
        if event.capacity is None
        else max(0, event.capacity - counts["confirmed"]),
        signup=signup,
        position=waiting_position(signup)
        if signup and signup.state == SignupState.WAITLISTED
        else None,
        registered=registered,
        problem=problem,
        deadline=deadline,
        can_cancel=signup is not None
        and (signup.state == SignupState.WAITLISTED or now <= deadline),
        manage=_may_manage(event),
        cancel_reason=cancel_reason(event),
        form=EmptyForm(prefix="signup"),
        now=now,
    )


def _to_event(event: Event):
    return redirect(url_for("events.show", event_id=event.id))


@bp.route("/events/<int:event_id>/signup", methods=["POST"])
@requires()
def signup(event_id: int):
    event = services.get_visible_event(current_user, event_id)
    if EmptyForm(prefix="signup").validate_on_submit():
        try:
            made = services.sign_up(current_user, event)
        except DomainError as exc:
            db.session.rollback()
            flash(str(exc.message), "error")
        else:
            db.session.commit()
            if made.state == SignupState.WAITLISTED:
                flash(
                    _(
                        "The event is full: you are number %(position)d on the waiting list. "
                        "If a place frees up you move up automatically.",
                        position=waiting_position(made),
                    ),
                    "warning",
                )
            else:
                flash(_("You are signed up. See you there!"), "success")
    return _to_event(event)


@bp.route("/events/<int:event_id>/cancel-signup", methods=["POST"])
@requires()
def cancel_signup(event_id: int):
    event = services.get_visible_event(current_user, event_id)
    if EmptyForm(prefix="signup").validate_on_submit():
        try:
            services.cancel_signup(current_user, event)
        except DomainError as exc:
            db.session.rollback()
            flash(str(exc.message), "error")
        else:
            db.session.commit()
            flash(_("Your sign-up is cancelled."), "info")
    return _to_event(event)


# -- my events and my service records ------------------------------------------------------


@bp.route("/me/events")
@requires()
def mine():
    now = utcnow()
    rows = db.session.scalars(
        db.select(Signup)
        .join(Signup.event)
        .where(Signup.user_id == current_user.id, Signup.state != SignupState.CANCELLED)
        .order_by(Event.starts_at.desc(), Event.id.desc())
        .limit(200)
    ).all()
    upcoming, waiting, past = [], [], []
    for row in rows:
        event = row.event
        if event.ends_at <= now or event.state != EventState.PUBLISHED:
            past.append(row)
        elif row.state == SignupState.WAITLISTED:
            waiting.append(row)
        else:
            upcoming.append(row)
    upcoming.reverse()  # soonest first
    waiting.reverse()
    page = db.paginate(
        db.select(ServiceRecord)
        .filter_by(user_id=current_user.id)
        .order_by(ServiceRecord.served_on.desc(), ServiceRecord.id.desc()),
        per_page=30,
        error_out=False,
    )
    disputes: dict[int, list[Dispute]] = {}
    ids = [r.id for r in page.items]
    if ids:
        for item in db.session.scalars(
            db.select(Dispute).where(Dispute.record_id.in_(ids)).order_by(Dispute.id.desc())
        ):
            disputes.setdefault(item.record_id, []).append(item)
    return render_template(
        "events/mine.html",
        upcoming=upcoming,
        waiting={s.id: waiting_position(s) for s in waiting},
        waiting_rows=waiting,
        past=past,
        page=page,
        disputes=disputes,
        dispute_form=DisputeForm(prefix="dispute"),
        deadline=services.cancel_deadline,
        now=now,
    )


@bp.route("/me/service-records/<int:record_id>/dispute", methods=["POST"])
@requires()
def dispute(record_id: int):
    item = records.get_record(current_user, record_id)
    if item.user_id != current_user.id:
        abort(404)
    form = DisputeForm(prefix="dispute")
    if form.validate_on_submit():
        try:
            records.dispute(current_user, item, form.reason.data, form.claimed_minutes.data)
        except DomainError as exc:
            db.session.rollback()
            flash(str(exc.message), "error")
        else:
            db.session.commit()
            flash(_("Your dispute has been sent to the organizers."), "success")
    else:
        _flash_errors(form)
    return redirect(url_for("events.mine", _anchor=f"record-{item.id}"))


# -- creating and editing events -----------------------------------------------------------


def _organizer_key(organizer) -> str:
    return f"{'station' if isinstance(organizer, Station) else 'team'}-{organizer.id}"


def _organizer_choices(organizers):
    stations = [(_organizer_key(o), o.name) for o in organizers if isinstance(o, Station)]
    teams = [(_organizer_key(o), o.name) for o in organizers if isinstance(o, Organization)]
    grouped = {}
    if stations:
        grouped[_("Stations")] = stations
    if teams:
        grouped[_("Teams")] = teams
    return options(grouped)


def _chosen(form: EventForm, organizers):
    by_key = {_organizer_key(o): o for o in organizers}
    return by_key.get(form.organizer.data or "")


def _add_error(field, message) -> None:
    field.errors = [*field.errors, message]


def _details_from(form: EventForm) -> tuple[services.EventDetails, bool]:
    """The details typed in, and whether they are complete enough to save.

    A missing time gets a stand-in, so the service still checks everything else and the
    page shows every mistake at once.
    """
    complete = True
    starts, ends = _to_utc(form.starts_at.data), _to_utc(form.ends_at.data)
    if starts is None:
        complete = False
        if not form.starts_at.errors:
            _add_error(form.starts_at, _("Enter when the event starts."))
    if ends is None:
        complete = False
        if not form.ends_at.errors:
            _add_error(form.ends_at, _("Enter when the event ends."))
    if starts is None:
        starts = ends - timedelta(hours=1) if ends else utcnow() + timedelta(days=1)
    if ends is None:
        ends = starts + timedelta(hours=1)

    def number(field, default=None):
        return field.data if field.data is not None else default

    details = services.EventDetails(
        title=form.title.data or "",
        starts_at=starts,
        ends_at=ends,
        description=form.description.data or "",
        category=form.category.data,
        address=form.address.data or "",
        latitude=form.latitude.data,
        longitude=form.longitude.data,
        radius_m=form.radius_m.data,
        capacity=form.capacity.data,
        signup_opens_at=_to_utc(form.signup_opens_at.data),
        signup_closes_at=_to_utc(form.signup_closes_at.data),
        cancel_before_minutes=number(form.cancel_before_minutes, 120),
        audience=form.audience.data,
        walk_ins=bool(form.walk_ins.data),
        rounding=form.rounding.data,
        grace_minutes=number(form.grace_minutes, 15),
        max_minutes=form.max_minutes.data,
    )
    return details, complete


def _save_event(form: EventForm, save, event: Event | None = None) -> Event | None:
    """Validate the form and the details together; save only when all is well, else show
    the form's and the service's mistakes together."""
    valid = form.validate()
    details, complete = _details_from(form)
    try:
        if valid and complete and save is not None:
            return save(details)
        services.check_details(details, event)
    except DomainError as exc:
        db.session.rollback()
        form.fail(exc)
    return None


def _local_defaults() -> dict:
    tomorrow = to_user_timezone(utcnow()).date() + timedelta(days=1)
    return {
        "starts_at": datetime.combine(tomorrow, time(9)),
        "ends_at": datetime.combine(tomorrow, time(11)),
        "walk_ins": True,
        "cancel_before_minutes": 120,
        "grace_minutes": 15,
    }


@bp.route("/events/new", methods=["GET", "POST"])
@requires()
def new():
    organizers = services.organizers_for(current_user)
    if not organizers:
        abort(403)
    form = EventForm(data=None if request.method == "POST" else _local_defaults())
    form.organizer.choices = _organizer_choices(organizers)
    if form.is_submitted():
        organizer = _chosen(form, organizers)
        save = None
        if organizer is not None:

            def save(details):
                return services.create_event(current_user, organizer, details)

        event = _save_event(form, save)
        if organizer is None:
            _add_error(form.organizer, _("Choose who organizes the event."))
        if event is not None:
            db.session.commit()
            flash(
                _("Draft saved. Publish it when it is ready; until then only organizers see it."),
                "success",
            )
            return redirect(url_for("events.manage", event_id=event.id))
    return render_template("events/form.html", form=form, event=None)


def _form_data(event: Event) -> dict:
    from dataclasses import fields

    data = {f.name: getattr(event, f.name) for f in fields(services.EventDetails)}
    for name in ("starts_at", "ends_at", "signup_opens_at", "signup_closes_at"):
        data[name] = _to_local(data[name])
    return data


@bp.route("/events/<int:event_id>/edit", methods=["GET", "POST"])
@requires()
def edit(event_id: int):
    event = services.get_managed_event(current_user, event_id)
    form = EventForm(data=None if request.method == "POST" else _form_data(event))
    del form.organizer
    if form.is_submitted():

        def save(details):
            return services.update_event(current_user, event, details)

        if _save_event(form, save, event) is not None:
            db.session.commit()
            flash(_("Event saved."), "success")
            return redirect(url_for("events.manage", event_id=event.id))
    return render_template("events/form.html", form=form, event=event)


def _transition(event_id: int, action, done: str, form=None, *extra):
    event = services.get_managed_event(current_user, event_id)
    form = form or EmptyForm(prefix="state")
    if form.validate_on_submit():
        try:
            action(current_user, event, *extra)
        except DomainError as exc:
            db.session.rollback()
            flash(str(exc.message), "error")
        else:
            db.session.commit()
            flash(done, "success")
    else:
        _flash_errors(form)
    return redirect(url_for("events.manage", event_id=event.id))


@bp.route("/events/<int:event_id>/publish", methods=["POST"])
@requires()
def publish(event_id: int):
    return _transition(
        event_id, services.publish, _("Published: volunteers can now see it and sign up.")
    )


@bp.route("/events/<int:event_id>/cancel", methods=["POST"])
@requires()
def cancel(event_id: int):
    form = CancelEventForm(prefix="cancel")
    return _transition(
        event_id,
        services.cancel,
        _("The event is cancelled."),
        form,
        form.reason.data or "",
    )


@bp.route("/events/<int:event_id>/finish", methods=["POST"])
@requires()
def finish(event_id: int):
    return _transition(
        event_id,
        services.finish,
        _("The event is finished. Anyone who forgot to check out was closed at its end."),
    )


@bp.route("/events/<int:event_id>/regenerate-codes", methods=["POST"])
@requires()
def regenerate_codes(event_id: int):
    return _transition(
        event_id,
        services.regenerate_codes,
        _("New codes made. Print the poster again: the old one no longer works."),
    )


# -- the organizer's dashboard -------------------------------------------------------------


@dataclass
class Person:
    user: User
    signup: Signup | None = None
    attendance: Attendance | None = None
    position: int | None = None


def screen_url(endpoint: str, **values) -> str | None:
    """A link to a screen page, when that page exists in this build."""
    if endpoint not in current_app.view_functions:
        return None
    return url_for(endpoint, **values)


def dashboard_people(event: Event) -> list[Person]:
    people: dict[int, Person] = {}
    waiting = 0
    for signup in db.session.scalars(
        db.select(Signup)
        .filter_by(event_id=event.id)
        .where(Signup.state != SignupState.CANCELLED)
        .order_by(Signup.created_at, Signup.id)
    ):
        person = people.setdefault(signup.user_id, Person(signup.user))
        person.signup = signup
        if signup.state == SignupState.WAITLISTED:
            waiting += 1
            person.position = waiting
    for item in db.session.scalars(db.select(Attendance).filter_by(event_id=event.id)):
        people.setdefault(item.user_id, Person(item.user)).attendance = item
    return list(people.values())


@bp.route("/events/<int:event_id>/manage")
@requires()
def manage(event_id: int):
    event = services.get_managed_event(current_user, event_id)
    people = dashboard_people(event)
    pending = db.session.execute(
        db.select(
            func.count(ServiceRecord.id), func.coalesce(func.sum(ServiceRecord.minutes), 0)
        ).where(ServiceRecord.event_id == event.id, ServiceRecord.state == RecordState.PENDING)
    ).one()
    counts = {
        "confirmed": sum(1 for p in people if p.signup and p.signup.state == "confirmed"),
        "waitlisted": sum(1 for p in people if p.signup and p.signup.state == "waitlisted"),
        "checked_in": sum(1 for p in people if p.attendance),
        "checked_out": sum(1 for p in people if p.attendance and p.attendance.checked_out_at),
        "pending_records": pending[0],
        "pending_minutes": pending[1],
    }
    return render_template(
        "events/manage.html",
        event=event,
        people=people,
        counts=counts,
        screens={
            "kiosk": screen_url("event_screens.kiosk", event_id=event.id),
            "poster": screen_url("event_screens.poster", event_id=event.id),
            "scanner": screen_url("event_screens.scanner", event_id=event.id),
        },
        walk_in_form=WalkInForm(prefix="walkin"),
        state_form=EmptyForm(prefix="state"),
        cancel_form=CancelEventForm(prefix="cancel"),
        person_form=EmptyForm(prefix="person"),
        cancel_reason=cancel_reason(event),
    )


def _volunteer_by_phone(phone: str) -> User | None:
    number = normalise_login(phone)
    if not number:
        return None
    return db.session.scalar(
        db.select(User).join(Volunteer, Volunteer.user_id == User.id).where(User.phone == number)
    )


def _to_dashboard(event: Event):
    return redirect(url_for("events.manage", event_id=event.id, _anchor="people"))


@bp.route("/events/<int:event_id>/walk-ins", methods=["POST"])
@requires()
def walk_in(event_id: int):
    event = services.get_managed_event(current_user, event_id)
    form = WalkInForm(prefix="walkin")
    if form.validate_on_submit():
        person = _volunteer_by_phone(form.phone.data)
        if person is None:
            flash(
                _(
                    "No registered volunteer has the mobile number %(phone)s.",
                    phone=form.phone.data,
                ),
                "error",
            )
        else:
            try:
                services.add_walk_in(current_user, event, person)
            except DomainError as exc:
                db.session.rollback()
                flash(str(exc.message), "error")
            else:
                db.session.commit()
                flash(_("%(name)s is signed up as a walk-in.", name=person.name), "success")
    else:
        _flash_errors(form)
    return _to_dashboard(event)


def _staff_attendance(event_id: int, user_id: int, act):
    event = services.get_managed_event(current_user, event_id)
    person = db.get_or_404(User, user_id)
    if EmptyForm(prefix="person").validate_on_submit():
        try:
            outcome = act(event, person, via=Via.STAFF, actor=current_user)
        except DomainError as exc:
            db.session.rollback()
            flash(str(exc.message), "error")
        else:
            db.session.commit()
            flash(attendance.outcome_message(outcome), "success" if outcome.recorded else "info")
    return _to_dashboard(event)


@bp.route("/events/<int:event_id>/people/<int:user_id>/check-in", methods=["POST"])
@requires()
def staff_check_in(event_id: int, user_id: int):
    return _staff_attendance(event_id, user_id, attendance.check_in)


@bp.route("/events/<int:event_id>/people/<int:user_id>/check-out", methods=["POST"])
@requires()
def staff_check_out(event_id: int, user_id: int):
    return _staff_attendance(event_id, user_id, attendance.check_out)


# The other pages of this blueprint; imported last, as they use the helpers above.
from timebank.events import approval_views, scan_views  # noqa: E402, F401

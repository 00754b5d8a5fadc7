"""Pages: approving and rejecting service records, disputes (申诉), staff entries (补录)."""

from flask import (
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import ngettext, to_user_timezone
from flask_login import current_user
from sqlalchemy import and_, false, func, or_, true

from timebank.auth.forms import EmptyForm
from timebank.auth.models import Role
from timebank.core.db import utcnow
from timebank.core.errors import DomainError, ValidationFailed
from timebank.core.forms import options
from timebank.core.security import administered_regions, requires
from timebank.events import records, services
from timebank.events.forms import (
    RejectForm,
    ResolveForm,
    StaffEntryForm,
)
from timebank.events.models import (
    Dispute,
    DisputeState,
    Event,
    RecordState,
    ServiceRecord,
)
from timebank.events.views import (
    DECIDER_ROLES,
    _add_error,
    _flash_errors,
    _int,
    _volunteer_by_phone,
    bp,
)
from timebank.extensions import db
from timebank.regions.models import Region
from timebank.stations.models import Station
from timebank.stations.services import stations_in_scope
from timebank.volunteers.models import Volunteer

SKIPPED_SHOWN = 20  # skipped records listed after a bulk approval

# -- approvals and disputes ----------------------------------------------------------------


def decidable(user):
    """SQL condition on ServiceRecord (joined to its Region and outer-joined to its Event):
    the records this user may decide, as records.can_decide says one by one."""
    if user.is_superadmin:
        return true()
    station_ids = [g.scope_id for g in user.grants_of(Role.STATION_STAFF)]
    team_ids = [g.scope_id for g in user.grants_of(Role.TEAM_LEADER)]
    conditions = [
        Region.path.startswith(root.path, autoescape=True) for root in administered_regions(user)
    ]
    if station_ids:
        conditions.append(Event.station_id.in_(station_ids))
        conditions.append(
            and_(ServiceRecord.event_id.is_(None), ServiceRecord.station_id.in_(station_ids))
        )
    if team_ids:
        conditions.append(Event.organization_id.in_(team_ids))
    return or_(*conditions) if conditions else false()


def _in_reach(select):
    return (
        select.join(Region, Region.id == ServiceRecord.region_id)
        .outerjoin(Event, Event.id == ServiceRecord.event_id)
        .where(decidable(current_user))
    )


def _approvals_url(event_id=None):
    return url_for("events.approvals", event_id=event_id or None)


@bp.route("/staff/service-records")
@requires(*DECIDER_ROLES)
def approvals():
    event_filter = _int(request.args.get("event_id"))
    pending = _in_reach(db.select(ServiceRecord)).where(
        ServiceRecord.state == RecordState.PENDING, ServiceRecord.user_id != current_user.id
    )
    events = db.session.execute(
        _in_reach(
            db.select(
                Event.id, Event.title, Event.starts_at, func.count(ServiceRecord.id)
            ).select_from(ServiceRecord)
        )
        .where(
            ServiceRecord.state == RecordState.PENDING,
            ServiceRecord.user_id != current_user.id,
            ServiceRecord.event_id.is_not(None),
        )
        .group_by(Event.id, Event.title, Event.starts_at)
        .order_by(Event.starts_at.desc())
    ).all()
    if event_filter:
        pending = pending.where(ServiceRecord.event_id == event_filter)
    page = db.paginate(
        pending.order_by(ServiceRecord.served_on, ServiceRecord.id), per_page=50, error_out=False
    )
    open_disputes = db.session.scalars(
        _in_reach(db.select(Dispute).join(Dispute.record))
        .where(Dispute.state == DisputeState.OPEN, Dispute.user_id != current_user.id)
        .order_by(Dispute.created_at)
        .limit(100)
    ).all()
    return render_template(
        "events/approvals.html",
        page=page,
        events=events,
        event_filter=event_filter,
        verified=_verified_ids([r.user_id for r in page.items]),
        disputes=open_disputes,
        approve_form=EmptyForm(prefix="approve"),
        reject_form=RejectForm(prefix="reject"),
        resolve_form=ResolveForm(prefix="resolve"),
        may_enter=current_user.has_role(Role.STATION_STAFF, Role.ADMIN),
    )


def _verified_ids(user_ids) -> set[int]:
    if not user_ids:
        return set()
    return set(
        db.session.scalars(
            db.select(Volunteer.user_id).where(
                Volunteer.user_id.in_(user_ids), Volunteer.status == "verified"
            )
        )
    )


def _decided_record(record_id: int) -> ServiceRecord:
    item = records.get_record(current_user, record_id)
    if not records.can_decide(current_user, item):
        abort(404)
    return item


@bp.route("/staff/service-records/<int:record_id>/approve", methods=["POST"])
@requires()
def approve(record_id: int):
    item = _decided_record(record_id)
    if EmptyForm(prefix="approve").validate_on_submit():
        try:
            records.approve(current_user, item)
        except DomainError as exc:
            db.session.rollback()
            flash(str(exc.message), "error")
        else:
            db.session.commit()
            flash(
                _(
                    "Approved: %(minutes)s for %(name)s.",
                    minutes=_duration(item.minutes),
                    name=item.user.name,
                ),
                "success",
            )
    return redirect(_approvals_url(_int(request.args.get("event_id"))))


@bp.route("/staff/service-records/<int:record_id>/reject", methods=["POST"])
@requires()
def reject(record_id: int):
    item = _decided_record(record_id)
    form = RejectForm(prefix="reject")
    if form.validate_on_submit():
        try:
            records.reject(current_user, item, form.reason.data)
        except DomainError as exc:
            db.session.rollback()
            flash(str(exc.message), "error")
        else:
            db.session.commit()
            flash(_("Rejected; %(name)s can read your reason.", name=item.user.name), "info")
    else:
        _flash_errors(form)
    return redirect(_approvals_url(_int(request.args.get("event_id"))))


def _duration(minutes) -> str:
    from timebank.ledger.exports import format_duration

    return format_duration(minutes)


@bp.route("/events/<int:event_id>/approve-all", methods=["POST"])
@requires()
def approve_all(event_id: int):
    event = services.get_managed_event(current_user, event_id)
    if EmptyForm(prefix="approve").validate_on_submit():
        result = records.approve_event(current_user, event)
        db.session.commit()
        flash(
            ngettext("%(num)d record approved.", "%(num)d records approved.", len(result.approved)),
            "success" if result.approved else "info",
        )
        for item, reason in result.skipped[:SKIPPED_SHOWN]:
            flash(
                _(
                    "Left pending: %(name)s, %(minutes)s — %(reason)s",
                    name=item.user.name,
                    minutes=_duration(item.minutes),
                    reason=reason,
                ),
                "warning",
            )
        if len(result.skipped) > SKIPPED_SHOWN:
            flash(
                _("And %(count)d more left pending.", count=len(result.skipped) - SKIPPED_SHOWN),
                "warning",
            )
    return redirect(_approvals_url(event.id))


@bp.route("/staff/disputes/<int:dispute_id>/resolve", methods=["POST"])
@requires()
def resolve_dispute(dispute_id: int):
    item = db.get_or_404(Dispute, dispute_id)
    if not records.can_decide(current_user, item.record):
        abort(404)
    form = ResolveForm(prefix="resolve")
    if form.validate_on_submit():
        corrected = form.corrected_minutes.data if form.decision.data == "correct" else None
        try:
            if form.decision.data == "correct" and corrected is None:
                raise ValidationFailed(_("Enter the corrected minutes."), field="corrected_minutes")
            records.resolve(
                current_user, item, corrected_minutes=corrected, resolution=form.resolution.data
            )
        except DomainError as exc:
            db.session.rollback()
            flash(str(exc.message), "error")
        else:
            db.session.commit()
            flash(_("Dispute resolved; %(name)s sees your decision.", name=item.user.name), "info")
    else:
        _flash_errors(form)
    return redirect(url_for("events.approvals", _anchor="disputes"))


# -- staff entries (补录) ------------------------------------------------------------------


def entry_stations() -> list[Station]:
    """Stations whose hours this user may log: those they staff, and those they administer."""
    staffed = [g.scope_id for g in current_user.grants_of(Role.STATION_STAFF)]
    found = {
        s.id: s for s in db.session.scalars(db.select(Station).where(Station.id.in_(staffed))).all()
    }
    if current_user.is_superadmin or administered_regions(current_user):
        found.update({s.id: s for s in db.session.scalars(stations_in_scope(current_user))})
    return sorted((s for s in found.values() if s.active), key=lambda s: s.name)


@bp.route("/staff/entries/new", methods=["GET", "POST"])
@requires(Role.STATION_STAFF, Role.ADMIN)
def new_entry():
    stations = entry_stations()
    if not stations:
        abort(403)
    form = StaffEntryForm()
    form.station_id.choices = options((s.id, s.name) for s in stations)
    if form.is_submitted():
        valid = form.validate()
        station = {s.id: s for s in stations}.get(_int(form.station_id.data))
        if station is None:
            _add_error(form.station_id, _("Choose a station."))
            valid = False
        people, unknown = [], []
        for line in (form.people.data or "").splitlines():
            if not line.strip():
                continue
            person = _volunteer_by_phone(line)
            if person is None:
                unknown.append(line.strip())
            elif person not in people:
                people.append(person)
        if unknown:
            _add_error(
                form.people,
                _(
                    "No registered volunteer has these numbers: %(numbers)s",
                    numbers=", ".join(unknown),
                ),
            )
            valid = False
        if station is not None:
            entry = _record_entry(form, station, people, save=valid)
            if entry is not None:
                db.session.commit()
                _flash_entry(entry)
                return redirect(url_for("events.new_entry"))
    return render_template("events/entry.html", form=form)


def _record_entry(form: StaffEntryForm, station: Station, people, *, save: bool):
    """Create the entry; when the form has its own mistakes, only to collect the service's
    as well (every mistake at once), then undo it."""
    try:
        entry = records.create_entry(
            current_user,
            station,
            people,
            served_on=form.served_on.data or to_user_timezone(utcnow()).date(),
            minutes=form.minutes.data,
            description=form.description.data,
            reason=form.reason.data,
        )
    except DomainError as exc:
        db.session.rollback()
        form.fail(exc)
        return None
    if not save:
        db.session.rollback()
        return None
    return entry


def _flash_entry(entry) -> None:
    made = db.session.scalars(db.select(ServiceRecord).filter_by(staff_entry_id=entry.id)).all()
    approved = [r for r in made if r.state == RecordState.APPROVED]
    saved = ngettext(
        "Hours logged for %(num)d person.", "Hours logged for %(num)d people.", len(made)
    )
    if entry.needs_second_approval:
        flash(
            saved
            + " "
            + _(
                "This entry is large, so another staff member must approve it on the "
                "approvals page."
            ),
            "warning",
        )
    elif len(approved) == len(made):
        flash(saved + " " + _("Approved at once: the hours are in their time banks."), "success")
    else:
        flash(
            saved
            + " "
            + _(
                "%(approved)d approved at once; %(pending)d wait on the approvals page "
                "(identity not verified yet, or your own hours).",
                approved=len(approved),
                pending=len(made) - len(approved),
            ),
            "warning",
        )

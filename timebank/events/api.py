"""API: events, sign-ups, event QR codes, check-ins, staff scans and service records."""

from flask import Response
from flask.views import MethodView
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy.orm import selectinload

from timebank.auth.models import User
from timebank.core import qr
from timebank.core.api import Blueprint, PageArgsSchema, paginate
from timebank.core.db import utcnow
from timebank.core.errors import NotFound, ValidationFailed
from timebank.core.security import requires
from timebank.events import attendance, records, services, tokens
from timebank.events.models import (
    Dispute,
    Event,
    EventState,
    ServiceRecord,
    Signup,
)
from timebank.events.schemas import (
    BulkApprovalSchema,
    CheckinSchema,
    DisputeRequestSchema,
    DisputeResolutionSchema,
    DisputeSchema,
    EventCreateSchema,
    EventPageSchema,
    EventQuerySchema,
    EventSchema,
    EventUpdateSchema,
    OutcomeSchema,
    QrQuerySchema,
    ReasonSchema,
    ScanSchema,
    ServiceRecordPageSchema,
    ServiceRecordQuerySchema,
    ServiceRecordSchema,
    SignupPageSchema,
    SignupRequestSchema,
    SignupSchema,
    StaffEntryResultSchema,
    StaffEntrySchema,
)
from timebank.extensions import db
from timebank.organizations.models import Organization
from timebank.regions.models import Region
from timebank.stations.models import Station

blp = Blueprint("Events", __name__, url_prefix="", description="Events and service records")


def _answered(outcome) -> dict:
    body = attendance.answer(outcome)
    db.session.commit()
    return body


# Events


@blp.route("/events")
class Events(MethodView):
    @blp.arguments(EventQuerySchema, location="query")
    @blp.response(200, EventPageSchema)
    @blp.doc(security=[])
    def get(self, args):
        """Published events still to come (or under way), soonest first"""
        select = db.select(Event).where(
            Event.state == EventState.PUBLISHED, Event.ends_at > utcnow()
        )
        if args["q"]:
            select = select.where(Event.title.contains(args["q"], autoescape=True))
        if args["category"]:
            select = select.where(Event.category == args["category"])
        if args["region_id"]:
            region = db.session.get(Region, args["region_id"])
            if region is None:
                raise ValidationFailed(_("No such region."), field="region_id")
            select = select.join(Event.region).where(
                Region.path.startswith(region.path, autoescape=True)
            )
        if args["starts_after"]:
            select = select.where(Event.starts_at >= args["starts_after"])
        if args["starts_before"]:
            select = select.where(Event.starts_at < args["starts_before"])
        select = select.order_by(Event.starts_at, Event.id).options(
            selectinload(Event.station), selectinload(Event.organization)
        )
        listed = paginate(select, args["page"], args["per_page"])
        # Counted for the whole page at once, not one query per event.
        counts = services.signup_counts([event.id for event in listed["items"]])
        for event in listed["items"]:
            event.listed_signups = counts[event.id]["confirmed"]
        return listed

    @requires()
    @blp.arguments(EventCreateSchema)
    @blp.response(201, EventSchema)
    def post(self, args):
        """Create a draft event for a station or team the caller organizes for"""
        station_id, organization_id = args.pop("station_id"), args.pop("organization_id")
        model = Station if station_id is not None else Organization
        organizer = db.session.get(model, station_id or organization_id)
        if organizer is None:
            raise ValidationFailed(_("No such organizer."), field="station_id")
        event = services.create_event(current_user, organizer, services.EventDetails(**args))
        db.session.commit()
        return event


@blp.route("/events/<int:event_id>")
class EventById(MethodView):
    @blp.response(200, EventSchema)
    @blp.doc(security=[])
    def get(self, event_id):
        """One event (drafts only to their organizers)"""
        return services.get_visible_event(current_user, event_id)

    @requires()
    @blp.arguments(EventUpdateSchema)
    @blp.response(200, EventSchema)
    def patch(self, args, event_id):
        """Change an event's details (refused below the current sign-ups' count)"""
        event = services.get_managed_event(current_user, event_id)
        details = services.EventDetails.of(event)
        for name, value in args.items():
            setattr(details, name, value)
        services.update_event(current_user, event, details)
        db.session.commit()
        return event


def _transition(action, event_id, *extra):
    event = services.get_managed_event(current_user, event_id)
    action(current_user, event, *extra)
    db.session.commit()
    return event


@blp.route("/events/<int:event_id>/publish", methods=["POST"])
@requires()
@blp.response(200, EventSchema)
def publish(event_id):
    """Publish a draft: it becomes visible and open for sign-up"""
    return _transition(services.publish, event_id)


@blp.route("/events/<int:event_id>/cancel", methods=["POST"])
@requires()
@blp.arguments(ReasonSchema)
@blp.response(200, EventSchema)
def cancel(args, event_id):
    """Cancel an event, with the reason people who signed up see"""
    return _transition(services.cancel, event_id, args["reason"])


@blp.route("/events/<int:event_id>/finish", methods=["POST"])
@requires()
@blp.response(200, EventSchema)
def finish(event_id):
    """Finish an event: open attendances are closed at its end and flagged"""
    return _transition(services.finish, event_id)


@blp.route("/events/<int:event_id>/regenerate-codes", methods=["POST"])
@requires()
@blp.response(200, EventSchema)
def regenerate_codes(event_id):
    """Revoke every code shown or printed for this event so far"""
    return _transition(services.regenerate_codes, event_id)


# Sign-ups


@blp.route("/events/<int:event_id>/signups")
class Signups(MethodView):
    @requires()
    @blp.arguments(PageArgsSchema, location="query")
    @blp.response(200, SignupPageSchema)
    def get(self, args, event_id):
        """Everyone signed up or waiting (organizers); your own sign-up (anyone else)"""
        event = services.get_visible_event(current_user, event_id)
        select = db.select(Signup).filter_by(event_id=event.id)
        if not services.can_manage(current_user, event):
            select = select.filter_by(user_id=current_user.id)
        select = select.order_by(Signup.created_at, Signup.id)
        return paginate(select, args["page"], args["per_page"])

    @requires()
    @blp.arguments(SignupRequestSchema)
    @blp.response(201, SignupSchema)
    def post(self, args, event_id):
        """Sign up (or join the waiting list); staff add a walk-in with user_id"""
        event = services.get_visible_event(current_user, event_id)
        if args["user_id"] is None:
            signup = services.sign_up(current_user, event)
        else:
            person = db.session.get(User, args["user_id"])
            if person is None:
                raise ValidationFailed(_("No such person."), field="user_id")
            signup = services.add_walk_in(current_user, event, person)
        db.session.commit()
        return signup


@blp.route("/events/<int:event_id>/signups/mine", methods=["DELETE"])
@requires()
@blp.response(200, SignupSchema)
def cancel_signup(event_id):
    """Cancel your sign-up before the deadline; the waiting list moves up"""
    event = services.get_visible_event(current_user, event_id)
    signup = services.cancel_signup(current_user, event)
    db.session.commit()
    return signup


# Codes, check-ins and scans


@blp.route("/events/<int:event_id>/qr")
@requires()
@blp.arguments(QrQuerySchema, location="query")
@blp.response(200, content_type="image/svg+xml")
@blp.alt_response(200, content_type="image/png", description="with format=png")
def event_qr(args, event_id):
    """The event's current code: the kiosk's rotating one or the poster's (organizers)"""
    event = services.get_managed_event(current_user, event_id)
    if args["kind"] == "kiosk":
        token, expires = tokens.kiosk_token(event, args["purpose"])
    else:
        token, expires = tokens.poster_token(event, args["purpose"]), None
    link = tokens.url(token)
    if args["format"] == "png":
        response = Response(qr.png(link), mimetype="image/png")
    else:
        response = Response(qr.svg(link), mimetype="image/svg+xml")
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Code-URL"] = link
    if expires is not None:
        response.headers["X-Code-Expires"] = str(int(expires))
    return response


@blp.route("/checkins", methods=["POST"])
@requires()
@blp.arguments(CheckinSchema)
@blp.response(200, OutcomeSchema)
def checkin(args):
    """Present an event's code (check-in or check-out, as the code says)"""
    location = None
    if args["latitude"] is not None and args["longitude"] is not None:
        location = (args["latitude"], args["longitude"])
    outcome = attendance.present(current_user, args["token"], location=location)
    return _answered(outcome)


@blp.route("/events/<int:event_id>/scans", methods=["POST"])
@requires()
@blp.arguments(ScanSchema)
@blp.response(200, OutcomeSchema)
def scan(args, event_id):
    """Staff present a volunteer's personal code; the nonce makes retries record nothing twice"""
    event = services.get_managed_event(current_user, event_id)
    outcome = attendance.staff_scan(
        current_user,
        event,
        args["token"],
        args["purpose"],
        nonce=args["nonce"],
        scanned_at=args["scanned_at"],
    )
    return _answered(outcome)


# Service records


@blp.route("/service-records")
@requires()
@blp.arguments(ServiceRecordQuerySchema, location="query")
@blp.response(200, ServiceRecordPageSchema)
def service_records(args):
    """Your own records (mine=true), or those of an event you organize (event_id)"""
    select = db.select(ServiceRecord)
    if args["event_id"] is not None:
        event = services.get_managed_event(current_user, args["event_id"])
        select = select.filter_by(event_id=event.id)
    elif args["mine"]:
        select = select.filter_by(user_id=current_user.id)
    else:
        raise ValidationFailed(_("Ask for mine=true or an event_id."), field="event_id")
    if args["state"]:
        select = select.filter_by(state=args["state"])
    return paginate(select.order_by(ServiceRecord.id.desc()), args["page"], args["per_page"])


@blp.route("/service-records/<int:record_id>")
@requires()
@blp.response(200, ServiceRecordSchema)
def service_record(record_id):
    """One record: the volunteer's own, or one the caller may decide"""
    return records.get_record(current_user, record_id)


@blp.route("/service-records/<int:record_id>/approve", methods=["POST"])
@requires()
@blp.response(200, ServiceRecordSchema)
def approve(record_id):
    """Approve: the minutes go into the volunteer's time bank, once"""
    item = records.get_record(current_user, record_id)
    records.approve(current_user, item)
    db.session.commit()
    return item


@blp.route("/service-records/<int:record_id>/reject", methods=["POST"])
@requires()
@blp.arguments(ReasonSchema)
@blp.response(200, ServiceRecordSchema)
def reject(args, record_id):
    """Reject, with a reason the volunteer sees"""
    item = records.get_record(current_user, record_id)
    records.reject(current_user, item, args["reason"])
    db.session.commit()
    return item


@blp.route("/events/<int:event_id>/service-records/approve", methods=["POST"])
@requires()
@blp.response(200, BulkApprovalSchema)
def approve_event(event_id):
    """Approve every pending record of an event, except flagged and unverified ones"""
    event = services.get_managed_event(current_user, event_id)
    result = records.approve_event(current_user, event)
    db.session.commit()
    return {
        "approved": result.approved,
        "skipped": [{"record_id": r.id, "reason": reason} for r, reason in result.skipped],
    }


@blp.route("/staff-entries", methods=["POST"])
@requires()
@blp.arguments(StaffEntrySchema)
@blp.response(201, StaffEntryResultSchema)
def staff_entry(args):
    """Log hours by hand (补录) for volunteers who served together"""
    station = db.session.get(Station, args["station_id"])
    if station is None:
        raise ValidationFailed(_("No such station."), field="station_id")
    people = db.session.scalars(db.select(User).where(User.id.in_(args["user_ids"]))).all()
    if len(people) != len(set(args["user_ids"])):
        raise ValidationFailed(_("Some of these people do not exist."), field="user_ids")
    event = None
    if args["event_id"] is not None:
        event = services.get_managed_event(current_user, args["event_id"])
    entry = records.create_entry(
        current_user,
        station,
        people,
        served_on=args["served_on"],
        minutes=args["minutes"],
        description=args["description"],
        reason=args["reason"],
        event=event,
    )
    db.session.commit()
    entry.records = db.session.scalars(
        db.select(ServiceRecord).filter_by(staff_entry_id=entry.id).order_by(ServiceRecord.id)
    ).all()
    return entry


@blp.route("/service-records/<int:record_id>/disputes", methods=["POST"])
@requires()
@blp.arguments(DisputeRequestSchema)
@blp.response(201, DisputeSchema)
def open_dispute(args, record_id):
    """Dispute one of your own records (申诉)"""
    item = records.get_record(current_user, record_id)
    dispute = records.dispute(current_user, item, args["reason"], args["claimed_minutes"])
    db.session.commit()
    return dispute


@blp.route("/disputes/<int:dispute_id>/resolve", methods=["POST"])
@requires()
@blp.arguments(DisputeResolutionSchema)
@blp.response(200, DisputeSchema)
def resolve_dispute(args, dispute_id):
    """Uphold the record, or correct its minutes (they go through approval again)"""
    dispute = db.session.get(Dispute, dispute_id)
    if dispute is None or not records.can_decide(current_user, dispute.record):
        raise NotFound(_("No such dispute."))
    records.resolve(
        current_user,
        dispute,
        corrected_minutes=args["corrected_minutes"],
        resolution=args["resolution"],
    )
    db.session.commit()
    return dispute

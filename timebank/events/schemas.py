"""Marshmallow schemas for events, sign-ups, scans and service records."""

import marshmallow as ma

from timebank.core.api import PageArgsSchema, Schema, page_schema
from timebank.events.models import (
    Audience,
    EventCategory,
    EventState,
    RecordState,
    Rounding,
    SignupState,
)
from timebank.events.tokens import CHECK_IN, CHECK_OUT

PURPOSES = [CHECK_IN, CHECK_OUT]


def _values(enum) -> list[str]:
    return [e.value for e in enum]


class EventDetailsSchema(Schema):
    title = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=120))
    description = ma.fields.String(load_default="")
    category = ma.fields.String(
        load_default=EventCategory.COMMUNITY.value,
        validate=ma.validate.OneOf(_values(EventCategory)),
    )
    address = ma.fields.String(load_default="", validate=ma.validate.Length(max=200))
    latitude = ma.fields.Float(load_default=None, allow_none=True)
    longitude = ma.fields.Float(load_default=None, allow_none=True)
    radius_m = ma.fields.Integer(load_default=None, allow_none=True)
    starts_at = ma.fields.AwareDateTime(required=True)
    ends_at = ma.fields.AwareDateTime(required=True)
    capacity = ma.fields.Integer(
        load_default=None, allow_none=True, metadata={"description": "empty for no limit"}
    )
    signup_opens_at = ma.fields.AwareDateTime(load_default=None, allow_none=True)
    signup_closes_at = ma.fields.AwareDateTime(load_default=None, allow_none=True)
    cancel_before_minutes = ma.fields.Integer(load_default=120)
    audience = ma.fields.String(
        load_default=Audience.PUBLIC.value, validate=ma.validate.OneOf(_values(Audience))
    )
    walk_ins = ma.fields.Boolean(load_default=True)
    rounding = ma.fields.String(
        load_default=Rounding.HALF_HOUR.value, validate=ma.validate.OneOf(_values(Rounding))
    )
    grace_minutes = ma.fields.Integer(load_default=15)
    max_minutes = ma.fields.Integer(load_default=None, allow_none=True)


class EventCreateSchema(EventDetailsSchema):
    station_id = ma.fields.Integer(load_default=None, metadata={"description": "organizer"})
    organization_id = ma.fields.Integer(load_default=None, metadata={"description": "organizer"})

    @ma.validates_schema
    def one_organizer(self, data, **kwargs):
        if (data.get("station_id") is None) == (data.get("organization_id") is None):
            from flask_babel import gettext as _

            raise ma.ValidationError(
                _("Give either a station or a team as the organizer."), "station_id"
            )


class EventUpdateSchema(EventDetailsSchema):
    """PATCH: only the fields sent change. Marshmallow has no Meta.partial: without
    partial=True every field would be required and the defaults would overwrite the rest."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("partial", True)
        super().__init__(*args, **kwargs)


class EventSchema(Schema):
    id = ma.fields.Integer()
    title = ma.fields.String()
    description = ma.fields.String()
    category = ma.fields.String(metadata={"enum": _values(EventCategory)})
    state = ma.fields.String(metadata={"enum": _values(EventState)})
    station_id = ma.fields.Integer(allow_none=True)
    organization_id = ma.fields.Integer(allow_none=True)
    organizer = ma.fields.Function(lambda e: e.organizer.name)
    region_id = ma.fields.Integer()
    address = ma.fields.String()
    latitude = ma.fields.Float(allow_none=True)
    longitude = ma.fields.Float(allow_none=True)
    radius_m = ma.fields.Integer(allow_none=True)
    starts_at = ma.fields.DateTime()
    ends_at = ma.fields.DateTime()
    capacity = ma.fields.Integer(allow_none=True)
    signed_up = ma.fields.Function(lambda e: _confirmed(e))
    signup_opens_at = ma.fields.DateTime(allow_none=True)
    signup_closes_at = ma.fields.DateTime(allow_none=True)
    cancel_before_minutes = ma.fields.Integer()
    audience = ma.fields.String(metadata={"enum": _values(Audience)})
    walk_ins = ma.fields.Boolean()
    rounding = ma.fields.String(metadata={"enum": _values(Rounding)})
    grace_minutes = ma.fields.Integer()
    max_minutes = ma.fields.Integer(allow_none=True)


def _confirmed(event) -> int:
    """Counted for the page by the list (listed_signups), or here for one event."""
    from timebank.events.services import confirmed_count

    listed = vars(event).get("listed_signups")
    return confirmed_count(event) if listed is None else listed


EventPageSchema = page_schema(EventSchema, "EventPage")


class EventQuerySchema(PageArgsSchema):
    q = ma.fields.String(load_default="")
    category = ma.fields.String(
        load_default=None, validate=ma.validate.OneOf(_values(EventCategory))
    )
    region_id = ma.fields.Integer(load_default=None, metadata={"description": "in this subtree"})
    starts_after = ma.fields.AwareDateTime(load_default=None)
    starts_before = ma.fields.AwareDateTime(load_default=None)


class ReasonSchema(Schema):
    reason = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=1000))


class SignupRequestSchema(Schema):
    user_id = ma.fields.Integer(
        load_default=None,
        metadata={
            "description": "staff only: add this person as a walk-in; omit to sign up yourself"
        },
    )


class SignupSchema(Schema):
    id = ma.fields.Integer()
    event_id = ma.fields.Integer()
    user_id = ma.fields.Integer()
    name = ma.fields.Function(lambda s: s.user.name)
    state = ma.fields.String(metadata={"enum": _values(SignupState)})
    walk_in = ma.fields.Boolean()
    created_at = ma.fields.DateTime()


SignupPageSchema = page_schema(SignupSchema, "SignupPage")


class QrQuerySchema(Schema):
    purpose = ma.fields.String(load_default=CHECK_IN, validate=ma.validate.OneOf(PURPOSES))
    format = ma.fields.String(load_default="svg", validate=ma.validate.OneOf(["svg", "png"]))
    kind = ma.fields.String(
        load_default="kiosk",
        validate=ma.validate.OneOf(["kiosk", "poster"]),
        metadata={"description": "kiosk: rotating; poster: valid around the event's time"},
    )


class CheckinSchema(Schema):
    token = ma.fields.String(required=True, validate=ma.validate.Length(max=200))
    latitude = ma.fields.Float(load_default=None, allow_none=True)
    longitude = ma.fields.Float(load_default=None, allow_none=True)


class ScanSchema(Schema):
    token = ma.fields.String(required=True, validate=ma.validate.Length(max=200))
    purpose = ma.fields.String(required=True, validate=ma.validate.OneOf(PURPOSES))
    nonce = ma.fields.String(required=True, validate=ma.validate.Length(min=8, max=64))
    scanned_at = ma.fields.AwareDateTime(
        load_default=None, metadata={"description": "when the device scanned (queued offline)"}
    )


class OutcomeSchema(Schema):
    """Built from attendance.answer(outcome) before the commit (no read-back)."""

    outcome = ma.fields.String(metadata={"description": "checked_in, already_checked_in, ..."})
    recorded = ma.fields.Boolean(
        metadata={"description": "recorded by this scan (or by the first upload of its nonce)"}
    )
    replayed = ma.fields.Boolean(metadata={"description": "the answer to an earlier nonce"})
    at = ma.fields.DateTime()
    message = ma.fields.String()
    event_id = ma.fields.Integer()
    attendance_id = ma.fields.Integer()
    volunteer = ma.fields.Dict()
    walk_in = ma.fields.Boolean()
    pending_verification = ma.fields.Boolean()
    minutes = ma.fields.Integer(allow_none=True)


class ServiceRecordSchema(Schema):
    id = ma.fields.Integer()
    user_id = ma.fields.Integer()
    name = ma.fields.Function(lambda r: r.user.name)
    event_id = ma.fields.Integer(allow_none=True)
    staff_entry_id = ma.fields.Integer(allow_none=True)
    corrects_id = ma.fields.Integer(allow_none=True)
    served_on = ma.fields.Date()
    minutes = ma.fields.Integer()
    description = ma.fields.String()
    state = ma.fields.String(metadata={"enum": _values(RecordState)})
    flagged = ma.fields.Boolean()
    flag_reason = ma.fields.String(metadata={"description": "code: no_check_out"})
    flag_text = ma.fields.String(metadata={"description": "the flag reason, translated"})
    reason = ma.fields.String(metadata={"description": "why it was rejected"})
    decided_at = ma.fields.DateTime(allow_none=True)
    transaction_id = ma.fields.Integer(allow_none=True)


ServiceRecordPageSchema = page_schema(ServiceRecordSchema, "ServiceRecordPage")


class ServiceRecordQuerySchema(PageArgsSchema):
    mine = ma.fields.Boolean(load_default=False, metadata={"description": "only my own records"})
    event_id = ma.fields.Integer(load_default=None)
    state = ma.fields.String(load_default=None, validate=ma.validate.OneOf(_values(RecordState)))


class BulkApprovalSchema(Schema):
    approved = ma.fields.List(ma.fields.Nested(ServiceRecordSchema))
    skipped = ma.fields.List(ma.fields.Dict())


class StaffEntrySchema(Schema):
    station_id = ma.fields.Integer(required=True)
    user_ids = ma.fields.List(ma.fields.Integer(), required=True)
    served_on = ma.fields.Date(required=True)
    minutes = ma.fields.Integer(required=True)
    description = ma.fields.String(required=True)
    reason = ma.fields.String(required=True)
    event_id = ma.fields.Integer(load_default=None)


class StaffEntryResultSchema(Schema):
    id = ma.fields.Integer()
    needs_second_approval = ma.fields.Boolean()
    records = ma.fields.List(ma.fields.Nested(ServiceRecordSchema))


class DisputeRequestSchema(Schema):
    reason = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=2000))
    claimed_minutes = ma.fields.Integer(load_default=None, allow_none=True)


class DisputeResolutionSchema(Schema):
    resolution = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=2000))
    corrected_minutes = ma.fields.Integer(
        load_default=None, allow_none=True, metadata={"description": "omit to uphold the record"}
    )


class DisputeSchema(Schema):
    id = ma.fields.Integer()
    record_id = ma.fields.Integer()
    user_id = ma.fields.Integer()
    reason = ma.fields.String()
    claimed_minutes = ma.fields.Integer(allow_none=True)
    state = ma.fields.String()
    resolution = ma.fields.String()
    resolved_at = ma.fields.DateTime(allow_none=True)
    created_at = ma.fields.DateTime()

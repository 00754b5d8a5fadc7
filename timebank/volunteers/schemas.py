"""Marshmallow schemas for volunteers. ID numbers go in, and only ever come out masked."""

import marshmallow as ma

from timebank.core.api import PageArgsSchema, Schema, page_schema
from timebank.volunteers.models import DocumentType, Gender, VolunteerStatus

DOCUMENT_TYPES = [t.value for t in DocumentType]


class RegistrationSchema(Schema):
    name = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=64))
    document_type = ma.fields.String(
        load_default=DocumentType.RESIDENT_ID.value, validate=ma.validate.OneOf(DOCUMENT_TYPES)
    )
    document_number = ma.fields.String(
        required=True, load_only=True, validate=ma.validate.Length(min=1, max=32)
    )
    phone = ma.fields.String(required=True, metadata={"description": "11-digit mobile number"})
    password = ma.fields.String(required=True, load_only=True)
    region_id = ma.fields.Integer(required=True, metadata={"description": "home community"})
    consent = ma.fields.Boolean(
        required=True, metadata={"description": "accepts the privacy notice in force"}
    )
    skills = ma.fields.String(load_default="", metadata={"description": "comma separated"})
    availability = ma.fields.String(load_default="")
    birth_date = ma.fields.Date(
        load_default=None, metadata={"description": "only for documents other than resident ID"}
    )
    gender = ma.fields.String(
        load_default=None, validate=ma.validate.OneOf([g.value for g in Gender])
    )
    guardian_consent = ma.fields.Boolean(load_default=False)
    guardian_name = ma.fields.String(load_default="")
    guardian_phone = ma.fields.String(load_default="")


class StarsSchema(Schema):
    level = ma.fields.Integer()
    lifetime_minutes = ma.fields.Integer()
    next_level = ma.fields.Integer(allow_none=True)
    minutes_to_next = ma.fields.Integer(allow_none=True)
    percent = ma.fields.Integer()


class VolunteerSchema(Schema):
    id = ma.fields.Integer()
    user_id = ma.fields.Integer()
    name = ma.fields.Function(lambda v: v.user.name)
    phone = ma.fields.Function(lambda v: v.user.phone)
    document_type = ma.fields.String()
    document_masked = ma.fields.String(attribute="masked_document")
    birth_year = ma.fields.Function(lambda v: v.birth_date.year)
    gender = ma.fields.String(allow_none=True)
    region_id = ma.fields.Integer()
    community = ma.fields.Function(lambda v: v.region.name)
    status = ma.fields.String(metadata={"enum": [s.value for s in VolunteerStatus]})
    star_level = ma.fields.Integer()
    skills = ma.fields.List(ma.fields.String(), attribute="skill_list")
    availability = ma.fields.String()
    verified_at = ma.fields.DateTime(allow_none=True)
    created_at = ma.fields.DateTime()


class VolunteerSummarySchema(Schema):
    """A list row: the mobile number masked too."""

    id = ma.fields.Integer()
    name = ma.fields.Function(lambda v: v.user.name)
    phone_masked = ma.fields.Function(lambda v: _mask_phone(v.user.phone))
    document_masked = ma.fields.String(attribute="masked_document")
    region_id = ma.fields.Integer()
    community = ma.fields.Function(lambda v: v.region.name)
    status = ma.fields.String()
    star_level = ma.fields.Integer()


def _mask_phone(phone):
    from timebank.volunteers.identity import mask_phone

    return mask_phone(phone)


class ProfileSchema(VolunteerSchema):
    """The volunteer's own view: balances and star progress as well."""

    stars = ma.fields.Nested(StarsSchema)
    hours_balance = ma.fields.Integer()
    points_balance = ma.fields.Integer()


class VolunteerUpdateSchema(Schema):
    phone = ma.fields.String()
    skills = ma.fields.String()
    availability = ma.fields.String(validate=ma.validate.Length(max=200))


class VolunteerQuerySchema(PageArgsSchema):
    q = ma.fields.String(
        metadata={"description": "name, 11-digit mobile, or last 4 of the ID or mobile"}
    )
    region_id = ma.fields.Integer()
    organization_id = ma.fields.Integer()
    status = ma.fields.String(validate=ma.validate.OneOf([s.value for s in VolunteerStatus]))
    star_level = ma.fields.Integer(validate=ma.validate.Range(min=0, max=5))


VolunteerPageSchema = page_schema(VolunteerSummarySchema, "VolunteerPageSchema")


class StatusReasonSchema(Schema):
    reason = ma.fields.String(load_default="", validate=ma.validate.Length(max=500))


class RevealedSchema(Schema):
    document_type = ma.fields.String()
    document_number = ma.fields.String()


class CardSchema(Schema):
    card_version = ma.fields.Integer()
    card_issued_at = ma.fields.DateTime()


class CodeSchema(Schema):
    token = ma.fields.String()
    svg = ma.fields.String()
    expires_at = ma.fields.Float(metadata={"description": "epoch seconds"})
    expires_in = ma.fields.Integer()
    period = ma.fields.Integer()


class IdentifyRequestSchema(Schema):
    token = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=200))


class IdentifiedSchema(Schema):
    via = ma.fields.String(metadata={"enum": ["phone", "card"]})
    volunteer = ma.fields.Nested(VolunteerSummarySchema)

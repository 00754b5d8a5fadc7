"""Marshmallow schemas for organizations."""

import marshmallow as ma

from timebank.core.api import PageArgsSchema, Schema, page_schema
from timebank.organizations.models import MemberRole, OrganizationKind, RequestState

KINDS = [k.value for k in OrganizationKind]


class OrganizationSchema(Schema):
    id = ma.fields.Integer(dump_only=True)
    region_id = ma.fields.Integer(required=True)
    name = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=100))
    kind = ma.fields.String(load_default="team", validate=ma.validate.OneOf(KINDS))
    description = ma.fields.String(load_default="", validate=ma.validate.Length(max=5000))
    active = ma.fields.Boolean(dump_only=True)


class OrganizationUpdateSchema(Schema):
    name = ma.fields.String(validate=ma.validate.Length(min=1, max=100))
    kind = ma.fields.String(validate=ma.validate.OneOf(KINDS))
    description = ma.fields.String(validate=ma.validate.Length(max=5000))
    active = ma.fields.Boolean()


class OrganizationQuerySchema(PageArgsSchema):
    region_id = ma.fields.Integer(metadata={"description": "organizations inside this region"})
    kind = ma.fields.String(validate=ma.validate.OneOf(KINDS))


OrganizationPageSchema = page_schema(OrganizationSchema, "OrganizationPageSchema")


STATES = [s.value for s in RequestState]
ROLES = [r.value for r in MemberRole]


class RefusalSchema(Schema):
    reason = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=500))


class JoinRequestCreateSchema(Schema):
    message = ma.fields.String(load_default="", validate=ma.validate.Length(max=500))


class JoinRequestSchema(Schema):
    id = ma.fields.Integer()
    organization_id = ma.fields.Integer()
    organization_name = ma.fields.String(attribute="organization.name")
    user_id = ma.fields.Integer()
    user_name = ma.fields.String(attribute="user.name")
    message = ma.fields.String()
    state = ma.fields.String(metadata={"enum": STATES})
    reason = ma.fields.String(metadata={"description": "why the leaders refused"})
    created_at = ma.fields.DateTime()
    decided_at = ma.fields.DateTime(allow_none=True)


class JoinRequestQuerySchema(PageArgsSchema):
    state = ma.fields.String(
        load_default=RequestState.PENDING.value,
        validate=ma.validate.OneOf(STATES),
        metadata={"description": "pending unless given"},
    )


class TeamApplicationSchema(Schema):
    id = ma.fields.Integer(dump_only=True)
    applicant_id = ma.fields.Integer(dump_only=True)
    applicant_name = ma.fields.String(attribute="applicant.name", dump_only=True)
    region_id = ma.fields.Integer(
        required=True, metadata={"description": "the street or community of the new team"}
    )
    name = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=100))
    description = ma.fields.String(load_default="", validate=ma.validate.Length(max=5000))
    state = ma.fields.String(dump_only=True, metadata={"enum": STATES})
    reason = ma.fields.String(dump_only=True, metadata={"description": "why it was refused"})
    organization_id = ma.fields.Integer(
        dump_only=True, allow_none=True, metadata={"description": "the team, once approved"}
    )
    created_at = ma.fields.DateTime(dump_only=True)
    decided_at = ma.fields.DateTime(dump_only=True, allow_none=True)


class TeamApplicationQuerySchema(PageArgsSchema):
    state = ma.fields.String(validate=ma.validate.OneOf(STATES))
    mine = ma.fields.Boolean(
        load_default=False, metadata={"description": "only the caller's own applications"}
    )


class MemberSchema(Schema):
    """Leaders and administrators see names and masked phones; others masked names only."""

    membership_id = ma.fields.Integer()
    user_id = ma.fields.Integer(allow_none=True)
    name = ma.fields.String()
    phone = ma.fields.String(allow_none=True, metadata={"description": "masked"})
    role = ma.fields.String(metadata={"enum": ROLES})
    star_level = ma.fields.Integer()
    verified = ma.fields.Boolean()
    joined_at = ma.fields.DateTime()


class MemberRoleSchema(Schema):
    role = ma.fields.String(required=True, validate=ma.validate.OneOf(ROLES))


class TeamTotalsSchema(Schema):
    members = ma.fields.Integer()
    verified_members = ma.fields.Integer()
    lifetime_service_minutes = ma.fields.Integer(
        metadata={"description": "current members' lifetime approved service, in minutes"}
    )


JoinRequestPageSchema = page_schema(JoinRequestSchema, "JoinRequestPageSchema")
TeamApplicationPageSchema = page_schema(TeamApplicationSchema, "TeamApplicationPageSchema")
MemberPageSchema = page_schema(MemberSchema, "MemberPageSchema")

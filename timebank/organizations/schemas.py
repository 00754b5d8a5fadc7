"""Marshmallow schemas for organizations."""

import marshmallow as ma

from timebank.core.api import PageArgsSchema, Schema, page_schema
from timebank.organizations.models import OrganizationKind

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

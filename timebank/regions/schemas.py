"""Marshmallow schemas for regions."""

import marshmallow as ma

from timebank.core.api import PageArgsSchema, Schema, page_schema
from timebank.regions.models import RegionLevel


class RegionSchema(Schema):
    id = ma.fields.Integer(dump_only=True)
    parent_id = ma.fields.Integer(allow_none=True)
    level = ma.fields.String(validate=ma.validate.OneOf([lvl.value for lvl in RegionLevel]))
    name = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=100))
    code = ma.fields.String(allow_none=True, validate=ma.validate.Length(max=12))
    path = ma.fields.String(dump_only=True)


class RegionUpdateSchema(Schema):
    name = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=100))


class RegionQuerySchema(PageArgsSchema):
    parent_id = ma.fields.Integer()
    level = ma.fields.String(validate=ma.validate.OneOf([lvl.value for lvl in RegionLevel]))


RegionPageSchema = page_schema(RegionSchema, "RegionPageSchema")

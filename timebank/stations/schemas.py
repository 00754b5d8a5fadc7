"""Marshmallow schemas for stations."""

import marshmallow as ma

from timebank.core.api import PageArgsSchema, Schema, page_schema


class StationSchema(Schema):
    id = ma.fields.Integer(dump_only=True)
    region_id = ma.fields.Integer(required=True, metadata={"description": "a community"})
    name = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=100))
    address = ma.fields.String(load_default="", validate=ma.validate.Length(max=200))
    phone = ma.fields.String(load_default="", validate=ma.validate.Length(max=20))
    active = ma.fields.Boolean(dump_only=True)


class StationUpdateSchema(Schema):
    region_id = ma.fields.Integer()
    name = ma.fields.String(validate=ma.validate.Length(min=1, max=100))
    address = ma.fields.String(validate=ma.validate.Length(max=200))
    phone = ma.fields.String(validate=ma.validate.Length(max=20))
    active = ma.fields.Boolean()


class StationQuerySchema(PageArgsSchema):
    region_id = ma.fields.Integer(metadata={"description": "stations inside this region"})


StationPageSchema = page_schema(StationSchema, "StationPageSchema")

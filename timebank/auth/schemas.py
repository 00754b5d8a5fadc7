"""Marshmallow schemas for sign-in tokens and the caller."""

import marshmallow as ma

from timebank.core.api import Schema


class TokenRequestSchema(Schema):
    login = ma.fields.String(
        required=True,
        validate=ma.validate.Length(min=1, max=64),
        metadata={"description": "mobile number or username"},
    )
    password = ma.fields.String(
        required=True, load_only=True, validate=ma.validate.Length(min=1, max=128)
    )
    name = ma.fields.String(
        load_default="api",
        validate=ma.validate.Length(max=64),
        metadata={"description": "a label to recognise the token by"},
    )


class TokenSchema(Schema):
    id = ma.fields.Integer(dump_only=True)
    name = ma.fields.String()
    prefix = ma.fields.String(metadata={"description": "first characters, to recognise it"})
    created_at = ma.fields.DateTime()
    expires_at = ma.fields.DateTime()
    revoked_at = ma.fields.DateTime(allow_none=True)


class NewTokenSchema(TokenSchema):
    token = ma.fields.String(metadata={"description": "the bearer token; shown only once"})


class GrantSchema(Schema):
    id = ma.fields.Integer()
    role = ma.fields.String()
    scope_kind = ma.fields.String()
    scope_id = ma.fields.Integer()


class MeSchema(Schema):
    id = ma.fields.Integer()
    name = ma.fields.String()
    username = ma.fields.String(allow_none=True)
    phone = ma.fields.String(allow_none=True)
    locale = ma.fields.String(allow_none=True)
    roles = ma.fields.List(ma.fields.Nested(GrantSchema), attribute="grants")

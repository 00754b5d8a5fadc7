"""API shapes for service-record certificates and their public verification."""

import marshmallow as ma

from timebank.core.api import PageArgsSchema, Schema, page_schema
from timebank.reports.certificates import MAX_PURPOSE_LENGTH, MAX_REASON_LENGTH


class CertificateLineSchema(Schema):
    organization = ma.fields.String(metadata={"description": "the issuing organization"})
    minutes = ma.fields.Integer()
    count = ma.fields.Integer(metadata={"description": "services counted"})


class CertificateSchema(Schema):
    id = ma.fields.Integer()
    serial = ma.fields.String(metadata={"example": "ZM2026-000123"})
    code = ma.fields.String(metadata={"description": "the public code of /verify/{code}"})
    verify_url = ma.fields.Method("_verify_url")
    user_id = ma.fields.Integer()
    region_id = ma.fields.Integer()
    holder_name = ma.fields.String()
    masked_document = ma.fields.String()
    period_start = ma.fields.Date()
    period_end = ma.fields.Date()
    purpose = ma.fields.String()
    total_minutes = ma.fields.Integer()
    service_count = ma.fields.Integer()
    lines = ma.fields.List(ma.fields.Nested(CertificateLineSchema))
    issued_at = ma.fields.DateTime()
    revoked = ma.fields.Boolean()
    revoked_at = ma.fields.DateTime(allow_none=True)

    def _verify_url(self, certificate) -> str:
        from flask import url_for

        return url_for("certificates.verify", code=certificate.code, _external=True)


CertificatePageSchema = page_schema(CertificateSchema, "CertificatePage")


class CertificateQuerySchema(PageArgsSchema):
    mine = ma.fields.Boolean(
        load_default=False, metadata={"description": "only the caller's own certificates"}
    )
    q = ma.fields.String(
        load_default="",
        validate=ma.validate.Length(max=64),
        metadata={"description": "part of the holder's name, or a whole serial"},
    )
    user_id = ma.fields.Integer()
    revoked = ma.fields.Boolean()


class CertificateCreateSchema(Schema):
    period_start = ma.fields.Date(required=True)
    period_end = ma.fields.Date(required=True)
    purpose = ma.fields.String(
        load_default="",
        validate=ma.validate.Length(max=MAX_PURPOSE_LENGTH),
        metadata={"example": "升学"},
    )
    user_id = ma.fields.Integer(
        metadata={"description": "staff: the volunteer to issue for; default the caller"}
    )


class RevokeSchema(Schema):
    reason = ma.fields.String(required=True, validate=ma.validate.Length(max=MAX_REASON_LENGTH))


class VerificationSchema(Schema):
    """What anyone holding the code may read: masked facts and whether it still holds."""

    valid = ma.fields.Boolean()
    serial = ma.fields.String()
    holder_name = ma.fields.String(metadata={"description": "masked, e.g. 张*伟"})
    masked_document = ma.fields.String()
    period_start = ma.fields.Date()
    period_end = ma.fields.Date()
    total_minutes = ma.fields.Integer()
    service_count = ma.fields.Integer()
    lines = ma.fields.List(ma.fields.Nested(CertificateLineSchema))
    issued_on = ma.fields.Date()
    revoked_on = ma.fields.Date(allow_none=True)
    issuer = ma.fields.String()

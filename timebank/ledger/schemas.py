"""Marshmallow schemas for accounts, statements and the calls that move hours and points."""

import marshmallow as ma
from flask_babel import lazy_gettext as _l

from timebank.core.api import PageArgsSchema, Schema, page_schema
from timebank.core.validation import range_error
from timebank.ledger.models import AccountKind, TransactionKind
from timebank.ledger.services import MAX_AMOUNT

MAX_MEMO = 500
MAX_ALLOCATION_LINES = 500


def _amount(**kwargs) -> ma.fields.Integer:
    # strict: "10", 1.5 and true are refused rather than coerced into an amount.
    return ma.fields.Integer(
        strict=True,
        validate=ma.validate.Range(min=1, max=MAX_AMOUNT, error=range_error(1, MAX_AMOUNT)),
        **kwargs,
    )


def _flatten(messages, prefix="") -> dict:
    """{"lines": {0: {"points": [...]}}} -> {"lines.0.points": [...]}."""
    if not isinstance(messages, dict):
        return {prefix: messages if isinstance(messages, list) else [messages]}
    flat = {}
    for name, value in messages.items():
        flat.update(_flatten(value, f"{prefix}.{name}" if prefix else str(name)))
    return flat


class FlatErrorsSchema(Schema):
    """Reports errors in nested fields under dotted names, so that the one error shape
    ({field: [messages]}) holds for bodies with lists of objects too."""

    def handle_error(self, error, data, *, many, **kwargs):
        if any(isinstance(value, dict) for value in error.messages.values()):
            raise ma.ValidationError(
                _flatten(error.messages), data=error.data, valid_data=error.valid_data
            )
        raise error


# -- reading ----------------------------------------------------------------------------


class OwnerSchema(Schema):
    type = ma.fields.String(metadata={"description": "user, region or store"})
    id = ma.fields.Integer()


class AccountSchema(Schema):
    id = ma.fields.Integer(
        allow_none=True, metadata={"description": "null until the account's first posting"}
    )
    kind = ma.fields.String(metadata={"enum": [k.value for k in AccountKind]})
    kind_label = ma.fields.String(metadata={"description": "in the caller's language"})
    currency = ma.fields.String(metadata={"enum": ["minutes", "points"]})
    owner = ma.fields.Nested(OwnerSchema)
    balance = ma.fields.Integer(metadata={"description": "minutes or points"})
    lifetime_service_minutes = ma.fields.Integer(
        allow_none=True,
        metadata={
            "description": "person hours accounts only: approved service ever credited, "
            "which conversions and gifts do not lower (star levels count this)"
        },
    )


class MyAccountsSchema(Schema):
    hours = ma.fields.Nested(AccountSchema, required=True)
    points = ma.fields.Nested(AccountSchema, required=True)


class StatementLineSchema(Schema):
    """One entry of an account, with the transaction it belongs to."""

    id = ma.fields.Integer()
    transaction_id = ma.fields.Integer()
    kind = ma.fields.String(
        attribute="transaction.kind", metadata={"enum": [k.value for k in TransactionKind]}
    )
    kind_label = ma.fields.Function(lambda entry: str(entry.transaction.kind_enum.label))
    memo = ma.fields.String(attribute="transaction.memo")
    created_at = ma.fields.DateTime(attribute="transaction.created_at")
    reverses_id = ma.fields.Integer(attribute="transaction.reverses_id", allow_none=True)
    amount = ma.fields.Integer(metadata={"description": "signed: money in is positive"})
    balance_after = ma.fields.Integer(
        allow_none=True,
        metadata={"description": "null for system accounts, which keep no running balance"},
    )


StatementPageSchema = page_schema(StatementLineSchema, "StatementPageSchema")


class StatementQuerySchema(PageArgsSchema):
    start = ma.fields.Date(metadata={"description": "first day, Asia/Shanghai (YYYY-MM-DD)"})
    end = ma.fields.Date(metadata={"description": "last day, included, Asia/Shanghai"})

    @ma.validates_schema
    def end_not_before_start(self, data, **kwargs):
        if "start" in data and "end" in data and data["end"] < data["start"]:
            raise ma.ValidationError(_l("The end date is before the start date."), "end")


class TransactionEntrySchema(Schema):
    account_id = ma.fields.Integer()
    account_kind = ma.fields.String()
    currency = ma.fields.String()
    amount = ma.fields.Integer()
    balance_after = ma.fields.Integer(
        allow_none=True,
        metadata={"description": "only for accounts the caller may read, and not system ones"},
    )


class TransactionSchema(Schema):
    id = ma.fields.Integer()
    kind = ma.fields.String(metadata={"enum": [k.value for k in TransactionKind]})
    kind_label = ma.fields.String()
    memo = ma.fields.String()
    created_at = ma.fields.DateTime()
    reverses_id = ma.fields.Integer(allow_none=True)
    entries = ma.fields.List(ma.fields.Nested(TransactionEntrySchema))


# -- moving -----------------------------------------------------------------------------


class ConversionSchema(Schema):
    minutes = _amount(
        required=True,
        metadata={"description": "minutes to convert; whole blocks only, the rest stays banked"},
    )


TRANSFER_KINDS = ("gift", "donation")


class TransferSchema(Schema):
    kind = ma.fields.String(required=True, validate=ma.validate.OneOf(TRANSFER_KINDS))
    minutes = _amount(required=True)
    to_user_id = ma.fields.Integer(
        strict=True, metadata={"description": "gifts only: a family member the caller declared"}
    )
    memo = ma.fields.String(load_default="", validate=ma.validate.Length(max=MAX_MEMO))

    @ma.validates_schema
    def recipient_for_gifts_only(self, data, **kwargs):
        if data.get("kind") == "gift" and "to_user_id" not in data:
            raise ma.ValidationError(_l("This field is required."), "to_user_id")
        if data.get("kind") == "donation" and "to_user_id" in data:
            raise ma.ValidationError(
                _l("A donation goes to your community's public pool, not to a person."),
                "to_user_id",
            )


class AllocationLineSchema(Schema):
    user_id = ma.fields.Integer(strict=True, required=True)
    points = _amount(required=True)


class AllocationSchema(FlatErrorsSchema):
    region_id = ma.fields.Integer(
        strict=True, required=True, metadata={"description": "whose allocation budget pays"}
    )
    memo = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=MAX_MEMO))
    lines = ma.fields.List(
        ma.fields.Nested(AllocationLineSchema),
        required=True,
        validate=ma.validate.Length(min=1, max=MAX_ALLOCATION_LINES),
    )

    @ma.validates("memo")
    def memo_not_blank(self, value, **kwargs):
        if not value.strip():
            raise ma.ValidationError(_l("This field is required."))

    @ma.validates_schema
    def one_line_per_person(self, data, **kwargs):
        user_ids = [line["user_id"] for line in data.get("lines", [])]
        if len(set(user_ids)) != len(user_ids):
            raise ma.ValidationError(_l("List each person once."), "lines")


class AllocationLineResultSchema(Schema):
    user_id = ma.fields.Integer()
    points = ma.fields.Integer()
    transaction = ma.fields.Nested(TransactionSchema)


class AllocationResultSchema(Schema):
    region_id = ma.fields.Integer()
    memo = ma.fields.String()
    lines = ma.fields.List(ma.fields.Nested(AllocationLineResultSchema))

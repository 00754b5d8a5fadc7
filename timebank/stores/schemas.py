"""API shapes for stores, goods, donations, redemptions and households."""

import marshmallow as ma

from timebank.core.api import PageArgsSchema, Schema, page_schema
from timebank.stores.models import (
    AdjustmentReason,
    DonorKind,
    Eligibility,
    GoodsCategory,
    LimitPeriod,
    MovementKind,
    RedemptionState,
)
from timebank.volunteers.identity import mask_name


def _values(enum) -> list[str]:
    return [item.value for item in enum]


def _one_of(enum):
    return ma.validate.OneOf(_values(enum))


class StoreSchema(Schema):
    id = ma.fields.Integer()
    name = ma.fields.String()
    region_id = ma.fields.Integer()
    station_id = ma.fields.Integer(allow_none=True)
    address = ma.fields.String()
    opening_hours = ma.fields.String()
    phone = ma.fields.String()
    active = ma.fields.Boolean()


StorePageSchema = page_schema(StoreSchema, "StorePage")


class StoreQuerySchema(PageArgsSchema):
    region_id = ma.fields.Integer()
    mine = ma.fields.Boolean(
        load_default=False, metadata={"description": "only the stores the caller runs"}
    )


class StoreCreateSchema(Schema):
    name = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=100))
    region_id = ma.fields.Integer(metadata={"description": "a community; or give station_id"})
    station_id = ma.fields.Integer()
    address = ma.fields.String(load_default="", validate=ma.validate.Length(max=200))
    opening_hours = ma.fields.String(load_default="", validate=ma.validate.Length(max=200))
    phone = ma.fields.String(load_default="", validate=ma.validate.Length(max=20))


class StoreUpdateSchema(Schema):
    name = ma.fields.String(validate=ma.validate.Length(min=1, max=100))
    address = ma.fields.String(validate=ma.validate.Length(max=200))
    opening_hours = ma.fields.String(validate=ma.validate.Length(max=200))
    phone = ma.fields.String(validate=ma.validate.Length(max=20))
    active = ma.fields.Boolean()


class GoodsFieldsSchema(Schema):
    name = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=100))
    points_price = ma.fields.Integer(strict=True, required=True)
    category = ma.fields.String(
        load_default=GoodsCategory.OTHER.value, validate=_one_of(GoodsCategory)
    )
    unit = ma.fields.String(load_default="", validate=ma.validate.Length(max=16))
    barcode = ma.fields.String(load_default=None, allow_none=True)
    low_stock = ma.fields.Integer(strict=True, load_default=5)
    limit_quantity = ma.fields.Integer(strict=True, load_default=None, allow_none=True)
    limit_period = ma.fields.String(
        load_default=None, allow_none=True, validate=_one_of(LimitPeriod)
    )
    eligibility = ma.fields.String(
        load_default=Eligibility.EVERYONE.value, validate=_one_of(Eligibility)
    )
    active = ma.fields.Boolean(load_default=True)


class GoodsSchema(Schema):
    id = ma.fields.Integer()
    store_id = ma.fields.Integer()
    name = ma.fields.String()
    category = ma.fields.String(metadata={"enum": _values(GoodsCategory)})
    unit = ma.fields.String()
    barcode = ma.fields.String(allow_none=True)
    points_price = ma.fields.Integer()
    stock = ma.fields.Integer()
    low_stock = ma.fields.Integer()
    is_low = ma.fields.Boolean()
    limit_quantity = ma.fields.Integer(allow_none=True)
    limit_period = ma.fields.String(allow_none=True)
    eligibility = ma.fields.String(metadata={"enum": _values(Eligibility)})
    active = ma.fields.Boolean()
    has_photo = ma.fields.Function(lambda g: g.photo_type is not None)


GoodsPageSchema = page_schema(GoodsSchema, "GoodsPage")


class GoodsQuerySchema(PageArgsSchema):
    barcode = ma.fields.String()
    q = ma.fields.String(load_default="")


class AdjustmentSchema(Schema):
    change = ma.fields.Integer(strict=True, required=True)
    reason = ma.fields.String(required=True, validate=_one_of(AdjustmentReason))
    note = ma.fields.String(load_default="", validate=ma.validate.Length(max=500))


class MovementSchema(Schema):
    id = ma.fields.Integer()
    goods_id = ma.fields.Integer()
    kind = ma.fields.String(metadata={"enum": _values(MovementKind)})
    change = ma.fields.Integer()
    stock_after = ma.fields.Integer()
    reason = ma.fields.String()
    note = ma.fields.String()
    donation_id = ma.fields.Integer(allow_none=True)
    redemption_id = ma.fields.Integer(allow_none=True)
    actor_id = ma.fields.Integer(allow_none=True)
    created_at = ma.fields.DateTime()


class StocktakeLineSchema(Schema):
    goods_id = ma.fields.Integer(required=True)
    counted = ma.fields.Integer(strict=True, required=True)
    shown = ma.fields.Integer(
        strict=True,
        metadata={"description": "the stock when counting began: refused if it moved since"},
    )


class StocktakeSchema(Schema):
    lines = ma.fields.List(
        ma.fields.Nested(StocktakeLineSchema), required=True, validate=ma.validate.Length(min=1)
    )
    note = ma.fields.String(load_default="", validate=ma.validate.Length(max=500))


class StocktakeResultSchema(Schema):
    counted = ma.fields.Integer()
    movements = ma.fields.List(ma.fields.Nested(MovementSchema))


class DonationItemSchema(Schema):
    goods_id = ma.fields.Integer(metadata={"description": "existing goods of the store"})
    new_goods = ma.fields.Nested(GoodsFieldsSchema, metadata={"description": "or new goods"})
    quantity = ma.fields.Integer(strict=True, required=True)
    value_fen = ma.fields.Integer(strict=True, load_default=0)

    @ma.validates_schema
    def _one_goods(self, data, **kwargs):
        if ("goods_id" in data) == ("new_goods" in data):
            from flask_babel import gettext as _

            raise ma.ValidationError(_("Give either goods_id or new_goods."), "goods_id")


class DonationCreateSchema(Schema):
    store_id = ma.fields.Integer(required=True)
    donor_kind = ma.fields.String(required=True, validate=_one_of(DonorKind))
    donor_name = ma.fields.String(load_default="", validate=ma.validate.Length(max=100))
    donor_phone = ma.fields.String(load_default="", validate=ma.validate.Length(max=20))
    donated_on = ma.fields.Date(required=True)
    note = ma.fields.String(load_default="", validate=ma.validate.Length(max=1000))
    items = ma.fields.List(
        ma.fields.Nested(DonationItemSchema), required=True, validate=ma.validate.Length(min=1)
    )


class DonationLineSchema(Schema):
    goods_id = ma.fields.Integer()
    goods = ma.fields.Function(lambda line: line.goods.name)
    quantity = ma.fields.Integer()
    value_fen = ma.fields.Integer()


class DonationSchema(Schema):
    id = ma.fields.Integer()
    serial = ma.fields.String()
    store_id = ma.fields.Integer()
    donor_kind = ma.fields.String(metadata={"enum": _values(DonorKind)})
    donor_name = ma.fields.String()
    donated_on = ma.fields.Date()
    value_fen = ma.fields.Integer()
    note = ma.fields.String()
    lines = ma.fields.List(ma.fields.Nested(DonationLineSchema))
    created_at = ma.fields.DateTime()


class RedemptionLineInSchema(Schema):
    goods_id = ma.fields.Integer(required=True)
    quantity = ma.fields.Integer(strict=True, required=True)


class RedemptionCreateSchema(Schema):
    store_id = ma.fields.Integer(required=True)
    user_id = ma.fields.Integer(
        metadata={"description": "the resident, with the ticket their lookup gave; or code"}
    )
    ticket = ma.fields.String(metadata={"description": "from GET /stores/{id}/residents"})
    code = ma.fields.String(metadata={"description": "the resident's scanned personal code"})
    lines = ma.fields.List(
        ma.fields.Nested(RedemptionLineInSchema), required=True, validate=ma.validate.Length(min=1)
    )

    @ma.validates_schema
    def _one_resident(self, data, **kwargs):
        if ("user_id" in data) == ("code" in data):
            from flask_babel import gettext as _

            raise ma.ValidationError(_("Give either user_id or code."), "user_id")


class RedemptionLineSchema(Schema):
    goods_id = ma.fields.Integer()
    goods = ma.fields.Function(lambda line: line.goods.name)
    unit = ma.fields.Function(lambda line: line.goods.unit)
    quantity = ma.fields.Integer()
    points_price = ma.fields.Integer()
    points = ma.fields.Integer()


class RedemptionSchema(Schema):
    id = ma.fields.Integer()
    serial = ma.fields.String()
    store_id = ma.fields.Integer()
    store = ma.fields.Function(lambda r: r.store.name)
    user_id = ma.fields.Integer()
    resident = ma.fields.Function(
        lambda r: mask_name(r.user.name), metadata={"description": "masked"}
    )
    points = ma.fields.Integer()
    state = ma.fields.String(metadata={"enum": _values(RedemptionState)})
    lines = ma.fields.List(ma.fields.Nested(RedemptionLineSchema))
    created_at = ma.fields.DateTime()
    cancelled_at = ma.fields.DateTime(allow_none=True)
    cancel_reason = ma.fields.String()
    balance = ma.fields.Function(
        lambda r: vars(r).get("balance"),
        allow_none=True,
        metadata={"description": "the resident's points after it (when just redeemed)"},
    )


class CancelSchema(Schema):
    reason = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=500))


class ResidentQuerySchema(Schema):
    code = ma.fields.String(metadata={"description": "a scanned personal code"})
    q = ma.fields.String(metadata={"description": "or an 11-digit mobile number, or a name"})

    @ma.validates_schema
    def _one_way(self, data, **kwargs):
        if not data.get("code") and not data.get("q"):
            from flask_babel import gettext as _

            raise ma.ValidationError(_("Scan a code, or enter a mobile number or name."), "q")


class TicketQuerySchema(Schema):
    class Meta:
        unknown = ma.EXCLUDE

    ticket = ma.fields.String(
        metadata={"description": "the ticket GET /stores/{id}/residents gave for this person"}
    )


class ResidentSchema(Schema):
    user_id = ma.fields.Integer()
    name = ma.fields.String(metadata={"description": "masked"})
    phone = ma.fields.String(metadata={"description": "masked"})
    ticket = ma.fields.String(
        metadata={"description": "lets this counter read and serve this person for 4 hours"}
    )


class AllowanceSchema(Schema):
    goods_id = ma.fields.Integer()
    left = ma.fields.Integer(allow_none=True, metadata={"description": "null: no limit"})


class ResidentAtCounterSchema(ResidentSchema):
    points_balance = ma.fields.Integer()
    in_difficulty = ma.fields.Boolean()
    allowances = ma.fields.List(ma.fields.Nested(AllowanceSchema))


class ResidentListSchema(Schema):
    items = ma.fields.List(ma.fields.Nested(ResidentSchema))


class HouseholdSchema(Schema):
    id = ma.fields.Integer()
    user_id = ma.fields.Integer()
    name = ma.fields.Function(lambda h: h.user.name)
    region_id = ma.fields.Integer()
    reason = ma.fields.String()
    monthly_points = ma.fields.Integer()
    active = ma.fields.Boolean()


HouseholdPageSchema = page_schema(HouseholdSchema, "HouseholdPage")


class HouseholdCreateSchema(Schema):
    user_id = ma.fields.Integer(required=True)
    region_id = ma.fields.Integer(required=True)
    reason = ma.fields.String(load_default="", validate=ma.validate.Length(max=200))
    monthly_points = ma.fields.Integer(strict=True, load_default=0)


class HouseholdQuerySchema(PageArgsSchema):
    region_id = ma.fields.Integer(required=True)

"""Love supermarkets (爱心超市): stores, goods and stock, donations in, redemptions out,
and the list of households in difficulty that receive monthly points."""

import enum
from datetime import date, datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, deferred, mapped_column, relationship

from timebank.auth.models import User
from timebank.core.db import known_values, utcnow
from timebank.extensions import db
from timebank.regions.models import Region
from timebank.stations.models import Station


class Labelled(enum.StrEnum):
    @property
    def label(self):
        return LABELS[self]


class GoodsCategory(Labelled):
    GRAIN_OIL = "grain_oil"
    FOOD = "food"
    DAILY = "daily"
    CLOTHING = "clothing"
    STATIONERY = "stationery"
    HEALTH = "health"
    OTHER = "other"


class LimitPeriod(Labelled):
    WEEK = "week"
    MONTH = "month"
    YEAR = "year"


class Eligibility(Labelled):
    EVERYONE = "everyone"
    DIFFICULTY = "difficulty"  # households in difficulty (困难群众) only


class DonorKind(Labelled):
    PERSON = "person"
    BUSINESS = "business"
    ORGANIZATION = "organization"
    ANONYMOUS = "anonymous"


class MovementKind(Labelled):
    DONATION = "donation"
    REDEMPTION = "redemption"
    REDEMPTION_CANCEL = "redemption_cancel"
    ADJUSTMENT = "adjustment"
    STOCKTAKE = "stocktake"


class AdjustmentReason(Labelled):
    DAMAGED = "damaged"
    EXPIRED = "expired"
    LOST = "lost"
    FOUND = "found"
    CORRECTION = "correction"


class RedemptionState(Labelled):
    COMPLETED = "completed"
    CANCELLED = "cancelled"


LABELS = {
    GoodsCategory.GRAIN_OIL: _l("Grain and oil"),
    GoodsCategory.FOOD: _l("Food"),
    GoodsCategory.DAILY: _l("Daily necessities"),
    GoodsCategory.CLOTHING: _l("Clothing"),
    GoodsCategory.STATIONERY: _l("Stationery"),
    GoodsCategory.HEALTH: _l("Health and hygiene"),
    GoodsCategory.OTHER: _l("Other"),
    LimitPeriod.WEEK: _l("per week"),
    LimitPeriod.MONTH: _l("per month"),
    LimitPeriod.YEAR: _l("per year"),
    Eligibility.EVERYONE: _l("Everyone"),
    Eligibility.DIFFICULTY: _l("Households in difficulty only"),
    DonorKind.PERSON: _l("Person"),
    DonorKind.BUSINESS: _l("Business"),
    DonorKind.ORGANIZATION: _l("Organization"),
    DonorKind.ANONYMOUS: _l("Anonymous"),
    MovementKind.DONATION: _l("Donation received"),
    MovementKind.REDEMPTION: _l("Redeemed"),
    MovementKind.REDEMPTION_CANCEL: _l("Redemption cancelled"),
    MovementKind.ADJUSTMENT: _l("Stock adjustment"),
    MovementKind.STOCKTAKE: _l("Stock-take"),
    AdjustmentReason.DAMAGED: _l("Damaged"),
    AdjustmentReason.EXPIRED: _l("Expired"),
    AdjustmentReason.LOST: _l("Lost"),
    AdjustmentReason.FOUND: _l("Found"),
    AdjustmentReason.CORRECTION: _l("Correction"),
    RedemptionState.COMPLETED: _l("Completed"),
    RedemptionState.CANCELLED: _l("Cancelled"),
}


class Store(db.Model):
    """A love supermarket, run by a station or directly by a community."""

    __tablename__ = "store"
    __table_args__ = (UniqueConstraint("region_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    region_id: Mapped[int] = mapped_column(ForeignKey("region.id"), index=True)
    station_id: Mapped[int | None] = mapped_column(ForeignKey("station.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    address: Mapped[str] = mapped_column(String(200), default="")
    opening_hours: Mapped[str] = mapped_column(String(200), default="")
    phone: Mapped[str] = mapped_column(String(20), default="")
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    region: Mapped[Region] = relationship()
    station: Mapped[Station | None] = relationship()

    def __repr__(self) -> str:
        return f"<Store {self.id} {self.name}>"


class Goods(db.Model):
    """One kind of item on a store's shelves, with its points price and stock on hand."""

    __tablename__ = "goods"
    __table_args__ = (
        UniqueConstraint("store_id", "barcode"),
        CheckConstraint("stock >= 0", name="stock_not_negative"),
        CheckConstraint("points_price > 0", name="price_positive"),
        CheckConstraint("(limit_quantity IS NULL) = (limit_period IS NULL)", name="limit_complete"),
        known_values("category", GoodsCategory),
        known_values("eligibility", Eligibility),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("store.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    category: Mapped[str] = mapped_column(String(16), default=GoodsCategory.OTHER)
    unit: Mapped[str] = mapped_column(String(16), default="")
    barcode: Mapped[str | None] = mapped_column(String(32))
    points_price: Mapped[int]
    stock: Mapped[int] = mapped_column(default=0)
    low_stock: Mapped[int] = mapped_column(default=5)  # alert at or below this
    limit_quantity: Mapped[int | None] = mapped_column()
    limit_period: Mapped[str | None] = mapped_column(String(8))
    eligibility: Mapped[str] = mapped_column(String(16), default=Eligibility.EVERYONE)
    active: Mapped[bool] = mapped_column(default=True)
    photo: Mapped[bytes | None] = deferred(mapped_column(LargeBinary))
    photo_type: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    store: Mapped[Store] = relationship()

    @property
    def is_low(self) -> bool:
        return self.stock <= self.low_stock

    def __repr__(self) -> str:
        return f"<Goods {self.id} {self.name} stock={self.stock}>"


class Donation(db.Model):
    """Goods received (捐赠登记), with a serial number for its receipt (捐赠回执)."""

    __tablename__ = "donation"
    __table_args__ = (known_values("donor_kind", DonorKind),)

    id: Mapped[int] = mapped_column(primary_key=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("store.id"), index=True)
    serial: Mapped[str] = mapped_column(String(32), unique=True)
    donor_kind: Mapped[str] = mapped_column(String(16))
    donor_name: Mapped[str] = mapped_column(String(100), default="")
    donor_phone: Mapped[str] = mapped_column(String(20), default="")
    donated_on: Mapped[date]
    value_fen: Mapped[int] = mapped_column(default=0)  # estimated value, in fen
    note: Mapped[str] = mapped_column(Text, default="")
    received_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    # The form's (or API caller's) key: a double-clicked submit records the donation once.
    request_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    store: Mapped[Store] = relationship()
    received_by: Mapped[User | None] = relationship()
    lines: Mapped[list["DonationLine"]] = relationship(
        back_populates="donation", order_by="DonationLine.id"
    )

    @property
    def shown_donor(self) -> str:
        """The donor as the public notice names them."""
        if self.donor_kind == DonorKind.ANONYMOUS:
            return str(_l("Anonymous"))
        return self.donor_name


class DonationLine(db.Model):
    __tablename__ = "donation_line"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("value_fen >= 0", name="value_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    donation_id: Mapped[int] = mapped_column(ForeignKey("donation.id"), index=True)
    goods_id: Mapped[int] = mapped_column(ForeignKey("goods.id"), index=True)
    quantity: Mapped[int]
    value_fen: Mapped[int] = mapped_column(default=0)

    donation: Mapped[Donation] = relationship(back_populates="lines")
    goods: Mapped[Goods] = relationship()


class Redemption(db.Model):
    """Points redeemed for goods at the counter; the idempotency key makes a retried
    confirm redeem once."""

    __tablename__ = "redemption"
    __table_args__ = (
        known_values("state", RedemptionState),
        Index("ix_redemption_store_id_created_at", "store_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("store.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    serial: Mapped[str] = mapped_column(String(32), unique=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    points: Mapped[int]
    state: Mapped[str] = mapped_column(String(16), default=RedemptionState.COMPLETED)
    cashier_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    transaction_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_transaction.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    cancelled_at: Mapped[datetime | None] = mapped_column()
    cancelled_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    cancel_reason: Mapped[str] = mapped_column(Text, default="")
    cancel_transaction_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_transaction.id"))

    store: Mapped[Store] = relationship()
    user: Mapped[User] = relationship(foreign_keys=[user_id])
    cashier: Mapped[User | None] = relationship(foreign_keys=[cashier_id])
    lines: Mapped[list["RedemptionLine"]] = relationship(
        back_populates="redemption", order_by="RedemptionLine.id"
    )

    @property
    def state_enum(self) -> RedemptionState:
        return RedemptionState(self.state)


class RedemptionLine(db.Model):
    __tablename__ = "redemption_line"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        Index("ix_redemption_line_goods_id_user_id", "goods_id", "user_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    redemption_id: Mapped[int] = mapped_column(ForeignKey("redemption.id"), index=True)
    goods_id: Mapped[int] = mapped_column(ForeignKey("goods.id"))
    # Kept on the line so the per-person limit is one indexed count.
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    quantity: Mapped[int]
    points_price: Mapped[int]  # the price when redeemed

    redemption: Mapped[Redemption] = relationship(back_populates="lines")
    goods: Mapped[Goods] = relationship()

    @property
    def points(self) -> int:
        return self.quantity * self.points_price


class StockMovement(db.Model):
    """Every unit in or out of a store's stock, with the stock it left."""

    __tablename__ = "stock_movement"
    __table_args__ = (
        known_values("kind", MovementKind),
        CheckConstraint("change <> 0", name="change_not_zero"),
        Index("ix_stock_movement_goods_id_id", "goods_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("store.id"), index=True)
    goods_id: Mapped[int] = mapped_column(ForeignKey("goods.id"))
    kind: Mapped[str] = mapped_column(String(20))
    change: Mapped[int]
    stock_after: Mapped[int]
    reason: Mapped[str] = mapped_column(String(16), default="")
    note: Mapped[str] = mapped_column(Text, default="")
    donation_id: Mapped[int | None] = mapped_column(ForeignKey("donation.id"))
    redemption_id: Mapped[int | None] = mapped_column(ForeignKey("redemption.id"))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    goods: Mapped[Goods] = relationship()
    actor: Mapped[User | None] = relationship()

    @property
    def kind_enum(self) -> MovementKind:
        return MovementKind(self.kind)


class Household(db.Model):
    """A household in difficulty (困难群众) on a community's list: eligible for goods kept
    for them, and for the monthly points staff grant in a batch."""

    __tablename__ = "household"
    __table_args__ = (
        UniqueConstraint("user_id"),
        CheckConstraint("monthly_points >= 0", name="monthly_points_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    region_id: Mapped[int] = mapped_column(ForeignKey("region.id"), index=True)
    reason: Mapped[str] = mapped_column(String(200), default="")
    monthly_points: Mapped[int] = mapped_column(default=0)
    active: Mapped[bool] = mapped_column(default=True)
    added_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    user: Mapped[User] = relationship(foreign_keys=[user_id])
    region: Mapped[Region] = relationship()

"""Accounts, transactions and entries of the double-entry ledger, and conversion rates."""

import enum
from datetime import date, datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from timebank.core.db import utcnow
from timebank.extensions import db

GENESIS_HASH = "0" * 64


class Currency(enum.StrEnum):
    MINUTES = "minutes"
    POINTS = "points"


class AccountKind(enum.StrEnum):
    HOURS = "hours"  # a person's time-bank account (minutes)
    POINTS = "points"  # a person's points account
    ISSUANCE = "issuance"  # a region's source of credited service minutes
    CONVERSION = "conversion"  # a region's exchange: takes minutes, gives points
    ALLOCATION = "allocation"  # a region's budget of points for households in difficulty
    POOL = "pool"  # a region's public hours pool: donations in, grants out
    SALES = "sales"  # a store's takings of redeemed points

    @property
    def label(self):
        return ACCOUNT_KIND_LABELS[self]


ACCOUNT_KIND_LABELS = {
    AccountKind.HOURS: _l("Time bank"),
    AccountKind.POINTS: _l("Points"),
    AccountKind.ISSUANCE: _l("Service hours issued"),
    AccountKind.CONVERSION: _l("Conversion"),
    AccountKind.ALLOCATION: _l("Allocation budget"),
    AccountKind.POOL: _l("Public hours pool"),
    AccountKind.SALES: _l("Store takings"),
}

# Sources and sinks: they may go below zero, and their balance is summed from entries
# instead of kept on their row, so that they never become one row every posting locks.
AGGREGATED_KINDS = frozenset(
    {AccountKind.ISSUANCE, AccountKind.CONVERSION, AccountKind.ALLOCATION, AccountKind.SALES}
)


class TransactionKind(enum.StrEnum):
    SERVICE_CREDIT = "service_credit"
    CONVERSION = "conversion"
    GIFT = "gift"
    POOL_DONATION = "pool_donation"
    POOL_GRANT = "pool_grant"
    ALLOCATION = "allocation"
    REDEMPTION = "redemption"
    REDEMPTION_CANCEL = "redemption_cancel"
    REVERSAL = "reversal"
    ADJUSTMENT = "adjustment"

    @property
    def label(self):
        return TRANSACTION_KIND_LABELS[self]


TRANSACTION_KIND_LABELS = {
    TransactionKind.SERVICE_CREDIT: _l("Service hours credited"),
    TransactionKind.CONVERSION: _l("Hours converted to points"),
    TransactionKind.GIFT: _l("Hours gifted"),
    TransactionKind.POOL_DONATION: _l("Donated to the public pool"),
    TransactionKind.POOL_GRANT: _l("Granted from the public pool"),
    TransactionKind.ALLOCATION: _l("Points allocated"),
    TransactionKind.REDEMPTION: _l("Points redeemed"),
    TransactionKind.REDEMPTION_CANCEL: _l("Redemption cancelled"),
    TransactionKind.REVERSAL: _l("Reversal"),
    TransactionKind.ADJUSTMENT: _l("Adjustment"),
}


class Account(db.Model):
    __tablename__ = "ledger_account"
    __table_args__ = (
        UniqueConstraint("owner_key", "kind", "currency"),
        CheckConstraint("aggregated OR balance >= 0", name="never_negative"),
        CheckConstraint("currency IN ('minutes', 'points')", name="currency_known"),
        CheckConstraint(
            "kind IN ('hours', 'points', 'issuance', 'conversion', 'allocation', 'pool', 'sales')",
            name="kind_known",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    currency: Mapped[str] = mapped_column(String(8))
    # "user:12", "region:3", "store:7": one account per owner, kind and currency.
    owner_key: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), index=True)
    region_id: Mapped[int | None] = mapped_column(ForeignKey("region.id"), index=True)
    aggregated: Mapped[bool] = mapped_column(default=False)
    # Kept only when not aggregated: the balance, the number of entries and the hash
    # of the last entry. The posting that changes them holds this row's lock.
    balance: Mapped[int] = mapped_column(BigInteger, default=0)
    last_seq: Mapped[int] = mapped_column(default=0)
    last_hash: Mapped[str] = mapped_column(String(64), default=GENESIS_HASH)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    user: Mapped["User | None"] = relationship()  # noqa: F821
    region: Mapped["Region | None"] = relationship()  # noqa: F821

    @property
    def kind_enum(self) -> AccountKind:
        return AccountKind(self.kind)

    @property
    def is_person(self) -> bool:
        return self.user_id is not None

    def __repr__(self) -> str:
        return f"<Account {self.id} {self.owner_key} {self.kind}/{self.currency}>"


class Transaction(db.Model):
    __tablename__ = "ledger_transaction"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(24), index=True)
    # Unique across the ledger; callers namespace it ("attendance:812:credit",
    # "api:<user>:<client key>") so that keys from different sources never meet.
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    # Digest of what was asked, to tell a retry from a different request with the same key.
    fingerprint: Mapped[str] = mapped_column(String(64))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), index=True)
    memo: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    reverses_id: Mapped[int | None] = mapped_column(
        ForeignKey("ledger_transaction.id"), unique=True
    )
    # Where it counts in reports: the region served (credits), the person's community
    # (conversions), the budget's region (allocations), the store's (redemptions); a
    # reversal takes its original's. Not part of the hash: it describes, it does not move.
    region_id: Mapped[int | None] = mapped_column(ForeignKey("region.id"))
    # Digest of the transaction and all its entries; `flask ledger verify` recomputes it.
    hash: Mapped[str] = mapped_column(String(64))

    entries: Mapped[list["Entry"]] = relationship(
        back_populates="transaction", order_by="Entry.id", lazy="selectin"
    )
    actor: Mapped["User | None"] = relationship()  # noqa: F821
    reverses: Mapped["Transaction | None"] = relationship(remote_side=[id])

    @property
    def kind_enum(self) -> TransactionKind:
        return TransactionKind(self.kind)


class Entry(db.Model):
    __tablename__ = "ledger_entry"
    __table_args__ = (
        UniqueConstraint("account_id", "seq"),
        Index("ix_ledger_entry_account_id_id", "account_id", "id"),
        CheckConstraint("amount <> 0", name="amount_not_zero"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    transaction_id: Mapped[int] = mapped_column(ForeignKey("ledger_transaction.id"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("ledger_account.id"))
    amount: Mapped[int] = mapped_column(BigInteger)
    # For accounts that keep a balance: position in the account's chain, the balance
    # after this entry, and the hash linking it to the account's previous entry.
    seq: Mapped[int | None]
    balance_after: Mapped[int | None] = mapped_column(BigInteger)
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    hash: Mapped[str | None] = mapped_column(String(64))

    transaction: Mapped[Transaction] = relationship(back_populates="entries")
    account: Mapped[Account] = relationship()


class ConversionRate(db.Model):
    """Points given per hour of service in a region, from a date on."""

    __tablename__ = "conversion_rate"
    __table_args__ = (
        UniqueConstraint("region_id", "effective_from"),
        CheckConstraint("points_per_hour > 0", name="positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    region_id: Mapped[int] = mapped_column(ForeignKey("region.id"))
    points_per_hour: Mapped[int]
    effective_from: Mapped[date] = mapped_column(Date)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    region: Mapped["Region"] = relationship()  # noqa: F821


class FamilyLink(db.Model):
    """A family member a person has declared, to whom they may gift hours."""

    __tablename__ = "family_link"
    __table_args__ = (
        UniqueConstraint("user_id", "relative_id"),
        CheckConstraint("user_id <> relative_id", name="not_self"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    relative_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    relation: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    relative: Mapped["User"] = relationship(foreign_keys=[relative_id])  # noqa: F821

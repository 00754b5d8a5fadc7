"""Reports: rollup tables the dashboards sum, service-record certificates, and projects
with their evaluation facts (funding, linked events and stores, media reports)."""

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from timebank.auth.models import User
from timebank.core.db import utcnow
from timebank.extensions import db
from timebank.regions.models import Region

# Rollup rows are spread over this many slots, so that concurrent postings on the same day
# and account (a busy store's counter) do not queue on one row lock. Readers sum the slots.
ROLLUP_SLOTS = 8


# -- rollups --------------------------------------------------------------------------------
# Kept in the same transaction as the change they count (see rollups.py), equal at any
# moment to a full recomputation from the base tables (rollups.recompute). "None" is 0 in
# their keys, so that the key can be a primary key; they carry no foreign keys for that
# reason and because they are derived data.


class ServiceDay(db.Model):
    """Approved service per day of service, place and organizer: people-times and minutes."""

    __tablename__ = "rollup_service_day"
    __table_args__ = (
        Index("ix_rollup_service_day_region_day", "region_id", "day"),
        Index("ix_rollup_service_day_station_day", "station_id", "day"),
        Index("ix_rollup_service_day_organization_day", "organization_id", "day"),
    )

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    region_id: Mapped[int] = mapped_column(primary_key=True)
    station_id: Mapped[int] = mapped_column(primary_key=True, default=0)
    organization_id: Mapped[int] = mapped_column(primary_key=True, default=0)
    people_times: Mapped[int] = mapped_column(default=0)
    minutes: Mapped[int] = mapped_column(BigInteger, default=0)


class LedgerDay(db.Model):
    """Ledger flows per local day, region and kind: minutes credited, points converted,
    allocated and redeemed (net of reversals and cancellations)."""

    __tablename__ = "rollup_ledger_day"
    __table_args__ = (Index("ix_rollup_ledger_day_region_day", "region_id", "day"),)

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    region_id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(24), primary_key=True)
    slot: Mapped[int] = mapped_column(SmallInteger, primary_key=True, default=0)
    amount: Mapped[int] = mapped_column(BigInteger, default=0)
    count: Mapped[int] = mapped_column(default=0)


class StoreDay(db.Model):
    """Completed redemptions per store and local day they were made: count, points, goods."""

    __tablename__ = "rollup_store_day"
    __table_args__ = (Index("ix_rollup_store_day_store_day", "store_id", "day"),)

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    store_id: Mapped[int] = mapped_column(primary_key=True)
    slot: Mapped[int] = mapped_column(SmallInteger, primary_key=True, default=0)
    redemptions: Mapped[int] = mapped_column(default=0)
    points: Mapped[int] = mapped_column(BigInteger, default=0)
    goods: Mapped[int] = mapped_column(BigInteger, default=0)


# -- certificates ---------------------------------------------------------------------------


class Certificate(db.Model):
    """A service-record certificate (志愿服务记录证明): the facts as they stood when issued.

    Its `code` is random and unguessable; /verify/<code> shows the same facts, masked, and
    whether it has been revoked. The facts are a snapshot, so a later change of name or a
    later reversal does not silently alter a paper already handed to a school.
    """

    __tablename__ = "certificate"
    __table_args__ = (
        CheckConstraint("period_end >= period_start", name="period_ordered"),
        CheckConstraint("total_minutes >= 0", name="total_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    serial: Mapped[str] = mapped_column(String(32), unique=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    # The volunteer's community when issued: who may see and revoke it.
    region_id: Mapped[int] = mapped_column(ForeignKey("region.id"), index=True)
    holder_name: Mapped[str] = mapped_column(String(64))
    masked_document: Mapped[str] = mapped_column(String(32))
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    total_minutes: Mapped[int] = mapped_column(BigInteger)
    service_count: Mapped[int] = mapped_column(default=0)
    # [{"organization": name, "minutes": n, "count": n}, ...] by issuing organization.
    lines: Mapped[list] = mapped_column(JSON, default=list)
    purpose: Mapped[str] = mapped_column(String(100), default="")
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    revoked_at: Mapped[datetime | None] = mapped_column()
    revoked_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    revoke_reason: Mapped[str] = mapped_column(Text, default="")

    user: Mapped[User] = relationship(foreign_keys=[user_id])
    region: Mapped[Region] = relationship()

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    def __repr__(self) -> str:
        return f"<Certificate {self.serial}>"


# -- projects -------------------------------------------------------------------------------

project_event = db.Table(
    "project_event",
    db.Column("project_id", ForeignKey("project.id", ondelete="CASCADE"), primary_key=True),
    db.Column("event_id", ForeignKey("event.id"), primary_key=True, index=True),
)

project_store = db.Table(
    "project_store",
    db.Column("project_id", ForeignKey("project.id", ondelete="CASCADE"), primary_key=True),
    db.Column("store_id", ForeignKey("store.id"), primary_key=True, index=True),
)


class Project(db.Model):
    """A service project (often government-purchased, 政府购买服务) run by an organization
    or a station over a period, with its funding; evaluated on the events it groups."""

    __tablename__ = "project"
    __table_args__ = (
        CheckConstraint("ends_on >= starts_on", name="period_ordered"),
        CheckConstraint("funding_fen >= 0", name="funding_not_negative"),
        CheckConstraint(
            "organization_id IS NOT NULL OR station_id IS NOT NULL", name="has_organizer"
        ),
        UniqueConstraint("region_id", "name"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    region_id: Mapped[int] = mapped_column(ForeignKey("region.id"), index=True)
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organization.id"), index=True)
    station_id: Mapped[int | None] = mapped_column(ForeignKey("station.id"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text, default="")
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    funding_source: Mapped[str] = mapped_column(String(100), default="")  # e.g. 福彩公益金
    funding_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    region: Mapped[Region] = relationship()
    organization = relationship("Organization")
    station = relationship("Station")
    events = relationship("Event", secondary=project_event, order_by="Event.starts_at")
    stores = relationship("Store", secondary=project_store, order_by="Store.name")
    media_reports: Mapped[list["MediaReport"]] = relationship(
        back_populates="project", cascade="all, delete-orphan", order_by="MediaReport.published_on"
    )
    beneficiaries: Mapped[list["Beneficiary"]] = relationship(
        back_populates="project", cascade="all, delete-orphan", order_by="Beneficiary.id"
    )

    def __repr__(self) -> str:
        return f"<Project {self.id} {self.name}>"


class MediaReport(db.Model):
    """A press or online report about a project, entered by staff."""

    __tablename__ = "project_media_report"

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("project.id", ondelete="CASCADE"), index=True
    )
    title: Mapped[str] = mapped_column(String(200))
    outlet: Mapped[str] = mapped_column(String(100), default="")
    url: Mapped[str] = mapped_column(String(500), default="")
    published_on: Mapped[date] = mapped_column(Date)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    project: Mapped[Project] = relationship(back_populates="media_reports")


class Beneficiary(db.Model):
    """A person a project served (服务对象), entered by staff; distinct by phone."""

    __tablename__ = "project_beneficiary"
    __table_args__ = (UniqueConstraint("project_id", "phone"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("project.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(64))
    phone: Mapped[str] = mapped_column(String(20))
    note: Mapped[str] = mapped_column(String(200), default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    project: Mapped[Project] = relationship(back_populates="beneficiaries")

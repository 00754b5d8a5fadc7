"""Events, sign-ups, attendance, service records, staff entries (补录) and disputes (申诉)."""

import enum
from datetime import date, datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from timebank.auth.models import User
from timebank.core.db import known_values, utcnow
from timebank.extensions import db
from timebank.organizations.models import Organization
from timebank.regions.models import Region
from timebank.stations.models import Station


class Labelled(enum.StrEnum):
    @property
    def label(self):
        return LABELS[self]


class EventCategory(Labelled):
    COMMUNITY = "community"
    ELDERLY = "elderly"
    DISABILITY = "disability"
    CHILDREN = "children"
    ENVIRONMENT = "environment"
    HEALTH = "health"
    CULTURE = "culture"
    EMERGENCY = "emergency"
    OTHER = "other"


class EventState(Labelled):
    DRAFT = "draft"
    PUBLISHED = "published"
    CANCELLED = "cancelled"
    FINISHED = "finished"


class Audience(Labelled):
    PUBLIC = "public"
    TEAM = "team"


class Rounding(Labelled):
    """How attended time becomes credited time, applied to each started hour."""

    HALF_HOUR = "half_hour"  # under 15 min: 0; 15-45: 30; 45-60: 60 (the common rule)
    QUARTER = "quarter"  # to the nearest quarter hour
    MINUTE = "minute"  # to the minute


class SignupState(Labelled):
    CONFIRMED = "confirmed"
    WAITLISTED = "waitlisted"
    CANCELLED = "cancelled"


class Via(Labelled):
    """How a check-in or check-out was recorded."""

    KIOSK = "kiosk"  # the volunteer scanned the rotating code on the event's screen
    POSTER = "poster"  # the volunteer scanned the printed poster
    PHONE_CODE = "phone_code"  # staff scanned the volunteer's phone code
    CARD = "card"  # staff scanned the volunteer's printed card
    STAFF = "staff"  # staff recorded it by hand
    AUTO = "auto"  # closed at the event's end because nobody checked out


class RecordState(Labelled):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class DisputeState(Labelled):
    OPEN = "open"
    UPHELD = "upheld"  # the record stands as it is
    CORRECTED = "corrected"  # the minutes were changed and go through approval again


# Flag reasons are stored as codes and shown in the reader's language.
NO_CHECK_OUT = "no_check_out"
FLAG_REASONS = {NO_CHECK_OUT: _l("No check-out: closed at the event's scheduled end.")}

LABELS = {
    EventCategory.COMMUNITY: _l("Community building"),
    EventCategory.ELDERLY: _l("Elderly care"),
    EventCategory.DISABILITY: _l("Disability support"),
    EventCategory.CHILDREN: _l("Children and youth"),
    EventCategory.ENVIRONMENT: _l("Environment"),
    EventCategory.HEALTH: _l("Health"),
    EventCategory.CULTURE: _l("Culture and education"),
    EventCategory.EMERGENCY: _l("Emergency relief"),
    EventCategory.OTHER: _l("Other"),
    EventState.DRAFT: _l("Draft"),
    EventState.PUBLISHED: _l("Published"),
    EventState.CANCELLED: _l("Cancelled"),
    EventState.FINISHED: _l("Finished"),
    Audience.PUBLIC: _l("Anyone"),
    Audience.TEAM: _l("Team members only"),
    Rounding.HALF_HOUR: _l("Half hours (under 15 min: 0, 15–45: 30, 45–60: 60)"),
    Rounding.QUARTER: _l("Nearest quarter hour"),
    Rounding.MINUTE: _l("To the minute"),
    SignupState.CONFIRMED: _l("Signed up"),
    SignupState.WAITLISTED: _l("Waiting list"),
    SignupState.CANCELLED: _l("Cancelled"),
    Via.KIOSK: _l("Event screen"),
    Via.POSTER: _l("Poster"),
    Via.PHONE_CODE: _l("Personal code"),
    Via.CARD: _l("Volunteer card"),
    Via.STAFF: _l("By staff"),
    Via.AUTO: _l("Closed automatically"),
    RecordState.PENDING: _l("Pending approval"),
    RecordState.APPROVED: _l("Approved"),
    RecordState.REJECTED: _l("Rejected"),
    DisputeState.OPEN: _l("Open"),
    DisputeState.UPHELD: _l("Upheld"),
    DisputeState.CORRECTED: _l("Corrected"),
}


class Event(db.Model):
    """A volunteer event, organized by a station or by a team (exactly one of the two)."""

    __tablename__ = "event"
    __table_args__ = (
        CheckConstraint("(station_id IS NULL) <> (organization_id IS NULL)", name="one_organizer"),
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        CheckConstraint("capacity IS NULL OR capacity > 0", name="capacity_positive"),
        CheckConstraint("grace_minutes >= 0", name="grace_not_negative"),
        known_values("category", EventCategory),
        known_values("state", EventState),
        known_values("audience", Audience),
        known_values("rounding", Rounding),
        Index("ix_event_state_starts_at", "state", "starts_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    station_id: Mapped[int | None] = mapped_column(ForeignKey("station.id"), index=True)
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organization.id"), index=True)
    # Where the service happens: the organizer's region; its issuance account pays the hours.
    region_id: Mapped[int] = mapped_column(ForeignKey("region.id"), index=True)
    title: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text, default="")
    category: Mapped[str] = mapped_column(String(16), default=EventCategory.COMMUNITY)
    address: Mapped[str] = mapped_column(String(200), default="")
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    radius_m: Mapped[int | None] = mapped_column()
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    capacity: Mapped[int | None] = mapped_column()
    signup_opens_at: Mapped[datetime | None] = mapped_column()
    signup_closes_at: Mapped[datetime | None] = mapped_column()
    # Volunteers may cancel their own sign-up until this many minutes before the start.
    cancel_before_minutes: Mapped[int] = mapped_column(default=120)
    audience: Mapped[str] = mapped_column(String(16), default=Audience.PUBLIC)
    walk_ins: Mapped[bool] = mapped_column(default=True)
    rounding: Mapped[str] = mapped_column(String(16), default=Rounding.HALF_HOUR)
    grace_minutes: Mapped[int] = mapped_column(default=15)
    max_minutes: Mapped[int | None] = mapped_column()
    state: Mapped[str] = mapped_column(String(16), default=EventState.DRAFT)
    cancel_reason: Mapped[str] = mapped_column(Text, default="")  # shown to those signed up
    # Names the event in QR codes (never its id); the secret keys its codes, and
    # regenerating it revokes every code printed so far.
    qr_handle: Mapped[str] = mapped_column(String(16), unique=True)
    qr_secret: Mapped[str] = mapped_column(String(64))
    # Kept to tell a revoked code ("replaced, scan the new one") from a forged one.
    previous_qr_secret: Mapped[str | None] = mapped_column(String(64))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    station: Mapped[Station | None] = relationship()
    organization: Mapped[Organization | None] = relationship()
    region: Mapped[Region] = relationship()

    @property
    def organizer(self):
        return self.station or self.organization

    @property
    def state_enum(self) -> EventState:
        return EventState(self.state)

    @property
    def category_enum(self) -> EventCategory:
        return EventCategory(self.category)

    @property
    def scheduled_minutes(self) -> int:
        return int((self.ends_at - self.starts_at).total_seconds() // 60)

    def __repr__(self) -> str:
        return f"<Event {self.id} {self.title}>"


class Signup(db.Model):
    __tablename__ = "signup"
    __table_args__ = (UniqueConstraint("event_id", "user_id"), known_values("state", SignupState))

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("event.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    state: Mapped[str] = mapped_column(String(16), default=SignupState.CONFIRMED)
    walk_in: Mapped[bool] = mapped_column(default=False)
    added_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    event: Mapped[Event] = relationship()
    user: Mapped[User] = relationship(foreign_keys=[user_id])

    @property
    def state_enum(self) -> SignupState:
        return SignupState(self.state)


class Attendance(db.Model):
    """One person at one event: the unique pair is what makes two scans one record."""

    __tablename__ = "attendance"
    __table_args__ = (
        UniqueConstraint("event_id", "user_id"),
        known_values("check_in_via", Via),
        CheckConstraint(
            "checked_out_at IS NULL OR checked_out_at >= checked_in_at", name="out_after_in"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("event.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    checked_in_at: Mapped[datetime]
    check_in_via: Mapped[str] = mapped_column(String(16))
    checked_in_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    checked_out_at: Mapped[datetime | None] = mapped_column()
    check_out_via: Mapped[str | None] = mapped_column(String(16))
    checked_out_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    minutes: Mapped[int | None] = mapped_column()
    # Set when the check-out was made for the volunteer (forgotten, closed at the end).
    flagged: Mapped[bool] = mapped_column(default=False)

    event: Mapped[Event] = relationship()
    user: Mapped[User] = relationship(foreign_keys=[user_id])


class StaffEntry(db.Model):
    """Hours logged by staff (补录) for one or more volunteers who served together."""

    __tablename__ = "staff_entry"
    __table_args__ = (CheckConstraint("minutes > 0", name="minutes_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    station_id: Mapped[int | None] = mapped_column(ForeignKey("station.id"), index=True)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("event.id"), index=True)
    region_id: Mapped[int] = mapped_column(ForeignKey("region.id"), index=True)
    served_on: Mapped[date]
    minutes: Mapped[int]
    description: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(Text)
    # Above STAFF_ENTRY_SECOND_APPROVAL_MINUTES another staff member must approve.
    needs_second_approval: Mapped[bool] = mapped_column(default=False)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    station: Mapped[Station | None] = relationship()
    event: Mapped[Event | None] = relationship()
    region: Mapped[Region] = relationship()
    created_by: Mapped[User | None] = relationship()


class ServiceRecord(db.Model):
    """The unit of credited service; approval deposits its minutes in the time bank once."""

    __tablename__ = "service_record"
    __table_args__ = (
        CheckConstraint("minutes >= 0", name="minutes_not_negative"),
        CheckConstraint(
            "attendance_id IS NOT NULL OR staff_entry_id IS NOT NULL OR corrects_id IS NOT NULL",
            name="has_source",
        ),
        known_values("state", RecordState),
        Index("ix_service_record_event_id_state", "event_id", "state"),
        Index("ix_service_record_region_id_state", "region_id", "state"),
        # Reports: who served in an area over a period (active volunteers, certificates).
        Index("ix_service_record_served_on_region_id", "served_on", "region_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    event_id: Mapped[int | None] = mapped_column(ForeignKey("event.id"))
    attendance_id: Mapped[int | None] = mapped_column(ForeignKey("attendance.id"), unique=True)
    staff_entry_id: Mapped[int | None] = mapped_column(ForeignKey("staff_entry.id"), index=True)
    # A supplement created when a dispute found too few minutes credited.
    corrects_id: Mapped[int | None] = mapped_column(ForeignKey("service_record.id"))
    station_id: Mapped[int | None] = mapped_column(ForeignKey("station.id"))
    region_id: Mapped[int] = mapped_column(ForeignKey("region.id"))
    served_on: Mapped[date]
    minutes: Mapped[int]
    description: Mapped[str] = mapped_column(Text, default="")
    state: Mapped[str] = mapped_column(String(16), default=RecordState.PENDING)
    flagged: Mapped[bool] = mapped_column(default=False)
    flag_reason: Mapped[str] = mapped_column(Text, default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    decided_at: Mapped[datetime | None] = mapped_column()
    reason: Mapped[str] = mapped_column(Text, default="")  # why it was rejected
    transaction_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_transaction.id"))

    user: Mapped[User] = relationship(foreign_keys=[user_id])
    event: Mapped[Event | None] = relationship()
    attendance: Mapped[Attendance | None] = relationship()
    staff_entry: Mapped[StaffEntry | None] = relationship()
    station: Mapped[Station | None] = relationship()
    region: Mapped[Region] = relationship()
    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_id])

    @property
    def state_enum(self) -> RecordState:
        return RecordState(self.state)

    @property
    def flag_text(self) -> str:
        """Why the record is flagged, in the reader's language."""
        return str(FLAG_REASONS.get(self.flag_reason, self.flag_reason))


class Dispute(db.Model):
    """A volunteer's objection (申诉) to a service record, resolved by staff."""

    __tablename__ = "dispute"
    __table_args__ = (known_values("state", DisputeState),)

    id: Mapped[int] = mapped_column(primary_key=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("service_record.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    reason: Mapped[str] = mapped_column(Text)
    claimed_minutes: Mapped[int | None] = mapped_column()
    state: Mapped[str] = mapped_column(String(16), default=DisputeState.OPEN, index=True)
    resolution: Mapped[str] = mapped_column(Text, default="")
    resolved_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    resolved_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    record: Mapped[ServiceRecord] = relationship()
    user: Mapped[User] = relationship(foreign_keys=[user_id])

    @property
    def state_enum(self) -> DisputeState:
        return DisputeState(self.state)


class Scan(db.Model):
    """A personal code scanned by staff, kept by the device's nonce so an upload repeated
    after a network drop records nothing twice (the stored outcome is answered again)."""

    __tablename__ = "scan"
    __table_args__ = (UniqueConstraint("actor_id", "nonce"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    actor_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    nonce: Mapped[str] = mapped_column(String(64))
    event_id: Mapped[int] = mapped_column(ForeignKey("event.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    purpose: Mapped[str] = mapped_column(String(16))
    scanned_at: Mapped[datetime]  # on the device, which may be long before it was received
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    outcome: Mapped[str] = mapped_column(String(32))
    attendance_id: Mapped[int | None] = mapped_column(ForeignKey("attendance.id"))

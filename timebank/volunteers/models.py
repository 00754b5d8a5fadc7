"""Volunteer profile (real-name identity, status, consent), star levels and their history."""

import enum
from datetime import date, datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import CheckConstraint, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from timebank.auth.models import User
from timebank.core.db import utcnow
from timebank.extensions import db
from timebank.regions.models import Region


class DocumentType(enum.StrEnum):
    RESIDENT_ID = "resident_id"
    HK_MACAO_PERMIT = "hk_macao_permit"
    TAIWAN_PERMIT = "taiwan_permit"
    PASSPORT = "passport"
    FOREIGN_PERMANENT = "foreign_permanent"

    @property
    def label(self):
        return DOCUMENT_LABELS[self]

    @property
    def carries_birth_date(self) -> bool:
        """Birth date and gender are read from the number itself."""
        return self is DocumentType.RESIDENT_ID


DOCUMENT_LABELS = {
    DocumentType.RESIDENT_ID: _l("Resident identity card"),
    DocumentType.HK_MACAO_PERMIT: _l("Mainland travel permit for Hong Kong and Macao residents"),
    DocumentType.TAIWAN_PERMIT: _l("Mainland travel permit for Taiwan residents"),
    DocumentType.PASSPORT: _l("Passport"),
    DocumentType.FOREIGN_PERMANENT: _l("Foreigner's permanent residence ID card"),
}


class VolunteerStatus(enum.StrEnum):
    PENDING = "pending"
    VERIFIED = "verified"
    SUSPENDED = "suspended"

    @property
    def label(self):
        return {
            VolunteerStatus.PENDING: _l("Awaiting verification"),
            VolunteerStatus.VERIFIED: _l("Verified"),
            VolunteerStatus.SUSPENDED: _l("Suspended"),
        }[self]


class Gender(enum.StrEnum):
    MALE = "male"
    FEMALE = "female"

    @property
    def label(self):
        return {Gender.MALE: _l("Male"), Gender.FEMALE: _l("Female")}[self]


class Volunteer(db.Model):
    """The real-name side of a person: one per user, found by a keyed hash of the ID number."""

    __tablename__ = "volunteer"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'verified', 'suspended')", name="status_known"),
        CheckConstraint(
            "document_type IN ('resident_id', 'hk_macao_permit', 'taiwan_permit', 'passport',"
            " 'foreign_permanent')",
            name="document_type_known",
        ),
        CheckConstraint("gender IS NULL OR gender IN ('male', 'female')", name="gender_known"),
        CheckConstraint("star_level BETWEEN 0 AND 5", name="star_level_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), unique=True)
    # Home community; kept equal to User.region_id, which the ledger reads.
    region_id: Mapped[int] = mapped_column(ForeignKey("region.id"), index=True)
    document_type: Mapped[str] = mapped_column(String(24))
    # Fernet token of the normalised number; the key lives outside the database.
    document_cipher: Mapped[str] = mapped_column(Text)
    # HMAC of type and number under a key derived from the data key: uniqueness and lookup
    # without decrypting. 'x' and 'X' normalise to the same number first.
    document_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # Last four characters, for staff searching by "the last digits of the ID".
    document_tail: Mapped[str] = mapped_column(String(4), index=True)
    birth_date: Mapped[date]
    gender: Mapped[str | None] = mapped_column(String(8))
    skills: Mapped[str] = mapped_column(Text, default="")
    availability: Mapped[str] = mapped_column(String(200), default="")

    status: Mapped[str] = mapped_column(String(16), default=VolunteerStatus.PENDING, index=True)
    status_reason: Mapped[str] = mapped_column(Text, default="")
    status_changed_at: Mapped[datetime | None]
    verified_at: Mapped[datetime | None]
    verified_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))

    consent_version: Mapped[str] = mapped_column(String(16))
    consent_at: Mapped[datetime]
    # Minors: a guardian consents (under 18); under 14 their name and phone are kept too.
    guardian_consent_at: Mapped[datetime | None]
    guardian_name: Mapped[str | None] = mapped_column(String(64))
    guardian_phone: Mapped[str | None] = mapped_column(String(20))

    star_level: Mapped[int] = mapped_column(default=0)
    # Random public handle inside personal QR tokens, so no code carries a database id.
    qr_handle: Mapped[str] = mapped_column(String(24), unique=True)
    # The printed card's code names this version; reissuing bumps it and revokes the old one.
    card_version: Mapped[int] = mapped_column(default=1)
    card_issued_at: Mapped[datetime | None]
    # How the profile arrived: self (registration), import, staff.
    source: Mapped[str] = mapped_column(String(16), default="self")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    user: Mapped[User] = relationship(foreign_keys=[user_id], lazy="joined", innerjoin=True)
    region: Mapped[Region] = relationship()
    verified_by: Mapped[User | None] = relationship(foreign_keys=[verified_by_id])

    @property
    def status_enum(self) -> VolunteerStatus:
        return VolunteerStatus(self.status)

    @property
    def document_type_enum(self) -> DocumentType:
        return DocumentType(self.document_type)

    @property
    def gender_enum(self) -> Gender | None:
        return Gender(self.gender) if self.gender else None

    @property
    def is_verified(self) -> bool:
        return self.status == VolunteerStatus.VERIFIED

    @property
    def masked_document(self) -> str:
        from timebank.volunteers.identity import mask_tail

        return mask_tail(self.document_type_enum, self.document_tail)

    @property
    def skill_list(self) -> list[str]:
        return [s for s in (self.skills or "").split(",") if s]

    def age_on(self, day: date) -> int:
        from timebank.volunteers.services import age_on

        return age_on(self.birth_date, day)

    def __repr__(self) -> str:
        return f"<Volunteer {self.id} user={self.user_id} {self.status}>"


class StarLevelChange(db.Model):
    """A volunteer's star level went up (or down, after a reversal); shown to them once."""

    __tablename__ = "star_level_change"

    id: Mapped[int] = mapped_column(primary_key=True)
    volunteer_id: Mapped[int] = mapped_column(ForeignKey("volunteer.id"), index=True)
    from_level: Mapped[int]
    to_level: Mapped[int]
    lifetime_minutes: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    seen_at: Mapped[datetime | None]


class StarRule(db.Model):
    """Star thresholds (hours for one to five stars) set for a region and everything below it."""

    __tablename__ = "star_rule"
    __table_args__ = (UniqueConstraint("region_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    region_id: Mapped[int] = mapped_column(ForeignKey("region.id"))
    # Five ascending whole hours, comma separated: "100,300,600,1000,1500".
    thresholds: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))

    region: Mapped[Region] = relationship()

    @property
    def hours(self) -> list[int]:
        return [int(part) for part in self.thresholds.split(",")]

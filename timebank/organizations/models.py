"""Organization (team or social organization) in a region, and its memberships."""

import enum
from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import CheckConstraint, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from timebank.core.db import utcnow
from timebank.extensions import db
from timebank.regions.models import Region


class OrganizationKind(enum.StrEnum):
    TEAM = "team"
    SOCIAL_ORG = "social_org"

    @property
    def label(self):
        return {
            OrganizationKind.TEAM: _l("Volunteer team"),
            OrganizationKind.SOCIAL_ORG: _l("Social organization"),
        }[self]


class MemberRole(enum.StrEnum):
    """A person's place within the team; what they may manage comes from role grants."""

    MEMBER = "member"
    LEADER = "leader"

    @property
    def label(self):
        return {MemberRole.MEMBER: _l("Member"), MemberRole.LEADER: _l("Leader")}[self]


class Organization(db.Model):
    __tablename__ = "organization"
    __table_args__ = (
        UniqueConstraint("region_id", "name"),
        CheckConstraint("kind IN ('team', 'social_org')", name="kind_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    region_id: Mapped[int] = mapped_column(ForeignKey("region.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(16), default=OrganizationKind.TEAM)
    description: Mapped[str] = mapped_column(Text, default="")
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    region: Mapped[Region] = relationship()
    memberships: Mapped[list["Membership"]] = relationship(
        back_populates="organization", cascade="all, delete-orphan"
    )

    @property
    def kind_enum(self) -> OrganizationKind:
        return OrganizationKind(self.kind)

    def __repr__(self) -> str:
        return f"<Organization {self.id} {self.name}>"


class Membership(db.Model):
    __tablename__ = "membership"
    __table_args__ = (
        UniqueConstraint("organization_id", "user_id"),
        CheckConstraint("role IN ('member', 'leader')", name="role_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organization.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    role: Mapped[str] = mapped_column(String(16), default=MemberRole.MEMBER)
    joined_at: Mapped[datetime] = mapped_column(default=utcnow)

    organization: Mapped[Organization] = relationship(back_populates="memberships")

    @property
    def role_enum(self) -> MemberRole:
        return MemberRole(self.role)

    user: Mapped["User"] = relationship()  # noqa: F821 - resolved by the registry


class RequestState(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"

    @property
    def label(self):
        return {
            RequestState.PENDING: _l("Pending"),
            RequestState.APPROVED: _l("Approved"),
            RequestState.REJECTED: _l("Rejected"),
            RequestState.WITHDRAWN: _l("Withdrawn"),
        }[self]


_STATE_CHECK = "state IN ('pending', 'approved', 'rejected', 'withdrawn')"


class TeamApplication(db.Model):
    """A would-be leader asks a region's administrators to found a team there."""

    __tablename__ = "team_application"
    __table_args__ = (CheckConstraint(_STATE_CHECK, name="state_known"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    applicant_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    region_id: Mapped[int] = mapped_column(ForeignKey("region.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    state: Mapped[str] = mapped_column(String(16), default=RequestState.PENDING, index=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    decided_at: Mapped[datetime | None]
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organization.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    region: Mapped[Region] = relationship()
    applicant: Mapped["User"] = relationship(foreign_keys=[applicant_id])  # noqa: F821
    organization: Mapped[Organization | None] = relationship()

    @property
    def state_enum(self) -> RequestState:
        return RequestState(self.state)


class JoinRequest(db.Model):
    """A person asks to join a team; its leader decides. One row per person and team, reused."""

    __tablename__ = "join_request"
    __table_args__ = (
        UniqueConstraint("organization_id", "user_id"),
        CheckConstraint(_STATE_CHECK, name="state_known"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organization.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    message: Mapped[str] = mapped_column(Text, default="")
    state: Mapped[str] = mapped_column(String(16), default=RequestState.PENDING, index=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    decided_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    organization: Mapped[Organization] = relationship()
    user: Mapped["User"] = relationship(foreign_keys=[user_id])  # noqa: F821

    @property
    def state_enum(self) -> RequestState:
        return RequestState(self.state)

"""User accounts, role grants scoped to a place, and hashed API tokens."""

import enum
import hashlib
from datetime import datetime

from flask_babel import lazy_gettext as _l
from flask_login import UserMixin
from sqlalchemy import CheckConstraint, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from timebank.core.db import utcnow
from timebank.extensions import db

# A fixed hash to check against when the login is unknown, so that a wrong login and a
# wrong password take the same time.
_DUMMY_HASH = generate_password_hash("timing-equaliser-not-a-password")
# The password of someone who has none yet (people imported from a station's list): no
# "method$salt$hash" shape, so check_password_hash refuses every password. Staff set a
# real one before the person first signs in.
UNUSABLE_PASSWORD = "!unusable"  # noqa: S105 - a marker, not a secret


class Role(enum.StrEnum):
    VOLUNTEER = "volunteer"
    STATION_STAFF = "station_staff"
    TEAM_LEADER = "team_leader"
    CASHIER = "cashier"
    ADMIN = "admin"
    SUPERADMIN = "superadmin"

    @property
    def label(self):
        return ROLE_LABELS[self]

    @property
    def scope_kind(self) -> "ScopeKind":
        return ROLE_SCOPES[self]


class ScopeKind(enum.StrEnum):
    """What a grant's scope_id points at. Open-ended: stores arrive with the supermarket."""

    GLOBAL = "global"
    REGION = "region"
    STATION = "station"
    ORGANIZATION = "organization"
    STORE = "store"


ROLE_LABELS = {
    Role.VOLUNTEER: _l("Volunteer"),
    Role.STATION_STAFF: _l("Station staff"),
    Role.TEAM_LEADER: _l("Team leader"),
    Role.CASHIER: _l("Cashier"),
    Role.ADMIN: _l("Administrator"),
    Role.SUPERADMIN: _l("Super administrator"),
}

ROLE_SCOPES = {
    Role.VOLUNTEER: ScopeKind.REGION,
    Role.STATION_STAFF: ScopeKind.STATION,
    Role.TEAM_LEADER: ScopeKind.ORGANIZATION,
    Role.CASHIER: ScopeKind.STORE,
    Role.ADMIN: ScopeKind.REGION,
    Role.SUPERADMIN: ScopeKind.GLOBAL,
}


class User(UserMixin, db.Model):
    __tablename__ = "user_account"
    __table_args__ = (
        CheckConstraint("username IS NOT NULL OR phone IS NOT NULL", name="has_login"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str | None] = mapped_column(String(64), unique=True)
    phone: Mapped[str | None] = mapped_column(String(20), unique=True)
    name: Mapped[str] = mapped_column(String(64), index=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(default=True)
    locale: Mapped[str | None] = mapped_column(String(8))
    # The community the person belongs to: their accounts' region, their conversion rate.
    region_id: Mapped[int | None] = mapped_column(ForeignKey("region.id"), index=True)
    # Part of the session id: bumping it signs the user out of every session.
    session_version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None]

    grants: Mapped[list["RoleGrant"]] = relationship(
        back_populates="user",
        cascade="all, delete-orphan",
        foreign_keys="RoleGrant.user_id",
        lazy="selectin",
    )

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        if not self.has_usable_password:
            # As slow as a real check, so timing does not tell imported accounts apart.
            self.burn_password_check(password)
            return False
        return check_password_hash(self.password_hash, password)

    @property
    def has_usable_password(self) -> bool:
        return not self.password_hash.startswith("!")

    @staticmethod
    def burn_password_check(password: str) -> None:
        check_password_hash(_DUMMY_HASH, password)

    @property
    def is_active(self) -> bool:
        return self.active

    def get_id(self) -> str:
        return f"{self.id}:{self.session_version}"

    @property
    def login(self) -> str:
        return self.username or self.phone or ""

    def has_role(self, *roles: Role) -> bool:
        return self.is_superadmin or any(g.role in roles for g in self.grants)

    @property
    def is_superadmin(self) -> bool:
        return any(g.role == Role.SUPERADMIN for g in self.grants)

    def grants_of(self, role: Role) -> list["RoleGrant"]:
        return [g for g in self.grants if g.role == role]

    def __repr__(self) -> str:
        return f"<User {self.id} {self.login}>"


class RoleGrant(db.Model):
    __tablename__ = "role_grant"
    __table_args__ = (
        UniqueConstraint("user_id", "role", "scope_kind", "scope_id"),
        CheckConstraint(
            "role IN ('volunteer', 'station_staff', 'team_leader', 'cashier', 'admin',"
            " 'superadmin')",
            name="role_known",
        ),
        CheckConstraint("(scope_kind = 'global') = (scope_id = 0)", name="global_scope_has_no_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    role: Mapped[str] = mapped_column(String(32))
    scope_kind: Mapped[str] = mapped_column(String(16))
    # 0 for global grants, so the unique constraint holds (NULLs never collide).
    scope_id: Mapped[int] = mapped_column(default=0)
    granted_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    user: Mapped[User] = relationship(back_populates="grants", foreign_keys=[user_id])

    @property
    def role_enum(self) -> Role:
        return Role(self.role)

    def __repr__(self) -> str:
        return f"<RoleGrant {self.user_id} {self.role} {self.scope_kind}:{self.scope_id}>"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class ApiToken(db.Model):
    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    # Only the SHA-256 of the token is stored; the token itself is shown once.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]

    user: Mapped[User] = relationship()

    def is_valid(self, now: datetime) -> bool:
        return self.revoked_at is None and self.expires_at > now

    def revoke(self, now: datetime) -> None:
        if self.revoked_at is None:
            self.revoked_at = now

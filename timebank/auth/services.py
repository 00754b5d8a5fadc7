"""Accounts, sign-in checks, role grants and API tokens. Services flush; callers commit."""

import re
import secrets
from datetime import datetime

from flask_babel import gettext as _
from sqlalchemy import or_
from sqlalchemy.orm import joinedload

from timebank.audit.services import record
from timebank.auth.models import ApiToken, Role, RoleGrant, ScopeKind, User, hash_token
from timebank.auth.passwords import check_password_policy
from timebank.core.db import insert_unique, utcnow
from timebank.core.errors import Conflict, NotFound, ValidationFailed
from timebank.core.security import (
    can_admin_region,
    can_lead_organization,
    can_staff_station,
    ensure,
)
from timebank.extensions import db

PHONE_RE = re.compile(r"^1[3-9]\d{9}$")
USERNAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{2,63}$")


def normalise_login(login: str) -> str:
    return (login or "").strip().replace(" ", "").lower()


def find_by_login(login: str) -> User | None:
    login = normalise_login(login)
    if not login:
        return None
    return db.session.scalar(
        db.select(User).where(or_(User.username == login, User.phone == login))
    )


def authenticate(login: str, password: str) -> User | None:
    """The user when login and password match an active account, else None.

    Callers show one message for every failure; nothing here tells which part was wrong.
    """
    user = find_by_login(login)
    if user is None:
        User.burn_password_check(password)
        return None
    if not user.check_password(password) or not user.active:
        return None
    return user


def note_login(user: User) -> None:
    user.last_login_at = utcnow()
    record(user, "auth.login", user)


def validate_phone(phone: str, field: str = "phone") -> str:
    phone = (phone or "").strip().replace(" ", "").replace("-", "")
    if phone.startswith("+86"):
        phone = phone[3:]
    if not PHONE_RE.match(phone):
        raise ValidationFailed(_("Enter an 11-digit mainland mobile number."), field=field)
    return phone


def create_user(
    actor, *, name: str, password: str, phone: str | None = None, username: str | None = None
) -> User:
    name = (name or "").strip()
    if not name:
        raise ValidationFailed(_("Enter a name."), field="name")
    if len(name) > 64:
        raise ValidationFailed(_("The name is too long."), field="name")
    phone = validate_phone(phone) if phone else None
    username = normalise_login(username) if username else None
    if username and not USERNAME_RE.match(username):
        raise ValidationFailed(
            _("A username starts with a letter and has 3 to 64 letters, digits, '.', '_' or '-'."),
            field="username",
        )
    if not phone and not username:
        raise ValidationFailed(_("Enter a mobile number or a username."), field="phone")
    check_password_policy(password, login=username or "")
    for value, column, field in (
        (phone, User.phone, "phone"),
        (username, User.username, "username"),
    ):
        if value and db.session.scalar(db.select(User.id).where(column == value)):
            raise Conflict(_("This login is already taken."), field=field)
    user = User(name=name, phone=phone, username=username)
    user.set_password(password)
    insert_unique(
        db.session,
        user,
        Conflict(_("This login is already taken."), field="phone" if phone else "username"),
    )
    record(actor, "user.create", user)
    return user


def change_password(user: User, current: str, new: str) -> None:
    if not user.check_password(current):
        raise ValidationFailed(_("The current password is wrong."), field="current_password")
    check_password_policy(new, field="new_password", login=user.username or "")
    user.set_password(new)
    # Every other session and the old cookies stop working.
    user.session_version += 1
    record(user, "user.password_change", user)


def sign_out_everywhere(user: User) -> None:
    user.session_version += 1
    record(user, "user.sign_out_everywhere", user)


# -- role grants ------------------------------------------------------------------------


def scope_target(scope_kind: ScopeKind, scope_id: int):
    """The object a grant's scope points at, or None for global grants."""
    from timebank.organizations.models import Organization
    from timebank.regions.models import Region
    from timebank.stations.models import Station
    from timebank.stores.models import Store

    models = {
        ScopeKind.REGION: Region,
        ScopeKind.STATION: Station,
        ScopeKind.ORGANIZATION: Organization,
        ScopeKind.STORE: Store,
    }
    if scope_kind == ScopeKind.GLOBAL:
        return None
    model = models.get(scope_kind)
    target = db.session.get(model, scope_id) if model else None
    if target is None:
        raise NotFound(_("That place does not exist."), field="scope_id")
    return target


def scope_region(target):
    """The region that decides who may grant roles on this target."""
    if target is None:
        return None
    return target if target.__tablename__ == "region" else target.region


def can_grant(actor: User, role: Role, target) -> bool:
    if actor.is_superadmin:
        return True
    if role == Role.SUPERADMIN:
        return False
    if role == Role.TEAM_LEADER and target is not None and can_lead_organization(actor, target):
        # A team's leaders appoint and stand down its other leaders (member roles).
        return True
    return can_admin_region(actor, scope_region(target))


def grant_role(actor: User, user: User, role: Role, scope_id: int = 0) -> RoleGrant:
    scope_kind = role.scope_kind
    if scope_kind == ScopeKind.GLOBAL:
        scope_id = 0
    target = scope_target(scope_kind, scope_id)
    ensure(can_grant(actor, role, target))
    existing = db.session.scalar(
        db.select(RoleGrant).filter_by(
            user_id=user.id, role=role, scope_kind=scope_kind, scope_id=scope_id
        )
    )
    if existing:
        return existing
    grant = RoleGrant(
        user=user, role=role, scope_kind=scope_kind, scope_id=scope_id, granted_by_id=actor.id
    )
    db.session.add(grant)
    db.session.flush()
    region = scope_region(target)
    record(actor, "grant.create", grant, region=region, user_id=user.id, role=str(role))
    return grant


def revoke_grant(actor: User, grant: RoleGrant) -> None:
    target = scope_target(ScopeKind(grant.scope_kind), grant.scope_id)
    ensure(can_grant(actor, grant.role_enum, target))
    if grant.user_id == actor.id and grant.role in (Role.ADMIN, Role.SUPERADMIN):
        raise ValidationFailed(_("You cannot remove your own administrator role."))
    record(
        actor,
        "grant.revoke",
        grant,
        region=scope_region(target),
        user_id=grant.user_id,
        role=grant.role,
    )
    grant.user.grants.remove(grant)
    db.session.flush()


def describe_scope(grant: RoleGrant) -> str:
    if grant.scope_kind == ScopeKind.GLOBAL:
        return _("Everywhere")
    try:
        target = scope_target(ScopeKind(grant.scope_kind), grant.scope_id)
    except NotFound:
        return f"{grant.scope_kind} #{grant.scope_id}"
    return target.name


def can_see_user(actor: User, user: User) -> bool:
    """Staff and administrators see the accounts that hold a role in their scope."""
    if actor.id == user.id or actor.is_superadmin:
        return True
    for grant in user.grants:
        try:
            target = scope_target(ScopeKind(grant.scope_kind), grant.scope_id)
        except NotFound:
            continue
        if target is not None and can_admin_region(actor, scope_region(target)):
            return True
        if grant.scope_kind == ScopeKind.STATION and can_staff_station(actor, target):
            return True
    return False


# -- API tokens ---------------------------------------------------------------------------

TOKEN_PREFIX = "tb_"  # noqa: S105 - a marker, not a secret


def issue_token(user: User, name: str, lifetime) -> tuple[ApiToken, str]:
    """A new bearer token; the plain token is returned once and never stored."""
    name = (name or "").strip() or "api"
    plain = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = utcnow()
    token = ApiToken(
        user_id=user.id,
        name=name[:64],
        token_hash=hash_token(plain),
        prefix=plain[:10],
        created_at=now,
        expires_at=now + lifetime,
    )
    db.session.add(token)
    db.session.flush()
    record(user, "token.create", token, name=token.name)
    return token, plain


def user_for_token(plain: str, now: datetime | None = None) -> User | None:
    if not plain.startswith(TOKEN_PREFIX):
        return None
    # One round trip: the token, its user and the user's grants together.
    token = (
        db.session.execute(
            db.select(ApiToken)
            .filter_by(token_hash=hash_token(plain))
            .options(joinedload(ApiToken.user).joinedload(User.grants))
        )
        .unique()
        .scalar_one_or_none()
    )
    if token is None or not token.is_valid(now or utcnow()) or not token.user.active:
        return None
    return token.user


def revoke_token(actor: User, token: ApiToken) -> None:
    ensure(token.user_id == actor.id or actor.is_superadmin)
    token.revoke(utcnow())
    record(actor, "token.revoke", token)

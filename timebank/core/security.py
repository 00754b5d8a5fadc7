"""Who may do what where: role checks, region-subtree scopes and the view decorator."""

from functools import wraps

from flask import abort, current_app
from flask_login import current_user
from sqlalchemy import false, or_, true

from timebank.auth.models import Role, User
from timebank.core.errors import PermissionDenied
from timebank.regions.models import Region


class SystemActor:
    """The operator at the console (CLI, demo loader): may do anything, recorded as no user."""

    id = None
    is_superadmin = True


SYSTEM = SystemActor()


def administered_regions(user: User) -> list[Region]:
    """Regions the user administers, outermost first, without regions nested in another."""
    from timebank.extensions import db

    ids = [g.scope_id for g in user.grants_of(Role.ADMIN)]
    if not ids:
        return []
    regions = db.session.scalars(db.select(Region).where(Region.id.in_(ids))).all()
    regions = sorted(regions, key=lambda r: len(r.path))
    roots: list[Region] = []
    for region in regions:
        if not any(root.contains(region) for root in roots):
            roots.append(region)
    return roots


def in_admin_scope(user: User, path_column):
    """SQL condition: the row's region path lies in a subtree this user administers."""
    if user.is_superadmin:
        return true()
    roots = administered_regions(user)
    if not roots:
        return false()
    return or_(*(path_column.startswith(root.path, autoescape=True) for root in roots))


def can_admin_region(user: User, region: Region | None) -> bool:
    if user.is_superadmin:
        return True
    if region is None:
        return False
    return any(root.contains(region) for root in administered_regions(user))


def can_staff_station(user: User, station) -> bool:
    """Station staff of this station, or an administrator above it."""
    return can_admin_region(user, station.region) or any(
        g.role == Role.STATION_STAFF and g.scope_id == station.id for g in user.grants
    )


def can_lead_organization(user: User, organization) -> bool:
    """Leader of this organization, or an administrator above it."""
    return can_admin_region(user, organization.region) or any(
        g.role == Role.TEAM_LEADER and g.scope_id == organization.id for g in user.grants
    )


def ensure(allowed: bool, message=None) -> None:
    """Refuse with 403 unless allowed; services call this before changing anything."""
    if not allowed:
        from flask_babel import gettext as _

        raise PermissionDenied(message or _("You do not have permission to do this."))


def requires(*roles: Role):
    """View decorator: signed in, and holding at least one of the roles (anywhere)."""

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not current_user.is_authenticated:
                # Pages redirect to sign-in with ?next=; the API answers 401.
                return current_app.login_manager.unauthorized()
            if roles and not current_user.has_role(*roles):
                abort(403)
            return view(*args, **kwargs)

        wrapped.required_roles = roles
        return wrapped

    return decorator

"""Registering organizations (teams) and keeping their details."""

from flask_babel import gettext as _
from sqlalchemy import case

from timebank.audit.services import record
from timebank.auth.models import Role
from timebank.auth.services import grant_role, revoke_grant
from timebank.core.db import insert_unique
from timebank.core.errors import Conflict, ValidationFailed
from timebank.core.security import can_admin_region, can_lead_organization, ensure, in_admin_scope
from timebank.extensions import db
from timebank.organizations.models import MemberRole, Membership, Organization, OrganizationKind
from timebank.regions.models import Region


def _check(region: Region, name: str, kind: str, description: str, organization=None):
    name = (name or "").strip()
    if not name:
        raise ValidationFailed(_("Enter a name."), field="name")
    if len(name) > 100:
        raise ValidationFailed(_("The name is too long."), field="name")
    try:
        kind = OrganizationKind(kind or OrganizationKind.TEAM)
    except ValueError:
        raise ValidationFailed(_("Unknown organization kind."), field="kind") from None
    if len(description or "") > 5000:
        raise ValidationFailed(_("The description is too long."), field="description")
    clash = db.select(Organization.id).where(
        Organization.region_id == region.id, Organization.name == name
    )
    if organization is not None:
        clash = clash.where(Organization.id != organization.id)
    if db.session.scalar(clash):
        raise Conflict(_("An organization with this name already exists here."), field="name")
    return name, kind, (description or "").strip()


def create_organization(
    actor, *, region: Region, name: str, kind: str = "team", description: str = ""
) -> Organization:
    ensure(actor is None or can_admin_region(actor, region))
    name, kind, description = _check(region, name, kind, description)
    organization = insert_unique(
        db.session,
        Organization(region_id=region.id, name=name, kind=kind, description=description),
        Conflict(_("An organization with this name already exists here."), field="name"),
    )
    record(actor, "organization.create", organization, region=region, name=name)
    return organization


def update_organization(
    actor, organization: Organization, *, name=None, kind=None, description=None, active=None
) -> Organization:
    ensure(can_lead_organization(actor, organization))
    name, kind, description = _check(
        organization.region,
        organization.name if name is None else name,
        organization.kind if kind is None else kind,
        organization.description if description is None else description,
        organization=organization,
    )
    changes = {}
    new_active = organization.active if active is None else active
    if new_active != organization.active:
        # Only administrators open or close an organization, not its own leader.
        ensure(can_admin_region(actor, organization.region))
    for attr, value in (
        ("name", name),
        ("kind", kind),
        ("description", description),
        ("active", new_active),
    ):
        if getattr(organization, attr) != value:
            changes[attr] = value
            setattr(organization, attr, value)
    if changes:
        record(
            actor,
            "organization.update",
            organization,
            region=organization.region,
            **{k: v for k, v in changes.items() if k != "description"},
        )
    return organization


def organizations_in_scope(actor):
    return (
        db.select(Organization)
        .join(Organization.region)
        .where(in_admin_scope(actor, Region.path))
        .order_by(Region.path, Organization.name)
    )


def add_member(actor, organization: Organization, user, role: str = MemberRole.MEMBER):
    """Put a person in an organization (or change their member role there)."""
    ensure(can_lead_organization(actor, organization))
    role = _member_role(role)
    membership = db.session.scalar(
        db.select(Membership).filter_by(organization_id=organization.id, user_id=user.id)
    )
    if membership is not None:
        return change_role(actor, membership, role)
    membership = insert_unique(
        db.session,
        Membership(organization_id=organization.id, user_id=user.id, role=role),
        Conflict(_("This person is already a member."), field="login"),
    )
    record(
        actor,
        "membership.create",
        membership,
        region=organization.region,
        organization_id=organization.id,
        user_id=user.id,
        role=str(role),
    )
    _sync_leader_grant(actor, organization, user, role)
    return membership


def change_role(actor, membership: Membership, role: str) -> Membership:
    """Member to leader or back; the team_leader grant on the team follows the member role."""
    organization = membership.organization
    ensure(can_lead_organization(actor, organization))
    role = _member_role(role)
    if membership.role == role:
        return membership
    _lock(organization)
    if role != MemberRole.LEADER and _is_last_leader(membership):
        raise Conflict(
            _("A team needs a leader: make another member a leader first."),
            code="last_leader",
            field="role",
        )
    membership.role = role
    record(
        actor,
        "membership.update",
        membership,
        region=organization.region,
        organization_id=organization.id,
        user_id=membership.user_id,
        role=str(role),
    )
    _sync_leader_grant(actor, organization, membership.user, role)
    return membership


def remove_member(actor, membership: Membership) -> None:
    organization = membership.organization
    ensure(can_lead_organization(actor, organization))
    _lock(organization)
    if _is_last_leader(membership) and _has_others(membership):
        raise Conflict(
            _("This is the team's only leader: make another member a leader first."),
            code="last_leader",
        )
    record(
        actor,
        "membership.delete",
        membership,
        region=organization.region,
        organization_id=organization.id,
        user_id=membership.user_id,
    )
    _sync_leader_grant(actor, organization, membership.user, MemberRole.MEMBER)
    db.session.delete(membership)
    db.session.flush()


def leave(actor, organization: Organization) -> None:
    """A member leaves a team on their own; its only leader hands over first."""
    membership = db.session.scalar(
        db.select(Membership).filter_by(organization_id=organization.id, user_id=actor.id)
    )
    if membership is None:
        raise Conflict(_("You are not a member of this team."), code="not_member")
    _lock(organization)
    if _is_last_leader(membership) and _has_others(membership):
        raise Conflict(
            _("You are this team's only leader. Make another member a leader before you leave."),
            code="last_leader",
        )
    record(
        actor,
        "membership.leave",
        membership,
        region=organization.region,
        organization_id=organization.id,
        user_id=actor.id,
    )
    _sync_leader_grant(actor, organization, actor, MemberRole.MEMBER)
    db.session.delete(membership)
    db.session.flush()


def _member_role(role) -> MemberRole:
    try:
        return MemberRole(role)
    except ValueError:
        raise ValidationFailed(_("Unknown member role."), field="role") from None


def _lock(organization: Organization) -> None:
    """Serialise changes to a team's leaders, so two leaders cannot demote each other at once."""
    db.session.execute(
        db.select(Organization.id).where(Organization.id == organization.id).with_for_update()
    )


def _is_last_leader(membership: Membership) -> bool:
    if membership.role != MemberRole.LEADER:
        return False
    return not db.session.scalar(
        db.select(Membership.id).where(
            Membership.organization_id == membership.organization_id,
            Membership.role == MemberRole.LEADER,
            Membership.id != membership.id,
        )
    )


def _has_others(membership: Membership) -> bool:
    return bool(
        db.session.scalar(
            db.select(Membership.id).where(
                Membership.organization_id == membership.organization_id,
                Membership.id != membership.id,
            )
        )
    )


def _sync_leader_grant(actor, organization: Organization, user, role) -> None:
    """A leader holds the team_leader grant on the team, and nobody else there does."""
    grant = next(
        (g for g in user.grants if g.role == Role.TEAM_LEADER and g.scope_id == organization.id),
        None,
    )
    if role == MemberRole.LEADER and grant is None:
        grant_role(actor, user, Role.TEAM_LEADER, organization.id)
    elif role != MemberRole.LEADER and grant is not None:
        revoke_grant(actor, grant)


def members(organization: Organization):
    from timebank.auth.models import User

    return (
        db.select(Membership)
        .join(Membership.user)
        .where(Membership.organization_id == organization.id)
        .order_by(case((Membership.role == MemberRole.LEADER, 0), else_=1), User.name)
    )

"""Registering organizations (teams) and keeping their details."""

from flask_babel import gettext as _

from timebank.audit.services import record
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
    try:
        role = MemberRole(role)
    except ValueError:
        raise ValidationFailed(_("Unknown member role."), field="role") from None
    membership = db.session.scalar(
        db.select(Membership).filter_by(organization_id=organization.id, user_id=user.id)
    )
    if membership is None:
        membership = insert_unique(
            db.session,
            Membership(organization_id=organization.id, user_id=user.id, role=role),
            Conflict(_("This person is already a member."), field="login"),
        )
        action = "membership.create"
    elif membership.role != role:
        membership.role = role
        action = "membership.update"
    else:
        return membership
    record(
        actor,
        action,
        membership,
        region=organization.region,
        organization_id=organization.id,
        user_id=user.id,
        role=str(role),
    )
    return membership


def remove_member(actor, membership: Membership) -> None:
    organization = membership.organization
    ensure(can_lead_organization(actor, organization))
    record(
        actor,
        "membership.delete",
        membership,
        region=organization.region,
        organization_id=organization.id,
        user_id=membership.user_id,
    )
    db.session.delete(membership)
    db.session.flush()


def members(organization: Organization):
    from timebank.auth.models import User

    return (
        db.select(Membership)
        .join(Membership.user)
        .where(Membership.organization_id == organization.id)
        .order_by(Membership.role.desc(), User.name)
    )

"""Reads for the team pages and API: browsing teams, member lists as each viewer may see them,
a team's totals, and a person's own teams, requests and applications.

Member rows and totals read volunteer profiles and the ledger, which come after
organizations in the domain order; they are imported inside the functions that need them
and nothing here writes.
"""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, func, or_
from sqlalchemy.orm import joinedload

from timebank.auth.models import User
from timebank.core.security import can_lead_organization, in_admin_scope
from timebank.extensions import db
from timebank.organizations.models import (
    JoinRequest,
    MemberRole,
    Membership,
    Organization,
    RequestState,
    TeamApplication,
)
from timebank.regions.models import Region


def browse(name: str = "", region: Region | None = None):
    """Active teams and organizations, by region then name."""
    query = (
        db.select(Organization)
        .join(Organization.region)
        .where(Organization.active.is_(True))
        .options(joinedload(Organization.region))
        .order_by(Region.path, Organization.name)
    )
    name = (name or "").strip()
    if name:
        query = query.where(Organization.name.contains(name, autoescape=True))
    if region is not None:
        query = query.where(Region.path.startswith(region.path, autoescape=True))
    return query


def member_counts(organizations) -> dict[int, int]:
    """Members per organization, for one page of organizations in one query."""
    ids = [o.id for o in organizations]
    if not ids:
        return {}
    return dict(
        db.session.execute(
            db.select(Membership.organization_id, func.count(Membership.id))
            .where(Membership.organization_id.in_(ids))
            .group_by(Membership.organization_id)
        ).all()
    )


@dataclass(frozen=True)
class MemberRow:
    membership_id: int
    user_id: int | None
    name: str
    phone: str | None
    role: str
    role_label: str
    star_level: int
    verified: bool
    joined_at: datetime


def leaders_first():
    return case((Membership.role == MemberRole.LEADER, 0), else_=1)


def members(organization: Organization):
    """Leaders first, then by name."""
    return (
        db.select(Membership)
        .join(Membership.user)
        .where(Membership.organization_id == organization.id)
        .options(joinedload(Membership.user))
        .order_by(leaders_first(), User.name, Membership.id)
    )


def member_rows(memberships, full: bool) -> list[MemberRow]:
    """What a viewer sees of members: leaders and administrators (full) see names and masked
    phones; everyone else sees masked names and star levels only."""
    from timebank.volunteers.identity import mask_name, mask_phone
    from timebank.volunteers.models import Volunteer, VolunteerStatus

    memberships = list(memberships)
    profiles = {
        v.user_id: v
        for v in db.session.scalars(
            db.select(Volunteer).where(Volunteer.user_id.in_([m.user_id for m in memberships]))
        )
    }
    rows = []
    for membership in memberships:
        profile = profiles.get(membership.user_id)
        user = membership.user
        rows.append(
            MemberRow(
                membership_id=membership.id,
                user_id=membership.user_id if full else None,
                name=user.name if full else mask_name(user.name),
                phone=mask_phone(user.phone) if full else None,
                role=membership.role,
                role_label=str(membership.role_enum.label),
                star_level=profile.star_level if profile else 0,
                verified=bool(profile and profile.status == VolunteerStatus.VERIFIED),
                joined_at=membership.joined_at,
            )
        )
    return rows


def sees_members_in_full(actor, organization: Organization) -> bool:
    return can_lead_organization(actor, organization)


@dataclass(frozen=True)
class TeamTotals:
    members: int
    verified_members: int
    lifetime_service_minutes: int


def totals(organization: Organization) -> TeamTotals:
    """Head counts in one query, and current members' lifetime service in one more."""
    from timebank.ledger.services import total_lifetime_service_minutes
    from timebank.volunteers.models import Volunteer, VolunteerStatus

    member_count, verified = db.session.execute(
        db.select(
            func.count(Membership.id),
            func.coalesce(
                func.sum(case((Volunteer.status == VolunteerStatus.VERIFIED, 1), else_=0)), 0
            ),
        )
        .outerjoin(Volunteer, Volunteer.user_id == Membership.user_id)
        .where(Membership.organization_id == organization.id)
    ).one()
    minutes = total_lifetime_service_minutes(
        db.select(Membership.user_id).where(Membership.organization_id == organization.id)
    )
    return TeamTotals(int(member_count), int(verified), int(minutes))


def membership_of(user, organization: Organization) -> Membership | None:
    return db.session.scalar(
        db.select(Membership).filter_by(organization_id=organization.id, user_id=user.id)
    )


def join_requests(organization: Organization, state: str | None = RequestState.PENDING):
    query = (
        db.select(JoinRequest)
        .where(JoinRequest.organization_id == organization.id)
        .options(joinedload(JoinRequest.user))
        .order_by(JoinRequest.created_at, JoinRequest.id)
    )
    if state:
        query = query.where(JoinRequest.state == state)
    return query


def join_request_of(user, organization: Organization) -> JoinRequest | None:
    return db.session.scalar(
        db.select(JoinRequest).filter_by(organization_id=organization.id, user_id=user.id)
    )


def applications_visible_to(actor, state: str | None = None, mine: bool = False):
    """Applications the actor made, and (unless mine) those in regions they administer."""
    query = (
        db.select(TeamApplication)
        .join(TeamApplication.region)
        .options(joinedload(TeamApplication.region), joinedload(TeamApplication.applicant))
        .order_by(TeamApplication.created_at.desc(), TeamApplication.id.desc())
    )
    own = TeamApplication.applicant_id == actor.id
    query = query.where(own if mine else or_(own, in_admin_scope(actor, Region.path)))
    if state:
        query = query.where(TeamApplication.state == state)
    return query


def pending_applications_in_scope(actor):
    return (
        db.select(TeamApplication)
        .join(TeamApplication.region)
        .where(TeamApplication.state == RequestState.PENDING, in_admin_scope(actor, Region.path))
        .options(joinedload(TeamApplication.region), joinedload(TeamApplication.applicant))
        .order_by(Region.path, TeamApplication.created_at, TeamApplication.id)
    )


def count_pending_applications(actor) -> int:
    return db.session.scalar(
        db.select(func.count(TeamApplication.id))
        .join(TeamApplication.region)
        .where(TeamApplication.state == RequestState.PENDING, in_admin_scope(actor, Region.path))
    )


def my_memberships(user) -> list[Membership]:
    return db.session.scalars(
        db.select(Membership)
        .join(Membership.organization)
        .where(Membership.user_id == user.id)
        .options(joinedload(Membership.organization).joinedload(Organization.region))
        .order_by(Organization.name)
    ).all()


def my_join_requests(user) -> list[JoinRequest]:
    """Pending and refused requests: what the person still waits for or should read."""
    return db.session.scalars(
        db.select(JoinRequest)
        .where(
            JoinRequest.user_id == user.id,
            JoinRequest.state.in_([RequestState.PENDING, RequestState.REJECTED]),
        )
        .options(joinedload(JoinRequest.organization))
        .order_by(JoinRequest.created_at.desc(), JoinRequest.id.desc())
    ).all()

"""Asking to found a team (decided by the region's administrators) or to join one (its leaders)."""

from flask_babel import gettext as _

from timebank.audit.services import record
from timebank.core.db import insert_unique, utcnow
from timebank.core.errors import Conflict, PermissionDenied, ValidationFailed
from timebank.core.security import can_admin_region, can_lead_organization, ensure
from timebank.extensions import db
from timebank.organizations.models import (
    JoinRequest,
    MemberRole,
    Membership,
    Organization,
    OrganizationKind,
    RequestState,
    TeamApplication,
)
from timebank.organizations.services import add_member, create_organization
from timebank.regions.models import Region, RegionLevel

MAX_MESSAGE_LENGTH = 500
TEAM_LEVELS = (RegionLevel.STREET, RegionLevel.COMMUNITY)


class VolunteerProfileRequired(PermissionDenied):
    code = "volunteer_profile_required"


def _text(value: str, field: str, *, required: bool = False, limit: int = MAX_MESSAGE_LENGTH):
    value = (value or "").strip()
    if required and not value:
        raise ValidationFailed(_("Give the reason."), field=field)
    if len(value) > limit:
        raise ValidationFailed(_("This text is too long."), field=field)
    return value


def _locked(obj):
    """Re-read a request row under a row lock, so that two deciders cannot both decide it."""
    return db.session.scalars(
        db.select(type(obj))
        .where(type(obj).id == obj.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()


def _still_pending(request_row) -> None:
    if request_row.state != RequestState.PENDING:
        raise Conflict(
            _("This request was already answered: %(state)s.", state=request_row.state_enum.label),
            code="already_decided",
        )


def _decide(actor, request_row, state: RequestState, reason: str = "") -> None:
    request_row.state = state
    request_row.reason = reason
    request_row.decided_by_id = actor.id
    request_row.decided_at = utcnow()


# -- founding a team -----------------------------------------------------------------------


def can_view_application(actor, application: TeamApplication) -> bool:
    return actor.id == application.applicant_id or can_admin_region(actor, application.region)


def apply_for_team(actor, *, region: Region | None, name: str, description: str = ""):
    """A person asks to found a team in a street or community and to lead it."""
    if region is None or region.level not in TEAM_LEVELS:
        raise ValidationFailed(_("Choose a street or community."), field="region_id")
    name = (name or "").strip()
    if not name:
        raise ValidationFailed(_("Enter a name."), field="name")
    if len(name) > 100:
        raise ValidationFailed(_("The name is too long."), field="name")
    description = _text(description, "description", limit=5000)
    if db.session.scalar(db.select(Organization.id).filter_by(region_id=region.id, name=name)):
        raise Conflict(
            _("A team with this name already exists in %(region)s.", region=region.name),
            field="name",
            code="name_taken",
        )
    if db.session.scalar(
        db.select(TeamApplication.id).filter_by(
            region_id=region.id, name=name, state=RequestState.PENDING
        )
    ):
        raise Conflict(
            _(
                "Someone has already applied to found a team with this name in %(region)s.",
                region=region.name,
            ),
            field="name",
            code="name_taken",
        )
    application = TeamApplication(
        applicant_id=actor.id, region_id=region.id, name=name, description=description
    )
    db.session.add(application)
    db.session.flush()
    record(actor, "team_application.create", application, region=region, name=name)
    return application


def approve_application(actor, application: TeamApplication) -> Organization:
    """Found the team, with the applicant as its leader."""
    ensure(can_admin_region(actor, application.region))
    if actor.id == application.applicant_id:
        raise PermissionDenied(_("Someone else must decide on your own application."))
    application = _locked(application)
    _still_pending(application)
    organization = create_organization(
        actor,
        region=application.region,
        name=application.name,
        kind=OrganizationKind.TEAM,
        description=application.description,
    )
    add_member(actor, organization, application.applicant, MemberRole.LEADER)
    _decide(actor, application, RequestState.APPROVED)
    application.organization_id = organization.id
    record(
        actor,
        "team_application.approve",
        application,
        region=application.region,
        organization_id=organization.id,
    )
    return organization


def reject_application(actor, application: TeamApplication, reason: str) -> TeamApplication:
    ensure(can_admin_region(actor, application.region))
    if actor.id == application.applicant_id:
        raise PermissionDenied(_("Someone else must decide on your own application."))
    reason = _text(reason, "reason", required=True)
    application = _locked(application)
    _still_pending(application)
    _decide(actor, application, RequestState.REJECTED, reason)
    record(actor, "team_application.reject", application, region=application.region, reason=reason)
    return application


def withdraw_application(actor, application: TeamApplication) -> TeamApplication:
    ensure(actor.id == application.applicant_id)
    application = _locked(application)
    _still_pending(application)
    _decide(actor, application, RequestState.WITHDRAWN)
    record(actor, "team_application.withdraw", application, region=application.region)
    return application


# -- joining a team ------------------------------------------------------------------------


def can_view_join_request(actor, join_request: JoinRequest) -> bool:
    return actor.id == join_request.user_id or can_lead_organization(
        actor, join_request.organization
    )


def is_member(user, organization: Organization) -> bool:
    return bool(
        db.session.scalar(
            db.select(Membership.id).filter_by(organization_id=organization.id, user_id=user.id)
        )
    )


def check_can_join(actor) -> None:
    """Teams take registered volunteers: their hours and real names are on record."""
    # Volunteers come after organizations in the domain order; only this check reads them.
    from timebank.volunteers.models import VolunteerStatus
    from timebank.volunteers.services import profile_of

    profile = profile_of(actor)
    if profile is None:
        raise VolunteerProfileRequired(_("Register as a volunteer before joining a team."))
    if profile.status == VolunteerStatus.SUSPENDED:
        raise PermissionDenied(
            _("Your volunteer profile is suspended, so you cannot join a team now."),
            code="volunteer_suspended",
        )


def request_to_join(actor, organization: Organization, message: str = "") -> JoinRequest:
    """Ask a team's leaders to be let in; asking again after an answer reuses the one row."""
    if not organization.active:
        raise Conflict(_("This team is not taking new members."), code="team_inactive")
    check_can_join(actor)
    message = _text(message, "message")
    if is_member(actor, organization):
        raise Conflict(_("You are already a member of this team."), code="already_member")
    already = Conflict(
        _("You have already asked to join this team; its leaders will answer."),
        code="already_requested",
    )
    join_request = db.session.scalar(
        db.select(JoinRequest)
        .filter_by(organization_id=organization.id, user_id=actor.id)
        .with_for_update()
    )
    if join_request is None:
        join_request = insert_unique(
            db.session,
            JoinRequest(organization_id=organization.id, user_id=actor.id, message=message),
            already,
        )
    elif join_request.state == RequestState.PENDING:
        raise already
    else:
        join_request.state = RequestState.PENDING
        join_request.message = message
        join_request.reason = ""
        join_request.decided_by_id = None
        join_request.decided_at = None
        join_request.created_at = utcnow()
    record(
        actor,
        "join_request.create",
        join_request,
        region=organization.region,
        organization_id=organization.id,
    )
    return join_request


def _check_decider(actor, join_request: JoinRequest) -> None:
    ensure(can_lead_organization(actor, join_request.organization))
    if actor.id == join_request.user_id:
        raise PermissionDenied(_("Someone else must decide on your own request."))


def approve_join_request(actor, join_request: JoinRequest) -> JoinRequest:
    _check_decider(actor, join_request)
    join_request = _locked(join_request)
    _still_pending(join_request)
    organization = join_request.organization
    # A leader may have added the person directly meanwhile: approving changes nothing then.
    if not is_member(join_request.user, organization):
        add_member(actor, organization, join_request.user, MemberRole.MEMBER)
    _decide(actor, join_request, RequestState.APPROVED)
    record(
        actor,
        "join_request.approve",
        join_request,
        region=organization.region,
        organization_id=organization.id,
        user_id=join_request.user_id,
    )
    return join_request


def reject_join_request(actor, join_request: JoinRequest, reason: str) -> JoinRequest:
    _check_decider(actor, join_request)
    reason = _text(reason, "reason", required=True)
    join_request = _locked(join_request)
    _still_pending(join_request)
    _decide(actor, join_request, RequestState.REJECTED, reason)
    record(
        actor,
        "join_request.reject",
        join_request,
        region=join_request.organization.region,
        organization_id=join_request.organization_id,
        user_id=join_request.user_id,
        reason=reason,
    )
    return join_request


def withdraw_join_request(actor, join_request: JoinRequest) -> JoinRequest:
    ensure(actor.id == join_request.user_id)
    join_request = _locked(join_request)
    _still_pending(join_request)
    _decide(actor, join_request, RequestState.WITHDRAWN)
    record(
        actor,
        "join_request.withdraw",
        join_request,
        region=join_request.organization.region,
        organization_id=join_request.organization_id,
    )
    return join_request

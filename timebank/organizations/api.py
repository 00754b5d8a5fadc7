"""API: teams and social organizations, their members, join requests and team applications.

A join request is visible to the person who asked and to the team's leaders; a team
application to its applicant and to administrators over its region. Anyone else gets
404, exactly as for one that does not exist. Visible but not theirs to decide: 403.
"""

from flask.views import MethodView
from flask_babel import gettext as _
from flask_login import current_user

from timebank.core.api import Blueprint, PageArgsSchema, paginate
from timebank.core.errors import NotFound
from timebank.core.security import can_lead_organization, ensure, requires
from timebank.extensions import db
from timebank.organizations import applications, queries, services
from timebank.organizations.models import JoinRequest, Membership, Organization, TeamApplication
from timebank.organizations.schemas import (
    JoinRequestCreateSchema,
    JoinRequestPageSchema,
    JoinRequestQuerySchema,
    JoinRequestSchema,
    MemberPageSchema,
    MemberRoleSchema,
    MemberSchema,
    OrganizationPageSchema,
    OrganizationQuerySchema,
    OrganizationSchema,
    OrganizationUpdateSchema,
    RefusalSchema,
    TeamApplicationPageSchema,
    TeamApplicationQuerySchema,
    TeamApplicationSchema,
    TeamTotalsSchema,
)
from timebank.regions.api import get_region
from timebank.regions.models import Region

blp = Blueprint("Organizations", __name__, url_prefix="/organizations", description="Organizations")


def get_organization(organization_id: int) -> Organization:
    organization = db.session.get(Organization, organization_id)
    if organization is None:
        raise NotFound(_("That organization does not exist."), field="organization_id")
    return organization


@blp.route("")
class Organizations(MethodView):
    @requires()
    @blp.arguments(OrganizationQuerySchema, location="query")
    @blp.response(200, OrganizationPageSchema)
    def get(self, args):
        """Organizations, optionally inside one region or of one kind"""
        query = (
            db.select(Organization)
            .join(Organization.region)
            .order_by(Region.path, Organization.name)
        )
        if "region_id" in args:
            region = get_region(args["region_id"], field="region_id")
            query = query.where(Region.path.startswith(region.path, autoescape=True))
        if "kind" in args:
            query = query.where(Organization.kind == args["kind"])
        return paginate(query, args["page"], args["per_page"])

    @requires()
    @blp.arguments(OrganizationSchema)
    @blp.response(201, OrganizationSchema)
    def post(self, args):
        """Register an organization in a region the caller administers"""
        organization = services.create_organization(
            current_user,
            region=get_region(args["region_id"], field="region_id"),
            name=args["name"],
            kind=args["kind"],
            description=args["description"],
        )
        db.session.commit()
        return organization


@blp.route("/<int:organization_id>")
class OrganizationById(MethodView):
    @requires()
    @blp.response(200, OrganizationSchema)
    def get(self, organization_id):
        """One organization"""
        return get_organization(organization_id)

    @requires()
    @blp.arguments(OrganizationUpdateSchema)
    @blp.response(200, OrganizationSchema)
    def patch(self, args, organization_id):
        """Change an organization the caller leads or administers"""
        organization = get_organization(organization_id)
        services.update_organization(current_user, organization, **args)
        db.session.commit()
        return organization


@blp.route("/<int:organization_id>/members")
class OrganizationMembers(MethodView):
    @requires()
    @blp.arguments(PageArgsSchema, location="query")
    @blp.response(200, MemberPageSchema)
    def get(self, args, organization_id):
        """Members, leaders first; names masked unless the caller leads or administers the team"""
        organization = get_organization(organization_id)
        result = paginate(queries.members(organization), args["page"], args["per_page"])
        full = can_lead_organization(current_user, organization)
        result["items"] = queries.member_rows(result["items"], full=full)
        return result


@blp.route("/<int:organization_id>/members/<int:membership_id>")
class OrganizationMember(MethodView):
    @requires()
    @blp.arguments(MemberRoleSchema)
    @blp.response(200, MemberSchema)
    def patch(self, args, organization_id, membership_id):
        """Change a member's role; a leader also holds the team_leader role on the team"""
        membership = db.session.get(Membership, membership_id)
        if membership is None or membership.organization_id != organization_id:
            raise NotFound(_("That member does not exist."), field="membership_id")
        services.change_role(current_user, membership, args["role"])
        db.session.commit()
        return queries.member_rows([membership], full=True)[0]


@blp.route("/<int:organization_id>/totals")
class OrganizationTotals(MethodView):
    @requires()
    @blp.response(200, TeamTotalsSchema)
    def get(self, organization_id):
        """Member count, verified members and current members' lifetime service"""
        return queries.totals(get_organization(organization_id))


@blp.route("/<int:organization_id>/leave")
class OrganizationLeave(MethodView):
    @requires()
    @blp.response(204)
    def post(self, organization_id):
        """Leave a team; its only leader makes another member a leader first"""
        services.leave(current_user, get_organization(organization_id))
        db.session.commit()


@blp.route("/<int:organization_id>/join-requests")
class OrganizationJoinRequests(MethodView):
    @requires()
    @blp.arguments(JoinRequestQuerySchema, location="query")
    @blp.response(200, JoinRequestPageSchema)
    def get(self, args, organization_id):
        """Requests to join the team, pending unless asked otherwise; for its leaders"""
        organization = get_organization(organization_id)
        ensure(can_lead_organization(current_user, organization))
        return paginate(
            queries.join_requests(organization, args["state"]), args["page"], args["per_page"]
        )

    @requires()
    @blp.arguments(JoinRequestCreateSchema)
    @blp.response(201, JoinRequestSchema)
    def post(self, args, organization_id):
        """Ask to join a team (registered volunteers); asking again reuses the request"""
        join_request = applications.request_to_join(
            current_user, get_organization(organization_id), args["message"]
        )
        db.session.commit()
        return join_request


# -- join requests ---------------------------------------------------------------------------

join_requests_blp = Blueprint(
    "Join requests", __name__, url_prefix="/join-requests", description="Requests to join a team"
)


def get_join_request(join_request_id: int) -> JoinRequest:
    join_request = db.session.get(JoinRequest, join_request_id)
    if join_request is None or not applications.can_view_join_request(current_user, join_request):
        raise NotFound(_("That request does not exist."), field="join_request_id")
    return join_request


@join_requests_blp.route("/<int:join_request_id>")
class JoinRequestById(MethodView):
    @requires()
    @join_requests_blp.response(200, JoinRequestSchema)
    def get(self, join_request_id):
        """One request, for the person who asked or the team's leaders"""
        return get_join_request(join_request_id)


@join_requests_blp.route("/<int:join_request_id>/approve")
class JoinRequestApprove(MethodView):
    @requires()
    @join_requests_blp.response(200, JoinRequestSchema)
    def post(self, join_request_id):
        """Let the person in (team leaders)"""
        join_request = applications.approve_join_request(
            current_user, get_join_request(join_request_id)
        )
        db.session.commit()
        return join_request


@join_requests_blp.route("/<int:join_request_id>/reject")
class JoinRequestReject(MethodView):
    @requires()
    @join_requests_blp.arguments(RefusalSchema)
    @join_requests_blp.response(200, JoinRequestSchema)
    def post(self, args, join_request_id):
        """Refuse, with a reason the person reads (team leaders)"""
        join_request = applications.reject_join_request(
            current_user, get_join_request(join_request_id), args["reason"]
        )
        db.session.commit()
        return join_request


@join_requests_blp.route("/<int:join_request_id>/withdraw")
class JoinRequestWithdraw(MethodView):
    @requires()
    @join_requests_blp.response(200, JoinRequestSchema)
    def post(self, join_request_id):
        """Withdraw one's own pending request"""
        join_request = applications.withdraw_join_request(
            current_user, get_join_request(join_request_id)
        )
        db.session.commit()
        return join_request


# -- team applications -------------------------------------------------------------------------

applications_blp = Blueprint(
    "Team applications",
    __name__,
    url_prefix="/team-applications",
    description="Applications to found a team, decided by the region's administrators",
)


def get_application(application_id: int) -> TeamApplication:
    application = db.session.get(TeamApplication, application_id)
    if application is None or not applications.can_view_application(current_user, application):
        raise NotFound(_("That application does not exist."), field="application_id")
    return application


@applications_blp.route("")
class TeamApplications(MethodView):
    @requires()
    @applications_blp.arguments(TeamApplicationQuerySchema, location="query")
    @applications_blp.response(200, TeamApplicationPageSchema)
    def get(self, args):
        """The caller's applications and those in regions they administer, newest first"""
        query = queries.applications_visible_to(
            current_user, state=args.get("state"), mine=args["mine"]
        )
        return paginate(query, args["page"], args["per_page"])

    @requires()
    @applications_blp.arguments(TeamApplicationSchema)
    @applications_blp.response(201, TeamApplicationSchema)
    def post(self, args):
        """Apply to found and lead a team in a street or community"""
        application = applications.apply_for_team(
            current_user,
            region=get_region(args["region_id"], field="region_id"),
            name=args["name"],
            description=args["description"],
        )
        db.session.commit()
        return application


@applications_blp.route("/<int:application_id>")
class TeamApplicationById(MethodView):
    @requires()
    @applications_blp.response(200, TeamApplicationSchema)
    def get(self, application_id):
        """One application, for its applicant or the region's administrators"""
        return get_application(application_id)


@applications_blp.route("/<int:application_id>/approve")
class TeamApplicationApprove(MethodView):
    @requires()
    @applications_blp.response(200, TeamApplicationSchema)
    def post(self, application_id):
        """Found the team with the applicant as its leader (administrators)"""
        application = get_application(application_id)
        applications.approve_application(current_user, application)
        db.session.commit()
        return application


@applications_blp.route("/<int:application_id>/reject")
class TeamApplicationReject(MethodView):
    @requires()
    @applications_blp.arguments(RefusalSchema)
    @applications_blp.response(200, TeamApplicationSchema)
    def post(self, args, application_id):
        """Refuse, with a reason the applicant reads (administrators)"""
        application = applications.reject_application(
            current_user, get_application(application_id), args["reason"]
        )
        db.session.commit()
        return application


@applications_blp.route("/<int:application_id>/withdraw")
class TeamApplicationWithdraw(MethodView):
    @requires()
    @applications_blp.response(200, TeamApplicationSchema)
    def post(self, application_id):
        """Withdraw one's own pending application"""
        application = applications.withdraw_application(
            current_user, get_application(application_id)
        )
        db.session.commit()
        return application

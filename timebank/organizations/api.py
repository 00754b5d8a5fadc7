"""API: teams and social organizations."""

from flask.views import MethodView
from flask_babel import gettext as _
from flask_login import current_user

from timebank.core.api import Blueprint, paginate
from timebank.core.errors import NotFound
from timebank.core.security import requires
from timebank.extensions import db
from timebank.organizations import services
from timebank.organizations.models import Organization
from timebank.organizations.schemas import (
    OrganizationPageSchema,
    OrganizationQuerySchema,
    OrganizationSchema,
    OrganizationUpdateSchema,
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

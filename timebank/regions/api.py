"""API: the region tree. Anyone signed in may read it; administrators add within their subtree."""

from flask.views import MethodView
from flask_babel import gettext as _
from flask_login import current_user

from timebank.core.api import Blueprint, paginate
from timebank.core.errors import NotFound
from timebank.core.security import requires
from timebank.extensions import db
from timebank.regions import services
from timebank.regions.models import Region
from timebank.regions.schemas import (
    RegionPageSchema,
    RegionQuerySchema,
    RegionSchema,
    RegionUpdateSchema,
)

blp = Blueprint("Regions", __name__, url_prefix="/regions", description="Regions")


def get_region(region_id: int | None, field: str = "parent_id") -> Region:
    region = db.session.get(Region, region_id) if region_id is not None else None
    if region is None:
        raise NotFound(_("That region does not exist."), field=field)
    return region


@blp.route("")
class Regions(MethodView):
    @requires()
    @blp.arguments(RegionQuerySchema, location="query")
    @blp.response(200, RegionPageSchema)
    def get(self, args):
        """The region tree, in tree order; filter by parent or level"""
        query = db.select(Region).order_by(Region.path)
        if "parent_id" in args:
            query = query.where(Region.parent_id == args["parent_id"])
        if "level" in args:
            query = query.where(Region.level == args["level"])
        return paginate(query, args["page"], args["per_page"])

    @requires()
    @blp.arguments(RegionSchema)
    @blp.response(201, RegionSchema)
    def post(self, args):
        """Add a region under one the caller administers"""
        parent = get_region(args["parent_id"]) if args.get("parent_id") is not None else None
        region = services.create_region(
            current_user,
            name=args["name"],
            parent=parent,
            level=args.get("level"),
            code=args.get("code"),
        )
        db.session.commit()
        return region


@blp.route("/<int:region_id>")
class RegionById(MethodView):
    @requires()
    @blp.response(200, RegionSchema)
    def get(self, region_id):
        """One region"""
        return get_region(region_id, field="region_id")

    @requires()
    @blp.arguments(RegionUpdateSchema)
    @blp.response(200, RegionSchema)
    def patch(self, args, region_id):
        """Rename a region the caller administers"""
        region = services.rename_region(
            current_user, get_region(region_id, field="region_id"), args["name"]
        )
        db.session.commit()
        return region

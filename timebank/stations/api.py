"""API: community volunteer stations. Public details; administrators create and edit."""

from flask.views import MethodView
from flask_babel import gettext as _
from flask_login import current_user

from timebank.core.api import Blueprint, paginate
from timebank.core.errors import NotFound
from timebank.core.security import requires
from timebank.extensions import db
from timebank.regions.api import get_region
from timebank.regions.models import Region
from timebank.stations import services
from timebank.stations.models import Station
from timebank.stations.schemas import (
    StationPageSchema,
    StationQuerySchema,
    StationSchema,
    StationUpdateSchema,
)

blp = Blueprint("Stations", __name__, url_prefix="/stations", description="Stations")


def get_station(station_id: int) -> Station:
    station = db.session.get(Station, station_id)
    if station is None:
        raise NotFound(_("That station does not exist."), field="station_id")
    return station


@blp.route("")
class Stations(MethodView):
    @requires()
    @blp.arguments(StationQuerySchema, location="query")
    @blp.response(200, StationPageSchema)
    def get(self, args):
        """Stations, optionally inside one region"""
        query = db.select(Station).join(Station.region).order_by(Region.path, Station.name)
        if "region_id" in args:
            region = get_region(args["region_id"], field="region_id")
            query = query.where(Region.path.startswith(region.path, autoescape=True))
        return paginate(query, args["page"], args["per_page"])

    @requires()
    @blp.arguments(StationSchema)
    @blp.response(201, StationSchema)
    def post(self, args):
        """Open a station in a community the caller administers"""
        station = services.create_station(
            current_user,
            region=get_region(args["region_id"], field="region_id"),
            name=args["name"],
            address=args["address"],
            phone=args["phone"],
        )
        db.session.commit()
        return station


@blp.route("/<int:station_id>")
class StationById(MethodView):
    @requires()
    @blp.response(200, StationSchema)
    def get(self, station_id):
        """One station"""
        return get_station(station_id)

    @requires()
    @blp.arguments(StationUpdateSchema)
    @blp.response(200, StationSchema)
    def patch(self, args, station_id):
        """Change a station the caller administers"""
        station = get_station(station_id)
        region = get_region(args["region_id"], field="region_id") if "region_id" in args else None
        services.update_station(
            current_user,
            station,
            region=region,
            name=args.get("name"),
            address=args.get("address"),
            phone=args.get("phone"),
            active=args.get("active"),
        )
        db.session.commit()
        return station

"""API: the figures a dashboard shows, for a scope the caller may see and a period."""

import marshmallow as ma
from flask.views import MethodView
from flask_login import current_user

from timebank.core.api import Blueprint, Schema
from timebank.core.security import requires
from timebank.reports import figures
from timebank.reports.views import REPORTING_ROLES
from timebank.volunteers.services import today

blp = Blueprint(
    "Reports", __name__, url_prefix="/reports", description="Dashboard figures for an area"
)


class SummaryQuerySchema(Schema):
    scope = ma.fields.String(
        metadata={"description": "region:<id>, station:<id>, team:<id> or store:<id>"}
    )
    region_id = ma.fields.Integer(metadata={"description": "shorthand for scope=region:<id>"})
    start = ma.fields.Date(metadata={"description": "first local day; default 1 January"})
    end = ma.fields.Date(metadata={"description": "last local day; default today"})


class MonthSchema(Schema):
    month = ma.fields.String()
    people_times = ma.fields.Integer()
    minutes = ma.fields.Integer()
    new_volunteers = ma.fields.Integer()
    points_redeemed = ma.fields.Integer()


class RankedSchema(Schema):
    id = ma.fields.Integer()
    name = ma.fields.String()
    people_times = ma.fields.Integer()
    minutes = ma.fields.Integer()


class SummarySchema(Schema):
    scope = ma.fields.Dict()
    start = ma.fields.String()
    end = ma.fields.String()
    for _name in (*figures.FIGURES, "points_issued"):
        locals()[_name] = ma.fields.Integer(
            allow_none=True, metadata={"description": "null when the area cannot have it"}
        )
    del _name
    stars = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Integer(), allow_none=True)
    months = ma.fields.List(ma.fields.Nested(MonthSchema))
    top_stations = ma.fields.List(ma.fields.Nested(RankedSchema))
    top_teams = ma.fields.List(ma.fields.Nested(RankedSchema))


@blp.route("/summary")
class Summary(MethodView):
    @requires(*REPORTING_ROLES)
    @blp.arguments(SummaryQuerySchema, location="query")
    @blp.response(200, SummarySchema)
    def get(self, args):
        """Volunteers, teams, events, people-times, hours, points, donations and goods
        for an area and period, with monthly trends and rankings (minutes and fen)"""
        key = args.get("scope") or (f"region:{args['region_id']}" if "region_id" in args else None)
        actor = current_user._get_current_object()
        scope = figures.resolve_scope(actor, key)  # 404 outside the caller's areas
        start, end = figures.check_period(args.get("start"), args.get("end"), today())
        return figures.summary(scope, start, end).as_dict()

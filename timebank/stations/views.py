"""Pages: the stations in an administrator's subtree."""

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user

from timebank.auth.models import Role
from timebank.core.errors import DomainError, ValidationFailed
from timebank.core.forms import options
from timebank.core.security import can_admin_region, requires
from timebank.extensions import db
from timebank.regions.models import Region
from timebank.regions.services import communities_in_scope
from timebank.stations import services
from timebank.stations.forms import StationForm
from timebank.stations.models import Station

bp = Blueprint("stations", __name__, url_prefix="/admin/stations")


def _form(station=None) -> StationForm:
    form = StationForm(obj=station)
    form.region_id.choices = options(
        (r.id, f"{r.parent.name} · {r.name}" if r.parent else r.name)
        for r in db.session.scalars(communities_in_scope(current_user))
    )
    return form


def _community(form: StationForm) -> Region:
    value = form.region_id.data
    region = db.session.get(Region, int(value)) if value and str(value).isdigit() else None
    if region is None:
        raise ValidationFailed(_("Choose a community."), field="region_id")
    return region


@bp.route("/")
@requires(Role.ADMIN)
def index():
    page = db.paginate(services.stations_in_scope(current_user), per_page=50, error_out=False)
    return render_template("stations/index.html", page=page)


@bp.route("/new", methods=["GET", "POST"])
@requires(Role.ADMIN)
def new():
    form = _form()
    if form.validate_on_submit():
        try:
            station = services.create_station(
                current_user,
                region=_community(form),
                name=form.name.data,
                address=form.address.data,
                phone=form.phone.data,
            )
        except DomainError as exc:
            db.session.rollback()
            form.fail(exc)
        else:
            db.session.commit()
            flash(_("Station %(name)s created.", name=station.name), "success")
            return redirect(url_for("stations.index"))
    return render_template("stations/form.html", form=form, station=None)


@bp.route("/<int:station_id>/edit", methods=["GET", "POST"])
@requires(Role.ADMIN)
def edit(station_id: int):
    station = db.get_or_404(Station, station_id)
    if not can_admin_region(current_user, station.region):
        abort(404)
    form = _form(station)
    if form.validate_on_submit():
        try:
            services.update_station(
                current_user,
                station,
                region=_community(form),
                name=form.name.data,
                address=form.address.data,
                phone=form.phone.data,
                active=form.active.data,
            )
        except DomainError as exc:
            db.session.rollback()
            form.fail(exc)
        else:
            db.session.commit()
            flash(_("Station saved."), "success")
            return redirect(url_for("stations.index"))
    return render_template("stations/form.html", form=form, station=station)

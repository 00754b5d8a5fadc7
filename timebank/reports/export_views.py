"""Downloads (CSV, XLSX) of the lists behind the reports, with their pages' filters and scope."""

from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import to_user_timezone
from flask_login import current_user

from timebank.auth.models import Role
from timebank.core.db import utcnow
from timebank.core.exports import export_response
from timebank.core.security import can_staff_station, requires
from timebank.events import services as events
from timebank.events.models import Event, RecordState
from timebank.extensions import db
from timebank.ledger.forms import PeriodForm
from timebank.organizations.models import Organization
from timebank.regions.models import Region
from timebank.reports import lists
from timebank.stations.models import Station
from timebank.stores import services as stores
from timebank.stores.models import RedemptionState, Store
from timebank.volunteers import identity
from timebank.volunteers import services as volunteers
from timebank.volunteers.models import VolunteerStatus

bp = Blueprint("exports", __name__, url_prefix="/exports")

FORMAT = "<any(csv, xlsx):fmt>"
STAFF_ROLES = (Role.STATION_STAFF, Role.ADMIN)


def _actor():
    return current_user._get_current_object()


def _int(name: str) -> int | None:
    value = request.args.get(name, "")
    return int(value) if value.isdigit() else None


def _choice(name: str, allowed) -> str | None:
    """A filter with known values: blank means any, anything else is a bad link."""
    value = request.args.get(name) or None
    if value is not None and value not in {str(item) for item in allowed}:
        abort(400)
    return value


def _period(back: str):
    """(start, end) from the query string, or a redirect to the page saying what is wrong."""
    period = PeriodForm(request.args)
    if not period.validate():
        flash(_("Choose a valid period first."), "error")
        return None, redirect(back)
    return (period.start.data, period.end.data), None


def _send(fmt: str, name: str, title: str, listing: lists.Listing):
    stamp = to_user_timezone(utcnow()).strftime("%Y%m%d")
    return export_response(
        fmt, f"{name}-{stamp}", listing.headers, listing.rows, title, listing.widths
    )


@bp.route(f"/volunteers.{FORMAT}")
@requires(*STAFF_ROLES)
def volunteers_list(fmt: str):
    actor = _actor()
    q = request.args.get("q", "")
    if identity.looks_like_document(q):
        # As on the page: a whole ID number is never used from, or echoed into, a URL.
        args = {k: v for k, v in request.args.items() if k != "q"}
        return redirect(url_for(".volunteers_list", fmt=fmt, **args))
    region_id = _int("region_id")
    if region_id is not None:
        region = db.session.get(Region, region_id)
        if region is None or not volunteers.can_manage_region(actor, region):
            abort(404)
    organization_id = _int("organization_id")
    if organization_id is not None and db.session.get(Organization, organization_id) is None:
        abort(404)
    listing = lists.volunteers(
        actor,
        q=q,
        region_id=region_id,
        organization_id=organization_id,
        status=_choice("status", VolunteerStatus),
        star_level=_int("star_level"),
    )
    return _send(fmt, "volunteers", _("Volunteers"), listing)


@bp.route(f"/service-records.{FORMAT}")
@requires(*STAFF_ROLES)
def service_records(fmt: str):
    actor = _actor()
    period, refused = _period(url_for("events.approvals"))
    if refused:
        return refused
    station_id = _int("station_id")
    if station_id is not None:
        station = db.session.get(Station, station_id)
        if station is None or not can_staff_station(actor, station):
            abort(404)
    event_id = _int("event_id")
    if event_id is not None:
        event = db.session.get(Event, event_id)
        if event is None or not events.can_manage(actor, event):
            abort(404)
    listing = lists.service_records(
        actor,
        start=period[0],
        end=period[1],
        state=_choice("state", RecordState),
        station_id=station_id,
        event_id=event_id,
    )
    return _send(fmt, "service-records", _("Service records"), listing)


def _store(store_id: int):
    """A store the caller runs; any other answers 404, as if it did not exist."""
    store = db.session.get(Store, store_id)
    if store is None or not stores.can_run_store(_actor(), store):
        abort(404)
    return store


@bp.route(f"/stores/<int:store_id>/donations.{FORMAT}")
@requires()
def donations(store_id: int, fmt: str):
    store = _store(store_id)
    period, refused = _period(url_for("stores.donations", store_id=store.id))
    if refused:
        return refused
    listing = lists.donations(store, start=period[0], end=period[1])
    title = f"{store.name} {_('Donations')}"
    return _send(fmt, f"donations-store{store.id}", title, listing)


@bp.route(f"/stores/<int:store_id>/redemptions.{FORMAT}")
@requires()
def redemptions(store_id: int, fmt: str):
    store = _store(store_id)
    period, refused = _period(url_for("stores.redemption_list", store_id=store.id))
    if refused:
        return refused
    listing = lists.redemptions(
        store, start=period[0], end=period[1], state=_choice("state", RedemptionState)
    )
    title = f"{store.name} {_('Redemptions')}"
    return _send(fmt, f"redemptions-store{store.id}", title, listing)

"""Opening and editing community volunteer stations."""

from flask_babel import gettext as _

from timebank.audit.services import record
from timebank.core.db import insert_unique
from timebank.core.errors import Conflict, ValidationFailed
from timebank.core.security import can_admin_region, ensure, in_admin_scope
from timebank.extensions import db
from timebank.regions.models import Region, RegionLevel
from timebank.stations.models import Station


def _check_fields(region: Region, name: str, address: str, phone: str, station=None):
    name = (name or "").strip()
    if not name:
        raise ValidationFailed(_("Enter a name."), field="name")
    if len(name) > 100:
        raise ValidationFailed(_("The name is too long."), field="name")
    if region.level != RegionLevel.COMMUNITY:
        raise ValidationFailed(_("A station belongs to a community."), field="region_id")
    if len(address or "") > 200:
        raise ValidationFailed(_("The address is too long."), field="address")
    if len(phone or "") > 20:
        raise ValidationFailed(_("The phone number is too long."), field="phone")
    clash = db.select(Station.id).where(Station.region_id == region.id, Station.name == name)
    if station is not None:
        clash = clash.where(Station.id != station.id)
    if db.session.scalar(clash):
        raise Conflict(_("This community already has a station with this name."), field="name")
    return name, (address or "").strip(), (phone or "").strip()


def create_station(actor, *, region: Region, name: str, address: str = "", phone: str = ""):
    ensure(actor is None or can_admin_region(actor, region))
    name, address, phone = _check_fields(region, name, address, phone)
    station = insert_unique(
        db.session,
        Station(region_id=region.id, name=name, address=address, phone=phone),
        Conflict(_("This community already has a station with this name."), field="name"),
    )
    record(actor, "station.create", station, region=region, name=name)
    return station


def update_station(
    actor,
    station: Station,
    *,
    region: Region | None = None,
    name=None,
    address=None,
    phone=None,
    active=None,
) -> Station:
    ensure(can_admin_region(actor, station.region))
    region = region or station.region
    ensure(can_admin_region(actor, region))
    name, address, phone = _check_fields(
        region,
        station.name if name is None else name,
        station.address if address is None else address,
        station.phone if phone is None else phone,
        station=station,
    )
    changes = {}
    for attr, value in (
        ("region_id", region.id),
        ("name", name),
        ("address", address),
        ("phone", phone),
        ("active", station.active if active is None else active),
    ):
        if getattr(station, attr) != value:
            changes[attr] = value
            setattr(station, attr, value)
    if changes:
        station.region = region
        record(actor, "station.update", station, region=region, **changes)
    return station


def stations_in_scope(actor):
    return (
        db.select(Station)
        .join(Station.region)
        .where(in_admin_scope(actor, Region.path))
        .order_by(Region.path, Station.name)
    )

"""Creating and renaming regions inside an administrator's subtree."""

from flask_babel import gettext as _

from timebank.audit.services import record
from timebank.core.db import insert_unique
from timebank.core.errors import Conflict, ValidationFailed
from timebank.core.security import can_admin_region, ensure, in_admin_scope
from timebank.extensions import db
from timebank.regions.models import Region, RegionLevel


def _clean_name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise ValidationFailed(_("Enter a name."), field="name")
    if len(name) > 100:
        raise ValidationFailed(_("The name is too long."), field="name")
    return name


def create_region(
    actor, *, name: str, parent: Region | None, level: str | None = None, code: str | None = None
) -> Region:
    """Add a region under parent (or a top-level one, for superadmins)."""
    if parent is None:
        ensure(actor is None or actor.is_superadmin)
        try:
            level_enum = RegionLevel(level or RegionLevel.DISTRICT)
        except ValueError:
            raise ValidationFailed(_("Unknown region level."), field="level") from None
        if level_enum not in (RegionLevel.CITY, RegionLevel.DISTRICT):
            raise ValidationFailed(_("A top-level region is a city or a district."), field="level")
    else:
        ensure(actor is None or can_admin_region(actor, parent))
        level_enum = parent.level_enum.child
        if level_enum is None:
            raise ValidationFailed(
                _("A community cannot contain other regions."), field="parent_id"
            )
        if level and level != level_enum:
            raise ValidationFailed(
                _(
                    "Regions under a %(parent)s are of level %(child)s.",
                    parent=parent.level_enum.label,
                    child=level_enum.label,
                ),
                field="level",
            )
    name = _clean_name(name)
    code = (code or "").strip() or None
    siblings = db.select(Region.id).where(
        Region.parent_id == (parent.id if parent else None), Region.name == name
    )
    if db.session.scalar(siblings):
        raise Conflict(_("A region with this name already exists here."), field="name")
    if code and db.session.scalar(db.select(Region.id).filter_by(code=code)):
        raise Conflict(_("This division code is already used."), field="code")
    region = insert_unique(
        db.session,
        Region(name=name, level=level_enum, parent_id=parent.id if parent else None, code=code),
        Conflict(_("A region with this name already exists here."), field="name"),
    )
    region.path = f"{parent.path if parent else '/'}{region.id}/"
    db.session.flush()
    record(actor, "region.create", region, region=region, name=name)
    return region


def rename_region(actor, region: Region, name: str) -> Region:
    ensure(can_admin_region(actor, region))
    name = _clean_name(name)
    if name != region.name:
        old = region.name
        region.name = name
        record(actor, "region.rename", region, region=region, old=old, new=name)
    return region


def regions_in_scope(actor):
    """Select of the regions the actor administers, tree order."""
    return db.select(Region).where(in_admin_scope(actor, Region.path)).order_by(Region.path)


def communities_in_scope(actor):
    return regions_in_scope(actor).where(Region.level == RegionLevel.COMMUNITY)

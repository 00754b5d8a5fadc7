"""Finding volunteers within the caller's scope: by name, phone, ID tail, team, place, stars."""

import re

from sqlalchemy import or_
from sqlalchemy.orm import contains_eager

from timebank.auth.models import User
from timebank.extensions import db
from timebank.regions.models import Region
from timebank.volunteers import identity
from timebank.volunteers.models import Volunteer
from timebank.volunteers.services import in_scope

TAIL_RE = re.compile(r"^\d{3}[\dX]$|^\d{4}$")


def search(
    actor,
    q: str = "",
    *,
    region_id: int | None = None,
    organization_id: int | None = None,
    status: str | None = None,
    star_level: int | None = None,
):
    """A select of Volunteer rows the actor may see, newest first.

    q is read by its shape: a whole document number is matched through its keyed hash,
    11 digits is a mobile number, 4 characters (digits, or three and an X) are the last
    of an ID or of a mobile number, anything else a name.
    """
    query = (
        db.select(Volunteer)
        .join(Volunteer.user)
        .join(Volunteer.region)
        .options(contains_eager(Volunteer.region))
        .where(in_scope(actor))
    )
    q = (q or "").strip().upper()
    if q:
        digits = q.replace(" ", "")
        if identity.looks_like_document(digits):
            # A whole ID typed in: found by its keyed hash, never compared in plain text.
            query = query.where(Volunteer.document_hash.in_(identity.document_hashes(digits)))
        elif digits.isdigit() and len(digits) == 11:
            query = query.where(User.phone == digits)
        elif TAIL_RE.match(digits):
            query = query.where(or_(Volunteer.document_tail == digits, User.phone.endswith(digits)))
        else:
            query = query.where(User.name.contains(q, autoescape=True))
    if region_id:
        region = db.session.get(Region, region_id)
        if region is not None:
            query = query.where(Region.path.startswith(region.path, autoescape=True))
    if organization_id:
        from timebank.organizations.models import Membership

        query = query.where(
            Volunteer.user_id.in_(
                db.select(Membership.user_id).where(Membership.organization_id == organization_id)
            )
        )
    if status:
        query = query.where(Volunteer.status == status)
    if star_level is not None:
        query = query.where(Volunteer.star_level == star_level)
    return query.order_by(Volunteer.id.desc())

"""Service-record certificates (志愿服务记录证明): issued from approved hours, verified by code."""

import re
import secrets
from datetime import date

from flask_babel import gettext as _
from flask_babel import to_user_timezone
from sqlalchemy import case, exists, func, or_, true, update
from sqlalchemy.orm import aliased

from timebank.audit.services import record
from timebank.auth.models import User
from timebank.core.db import utcnow
from timebank.core.errors import Conflict, NotFound, Problems, ValidationFailed
from timebank.core.security import ensure
from timebank.events.models import Event, RecordState, ServiceRecord
from timebank.extensions import db
from timebank.ledger.models import Transaction, TransactionKind
from timebank.organizations.models import Organization
from timebank.regions.models import Region
from timebank.reports.models import Certificate
from timebank.stations.models import Station
from timebank.volunteers import services as volunteers
from timebank.volunteers.identity import mask_name
from timebank.volunteers.models import Volunteer

MAX_PERIOD_YEARS = 10
MAX_PURPOSE_LENGTH = 100
MAX_REASON_LENGTH = 500
SERIAL_PREFIX = "ZM"
# token_urlsafe(18) is 24 characters carrying 144 random bits: never guessed, fits String(32).
CODE_BYTES = 18
# Anything else is answered "no such certificate" without a query.
CODE_SHAPE = re.compile(r"[A-Za-z0-9_-]{16,32}")


# -- masking for the public page ------------------------------------------------------------


def mask_holder_name(name: str) -> str:
    """The name as every public or masked page shows it (张伟 → 张*, 欧阳娜娜 → 欧***): the
    reader holds the paper with the whole name; the page only has to agree with it."""
    return mask_name(name)


# -- the facts ------------------------------------------------------------------------------


def _issuer():
    """The organization a service counts for: the event's team, else the station, else the
    region the record belongs to."""
    return func.coalesce(Organization.name, Station.name, Region.name)


def service_facts(user_id: int, start: date, end: date) -> tuple[list[dict], int, int]:
    """Approved, still-credited service of one person served in [start, end], by issuer.

    Answers (lines, total minutes, service count). A record whose credit was reversed no
    longer counts. A supplementary record (a dispute's correction) adds its minutes to the
    line but is not another service.
    """
    reversal = aliased(Transaction)
    reversed_credit = (
        exists()
        .where(reversal.kind == TransactionKind.REVERSAL)
        .where(reversal.reverses_id == ServiceRecord.transaction_id)
    )
    issuer = _issuer().label("issuer")
    minutes = func.sum(ServiceRecord.minutes).label("minutes")
    count = func.sum(case((ServiceRecord.corrects_id.is_(None), 1), else_=0)).label("count")
    rows = db.session.execute(
        db.select(issuer, minutes, count)
        .select_from(ServiceRecord)
        .outerjoin(Event, Event.id == ServiceRecord.event_id)
        .outerjoin(Organization, Organization.id == Event.organization_id)
        .outerjoin(Station, Station.id == func.coalesce(ServiceRecord.station_id, Event.station_id))
        .join(Region, Region.id == ServiceRecord.region_id)
        .where(
            ServiceRecord.user_id == user_id,
            ServiceRecord.state == RecordState.APPROVED,
            ServiceRecord.served_on >= start,
            ServiceRecord.served_on <= end,
            ServiceRecord.minutes > 0,
            ~reversed_credit,
        )
        .group_by(issuer)
        .order_by(minutes.desc(), issuer)
    ).all()
    lines = [
        {"organization": name, "minutes": int(total), "count": int(times)}
        for name, total, times in rows
    ]
    return lines, sum(line["minutes"] for line in lines), sum(line["count"] for line in lines)


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def check_period(start: date | None, end: date | None, today: date) -> None:
    """Refuse a period that is missing, reversed, in the future or longer than ten years,
    naming the field at fault; every mistake at once."""
    problems = Problems()
    with problems.check():
        if start is None:
            raise ValidationFailed(_("Enter the first day of the period."), field="period_start")
        if start > today:
            raise ValidationFailed(
                _("The period cannot start in the future."), field="period_start"
            )
    with problems.check():
        if end is None:
            raise ValidationFailed(_("Enter the last day of the period."), field="period_end")
        if end > today:
            raise ValidationFailed(
                _("The period cannot end after today: hours not yet served cannot be certified."),
                field="period_end",
            )
        if start is not None and end < start:
            raise ValidationFailed(_("The period ends before it starts."), field="period_end")
        if start is not None and start < _years_before(end, MAX_PERIOD_YEARS):
            raise ValidationFailed(
                _("A certificate covers at most %(years)d years.", years=MAX_PERIOD_YEARS),
                field="period_start",
            )
    problems.raise_any()


def _clean_purpose(purpose: str | None) -> str:
    purpose = (purpose or "").strip()
    if len(purpose) > MAX_PURPOSE_LENGTH:
        raise ValidationFailed(
            _("Use at most %(max)d characters.", max=MAX_PURPOSE_LENGTH), field="purpose"
        )
    return purpose


# -- who sees what --------------------------------------------------------------------------


def can_manage(actor, certificate: Certificate) -> bool:
    """Staff and administrators over the community the holder lived in when it was issued."""
    return volunteers.can_manage_region(actor, certificate.region)


def can_see(actor, certificate: Certificate) -> bool:
    return getattr(actor, "id", None) == certificate.user_id or can_manage(actor, certificate)


def get_certificate(actor, certificate_id: int) -> Certificate:
    """A certificate its holder or staff over it may see; anyone else is told it is missing."""
    certificate = db.session.get(Certificate, certificate_id)
    if certificate is None or not can_see(actor, certificate):
        raise NotFound(no_such_certificate())
    return certificate


def find_by_code(code: str) -> Certificate | None:
    """The certificate a public code names; a code of the wrong shape is not looked up."""
    if not isinstance(code, str) or not CODE_SHAPE.fullmatch(code):
        return None
    return db.session.scalar(db.select(Certificate).filter_by(code=code))


def in_scope(actor):
    """SQL condition on Certificate joined to its Region: those the actor manages."""
    if getattr(actor, "is_superadmin", False):
        return true()
    return volunteers.in_scope(actor)


def _filtered(select, q: str, user_id, revoked):
    q = (q or "").strip()
    if q:
        select = select.where(
            or_(
                Certificate.holder_name.contains(q, autoescape=True),
                Certificate.serial == q.upper(),
            )
        )
    if user_id is not None:
        select = select.where(Certificate.user_id == user_id)
    if revoked is True:
        select = select.where(Certificate.revoked_at.is_not(None))
    elif revoked is False:
        select = select.where(Certificate.revoked_at.is_(None))
    return select.order_by(Certificate.issued_at.desc(), Certificate.id.desc())


def visible(actor, *, mine: bool = False, q: str = "", user_id=None, revoked=None):
    """A select of the certificates the actor may see (their own, and with mine=False those
    in their scope), newest first; q matches the holder's name or the serial."""
    own = Certificate.user_id == getattr(actor, "id", None)
    select = db.select(Certificate).join(Certificate.region)
    select = select.where(own if mine else or_(own, in_scope(actor)))
    return _filtered(select, q, user_id, revoked)


def staff_list(actor, *, q: str = "", revoked=None):
    """Certificates in the actor's scope only (the staff page), newest first."""
    select = db.select(Certificate).join(Certificate.region).where(in_scope(actor))
    return _filtered(select, q, None, revoked)


# -- issuing and revoking -------------------------------------------------------------------


def _new_code() -> str:
    # A collision of 144 random bits is not a case to handle; the unique index would refuse.
    return secrets.token_urlsafe(CODE_BYTES)


def no_such_certificate() -> str:
    return _("No such certificate.")


def volunteer_for(actor, user_id: int | None) -> Volunteer:
    """The volunteer a certificate is asked for: oneself (no user_id), or someone the actor
    may see; whether they may issue for them is checked by issue()."""
    own = user_id is None or user_id == getattr(actor, "id", None)
    user = actor if own else db.session.get(User, user_id)
    volunteer = volunteers.profile_of(user) if user is not None else None
    if own and volunteer is None:
        raise Conflict(
            _("Register as a volunteer first: certificates record volunteer service."),
            code="not_a_volunteer",
        )
    if volunteer is None or not volunteers.can_view(actor, volunteer):
        raise NotFound(_("That volunteer does not exist."), field="user_id")
    return volunteer


def issue(
    actor,
    volunteer: Volunteer,
    *,
    period_start: date | None,
    period_end: date | None,
    purpose: str = "",
    today: date | None = None,
) -> Certificate:
    """Issue a certificate at once from the facts as they stand.

    The volunteer asks for their own; staff who manage them may issue one for them.
    """
    own = getattr(actor, "id", None) == volunteer.user_id
    ensure(own or volunteers.can_manage(actor, volunteer))
    today = today or volunteers.today()
    problems = Problems()
    with problems.check():
        check_period(period_start, period_end, today)
    with problems.check():
        purpose = _clean_purpose(purpose)
    problems.raise_any()
    if not volunteer.is_verified:
        raise Conflict(
            _(
                "%(name)s's identity is not verified yet: station staff verify it in person "
                "before a certificate can be issued.",
                name=volunteer.user.name,
            ),
            code="not_verified",
        )
    lines, total, count = service_facts(volunteer.user_id, period_start, period_end)
    if total <= 0:
        raise ValidationFailed(
            _(
                "There is no approved service between %(start)s and %(end)s, so there is "
                "nothing to certify.",
                start=period_start.isoformat(),
                end=period_end.isoformat(),
            ),
            code="no_service",
            field="period_start",
        )
    now = utcnow()
    code = _new_code()
    certificate = Certificate(
        # A placeholder until the row has its id; unique because the code is.
        serial=f"pending-{code}"[:32],
        code=code,
        user_id=volunteer.user_id,
        region_id=volunteer.region_id,
        holder_name=volunteer.user.name,
        masked_document=volunteer.masked_document,
        period_start=period_start,
        period_end=period_end,
        total_minutes=total,
        service_count=count,
        lines=lines,
        purpose=purpose,
        issued_at=now,
        requested_by_id=getattr(actor, "id", None),
    )
    db.session.add(certificate)
    db.session.flush()
    # From the row id, so two certificates issued at once never share a serial.
    year = to_user_timezone(now).year
    certificate.serial = f"{SERIAL_PREFIX}{year}-{certificate.id:06d}"
    db.session.flush()
    record(
        actor,
        "certificate.issue",
        certificate,
        region=volunteer.region,
        serial=certificate.serial,
        user_id=volunteer.user_id,
        period_start=period_start.isoformat(),
        period_end=period_end.isoformat(),
        total_minutes=total,
        purpose=purpose or None,
    )
    return certificate


def revoke(actor, certificate: Certificate, reason: str) -> Certificate:
    """Revoke once, with a reason; the public page says so from then on."""
    ensure(can_manage(actor, certificate))
    already = Conflict(_("This certificate has already been revoked."), code="already_revoked")
    if certificate.revoked:
        raise already
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(_("Give the reason."), field="reason")
    if len(reason) > MAX_REASON_LENGTH:
        raise ValidationFailed(_("The reason is too long."), field="reason")
    # Compare-and-set: of two staff revoking at once, one wins and the other is told.
    moved = db.session.execute(
        update(Certificate)
        .where(Certificate.id == certificate.id, Certificate.revoked_at.is_(None))
        .values(revoked_at=utcnow(), revoked_by_id=getattr(actor, "id", None), revoke_reason=reason)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.refresh(certificate)
    if not moved:
        raise already
    record(
        actor,
        "certificate.revoke",
        certificate,
        region=certificate.region,
        serial=certificate.serial,
        reason=reason,
    )
    return certificate

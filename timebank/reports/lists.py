"""Rows of the lists behind the reports (volunteers, service records, donations, redemptions)."""

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from flask_babel import gettext as _
from sqlalchemy import and_, false, func, or_, true
from sqlalchemy.orm import aliased

from timebank.auth.models import Role, User
from timebank.core.exports import local_datetime
from timebank.core.security import in_admin_scope
from timebank.events.models import Event, RecordState, ServiceRecord
from timebank.extensions import db
from timebank.ledger.exports import period_bounds
from timebank.ledger.models import Account, AccountKind, Entry, Transaction, TransactionKind
from timebank.regions.models import Region
from timebank.stations.models import Station
from timebank.stores.models import (
    Donation,
    DonationLine,
    DonorKind,
    Goods,
    Redemption,
    RedemptionLine,
    RedemptionState,
    Store,
)
from timebank.volunteers import identity, queries
from timebank.volunteers.models import DocumentType, Gender, Volunteer, VolunteerStatus

BATCH = 1000
CENT = Decimal("0.01")
# A lines summary names this many goods, then counts the rest: a cell stays readable.
SUMMARY_GOODS = 20


@dataclass
class Listing:
    """What an export needs: translated headers, rows produced lazily, column widths."""

    headers: list[str]
    rows: Iterator[list]
    widths: tuple[int, ...] = field(default=())


def hours(minutes: int | None) -> Decimal:
    """Minutes as decimal hours to the hundredth, a number a spreadsheet can sum."""
    return (Decimal(minutes or 0) / 60).quantize(CENT)


def yuan(fen: int | None) -> Decimal:
    return (Decimal(fen or 0) / 100).quantize(CENT)


def _yes_no(flag: bool) -> str:
    return _("Yes") if flag else _("No")


def _batches(select) -> Iterator[list]:
    """The select's rows, BATCH at a time, from one statement (a server-side cursor on
    PostgreSQL): memory holds one batch, however long the list."""
    result = db.session.execute(select.execution_options(yield_per=BATCH))
    yield from result.partitions()


def _summary(parts: list[str]) -> str:
    if len(parts) > SUMMARY_GOODS:
        rest = len(parts) - SUMMARY_GOODS
        parts = parts[:SUMMARY_GOODS] + [_("and %(num)d more", num=rest)]
    return "; ".join(parts)


def _line_text(name: str, quantity: int, unit: str) -> str:
    return f"{name} ×{quantity}{unit or ''}"


# -- volunteers ---------------------------------------------------------------------------


def lifetime_minutes():
    """Lifetime approved service per person, as the star levels count it: service credits
    less their reversals, conversions and gifts not lowering it (the rule of
    ledger.services.lifetime_service_minutes_by_user, as a subquery). One grouped subquery
    joined to the list, instead of a sum per volunteer."""
    original = aliased(Transaction)
    return (
        db.select(Account.user_id, func.sum(Entry.amount).label("minutes"))
        .join(Entry, Entry.account_id == Account.id)
        .join(Transaction, Transaction.id == Entry.transaction_id)
        .outerjoin(original, original.id == Transaction.reverses_id)
        .where(
            Account.kind == AccountKind.HOURS,
            Account.user_id.is_not(None),
            or_(
                Transaction.kind == TransactionKind.SERVICE_CREDIT,
                and_(
                    Transaction.kind == TransactionKind.REVERSAL,
                    original.kind == TransactionKind.SERVICE_CREDIT,
                ),
            ),
        )
        .group_by(Account.user_id)
        .subquery("lifetime")
    )


def volunteers(
    actor,
    *,
    q: str = "",
    region_id: int | None = None,
    organization_id: int | None = None,
    status: str | None = None,
    star_level: int | None = None,
) -> Listing:
    """The staff list of volunteers with the page's filters, within the actor's scope.

    Only the masked forms of the ID number (from its stored last four characters) and of
    the phone are written: the encrypted number is never read.
    """
    lifetime = lifetime_minutes()
    select = (
        queries.search(
            actor,
            q,
            region_id=region_id,
            organization_id=organization_id,
            status=status,
            star_level=star_level,
        )
        .outerjoin(lifetime, lifetime.c.user_id == Volunteer.user_id)
        .with_only_columns(
            User.name,
            User.phone,
            Volunteer.document_type,
            Volunteer.document_tail,
            Volunteer.gender,
            Volunteer.birth_date,
            Region.name,
            Volunteer.status,
            Volunteer.star_level,
            Volunteer.verified_at,
            func.coalesce(lifetime.c.minutes, 0),
            maintain_column_froms=False,
        )
    )
    headers = [
        _("Full name"),
        _("Mobile"),
        _("Document"),
        _("Gender"),
        _("Birth year"),
        _("Community"),
        _("Status"),
        _("Star level"),
        _("Verified on"),
        _("Lifetime service hours"),
    ]

    def rows():
        for batch in _batches(select):
            for (
                name,
                phone,
                doc_type,
                tail,
                gender,
                born,
                community,
                state,
                stars,
                verified_at,
                minutes,
            ) in batch:
                verified = local_datetime(verified_at)
                yield [
                    name,
                    identity.mask_phone(phone),
                    identity.mask_tail(DocumentType(doc_type), tail),
                    str(Gender(gender).label) if gender else "",
                    born.year if born else None,
                    community,
                    str(VolunteerStatus(state).label),
                    stars,
                    verified.date() if verified else None,
                    hours(minutes),
                ]

    return Listing(headers, rows(), (14, 14, 22, 8, 10, 18, 14, 10, 12, 14))


# -- service records ----------------------------------------------------------------------


def service_record_scope(actor):
    """SQL condition on ServiceRecord (joined to its Region): records in a region the actor
    administers, or of a station they staff."""
    if actor.is_superadmin:
        return true()
    station_ids = [g.scope_id for g in actor.grants_of(Role.STATION_STAFF)]
    staffed = ServiceRecord.station_id.in_(station_ids) if station_ids else false()
    return or_(in_admin_scope(actor, Region.path), staffed)


def service_records(
    actor,
    *,
    start: date | None = None,
    end: date | None = None,
    state: str | None = None,
    station_id: int | None = None,
    event_id: int | None = None,
) -> Listing:
    """Service records by day of service (start and end included), oldest first."""
    volunteer = aliased(User)
    decider = aliased(User)
    select = (
        db.select(
            ServiceRecord.served_on,
            volunteer.name,
            Event.title,
            ServiceRecord.staff_entry_id,
            ServiceRecord.description,
            Station.name,
            Region.name,
            ServiceRecord.minutes,
            ServiceRecord.state,
            ServiceRecord.flagged,
            decider.name,
            ServiceRecord.decided_at,
        )
        .join(volunteer, volunteer.id == ServiceRecord.user_id)
        .join(Region, Region.id == ServiceRecord.region_id)
        .outerjoin(Event, Event.id == ServiceRecord.event_id)
        .outerjoin(Station, Station.id == ServiceRecord.station_id)
        .outerjoin(decider, decider.id == ServiceRecord.decided_by_id)
        .where(service_record_scope(actor))
        .order_by(ServiceRecord.served_on, ServiceRecord.id)
    )
    if start is not None:
        select = select.where(ServiceRecord.served_on >= start)
    if end is not None:
        select = select.where(ServiceRecord.served_on <= end)
    if state:
        select = select.where(ServiceRecord.state == state)
    if station_id is not None:
        select = select.where(ServiceRecord.station_id == station_id)
    if event_id is not None:
        select = select.where(ServiceRecord.event_id == event_id)
    headers = [
        _("Date"),
        _("Volunteer"),
        _("Event or entry"),
        _("Station"),
        _("Region"),
        _("Minutes"),
        _("Hours"),
        _("State"),
        _("Flagged"),
        _("Decided by"),
        _("Decided at"),
    ]

    def rows():
        for batch in _batches(select):
            for (
                served_on,
                name,
                title,
                entry_id,
                description,
                station,
                region,
                minutes,
                record_state,
                flagged,
                decided_by,
                decided_at,
            ) in batch:
                if title:
                    what = title
                elif entry_id:
                    what = _("Logged by hand: %(description)s", description=description)
                else:
                    what = description
                yield [
                    served_on,
                    name,
                    what,
                    station or "",
                    region,
                    minutes,
                    hours(minutes),
                    str(RecordState(record_state).label),
                    _yes_no(flagged),
                    decided_by or "",
                    local_datetime(decided_at),
                ]

    return Listing(headers, rows(), (12, 12, 30, 16, 14, 9, 9, 10, 8, 12, 20))


# -- stores -------------------------------------------------------------------------------


def _donation_lines(ids: list[int]) -> dict[int, str]:
    summaries: dict[int, list[str]] = {}
    for donation_id, name, quantity, unit in db.session.execute(
        db.select(DonationLine.donation_id, Goods.name, DonationLine.quantity, Goods.unit)
        .join(Goods, Goods.id == DonationLine.goods_id)
        .where(DonationLine.donation_id.in_(ids))
        .order_by(DonationLine.id)
    ):
        summaries.setdefault(donation_id, []).append(_line_text(name, quantity, unit))
    return {key: _summary(parts) for key, parts in summaries.items()}


def donations(store: Store, *, start: date | None = None, end: date | None = None) -> Listing:
    """The store's donations by day received (start and end included), oldest first."""
    select = (
        db.select(
            Donation.id,
            Donation.serial,
            Donation.donated_on,
            Donation.donor_kind,
            Donation.donor_name,
            Donation.value_fen,
        )
        .where(Donation.store_id == store.id)
        .order_by(Donation.donated_on, Donation.id)
    )
    if start is not None:
        select = select.where(Donation.donated_on >= start)
    if end is not None:
        select = select.where(Donation.donated_on <= end)
    headers = [
        _("No."),
        _("Date"),
        _("Donor type"),
        _("Donor"),
        _("Goods"),
        _("Value (yuan)"),
    ]

    def rows():
        for batch in _batches(select):
            # The lines of a whole batch in one query, not one per donation.
            lines = _donation_lines([row[0] for row in batch])
            for donation_id, serial, donated_on, kind, donor, value_fen in batch:
                anonymous = kind == DonorKind.ANONYMOUS
                yield [
                    serial,
                    donated_on,
                    str(DonorKind(kind).label),
                    _("Anonymous") if anonymous else donor,
                    lines.get(donation_id, ""),
                    yuan(value_fen),
                ]

    return Listing(headers, rows(), (22, 12, 12, 20, 50, 12))


def _redemption_lines(ids: list[int]) -> dict[int, str]:
    summaries: dict[int, list[str]] = {}
    for redemption_id, name, quantity, unit in db.session.execute(
        db.select(RedemptionLine.redemption_id, Goods.name, RedemptionLine.quantity, Goods.unit)
        .join(Goods, Goods.id == RedemptionLine.goods_id)
        .where(RedemptionLine.redemption_id.in_(ids))
        .order_by(RedemptionLine.id)
    ):
        summaries.setdefault(redemption_id, []).append(_line_text(name, quantity, unit))
    return {key: _summary(parts) for key, parts in summaries.items()}


def redemptions(
    store: Store,
    *,
    start: date | None = None,
    end: date | None = None,
    state: str | None = None,
) -> Listing:
    """The store's redemptions by local day (start and end included), oldest first.

    The resident appears as the store's pages show them, name and phone masked: a list
    that leaves the counter names no one in full.
    """
    resident = aliased(User)
    cashier = aliased(User)
    select = (
        db.select(
            Redemption.id,
            Redemption.serial,
            Redemption.created_at,
            resident.name,
            resident.phone,
            Redemption.points,
            Redemption.state,
            cashier.name,
        )
        .join(resident, resident.id == Redemption.user_id)
        .outerjoin(cashier, cashier.id == Redemption.cashier_id)
        .where(Redemption.store_id == store.id)
        .order_by(Redemption.created_at, Redemption.id)
    )
    since, until = period_bounds(start, end)
    if since is not None:
        select = select.where(Redemption.created_at >= since)
    if until is not None:
        select = select.where(Redemption.created_at < until)
    if state:
        select = select.where(Redemption.state == state)
    headers = [
        _("No."),
        _("Time"),
        _("Resident"),
        _("Mobile"),
        _("Goods"),
        _("Points"),
        _("State"),
        _("Cashier"),
    ]

    def rows():
        for batch in _batches(select):
            lines = _redemption_lines([row[0] for row in batch])
            for redemption_id, serial, created_at, name, phone, points, kind, by in batch:
                yield [
                    serial,
                    local_datetime(created_at),
                    identity.mask_name(name),
                    identity.mask_phone(phone),
                    lines.get(redemption_id, ""),
                    points,
                    str(RedemptionState(kind).label),
                    by or "",
                ]

    return Listing(headers, rows(), (22, 20, 10, 14, 50, 8, 10, 12))

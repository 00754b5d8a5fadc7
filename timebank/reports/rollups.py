"""Rollup tables kept current in the transaction of each change, and their recomputation.

Dashboards at city scale sum a few thousand rollup rows instead of millions of service
records and ledger entries. Each rollup is maintained by a signal receiver (connect() runs
at app creation) that upserts an increment in the sender's transaction, and can be
recomputed from the base tables (recompute_*), which is what the tests compare and what
`flask reports rebuild-rollups` writes after a bulk load.
"""

from collections import defaultdict
from datetime import date, datetime
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import Date, case, cast, delete, event, exists, func, literal, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, aliased

from timebank.core import signals
from timebank.events.models import Event, RecordState, ServiceRecord
from timebank.extensions import db
from timebank.ledger.models import Account, AccountKind, Entry, Transaction, TransactionKind
from timebank.reports.models import ROLLUP_SLOTS, LedgerDay, ServiceDay, StoreDay
from timebank.stores.models import Redemption, RedemptionLine, RedemptionState
from timebank.volunteers.services import _local_tz

# The ledger kinds the dashboards report, and the account kind whose legs give the amount:
# minutes into time banks, points into points accounts, points into a store's takings.
HEADLINE = {
    TransactionKind.SERVICE_CREDIT: AccountKind.HOURS,
    TransactionKind.CONVERSION: AccountKind.POINTS,
    TransactionKind.ALLOCATION: AccountKind.POINTS,
    TransactionKind.REDEMPTION: AccountKind.SALES,
}


def local_day(moment: datetime) -> date:
    return moment.astimezone(_local_tz()).date()


def local_day_sql(column):
    """The local calendar day of a UTC timestamp column, computed by the database."""
    zone = current_app.config["BABEL_DEFAULT_TIMEZONE"]
    if db.engine.dialect.name == "postgresql":
        return cast(func.timezone(zone, column), Date)
    # SQLite keeps naive UTC text and knows no zones: shift by the zone's offset now.
    # Exact for zones without daylight saving time, such as China's.
    offset = int(datetime.now(ZoneInfo(zone)).utcoffset().total_seconds())
    return func.date(column, f"{offset:+d} seconds")


# -- keeping them current ---------------------------------------------------------------


PENDING = "timebank.rollups.pending"


def _upsert(model, key: dict, increments: dict) -> None:
    """Note an increment; it is written when the transaction commits (see _write_pending).

    Writing at commit, every row in one sorted order, is what keeps two transactions that
    touch the same rollup rows (two batch approvals in one street) from deadlocking, and
    holds each row's lock only for the commit itself.
    """
    session = db.session()
    # Tagged with the innermost transaction: a savepoint rolled back takes its notes along.
    transaction = session.get_nested_transaction() or session.get_transaction()
    session.info.setdefault(PENDING, []).append((transaction, model, key, increments))


def _write_pending(session) -> None:
    if session.in_nested_transaction():
        return
    pending = session.info.pop(PENDING, None)
    if not pending:
        return
    totals: dict[tuple, dict] = {}
    for _transaction, model, key, increments in pending:
        row = totals.setdefault(
            (model.__tablename__, tuple(key.values()), model, tuple(key)),
            dict.fromkeys(increments, 0),
        )
        for name, value in increments.items():
            row[name] += value
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    for (_name, values, model, names), increments in sorted(totals.items(), key=lambda i: i[0][:2]):
        table = model.__table__
        statement = insert(table).values(**dict(zip(names, values, strict=True)), **increments)
        statement = statement.on_conflict_do_update(
            index_elements=list(names),
            set_={name: table.c[name] + statement.excluded[name] for name in increments},
        )
        session.execute(statement)


def _forget_rolled_back(session, previous_transaction) -> None:
    pending = session.info.get(PENDING)
    if not pending:
        return

    def inside(transaction) -> bool:
        while transaction is not None:
            if transaction is previous_transaction:
                return True
            transaction = transaction.parent
        return False

    session.info[PENDING] = [note for note in pending if not inside(note[0])]


def _forget_at_end(session, transaction) -> None:
    if transaction.parent is None:  # the whole transaction is over, committed or not
        session.info.pop(PENDING, None)


def _service_day(service_record: ServiceRecord, sign: int) -> None:
    event = service_record.event
    _upsert(
        ServiceDay,
        {
            "day": service_record.served_on,
            "region_id": service_record.region_id,
            "station_id": service_record.station_id or 0,
            "organization_id": (event.organization_id if event else None) or 0,
        },
        {
            # A correction's supplement adds minutes to a service already counted once.
            "people_times": 0 if service_record.corrects_id else sign,
            "minutes": sign * service_record.minutes,
        },
    )


def on_service_approved(service_record: ServiceRecord, **_) -> None:
    _service_day(service_record, 1)


def on_transaction_posted(tx: Transaction, legs=(), reverses: Transaction | None = None, **_):
    kind, sign = tx.kind, 1
    if kind == TransactionKind.REVERSAL and reverses is not None:
        kind, sign = reverses.kind, -1
    elif kind == TransactionKind.REDEMPTION_CANCEL:
        kind, sign = TransactionKind.REDEMPTION, -1
    headline = HEADLINE.get(kind)
    if headline is None or tx.region_id is None:
        return
    amount = sum(leg.amount for leg in legs if leg.account.kind == headline)
    _upsert(
        LedgerDay,
        {
            "day": local_day(tx.created_at),
            "region_id": tx.region_id,
            "kind": str(kind),
            "slot": tx.id % ROLLUP_SLOTS,
        },
        {"amount": amount, "count": sign},
    )
    if sign < 0 and kind == TransactionKind.SERVICE_CREDIT:
        # The service stands no more: it leaves the people-times and hours too.
        undone = db.session.scalars(
            select(ServiceRecord).where(ServiceRecord.transaction_id == reverses.id)
        )
        for service_record in undone:
            _service_day(service_record, -1)


def _store_day(redemption: Redemption, sign: int) -> None:
    _upsert(
        StoreDay,
        {
            "day": local_day(redemption.created_at),
            "store_id": redemption.store_id,
            "slot": redemption.id % ROLLUP_SLOTS,
        },
        {
            "redemptions": sign,
            "points": sign * redemption.points,
            "goods": sign * sum(line.quantity for line in redemption.lines),
        },
    )


def on_redemption_completed(redemption: Redemption, **_) -> None:
    _store_day(redemption, 1)


def on_redemption_cancelled(redemption: Redemption, **_) -> None:
    # Counted on the day it was made, as if it had never happened.
    _store_day(redemption, -1)


def connect() -> None:
    """Attach the receivers and the session hooks (idempotent)."""
    if not event.contains(Session, "before_commit", _write_pending):
        event.listen(Session, "before_commit", _write_pending)
        event.listen(Session, "after_soft_rollback", _forget_rolled_back)
        event.listen(Session, "after_transaction_end", _forget_at_end)
    signals.service_approved.connect(on_service_approved)
    signals.transaction_posted.connect(on_transaction_posted)
    signals.redemption_completed.connect(on_redemption_completed)
    signals.redemption_cancelled.connect(on_redemption_cancelled)


# -- recomputing them -------------------------------------------------------------------


def _service_source():
    """Approved service records whose credit has not been reversed, as rollup rows."""
    reversal = aliased(Transaction)
    organization = func.coalesce(Event.organization_id, 0)
    station = func.coalesce(ServiceRecord.station_id, 0)
    return (
        select(
            ServiceRecord.served_on.label("day"),
            ServiceRecord.region_id,
            station.label("station_id"),
            organization.label("organization_id"),
            func.sum(case((ServiceRecord.corrects_id.is_(None), 1), else_=0)).label("people_times"),
            func.sum(ServiceRecord.minutes).label("minutes"),
        )
        .outerjoin(Event, Event.id == ServiceRecord.event_id)
        .where(
            ServiceRecord.state == RecordState.APPROVED,
            ~exists().where(
                reversal.reverses_id == ServiceRecord.transaction_id,
                reversal.kind == TransactionKind.REVERSAL,
            ),
        )
        .group_by(ServiceRecord.served_on, ServiceRecord.region_id, station, organization)
    )


def _ledger_source():
    """Every reported transaction, reversals and cancellations under their original's kind
    with the opposite sign, summed per local day, region and kind."""
    original = aliased(Transaction)
    base_kind = case(
        (Transaction.kind == TransactionKind.REVERSAL, original.kind),
        (Transaction.kind == TransactionKind.REDEMPTION_CANCEL, TransactionKind.REDEMPTION.value),
        else_=Transaction.kind,
    )
    sign = case(
        (
            Transaction.kind.in_([TransactionKind.REVERSAL, TransactionKind.REDEMPTION_CANCEL]),
            -1,
        ),
        else_=1,
    )
    headline = case(
        *((base_kind == kind.value, account.value) for kind, account in HEADLINE.items()),
        else_=None,
    )
    # Per transaction first (its headline legs summed), then per day, region and kind.
    per_tx = (
        select(
            local_day_sql(Transaction.created_at).label("day"),
            Transaction.region_id.label("region_id"),
            base_kind.label("kind"),
            sign.label("sign"),
            func.coalesce(
                func.sum(case((Account.kind == headline, Entry.amount), else_=0)), 0
            ).label("amount"),
        )
        .join(Entry, Entry.transaction_id == Transaction.id)
        .join(Account, Account.id == Entry.account_id)
        .outerjoin(original, original.id == Transaction.reverses_id)
        .where(Transaction.region_id.is_not(None), base_kind.in_([k.value for k in HEADLINE]))
        .group_by(Transaction.id, Transaction.created_at, Transaction.region_id, base_kind, sign)
        .subquery()
    )
    return select(
        per_tx.c.day,
        per_tx.c.region_id,
        per_tx.c.kind,
        func.sum(per_tx.c.amount).label("amount"),
        func.sum(per_tx.c.sign).label("count"),
    ).group_by(per_tx.c.day, per_tx.c.region_id, per_tx.c.kind)


def _store_source():
    """Completed redemptions per store and the local day they were made."""
    goods = (
        select(RedemptionLine.redemption_id, func.sum(RedemptionLine.quantity).label("quantity"))
        .group_by(RedemptionLine.redemption_id)
        .subquery()
    )
    day = local_day_sql(Redemption.created_at)
    return (
        select(
            day.label("day"),
            Redemption.store_id,
            func.count().label("redemptions"),
            func.sum(Redemption.points).label("points"),
            func.coalesce(func.sum(goods.c.quantity), 0).label("goods"),
        )
        .outerjoin(goods, goods.c.redemption_id == Redemption.id)
        .where(Redemption.state == RedemptionState.COMPLETED)
        .group_by(day, Redemption.store_id)
    )


ROLLUPS = {
    # model: (source, key columns, value columns)
    ServiceDay: (
        _service_source,
        ("day", "region_id", "station_id", "organization_id"),
        ("people_times", "minutes"),
    ),
    LedgerDay: (_ledger_source, ("day", "region_id", "kind"), ("amount", "count")),
    StoreDay: (_store_source, ("day", "store_id"), ("redemptions", "points", "goods")),
}


def _as_date(value) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _collect(rows, keys, values) -> dict:
    """{key tuple: value tuple}, slots summed and all-zero rows left out."""
    totals = defaultdict(lambda: [0] * len(values))
    for row in rows:
        mapping = row._mapping
        key = tuple(_as_date(mapping[k]) if k == "day" else mapping[k] for k in keys)
        for i, name in enumerate(values):
            totals[key][i] += int(mapping[name] or 0)
    return {key: tuple(v) for key, v in totals.items() if any(v)}


def current(model) -> dict:
    """What the rollup table holds now, slots summed."""
    _source, keys, values = ROLLUPS[model]
    table = model.__table__
    return _collect(db.session.execute(select(table)), keys, values)


def recompute(model) -> dict:
    """What the rollup table should hold, computed from the base tables."""
    source, keys, values = ROLLUPS[model]
    return _collect(db.session.execute(source()), keys, values)


def rebuild() -> dict[str, int]:
    """Replace every rollup with its recomputation (after a bulk load or a repair)."""
    written = {}
    if db.session.get_bind().dialect.name == "postgresql":
        # Writers add their increments when they commit; holding the tables makes them wait
        # until the rebuilt rows are in, so that no increment is lost or counted twice.
        # (SQLite serialises writers already.)
        tables = ", ".join(model.__tablename__ for model in ROLLUPS)
        db.session.execute(text(f"LOCK TABLE {tables} IN EXCLUSIVE MODE"))
    for model, (source, keys, values) in ROLLUPS.items():
        db.session.execute(delete(model))
        query = source().subquery()
        columns = [*keys, *values]
        extra = {"slot": literal(0)} if "slot" in model.__table__.c else {}
        db.session.execute(
            model.__table__.insert().from_select(
                [*columns, *extra], select(*(query.c[c] for c in columns), *extra.values())
            )
        )
        written[model.__tablename__] = db.session.scalar(select(func.count()).select_from(model))
    return written

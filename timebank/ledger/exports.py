"""Statements: an account's entries over a period, for the pages and as CSV or XLSX downloads."""

from datetime import date, datetime, time, timedelta

from flask import Response
from flask_babel import format_number, get_timezone, ngettext
from flask_babel import gettext as _
from sqlalchemy.orm import contains_eager

from timebank.core import exports
from timebank.extensions import db
from timebank.ledger.models import Account, Currency, Entry, Transaction, TransactionKind

EXPORT_BATCH = 500
# The generic machinery moved to core.exports; these names stay importable from here for
# the modules (reports among them) that took them from the ledger before.
CSV_CHUNK = exports.CSV_CHUNK
FORMULA_STARTS = exports.FORMULA_STARTS
XLSX_MIMETYPE = exports.XLSX_MIMETYPE
_safe = exports.safe
_sheet_title = exports.clean_sheet_title
# Time, No., Type, Details, Amount, Balance, By.
XLSX_WIDTHS = (20, 8, 22, 40, 14, 14, 14)


def format_duration(minutes: int | None, signed: bool = False) -> str:
    """Minutes as hours and minutes in the page's language, e.g. "12 h 30 min"."""
    if minutes is None:
        return ""
    sign = "−" if minutes < 0 else ("+" if signed and minutes > 0 else "")
    hours, rest = divmod(abs(minutes), 60)
    if hours and rest:
        text = _("%(hours)s h %(minutes)s min", hours=format_number(hours), minutes=rest)
    elif hours:
        text = _("%(hours)s h", hours=format_number(hours))
    else:
        text = _("%(minutes)s min", minutes=rest)
    return sign + text


def format_amount(amount: int | None, currency: str, signed: bool = False) -> str:
    if amount is None:
        return ""
    if currency == Currency.MINUTES:
        return format_duration(amount, signed)
    sign = "−" if amount < 0 else ("+" if signed and amount > 0 else "")
    count = abs(amount)
    return sign + ngettext("%(count)s point", "%(count)s points", count, count=format_number(count))


def period_bounds(start: date | None, end: date | None) -> tuple[datetime | None, ...]:
    """Whole local days (Asia/Shanghai by default) as aware datetimes: [start, end + 1 day)."""
    tz = get_timezone()
    return (
        datetime.combine(start, time(), tz) if start else None,
        datetime.combine(end + timedelta(days=1), time(), tz) if end else None,
    )


def statement_query(account: Account, start: date | None = None, end: date | None = None):
    """The account's entries, newest first, with what describing them needs loaded."""
    since, until = period_bounds(start, end)
    query = (
        db.select(Entry)
        .join(Entry.transaction)
        .where(Entry.account_id == account.id)
        .options(
            contains_eager(Entry.transaction).joinedload(Transaction.actor),
            contains_eager(Entry.transaction)
            .selectinload(Transaction.entries)
            .joinedload(Entry.account)
            .joinedload(Account.user),
        )
        .order_by(Entry.id.desc())
    )
    if since is not None:
        query = query.where(Transaction.created_at >= since)
    if until is not None:
        query = query.where(Transaction.created_at < until)
    return query


def describe(entry: Entry) -> str:
    """What a statement line says beside its kind: the other person of a gift, the memo."""
    tx = entry.transaction
    parts = []
    if tx.kind == TransactionKind.GIFT:
        other = next(
            (e.account.user for e in tx.entries if e.id != entry.id and e.account.user_id),
            None,
        )
        if other is not None:
            parts.append(
                _("To %(name)s", name=other.name)
                if entry.amount < 0
                else _("From %(name)s", name=other.name)
            )
    if tx.reverses_id:
        parts.append(_("Reverses no. %(id)s", id=tx.reverses_id))
    if tx.memo:
        parts.append(tx.memo)
    return " · ".join(parts)


def _headers(currency: str, with_actor: bool) -> list[str]:
    unit = _("minutes") if currency == Currency.MINUTES else _("points")
    headers = [
        _("Time"),
        _("No."),
        _("Type"),
        _("Details"),
        _("Amount (%(unit)s)", unit=unit),
        _("Balance (%(unit)s)", unit=unit),
    ]
    if with_actor:
        headers.append(_("By"))
    return headers


def _row(entry: Entry, with_actor: bool) -> list:
    tx = entry.transaction
    row = [
        exports.local_datetime(tx.created_at),
        tx.id,
        str(tx.kind_enum.label),
        describe(entry),
        entry.amount,
    ]
    row.append(entry.balance_after)
    if with_actor:
        row.append(tx.actor.name if tx.actor else _("system"))
    return row


def _entries(query):
    return db.session.scalars(query.execution_options(yield_per=EXPORT_BATCH))


def _rows(query, with_actor: bool):
    for entry in _entries(query):
        yield _row(entry, with_actor)


def csv_response(account: Account, query, filename: str, with_actor: bool = False) -> Response:
    """Streamed, row by row, so a long statement never sits in memory whole."""
    return exports.csv_response(
        filename, _headers(account.currency, with_actor), _rows(query, with_actor)
    )


def xlsx_response(
    account: Account, query, filename: str, title: str, with_actor: bool = False
) -> Response:
    return exports.xlsx_response(
        filename,
        _headers(account.currency, with_actor),
        _rows(query, with_actor),
        title,
        widths=XLSX_WIDTHS,
    )

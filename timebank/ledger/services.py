"""post() and the operations built on it. Services flush; the caller commits once."""

import hashlib
import json
from dataclasses import dataclass
from datetime import date
from math import gcd

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import and_, bindparam, func, or_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased

from timebank.audit.services import record
from timebank.core import signals
from timebank.core.db import utcnow
from timebank.core.errors import Conflict, NotFound, ValidationFailed
from timebank.core.security import administered_regions, can_admin_region, ensure
from timebank.extensions import db
from timebank.ledger.models import (
    AGGREGATED_KINDS,
    Account,
    AccountKind,
    ConversionRate,
    Currency,
    Entry,
    FamilyLink,
    Transaction,
    TransactionKind,
)
from timebank.regions.models import Region
from timebank.volunteers import services as volunteers
from timebank.volunteers import stars

MAX_AMOUNT = 10**12  # far beyond any real balance; keeps sums inside 64 bits


class InsufficientBalance(Conflict):
    code = "insufficient_balance"


class IdempotencyConflict(Conflict):
    code = "idempotency_conflict"


@dataclass(frozen=True)
class Leg:
    account: Account
    amount: int


@dataclass(frozen=True)
class Posted:
    transaction: Transaction
    replayed: bool  # True when the key had been used for this same request before


# -- accounts -----------------------------------------------------------------------------


def _account(owner_key: str, kind: AccountKind, currency: Currency, **owner) -> Account:
    """The account for owner, kind and currency, created on first use."""
    found = db.session.scalar(
        db.select(Account).filter_by(owner_key=owner_key, kind=kind, currency=currency)
    )
    if found is not None:
        return found
    account = Account(
        owner_key=owner_key,
        kind=kind,
        currency=currency,
        aggregated=kind in AGGREGATED_KINDS,
        **owner,
    )
    try:
        with db.session.begin_nested():
            db.session.add(account)
    except IntegrityError:  # created meanwhile by a concurrent request
        return db.session.scalar(
            db.select(Account).filter_by(owner_key=owner_key, kind=kind, currency=currency)
        )
    return account


PERSON_CURRENCY = {AccountKind.HOURS: Currency.MINUTES, AccountKind.POINTS: Currency.POINTS}


def person_account(user, kind: AccountKind) -> Account:
    """The person's hours or points account, opened on first use (for postings)."""
    return _account(
        f"user:{user.id}", kind, PERSON_CURRENCY[kind], user_id=user.id, region_id=user.region_id
    )


def hours_account(user) -> Account:
    return person_account(user, AccountKind.HOURS)


def points_account(user) -> Account:
    return person_account(user, AccountKind.POINTS)


def find_person_account(user, kind: AccountKind) -> Account | None:
    """The person's account of that kind if it was ever opened; never creates one (reads)."""
    return db.session.scalar(db.select(Account).filter_by(user_id=user.id, kind=kind))


def find_region_account(region, kind: AccountKind) -> Account | None:
    return db.session.scalar(
        db.select(Account).where(
            Account.region_id == region.id, Account.user_id.is_(None), Account.kind == kind
        )
    )


def home_of(user) -> Region | None:
    """The community the person belongs to today."""
    return db.session.get(Region, user.region_id) if user.region_id else None


SYSTEM_CURRENCY = {
    AccountKind.ISSUANCE: Currency.MINUTES,
    AccountKind.ALLOCATION: Currency.POINTS,
    AccountKind.POOL: Currency.MINUTES,
}


def region_account(region, kind: AccountKind, currency: Currency | None = None) -> Account:
    currency = currency or SYSTEM_CURRENCY[kind]
    return _account(f"region:{region.id}", kind, currency, region_id=region.id)


def store_account(store) -> Account:
    """A love supermarket's takings of redeemed points: aggregated, so busy counters share
    no row lock."""
    return _account(
        f"store:{store.id}", AccountKind.SALES, Currency.POINTS, region_id=store.region_id
    )


def balance_of(account: Account) -> int:
    """The balance: kept on the row, or summed from entries for sources and sinks."""
    if not account.aggregated:
        return account.balance
    return db.session.scalar(
        db.select(func.coalesce(func.sum(Entry.amount), 0)).where(Entry.account_id == account.id)
    )


# -- hashing ------------------------------------------------------------------------------


def _digest(*parts) -> str:
    return hashlib.sha256(
        json.dumps(parts, ensure_ascii=False, separators=(",", ":"), default=str).encode()
    ).hexdigest()


def transaction_hash(tx: Transaction, legs: list[tuple[int, int]]) -> str:
    """Covers every field of the transaction and every (account, amount) it moves."""
    return _digest(
        "tx",
        tx.kind,
        tx.idempotency_key,
        tx.fingerprint,
        tx.actor_id,
        tx.memo,
        tx.created_at.isoformat(),
        tx.reverses_id,
        sorted(legs),
    )


def entry_hash(
    prev_hash: str, tx_hash: str, account_id: int, amount: int, seq: int, balance_after: int
) -> str:
    return _digest("entry", prev_hash, tx_hash, account_id, amount, seq, balance_after)


def fingerprint(kind: str, request) -> str:
    """Digest of what the caller asked: a retry must match it to be answered as a replay."""
    return _digest("request", kind, request)


def replay(kind: TransactionKind, key: str, request: dict) -> "Posted | None":
    """The earlier answer to this key, before anything is recomputed.

    Operations call this first, so that a retry gets its first answer even if the
    rate, the caller's community or their roles changed in between.
    """
    return _existing(key, fingerprint(str(kind), request))


# -- posting ------------------------------------------------------------------------------


def _check_legs(legs: list[Leg]) -> None:
    if len(legs) < 2:
        raise ValidationFailed(_("A transaction moves between at least two accounts."))
    seen, sums = set(), {}
    for leg in legs:
        if not isinstance(leg.amount, int) or isinstance(leg.amount, bool):
            raise ValidationFailed(_("Amounts are whole numbers."), field="amount")
        if leg.amount == 0 or abs(leg.amount) > MAX_AMOUNT:
            raise ValidationFailed(_("Enter an amount above zero."), field="amount")
        if leg.account.id in seen:
            raise ValidationFailed(_("An account appears twice in one transaction."))
        seen.add(leg.account.id)
        sums[leg.account.currency] = sums.get(leg.account.currency, 0) + leg.amount
    if any(sums.values()):
        raise ValidationFailed(_("The entries of a transaction must balance."))


def _existing(key: str, print_: str) -> Posted | None:
    tx = db.session.scalar(db.select(Transaction).filter_by(idempotency_key=key))
    if tx is None:
        return None
    if tx.fingerprint != print_:
        raise IdempotencyConflict(
            _("This idempotency key was already used for a different request."),
            field="idempotency_key",
        )
    return Posted(tx, replayed=True)


def post(
    kind: TransactionKind,
    legs: list[Leg],
    *,
    key: str,
    actor=None,
    memo: str = "",
    reverses: Transaction | None = None,
    request: dict | None = None,
    region=None,
) -> Posted:
    """Record one balanced transaction, exactly once per key.

    The same key with the same request returns the first transaction and moves nothing;
    the same key with another request is refused. Accounts that keep a balance are
    locked in id order (no deadlocks), checked, and advanced with a conditional UPDATE;
    an account without the funds refuses the whole transaction.

    `request` describes what the caller asked (defaults to the legs and memo): that is
    what a retry with the same key must match. A caller passing it has already called
    replay() with it. `region` is where the transaction counts in reports.
    """
    if not key or len(key) > 200:
        raise ValidationFailed(
            _("An idempotency key of 1 to 200 characters is required."), field="idempotency_key"
        )
    memo = (memo or "").strip()
    if len(memo) > 500:
        raise ValidationFailed(_("The memo is too long."), field="memo")
    _check_legs(legs)
    pairs = [(leg.account.id, leg.amount) for leg in legs]
    reverses_id = reverses.id if reverses is not None else None
    if request is None:
        request = {"legs": sorted(pairs), "memo": memo, "reverses": reverses_id}
        print_ = fingerprint(str(kind), request)
        if done := _existing(key, print_):
            return done
    else:
        # The operation asked replay() before computing the legs; a race with the same
        # key still ends below, at the unique index.
        print_ = fingerprint(str(kind), request)
    try:
        with db.session.begin_nested():
            tx = _insert(kind, legs, pairs, key, print_, actor, memo, reverses_id, region)
            # Listeners (the reports' rollups) write in this same savepoint and transaction.
            signals.transaction_posted.send(tx, legs=legs, reverses=reverses)
            return Posted(tx, replayed=False)
    except IntegrityError:
        # A concurrent request with the same key won the race: answer as a replay.
        if done := _existing(key, print_):
            return done
        raise


def _insert(kind, legs, pairs, key, print_, actor, memo, reverses_id, region) -> Transaction:
    tx = Transaction(
        region_id=region if isinstance(region, int) or region is None else region.id,
        kind=kind,
        idempotency_key=key,
        fingerprint=print_,
        memo=memo,
        actor_id=getattr(actor, "id", None),
        created_at=utcnow(),
        reverses_id=reverses_id,
        hash="",
    )
    tx.hash = transaction_hash(tx, pairs)
    db.session.add(tx)
    db.session.flush()  # the key's uniqueness is settled here
    for leg in sorted(legs, key=lambda leg: leg.account.id):
        entry = Entry(transaction_id=tx.id, account_id=leg.account.id, amount=leg.amount)
        if not leg.account.aggregated:
            _advance(leg.account, entry, tx.hash)
        db.session.add(entry)
    db.session.flush()
    return tx


# The two statements every debit and credit runs, built once: they are the hot path.
_LOCK_ACCOUNT = (
    db.select(Account.balance, Account.last_seq, Account.last_hash)
    .where(Account.id == bindparam("account_id"))
    .with_for_update()
)
# Conditional: moves only from the state just read, and never below zero.
_MOVE_BALANCE = (
    update(Account)
    .where(
        Account.id == bindparam("account_id"),
        Account.last_seq == bindparam("seen_seq"),
        Account.balance + bindparam("amount") >= 0,
    )
    .values(
        balance=Account.balance + bindparam("amount"),
        last_seq=bindparam("new_seq"),
        last_hash=bindparam("new_hash"),
    )
)


def _advance(account: Account, entry: Entry, tx_hash: str) -> None:
    """Lock the account's row, check the funds, chain the entry and move the balance."""
    # On the session's connection: the same transaction, without an ORM flush per statement.
    connection = db.session.connection()
    row = connection.execute(_LOCK_ACCOUNT, {"account_id": account.id}).one()
    new_balance = row.balance + entry.amount
    if new_balance < 0:
        raise InsufficientBalance(
            _("The balance is too low: %(balance)s minutes available.", balance=row.balance)
            if account.currency == Currency.MINUTES
            else _("The balance is too low: %(balance)s points available.", balance=row.balance),
            field="amount",
        )
    entry.seq = row.last_seq + 1
    entry.balance_after = new_balance
    entry.prev_hash = row.last_hash
    entry.hash = entry_hash(
        row.last_hash, tx_hash, account.id, entry.amount, entry.seq, new_balance
    )
    done = connection.execute(
        _MOVE_BALANCE,
        {
            "account_id": account.id,
            "seen_seq": row.last_seq,
            "amount": entry.amount,
            "new_seq": entry.seq,
            "new_hash": entry.hash,
        },
    )
    if done.rowcount != 1:
        raise InsufficientBalance(_("The balance changed meanwhile; try again."))
    db.session.expire(account, ["balance", "last_seq", "last_hash"])


# -- operations ---------------------------------------------------------------------------


def _positive(amount, field="amount") -> int:
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        raise ValidationFailed(_("Enter an amount above zero."), field=field)
    if amount > MAX_AMOUNT:
        raise ValidationFailed(_("The amount is too large."), field=field)
    return amount


def credit_service(volunteer, minutes: int, region, *, key: str, actor=None, memo="") -> Posted:
    """Deposit approved service minutes, issued by the region where the service happened."""
    request = {"volunteer": volunteer.id, "region": region.id, "minutes": minutes, "memo": memo}
    if done := replay(TransactionKind.SERVICE_CREDIT, key, request):
        return done
    minutes = _positive(minutes, "minutes")
    volunteers.ensure_may_be_credited(volunteer)
    posted = post(
        TransactionKind.SERVICE_CREDIT,
        [
            Leg(region_account(region, AccountKind.ISSUANCE), -minutes),
            Leg(hours_account(volunteer), minutes),
        ],
        key=key,
        actor=actor,
        memo=memo,
        request=request,
        region=region,
    )
    if not posted.replayed:
        stars.refresh_for_user(volunteer)
    return posted


def rate_for(region, on: date | None = None) -> ConversionRate | None:
    """The rate in force on a day: the nearest one set on the region or above it."""
    if region is None:
        return None
    on = on or utcnow().date()
    ids = region.ancestor_ids()
    rates = db.session.scalars(
        db.select(ConversionRate)
        .where(ConversionRate.region_id.in_(ids), ConversionRate.effective_from <= on)
        .order_by(ConversionRate.effective_from.desc())
    ).all()
    by_region = {}
    for rate in rates:
        by_region.setdefault(rate.region_id, rate)
    for region_id in reversed(ids):  # nearest region first
        if region_id in by_region:
            return by_region[region_id]
    return None


def set_rate(actor, region, points_per_hour: int, effective_from: date) -> ConversionRate:
    points_per_hour = _positive(points_per_hour, "points_per_hour")
    if effective_from < utcnow().date():
        raise ValidationFailed(_("A new rate cannot start in the past."), field="effective_from")
    rate = ConversionRate(
        region_id=region.id,
        points_per_hour=points_per_hour,
        effective_from=effective_from,
        created_by_id=getattr(actor, "id", None),
    )
    try:
        with db.session.begin_nested():
            db.session.add(rate)
    except IntegrityError:
        raise Conflict(
            _("A rate already starts on that day here."), field="effective_from"
        ) from None
    record(
        actor,
        "ledger.rate_set",
        rate,
        region=region,
        points_per_hour=points_per_hour,
        effective_from=effective_from.isoformat(),
    )
    return rate


@dataclass(frozen=True)
class Quote:
    """What converting a number of minutes gives at a rate: whole blocks only."""

    minutes: int
    spent: int
    points: int
    block_minutes: int
    block_points: int

    @property
    def left(self) -> int:
        return self.minutes - self.spent


def quote_conversion(rate: ConversionRate, minutes: int) -> Quote:
    # At 10 points an hour a block is 6 minutes = 1 point; odd minutes stay banked.
    step = gcd(60, rate.points_per_hour)
    block_minutes, block_points = 60 // step, rate.points_per_hour // step
    blocks = max(minutes, 0) // block_minutes
    return Quote(
        minutes, blocks * block_minutes, blocks * block_points, block_minutes, block_points
    )


def convert(user, minutes: int, *, key: str, actor=None) -> Posted:
    """Turn banked minutes into points at the rate in force; leftover minutes stay banked."""
    request = {"user": user.id, "minutes": minutes}
    if done := replay(TransactionKind.CONVERSION, key, request):
        return done
    minutes = _positive(minutes, "minutes")
    hours = hours_account(user)
    # The person's community today, not when the account was opened: people move.
    rate = rate_for(home_of(user))
    if rate is None:
        raise ValidationFailed(
            _("No conversion rate is set for your community yet."), code="no_conversion_rate"
        )
    quote = quote_conversion(rate, minutes)
    if quote.spent == 0:
        raise ValidationFailed(
            _("Convert at least %(n)d minutes.", n=quote.block_minutes), field="minutes"
        )
    spent, earned = quote.spent, quote.points
    exchange = rate.region
    # The ledger keeps one language whoever converts: the system's default one.
    with force_locale(current_app.config["BABEL_DEFAULT_LOCALE"]):
        memo = _(
            "%(minutes)d minutes at %(rate)d points per hour",
            minutes=spent,
            rate=rate.points_per_hour,
        )
    return post(
        TransactionKind.CONVERSION,
        [
            Leg(hours, -spent),
            Leg(region_account(exchange, AccountKind.CONVERSION, Currency.MINUTES), spent),
            Leg(region_account(exchange, AccountKind.CONVERSION, Currency.POINTS), -earned),
            Leg(points_account(user), earned),
        ],
        key=key,
        actor=actor or user,
        memo=memo,
        request=request,
        # Counted where the person lives, whichever region set the rate.
        region=home_of(user),
    )


def declare_family(user, relative, relation: str) -> FamilyLink:
    relation = (relation or "").strip()
    if not relation or len(relation) > 32:
        raise ValidationFailed(_("Say how you are related."), field="relation")
    if relative.id == user.id:
        raise ValidationFailed(_("You cannot declare yourself."), field="relative")
    link = db.session.scalar(
        db.select(FamilyLink).filter_by(user_id=user.id, relative_id=relative.id)
    )
    if link is None:
        link = FamilyLink(user_id=user.id, relative_id=relative.id, relation=relation)
        db.session.add(link)
        db.session.flush()
        record(user, "ledger.family_declared", link, relative_id=relative.id)
    return link


def gift(user, relative, minutes: int, *, key: str, memo: str = "") -> Posted:
    """Give banked minutes to a family member the giver has declared."""
    request = {"from": user.id, "to": relative.id, "minutes": minutes, "memo": memo}
    if done := replay(TransactionKind.GIFT, key, request):
        return done
    minutes = _positive(minutes, "minutes")
    declared = db.session.scalar(
        db.select(FamilyLink.id).filter_by(user_id=user.id, relative_id=relative.id)
    )
    if declared is None:
        raise ValidationFailed(
            _("Hours can only be gifted to a declared family member."), field="to_user_id"
        )
    return post(
        TransactionKind.GIFT,
        [
            Leg(hours_account(user), -minutes),
            Leg(hours_account(relative), minutes),
        ],
        key=key,
        actor=user,
        memo=memo,
        request=request,
    )


def donate_to_pool(user, region, minutes: int, *, key: str, memo: str = "") -> Posted:
    request = {"user": user.id, "region": region.id, "minutes": minutes, "memo": memo}
    if done := replay(TransactionKind.POOL_DONATION, key, request):
        return done
    minutes = _positive(minutes, "minutes")
    return post(
        TransactionKind.POOL_DONATION,
        [
            Leg(hours_account(user), -minutes),
            Leg(region_account(region, AccountKind.POOL), minutes),
        ],
        key=key,
        actor=user,
        memo=memo,
        request=request,
        region=region,
    )


def _staff_grant(
    kind, action, actor, region, person, amount, *, field, source_kind, target, key, memo
) -> Posted:
    """Staff move value from a region's budget or pool to a person living there; audited."""
    request = {"region": region.id, "person": person.id, field: amount, "memo": memo}
    if done := replay(kind, key, request):
        return done
    amount = _positive(amount, field)
    ensure(can_allocate(actor, region, person))
    legs = [Leg(region_account(region, source_kind), -amount), Leg(target(person), amount)]
    posted = post(kind, legs, key=key, actor=actor, memo=memo, request=request, region=region)
    record(actor, action, posted.transaction, region=region, person_id=person.id, **{field: amount})
    return posted


def grant_from_pool(actor, region, person, minutes: int, *, key: str, memo: str) -> Posted:
    """Staff give minutes from the region's public pool to an elder in need."""
    return _staff_grant(
        TransactionKind.POOL_GRANT,
        "ledger.pool_grant",
        actor,
        region,
        person,
        minutes,
        field="minutes",
        source_kind=AccountKind.POOL,
        target=hours_account,
        key=key,
        memo=memo,
    )


def allocate(actor, region, person, points: int, *, key: str, memo: str) -> Posted:
    """Points from the region's allocation budget to a household in difficulty."""
    return _staff_grant(
        TransactionKind.ALLOCATION,
        "ledger.allocate",
        actor,
        region,
        person,
        points,
        field="points",
        source_kind=AccountKind.ALLOCATION,
        target=points_account,
        key=key,
        memo=memo,
    )


def reverse(actor, original: Transaction, reason: str, *, key: str | None = None) -> Posted:
    """Undo a transaction with its mirror image; the original stays as it was.

    Only an administrator over every account it touched may reverse it, once.
    """
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(_("Give the reason for the reversal."), field="reason")
    key = key or f"reversal:{original.id}"
    request = {"reverses": original.id, "reason": reason}
    if done := replay(TransactionKind.REVERSAL, key, request):
        return done
    ensure(all(can_admin_region(actor, account_region(e.account)) for e in original.entries))
    if original.kind == TransactionKind.REVERSAL:
        raise ValidationFailed(_("A reversal cannot itself be reversed."))
    if original.kind in (TransactionKind.REDEMPTION, TransactionKind.REDEMPTION_CANCEL):
        # Points and goods move together: a redemption is undone by cancelling it at the
        # store, which puts the goods back too.
        raise ValidationFailed(
            _("A redemption is undone by cancelling it at the store, not here."),
            code="cancel_at_the_store",
        )
    already = _("This transaction has already been reversed.")
    if db.session.scalar(db.select(Transaction.id).filter_by(reverses_id=original.id)):
        raise Conflict(already)
    legs = [Leg(entry.account, -entry.amount) for entry in original.entries]
    try:
        posted = post(
            TransactionKind.REVERSAL,
            legs,
            key=key,
            actor=actor,
            memo=reason,
            reverses=original,
            request=request,
            region=original.region_id,
        )
    except IntegrityError:  # reversed meanwhile under another key: reverses_id is unique
        raise Conflict(already) from None
    if not posted.replayed:
        record(actor, "ledger.reverse", posted.transaction, reverses=original.id, reason=reason)
        if original.kind == TransactionKind.SERVICE_CREDIT:
            for entry in original.entries:
                if entry.account.user_id is not None:
                    stars.refresh_for_user(entry.account.user)
    return posted


def get_account(account_id: int) -> Account:
    account = db.session.get(Account, account_id)
    if account is None:
        raise NotFound(_("That account does not exist."), field="account_id")
    return account


def lifetime_service_minutes(user) -> int:
    """Approved service ever credited, less reversed credits; conversions do not lower it.

    Star levels count this, not the balance, so spending hours never costs a star.
    """
    original = aliased(Transaction)
    hours = find_person_account(user, AccountKind.HOURS)
    if hours is None:
        return 0
    return db.session.scalar(
        db.select(func.coalesce(func.sum(Entry.amount), 0))
        .join(Transaction, Transaction.id == Entry.transaction_id)
        .outerjoin(original, original.id == Transaction.reverses_id)
        .where(Entry.account_id == hours.id, _counts_as_service(original))
    )


def _counts_as_service(original):
    """Service credits, and reversals of them (original: the reversed transaction's alias)."""
    return or_(
        Transaction.kind == TransactionKind.SERVICE_CREDIT,
        and_(
            Transaction.kind == TransactionKind.REVERSAL,
            original.kind == TransactionKind.SERVICE_CREDIT,
        ),
    )


def total_lifetime_service_minutes(user_ids) -> int:
    """lifetime_service_minutes summed over a group of people (a select of ids), in one query."""
    original = aliased(Transaction)
    return db.session.scalar(
        db.select(func.coalesce(func.sum(Entry.amount), 0))
        .join(Account, Account.id == Entry.account_id)
        .join(Transaction, Transaction.id == Entry.transaction_id)
        .outerjoin(original, original.id == Transaction.reverses_id)
        .where(
            Account.user_id.in_(user_ids),
            Account.kind == AccountKind.HOURS,
            _counts_as_service(original),
        )
    )


def lifetime_service_minutes_by_user(user_ids) -> dict[int, int]:
    """lifetime_service_minutes of each person in a list of ids, in one query."""
    original = aliased(Transaction)
    rows = db.session.execute(
        db.select(Account.user_id, func.sum(Entry.amount))
        .join(Entry, Entry.account_id == Account.id)
        .join(Transaction, Transaction.id == Entry.transaction_id)
        .outerjoin(original, original.id == Transaction.reverses_id)
        .where(
            Account.user_id.in_(user_ids),
            Account.kind == AccountKind.HOURS,
            _counts_as_service(original),
        )
        .group_by(Account.user_id)
    )
    return {user_id: int(total or 0) for user_id, total in rows}


# -- who may see and move what -----------------------------------------------------------


def account_region(account: Account):
    """The region that decides who may read an account: the owner's community, or its own."""
    if account.user_id is not None:
        owner = account.user
        return db.session.get(Region, owner.region_id) if owner.region_id else None
    return account.region


def can_view_account(actor, account: Account) -> bool:
    """The owner, or an administrator whose subtree holds the account."""
    if account.user_id is not None and account.user_id == getattr(actor, "id", None):
        return True
    return can_admin_region(actor, account_region(account))


def allocation_regions(actor) -> list[Region]:
    """Regions whose allocation budget the actor may spend: administered ones, and the
    community of each station they staff."""
    from timebank.auth.models import Role
    from timebank.stations.models import Station

    if actor.is_superadmin:
        return list(db.session.scalars(db.select(Region).where(Region.parent_id.is_(None))))
    regions = list(administered_regions(actor))
    station_ids = [g.scope_id for g in actor.grants_of(Role.STATION_STAFF)]
    if station_ids:
        for station in db.session.scalars(db.select(Station).where(Station.id.in_(station_ids))):
            if not any(r.contains(station.region) for r in regions):
                regions.append(station.region)
    return regions


def lives_in(person, region) -> bool:
    home = home_of(person)
    return home is not None and region.contains(home)


def can_allocate(actor, region, person) -> bool:
    """Staff give points from a budget they hold, to people who live inside it."""
    return any(r.contains(region) for r in allocation_regions(actor)) and lives_in(person, region)

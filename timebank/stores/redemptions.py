"""Redeeming points at the counter: who the resident is, what they may take, and the one
transaction that debits points, lowers stock and records the redemption, or does none."""

import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from flask import current_app
from flask_babel import gettext as _
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import func, update

from timebank.audit.services import record
from timebank.auth.models import User
from timebank.core import signals
from timebank.core.db import utcnow
from timebank.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from timebank.core.security import ensure
from timebank.extensions import db
from timebank.ledger import services as ledger
from timebank.ledger.models import Account, AccountKind, Transaction, TransactionKind
from timebank.regions.models import Region
from timebank.stores import services
from timebank.stores.models import (
    Eligibility,
    Goods,
    Household,
    LimitPeriod,
    MovementKind,
    Redemption,
    RedemptionLine,
    RedemptionState,
    Store,
)
from timebank.volunteers import identity
from timebank.volunteers.services import today

MAX_LINES = 50


class RedemptionRefused(Conflict):
    """A cart the resident may not take: nothing is debited and no stock moves."""


# -- the resident at the counter -------------------------------------------------------------


def identify(code: str) -> User:
    """The resident a scanned personal code (phone or printed card) names."""
    from timebank.volunteers import codes

    return codes.resolve(code).volunteer.user


def search_residents(store: Store, q: str, limit: int = 10) -> list[User]:
    """By whole mobile number anywhere, or by name within the store's street: the counter
    sees masked names and numbers, and asks the resident to confirm."""
    q = (q or "").strip()
    if len(q) < 2:
        raise ValidationFailed(
            _("Enter a mobile number or at least two characters of a name."), field="q"
        )
    select = db.select(User).where(User.active)
    if q.isdigit():
        if len(q) != 11:
            raise ValidationFailed(_("Enter the whole 11-digit mobile number."), field="q")
        select = select.where(User.phone == q)
    else:
        street = store.region.parent or store.region
        select = (
            select.join(Region, Region.id == User.region_id)
            .where(Region.path.startswith(street.path, autoescape=True))
            .where(User.name.contains(q, autoescape=True))
        )
    return db.session.scalars(select.order_by(User.name, User.id).limit(limit)).all()


# A cashier reaches a resident's balance and points only through a lookup at the counter
# (their code, or a phone or name search): the lookup hands out a ticket for that store and
# person, and the counter's later calls carry it. Without one, a cashier stepping through
# user ids would learn balances and who is in difficulty, and could spend anyone's points.
TICKET_SECONDS = 4 * 3600


def _tickets() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt="timebank.counter-ticket")


def ticket_for(store: Store, user: User) -> str:
    return _tickets().dumps([store.id, user.id])


def check_ticket(store: Store, user_id: int, ticket: str | None) -> None:
    try:
        store_id, ticket_user = _tickets().loads(ticket or "", max_age=TICKET_SECONDS)
    except (BadSignature, TypeError, ValueError):
        store_id = ticket_user = None
    if (store_id, ticket_user) != (store.id, user_id):
        raise PermissionDenied(
            _("Identify the resident at this counter first: scan their code or search."),
            code="resident_not_identified",
            field="ticket",
        )


def masked(user: User, store: Store | None = None) -> dict:
    shown = {
        "user_id": user.id,
        "name": identity.mask_name(user.name),
        "phone": identity.mask_phone(user.phone),
    }
    if store is not None:
        shown["ticket"] = ticket_for(store, user)
    return shown


def in_difficulty(user: User) -> bool:
    return (
        db.session.scalar(db.select(Household.id).filter_by(user_id=user.id, active=True).limit(1))
        is not None
    )


def local_midnight(day) -> datetime:
    """The start of that local calendar day, in UTC."""
    from timebank.volunteers.services import _local_tz

    return datetime(day.year, day.month, day.day, tzinfo=_local_tz()).astimezone(UTC)


def day_start() -> datetime:
    return local_midnight(today())


def made_today(redemption: Redemption) -> bool:
    return redemption.created_at >= day_start()


def period_start(period: str, now: datetime | None = None) -> datetime:
    """The start, in UTC, of the local calendar week, month or year that holds now."""
    from timebank.volunteers.services import _local_tz

    local = (now or utcnow()).astimezone(_local_tz())
    day = local.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == LimitPeriod.WEEK:
        start = day - timedelta(days=day.weekday())
    elif period == LimitPeriod.MONTH:
        start = day.replace(day=1)
    else:
        start = day.replace(month=1, day=1)
    return start.astimezone(UTC)


def taken_in_period(user: User, goods: Goods, now: datetime | None = None) -> int:
    """Units of these goods the person redeemed in the current limit period."""
    if goods.limit_period is None:
        return 0
    return db.session.scalar(
        db.select(func.coalesce(func.sum(RedemptionLine.quantity), 0))
        .join(Redemption)
        .where(
            RedemptionLine.goods_id == goods.id,
            RedemptionLine.user_id == user.id,
            Redemption.state == RedemptionState.COMPLETED,
            Redemption.created_at >= period_start(goods.limit_period, now),
        )
    )


def allowance(user: User, goods: Goods) -> int | None:
    """How many more the person may take this period; None when unlimited."""
    if goods.limit_quantity is None:
        return None
    return max(0, goods.limit_quantity - taken_in_period(user, goods))


def points_balance(user: User) -> int:
    account = ledger.find_person_account(user, AccountKind.POINTS)
    return ledger.balance_of(account) if account is not None else 0


# -- redeeming ---------------------------------------------------------------------------------


@dataclass
class Result:
    redemption: Redemption
    replayed: bool = False
    balance: int | None = None
    problems: list = field(default_factory=list)


def _request(store: Store, user: User, cart: dict[int, int]) -> dict:
    return {"store": store.id, "user": user.id, "cart": sorted(cart.items())}


def _existing(key: str, print_: str) -> Redemption | None:
    found = db.session.scalar(db.select(Redemption).filter_by(idempotency_key=key))
    if found is not None and found.fingerprint != print_:
        raise ledger.IdempotencyConflict(
            _("This idempotency key was already used for a different request."),
            field="idempotency_key",
        )
    return found


def _cart(lines) -> dict[int, int]:
    """{goods_id: quantity} from [(goods_id, quantity)], the same goods scanned twice added up."""
    cart: dict[int, int] = {}
    for goods_id, quantity in lines:
        if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity <= 0:
            raise ValidationFailed(_("Quantities are whole numbers above zero."), field="lines")
        cart[goods_id] = cart.get(goods_id, 0) + quantity
    if not cart:
        raise ValidationFailed(_("The cart is empty."), field="lines")
    if len(cart) > MAX_LINES:
        raise ValidationFailed(_("At most 50 different goods at once."), field="lines")
    return cart


def redeem(actor, store: Store, user: User, lines, *, key: str) -> Result:
    """Redeem the cart for the resident, once per idempotency key.

    Everything happens in the caller's transaction, in this order: the resident's points
    account is locked (two counters serving one resident take turns, so limits and the
    balance are checked against what the other one left), the key is looked up again
    under that lock (a retried confirm answers the first redemption), limits and
    eligibility are checked, stock falls by conditional UPDATEs in goods order (the last
    unit goes to one counter), then the ledger debits the points. Any refusal raises, and
    the caller's rollback leaves points, stock and redemptions as they were.
    """
    ensure(services.can_run_store(actor, store))
    key = (key or "").strip()
    if not 8 <= len(key) <= 200:
        raise ValidationFailed(
            _("An idempotency key of 8 to 200 characters is required."), field="idempotency_key"
        )
    cart = _cart(lines)
    request = _request(store, user, cart)
    print_ = ledger.fingerprint("redemption", request)
    if (done := _existing(key, print_)) is not None:
        return Result(done, replayed=True, balance=points_balance(user))
    if not store.active:
        raise RedemptionRefused(_("This store is closed."), code="store_closed")
    if not user.active:
        raise RedemptionRefused(_("This account is suspended."), code="resident_suspended")
    account = ledger.points_account(user)
    db.session.flush()
    # The resident's row lock: every redemption, conversion or allocation touching these
    # points queues here, on this one row, and nowhere else.
    balance = db.session.execute(
        db.select(Account.balance).where(Account.id == account.id).with_for_update()
    ).scalar()
    if (done := _existing(key, print_)) is not None:
        return Result(done, replayed=True, balance=balance)

    goods_by_id = services.goods_by_ids(store, cart)
    for goods in goods_by_id.values():
        if not goods.active:
            raise RedemptionRefused(
                _("%(goods)s is not available now.", goods=goods.name), code="goods_inactive"
            )
    total = sum(goods_by_id[g].points_price * q for g, q in cart.items())
    if total > balance:
        raise RedemptionRefused(
            _(
                "Not enough points: this costs %(total)d, the balance is %(balance)d.",
                total=total,
                balance=balance,
            ),
            code="insufficient_points",
        )
    eligible = None
    for goods_id, quantity in sorted(cart.items()):
        goods = goods_by_id[goods_id]
        if goods.eligibility == Eligibility.DIFFICULTY:
            eligible = in_difficulty(user) if eligible is None else eligible
            if not eligible:
                raise RedemptionRefused(
                    _(
                        "%(goods)s is kept for households in difficulty.",
                        goods=goods.name,
                    ),
                    code="not_eligible",
                )
        left = allowance(user, goods)
        if left is not None and quantity > left:
            raise RedemptionRefused(
                _(
                    "%(goods)s is limited to %(limit)d %(period)s: %(left)d more this time.",
                    goods=goods.name,
                    limit=goods.limit_quantity,
                    period=LimitPeriod(goods.limit_period).label,
                    left=left,
                ),
                code="over_limit",
            )

    redemption = Redemption(
        store_id=store.id,
        user_id=user.id,
        serial=f"t-{secrets.token_hex(12)}",  # numbered once the id is known
        idempotency_key=key,
        fingerprint=print_,
        points=total,
        cashier_id=getattr(actor, "id", None),
        created_at=utcnow(),
    )
    db.session.add(redemption)
    db.session.flush()  # the key's uniqueness is settled here, before stock moves
    redemption.serial = services._serial("DH", store, redemption.id, today())
    for goods_id, quantity in sorted(cart.items()):
        goods = goods_by_id[goods_id]
        db.session.add(
            RedemptionLine(
                redemption_id=redemption.id,
                goods_id=goods.id,
                user_id=user.id,
                quantity=quantity,
                points_price=goods.points_price,
            )
        )
        services.move_stock(
            goods, -quantity, MovementKind.REDEMPTION, actor=actor, redemption_id=redemption.id
        )
    posted = ledger.post(
        TransactionKind.REDEMPTION,
        [ledger.Leg(account, -total), ledger.Leg(ledger.store_account(store), total)],
        key=f"redemption:{key}",
        actor=actor,
        memo=_("Redeemed at %(store)s", store=store.name)[:200],
        request=request,
        region=store.region_id,
    )
    redemption.transaction_id = posted.transaction.id
    db.session.flush()
    signals.redemption_completed.send(redemption)
    record(
        actor,
        "redemption.create",
        redemption,
        region=store.region,
        user_id=user.id,
        points=total,
        serial=redemption.serial,
    )
    return Result(redemption, balance=balance - total)


def get_redemption(store: Store, redemption_id: int) -> Redemption:
    redemption = db.session.get(Redemption, redemption_id)
    if redemption is None or redemption.store_id != store.id:
        raise NotFound(_("No such redemption at this store."))
    return redemption


def cancel(actor, redemption: Redemption, reason: str) -> Redemption:
    """Same-day cancellation: the points go back, the goods go back on the shelf, audited."""
    store = redemption.store
    ensure(services.can_run_store(actor, store))
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(_("Say why the redemption is cancelled."), field="reason")
    # The resident's points row first, as redeem() takes it: a cancel and a redemption for
    # the same person queue in one order, never deadlock.
    account = ledger.points_account(redemption.user)
    db.session.execute(db.select(Account.id).where(Account.id == account.id).with_for_update())
    if not made_today(redemption):
        raise RedemptionRefused(
            _("Only a redemption made today can be cancelled."), code="not_today"
        )
    moved = db.session.execute(
        update(Redemption)
        .where(Redemption.id == redemption.id, Redemption.state == RedemptionState.COMPLETED)
        .values(
            state=RedemptionState.CANCELLED,
            cancelled_at=utcnow(),
            cancelled_by_id=getattr(actor, "id", None),
            cancel_reason=reason[:500],
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.refresh(redemption)
    if not moved:
        raise RedemptionRefused(
            _("This redemption is already cancelled."), code="already_cancelled"
        )
    for line in redemption.lines:
        services.move_stock(
            line.goods,
            line.quantity,
            MovementKind.REDEMPTION_CANCEL,
            actor=actor,
            redemption_id=redemption.id,
            note=reason[:500],
        )
    posted = ledger.post(
        TransactionKind.REDEMPTION_CANCEL,
        [
            ledger.Leg(ledger.store_account(store), -redemption.points),
            ledger.Leg(account, redemption.points),
        ],
        key=f"redemption-cancel:{redemption.id}",
        actor=actor,
        memo=reason[:200],
        # Names the debit it gives back; the ledger keeps one reversal per transaction.
        reverses=db.session.get(Transaction, redemption.transaction_id),
        region=store.region_id,
    )
    redemption.cancel_transaction_id = posted.transaction.id
    signals.redemption_cancelled.send(redemption)
    record(
        actor,
        "redemption.cancel",
        redemption,
        region=store.region,
        user_id=redemption.user_id,
        points=redemption.points,
        reason=reason,
    )
    return redemption

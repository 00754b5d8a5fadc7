"""Stores and their goods, donations received, stock kept: who may do what at which store."""

import secrets
from dataclasses import dataclass
from datetime import date

from flask_babel import gettext as _
from sqlalchemy import func, or_, update
from sqlalchemy.orm import selectinload
from stdnum import ean

from timebank.audit.services import record
from timebank.auth.models import Role
from timebank.core.db import insert_unique
from timebank.core.errors import Conflict, NotFound, PermissionDenied, Problems, ValidationFailed
from timebank.core.security import can_admin_region, can_staff_station, ensure, in_admin_scope
from timebank.extensions import db
from timebank.regions.models import Region, RegionLevel
from timebank.stations.models import Station
from timebank.stores.models import (
    AdjustmentReason,
    Donation,
    DonationLine,
    DonorKind,
    Eligibility,
    Goods,
    GoodsCategory,
    Household,
    LimitPeriod,
    MovementKind,
    StockMovement,
    Store,
)
from timebank.volunteers.services import today as local_today

MAX_QUANTITY = 10_000
MAX_POINTS_PRICE = 1_000_000
MAX_VALUE_FEN = 2_000_000_000  # twenty million yuan, in fen: more is a typo (and a 32-bit column)
PHOTO_TYPES = {b"\xff\xd8\xff": "image/jpeg", b"\x89PNG\r\n\x1a\n": "image/png"}
MAX_PHOTO_BYTES = 512 * 1024


# -- who may do what ----------------------------------------------------------------------


def can_manage_store(actor, store: Store) -> bool:
    """Open and edit the store itself: administrators above it and its station's staff."""
    if getattr(actor, "is_superadmin", False):
        return True
    if store.station is not None and can_staff_station(actor, store.station):
        return True
    return can_admin_region(actor, store.region)


def can_run_store(actor, store: Store) -> bool:
    """Work the counter, receive donations and keep stock: the store's cashiers too."""
    # The cashier's grant came with the caller (no query): checked before the station and
    # region lookups that managers need, as it is every counter request.
    grants = getattr(actor, "grants", ())  # the console's SYSTEM actor holds none
    if any(g.role == Role.CASHIER and g.scope_id == store.id for g in grants):
        return True
    return can_manage_store(actor, store)


def stores_for(actor) -> list[Store]:
    """The stores this person may run, by name."""
    if getattr(actor, "is_superadmin", False):
        return db.session.scalars(db.select(Store).order_by(Store.name)).all()
    cashier_of = [g.scope_id for g in actor.grants if g.role == Role.CASHIER]
    station_ids = [g.scope_id for g in actor.grants if g.role == Role.STATION_STAFF]
    select = (
        db.select(Store)
        .join(Store.region)
        .where(
            or_(
                Store.id.in_(cashier_of),
                Store.station_id.in_(station_ids),
                in_admin_scope(actor, Region.path),
            )
        )
        .order_by(Store.name)
    )
    return db.session.scalars(select).all()


def get_store(store_id: int) -> Store:
    store = db.session.get(Store, store_id)
    if store is None:
        raise NotFound(_("No such store."))
    return store


def get_run_store(actor, store_id: int) -> Store:
    """A store the actor runs; a cashier of another store is refused plainly."""
    store = get_store(store_id)
    if not can_run_store(actor, store):
        raise PermissionDenied(
            _("You are not a cashier of %(store)s.", store=store.name), code="not_your_store"
        )
    return store


# -- stores -------------------------------------------------------------------------------


@dataclass
class StoreDetails:
    name: str
    region_id: int | None = None
    station_id: int | None = None
    address: str = ""
    opening_hours: str = ""
    phone: str = ""


def create_store(actor, details: StoreDetails) -> Store:
    """A store belongs to a station (and so to its community) or directly to a community."""
    station = db.session.get(Station, details.station_id) if details.station_id else None
    if details.station_id and station is None:
        raise ValidationFailed(_("No such station."), field="station_id")
    region = station.region if station else db.session.get(Region, details.region_id or 0)
    if region is None or region.level != RegionLevel.COMMUNITY:
        raise ValidationFailed(
            _("Choose the station or community the store belongs to."), field="region_id"
        )
    ensure(
        can_admin_region(actor, region)
        or (station is not None and can_staff_station(actor, station))
    )
    name = (details.name or "").strip()
    if not name or len(name) > 100:
        raise ValidationFailed(_("Enter a name of up to 100 characters."), field="name")
    store = insert_unique(
        db.session,
        Store(
            region_id=region.id,
            station_id=station.id if station else None,
            name=name,
            address=(details.address or "").strip()[:200],
            opening_hours=(details.opening_hours or "").strip()[:200],
            phone=(details.phone or "").strip()[:20],
        ),
        Conflict(_("This community already has a store with this name."), field="name"),
    )
    record(actor, "store.create", store, region=region, name=name)
    return store


def update_store(actor, store: Store, **changes) -> Store:
    ensure(can_manage_store(actor, store))
    for field in ("name", "address", "opening_hours", "phone"):
        if changes.get(field) is not None:
            setattr(store, field, changes[field].strip())
    if not store.name:
        raise ValidationFailed(_("Enter a name of up to 100 characters."), field="name")
    if changes.get("active") is not None:
        store.active = bool(changes["active"])
    record(actor, "store.update", store, region=store.region)
    return store


# -- goods --------------------------------------------------------------------------------


@dataclass
class GoodsDetails:
    name: str
    points_price: int
    category: str = GoodsCategory.OTHER
    unit: str = ""
    barcode: str | None = None
    low_stock: int = 5
    limit_quantity: int | None = None
    limit_period: str | None = None
    eligibility: str = Eligibility.EVERYONE
    active: bool = True


def _check_goods(store: Store, details: GoodsDetails, goods: Goods | None = None) -> GoodsDetails:
    problems = Problems()
    name = (details.name or "").strip()
    if not name or len(name) > 100:
        problems.errors.append(
            ValidationFailed(_("Enter a name of up to 100 characters."), field="name")
        )
    if not isinstance(details.points_price, int) or not (
        0 < details.points_price <= MAX_POINTS_PRICE
    ):
        problems.errors.append(
            ValidationFailed(
                _("The price is a whole number of points above zero."), field="points_price"
            )
        )
    barcode = (details.barcode or "").strip() or None
    # The check digit too: a mistyped barcode would never scan at the counter.
    if barcode is not None and not (barcode.isdigit() and ean.is_valid(barcode)):
        problems.errors.append(
            ValidationFailed(
                _("This is not a valid EAN barcode (8, 12, 13 or 14 digits): check the digits."),
                field="barcode",
            )
        )
    if details.category not in set(GoodsCategory):
        problems.errors.append(ValidationFailed(_("Choose a category."), field="category"))
    if details.eligibility not in set(Eligibility):
        problems.errors.append(
            ValidationFailed(_("Choose who may redeem it."), field="eligibility")
        )
    if (details.limit_quantity is None) != (details.limit_period in (None, "")):
        problems.errors.append(
            ValidationFailed(
                _("A limit needs both a quantity and a period."), field="limit_quantity"
            )
        )
    elif details.limit_quantity is not None and not 0 < details.limit_quantity <= MAX_QUANTITY:
        problems.errors.append(
            ValidationFailed(_("The limit is a quantity above zero."), field="limit_quantity")
        )
    if details.limit_period and details.limit_period not in set(LimitPeriod):
        problems.errors.append(ValidationFailed(_("Choose a period."), field="limit_period"))
    if not isinstance(details.low_stock, int) or details.low_stock < 0:
        problems.errors.append(
            ValidationFailed(_("The alert level is zero or more."), field="low_stock")
        )
    problems.raise_any()
    if barcode is not None:
        clash = db.select(Goods.id).filter_by(store_id=store.id, barcode=barcode)
        if goods is not None:
            clash = clash.where(Goods.id != goods.id)
        if db.session.scalar(clash):
            raise Conflict(_("Other goods in this store have this barcode."), field="barcode")
    details.name, details.barcode = name, barcode
    details.unit = (details.unit or "").strip()[:16]
    details.limit_period = details.limit_period or None
    return details


def add_goods(actor, store: Store, details: GoodsDetails) -> Goods:
    ensure(can_run_store(actor, store))
    details = _check_goods(store, details)
    # The barcode was checked above; two saves at once still meet at the unique index.
    goods = insert_unique(
        db.session,
        Goods(store_id=store.id, **vars(details)),
        Conflict(_("Other goods in this store have this barcode."), field="barcode"),
    )
    record(actor, "goods.create", goods, region=store.region, name=goods.name)
    return goods


def update_goods(actor, goods: Goods, details: GoodsDetails) -> Goods:
    """Everything but the stock, which only moves through stock movements."""
    ensure(can_run_store(actor, goods.store))
    details = _check_goods(goods.store, details, goods)
    for field, value in vars(details).items():
        setattr(goods, field, value)
    record(actor, "goods.update", goods, region=goods.store.region)
    return goods


def set_photo(actor, goods: Goods, data: bytes | None) -> Goods:
    """A JPEG or PNG of at most 512 KB, told by its first bytes rather than its name."""
    ensure(can_run_store(actor, goods.store))
    if data is None:
        goods.photo, goods.photo_type = None, None
        return goods
    if len(data) > MAX_PHOTO_BYTES:
        raise ValidationFailed(_("The photo is larger than 512 KB."), field="photo")
    kind = next((t for magic, t in PHOTO_TYPES.items() if data.startswith(magic)), None)
    if kind is None:
        raise ValidationFailed(_("The photo must be a JPEG or PNG image."), field="photo")
    goods.photo, goods.photo_type = data, kind
    record(actor, "goods.photo", goods, region=goods.store.region, bytes=len(data))
    return goods


def _not_sold_here(store: Store) -> ValidationFailed:
    return ValidationFailed(
        _("These goods are not sold at %(store)s.", store=store.name),
        field="goods_id",
        code="goods_elsewhere",
    )


def get_goods(store: Store, goods_id: int) -> Goods:
    goods = db.session.get(Goods, goods_id)
    if goods is None or goods.store_id != store.id:
        raise _not_sold_here(store)
    return goods


def goods_by_ids(store: Store, ids) -> dict[int, Goods]:
    """{id: goods} for a cart, in id order, in one query; refused if any is not this store's."""
    ids = sorted(ids)
    found = {g.id: g for g in db.session.scalars(db.select(Goods).where(Goods.id.in_(ids)))}
    if any(found.get(i) is None or found[i].store_id != store.id for i in ids):
        raise _not_sold_here(store)
    return {i: found[i] for i in ids}


def goods_of(store: Store, *, active_only: bool = False) -> list[Goods]:
    select = db.select(Goods).filter_by(store_id=store.id)
    if active_only:
        select = select.filter_by(active=True)
    return db.session.scalars(select.order_by(Goods.category, Goods.name)).all()


# -- stock --------------------------------------------------------------------------------


def move_stock(
    goods: Goods, change: int, kind: MovementKind, *, actor=None, **links
) -> StockMovement:
    """Move stock by a conditional UPDATE (never below zero, whoever else is moving it) and
    write the movement with the stock it left. False moves raise before anything changes."""
    stock_after = db.session.execute(
        update(Goods)
        .where(Goods.id == goods.id, Goods.stock + change >= 0)
        .values(stock=Goods.stock + change)
        .returning(Goods.stock)
        .execution_options(synchronize_session=False)
    ).scalar()
    if stock_after is None:
        current = db.session.scalar(db.select(Goods.stock).where(Goods.id == goods.id))
        raise Conflict(
            _(
                "Only %(stock)d of %(goods)s left in stock.",
                stock=current or 0,
                goods=goods.name,
            ),
            code="out_of_stock",
            field="quantity",
        )
    movement = StockMovement(
        store_id=goods.store_id,
        goods_id=goods.id,
        kind=kind,
        change=change,
        stock_after=stock_after,
        actor_id=getattr(actor, "id", None),
        **links,
    )
    db.session.add(movement)
    db.session.expire(goods, ["stock"])
    return movement


def adjust(actor, goods: Goods, change: int, reason: str, note: str = "") -> StockMovement:
    """Damaged, expired, lost or found: stock moves with a reason, audited."""
    ensure(can_run_store(actor, goods.store))
    if reason not in set(AdjustmentReason):
        raise ValidationFailed(_("Choose a reason."), field="reason")
    if not isinstance(change, int) or change == 0 or abs(change) > MAX_QUANTITY:
        raise ValidationFailed(_("Enter a change other than zero."), field="change")
    movement = move_stock(
        goods, change, MovementKind.ADJUSTMENT, actor=actor, reason=reason, note=note.strip()[:500]
    )
    record(actor, "stock.adjust", goods, region=goods.store.region, change=change, reason=reason)
    return movement


def stocktake(
    actor,
    store: Store,
    counted: dict[int, int],
    note: str = "",
    shown: dict[int, int] | None = None,
) -> list[StockMovement]:
    """Post the differences between what was counted on the shelves and the system's stock.

    `shown` is the stock each item had when the count sheet was shown. An item that moved
    since (a redemption at the counter while staff counted) cannot be told apart: counted
    before or after it left the shelf? The whole stock-take is refused, naming those items
    to count again; nothing is posted.
    """
    ensure(can_run_store(actor, store))
    shown = shown or {}
    current = {}
    for goods_id, count in sorted(counted.items()):
        goods = get_goods(store, goods_id)
        if not isinstance(count, int) or not 0 <= count <= 10 * MAX_QUANTITY:
            raise ValidationFailed(_("Counts are whole numbers, zero or more."), field="counted")
        current[goods_id] = (
            goods,
            db.session.scalar(db.select(Goods.stock).where(Goods.id == goods.id).with_for_update()),
        )
    moved = [
        goods.name
        for goods_id, (goods, stock) in current.items()
        if goods_id in shown and shown[goods_id] != stock
    ]
    if moved:
        raise Conflict(
            _(
                "These goods moved while you counted: %(names)s. Count them again.",
                names=", ".join(moved),
            ),
            code="moved_while_counting",
        )
    movements = []
    for goods_id, (goods, stock) in current.items():
        if counted[goods_id] != stock:
            movements.append(
                move_stock(
                    goods,
                    counted[goods_id] - stock,
                    MovementKind.STOCKTAKE,
                    actor=actor,
                    note=(note or "").strip()[:500],
                )
            )
    record(
        actor,
        "stock.take",
        store,
        region=store.region,
        counted=len(counted),
        differences=len(movements),
    )
    return movements


def low_stock(store: Store) -> list[Goods]:
    return db.session.scalars(
        db.select(Goods)
        .where(Goods.store_id == store.id, Goods.active, Goods.stock <= Goods.low_stock)
        .order_by(Goods.stock, Goods.name)
    ).all()


def movements_of(goods: Goods, limit: int = 200) -> list[StockMovement]:
    return db.session.scalars(
        db.select(StockMovement)
        .filter_by(goods_id=goods.id)
        .order_by(StockMovement.id.desc())
        .limit(limit)
    ).all()


# -- donations ----------------------------------------------------------------------------


@dataclass
class DonationItem:
    """One line of a donation: existing goods by id, or new goods by name and price."""

    quantity: int
    goods_id: int | None = None
    value_fen: int = 0
    new_goods: GoodsDetails | None = None


def _serial(prefix: str, store: Store, number: int, on: date) -> str:
    return f"{prefix}{store.id:04d}-{on:%Y%m%d}-{number:06d}"


def receive_donation(
    actor,
    store: Store,
    *,
    donor_kind: str,
    donor_name: str,
    donated_on: date,
    items: list[DonationItem],
    donor_phone: str = "",
    note: str = "",
    key: str | None = None,
) -> Donation:
    """Record goods received: stock rises through one movement per line, and the receipt
    gets a serial number. With a key, the same submission sent twice records once and
    answers the first donation."""
    ensure(can_run_store(actor, store))
    if key and (done := db.session.scalar(db.select(Donation).filter_by(request_key=key))):
        return done
    problems = Problems()
    donor_name = (donor_name or "").strip()
    if donor_kind not in set(DonorKind):
        problems.errors.append(ValidationFailed(_("Choose who donated."), field="donor_kind"))
    elif donor_kind != DonorKind.ANONYMOUS and not donor_name:
        problems.errors.append(
            ValidationFailed(_("Enter the donor's name, or choose anonymous."), field="donor_name")
        )
    if donated_on > local_today():
        problems.errors.append(
            ValidationFailed(_("The date cannot be in the future."), field="donated_on")
        )
    if not items:
        problems.errors.append(ValidationFailed(_("Add at least one item."), field="items"))
    for item in items:
        if not isinstance(item.quantity, int) or not 0 < item.quantity <= MAX_QUANTITY:
            problems.errors.append(
                ValidationFailed(_("Quantities are whole numbers above zero."), field="items")
            )
            break
        if not isinstance(item.value_fen, int) or not 0 <= item.value_fen <= MAX_VALUE_FEN:
            problems.errors.append(ValidationFailed(_("Values are zero or more."), field="items"))
            break
    if sum(item.value_fen for item in items if isinstance(item.value_fen, int)) > MAX_VALUE_FEN:
        problems.errors.append(
            ValidationFailed(_("The total value is larger than 20 million yuan."), field="items")
        )
    problems.raise_any()
    donation = Donation(
        store_id=store.id,
        serial=f"t-{secrets.token_hex(12)}",  # numbered once the id is known
        donor_kind=donor_kind,
        donor_name="" if donor_kind == DonorKind.ANONYMOUS else donor_name[:100],
        donor_phone=(donor_phone or "").strip()[:20],
        donated_on=donated_on,
        value_fen=sum(item.value_fen for item in items),
        note=(note or "").strip()[:1000],
        received_by_id=getattr(actor, "id", None),
        request_key=key or None,
    )
    # Two copies of one submission at once meet at the unique key: the second waits for
    # the first (PostgreSQL) or runs after it (SQLite) and answers 409.
    insert_unique(
        db.session,
        donation,
        Conflict(_("This donation has just been recorded."), code="already_recorded"),
    )
    donation.serial = _serial("JZ", store, donation.id, donated_on)
    # Existing goods in id order, as redemptions lock them: no deadlock between the two.
    for item in sorted(items, key=lambda i: (i.goods_id is None, i.goods_id or 0)):
        if item.new_goods is not None:
            goods = add_goods(actor, store, item.new_goods)
        else:
            goods = get_goods(store, item.goods_id or 0)
        db.session.add(
            DonationLine(
                donation_id=donation.id,
                goods_id=goods.id,
                quantity=item.quantity,
                value_fen=item.value_fen,
            )
        )
        move_stock(
            goods, item.quantity, MovementKind.DONATION, actor=actor, donation_id=donation.id
        )
    db.session.flush()
    record(
        actor,
        "donation.receive",
        donation,
        region=store.region,
        serial=donation.serial,
        value_fen=donation.value_fen,
        lines=len(items),
    )
    return donation


def donations_of(store: Store, start: date, end: date) -> list[Donation]:
    return db.session.scalars(
        db.select(Donation)
        .where(
            Donation.store_id == store.id, Donation.donated_on >= start, Donation.donated_on < end
        )
        .order_by(Donation.donated_on, Donation.id)
        .options(selectinload(Donation.lines).selectinload(DonationLine.goods))
    ).all()


def donation_totals(store: Store) -> tuple[int, int]:
    """(count, value in fen) of every donation the store received."""
    count, value = db.session.execute(
        db.select(func.count(Donation.id), func.coalesce(func.sum(Donation.value_fen), 0)).where(
            Donation.store_id == store.id
        )
    ).one()
    return count, value


# -- households in difficulty -------------------------------------------------------------


def households_in(region: Region, *, active_only: bool = True) -> list[Household]:
    select = (
        db.select(Household)
        .join(Household.region)
        .where(Region.path.startswith(region.path, autoescape=True))
        .options(selectinload(Household.user))
        .order_by(Household.id)
    )
    if active_only:
        select = select.where(Household.active)
    return db.session.scalars(select).all()


def keep_household(
    actor, region: Region, person, *, reason: str = "", monthly_points: int = 0
) -> Household:
    """Put a household on the list (or update it): the staff who may allocate points to
    people living in that region keep it."""
    from timebank.ledger.services import can_allocate

    ensure(can_allocate(actor, region, person))
    if not isinstance(monthly_points, int) or not 0 <= monthly_points <= 100_000:
        raise ValidationFailed(
            _("Monthly points are a whole number from 0 to 100,000."), field="monthly_points"
        )
    household = db.session.scalar(db.select(Household).filter_by(user_id=person.id))
    if household is None:
        household = Household(user_id=person.id, added_by_id=getattr(actor, "id", None))
        db.session.add(household)
    household.region_id = region.id
    household.reason = (reason or "").strip()[:200]
    household.monthly_points = monthly_points
    household.active = True
    db.session.flush()
    record(
        actor,
        "household.keep",
        household,
        region=region,
        user_id=person.id,
        monthly_points=monthly_points,
    )
    return household


def drop_household(actor, household: Household) -> Household:
    from timebank.ledger.services import can_allocate

    ensure(can_allocate(actor, household.region, household.user))
    household.active = False
    record(actor, "household.drop", household, region=household.region, user_id=household.user_id)
    return household


def monthly_batch_lines(region: Region) -> str:
    """The allocation page's lines for every household on the list with monthly points."""
    return "\n".join(
        f"{h.user.phone}, {h.monthly_points}"
        for h in households_in(region)
        if h.monthly_points > 0 and h.user.phone
    )

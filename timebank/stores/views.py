"""Store pages: the stores one runs, goods and stock, donations with their receipts,
stock-takes, redemption receipts, the public monthly notice, and households in difficulty."""

from datetime import date

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user
from sqlalchemy import func
from sqlalchemy.orm import selectinload

from timebank.auth.models import Role, User
from timebank.core.errors import DomainError
from timebank.core.forms import options
from timebank.core.security import requires
from timebank.extensions import db
from timebank.regions.models import Region, RegionLevel
from timebank.stations.models import Station
from timebank.stores import redemptions, services
from timebank.stores.forms import (
    AdjustForm,
    CancelForm,
    DonationForm,
    GoodsForm,
    HouseholdForm,
    StoreForm,
    yuan_to_fen,
)
from timebank.stores.models import (
    LABELS,
    Donation,
    DonorKind,
    Goods,
    Household,
    Redemption,
    RedemptionLine,
    RedemptionState,
)
from timebank.volunteers import identity

bp = Blueprint("stores", __name__)

# Every store enum's value names one label (no value is shared between them).
_LABELS = {str(key): label for key, label in LABELS.items()}


@bp.app_template_filter("goods_label")
def goods_label(value) -> str:
    return str(_LABELS.get(str(value), value or ""))


@bp.app_template_filter("yuan")
def yuan(fen) -> str:
    """Fen as yuan with two decimals and grouping, in the reader's locale."""
    from flask_babel import format_decimal

    return format_decimal((fen or 0) / 100, format="#,##0.00")


def _actor():
    return current_user._get_current_object()


def _run(store_id: int):
    return services.get_run_store(_actor(), store_id)


# -- stores -------------------------------------------------------------------------------


def _places_for(actor) -> list[tuple[str, str]]:
    """Stations and communities where this person may open a store."""
    from timebank.core.security import administered_regions

    choices = []
    for grant in actor.grants_of(Role.STATION_STAFF):
        station = db.session.get(Station, grant.scope_id)
        if station is not None:
            choices.append((f"station:{station.id}", station.name))
    roots = administered_regions(actor) if not actor.is_superadmin else []
    select = db.select(Region).where(Region.level == RegionLevel.COMMUNITY)
    if not actor.is_superadmin:
        if not roots:
            return choices
        from sqlalchemy import or_

        select = select.where(
            or_(*(Region.path.startswith(r.path, autoescape=True) for r in roots))
        )
    for region in db.session.scalars(select.order_by(Region.path).limit(500)):
        choices.append((f"region:{region.id}", region.name))
    return choices


@bp.route("/stores/")
@requires()
def index():
    actor = _actor()
    stores = services.stores_for(actor)
    if len(stores) == 1 and actor.has_role("cashier") and not actor.has_role("admin"):
        return redirect(url_for(".show", store_id=stores[0].id))
    return render_template("stores/index.html", stores=stores, can_open=bool(_places_for(actor)))


@bp.route("/stores/new", methods=["GET", "POST"])
@requires(Role.STATION_STAFF, Role.ADMIN)
def new():
    form = StoreForm()
    form.place.choices = options(_places_for(_actor()))
    if not form.place.choices:
        abort(403)
    if form.validate_on_submit():
        kind, _sep, number = (form.place.data or "").partition(":")
        details = services.StoreDetails(
            name=form.name.data,
            station_id=int(number) if kind == "station" and number.isdigit() else None,
            region_id=int(number) if kind == "region" and number.isdigit() else None,
            address=form.address.data,
            opening_hours=form.opening_hours.data,
            phone=form.phone.data,
        )
        try:
            store = services.create_store(_actor(), details)
        except DomainError as exc:
            db.session.rollback()
            form.fail(exc)
        else:
            db.session.commit()
            flash(_("%(store)s is open. Add its goods next.", store=store.name), "success")
            return redirect(url_for(".show", store_id=store.id))
    return render_template("stores/form.html", form=form)


@bp.route("/stores/<int:store_id>")
@requires()
def show(store_id: int):
    store = _run(store_id)
    goods = services.goods_of(store)
    today_count, today_points = db.session.execute(
        db.select(func.count(Redemption.id), func.coalesce(func.sum(Redemption.points), 0)).where(
            Redemption.store_id == store.id,
            Redemption.state == RedemptionState.COMPLETED,
            Redemption.created_at >= redemptions.day_start(),
        )
    ).one()
    return render_template(
        "stores/show.html",
        store=store,
        goods=goods,
        low=[g for g in goods if g.active and g.is_low],
        today_count=today_count,
        today_points=today_points,
        donations=services.donation_totals(store),
        can_manage=services.can_manage_store(_actor(), store),
    )


# -- goods --------------------------------------------------------------------------------


def _details(form: GoodsForm) -> services.GoodsDetails:
    return services.GoodsDetails(
        name=form.name.data,
        points_price=form.points_price.data,
        category=form.category.data,
        unit=form.unit.data,
        barcode=form.barcode.data,
        low_stock=form.low_stock.data if form.low_stock.data is not None else 5,
        limit_quantity=form.limit_quantity.data,
        limit_period=form.limit_period.data or None,
        eligibility=form.eligibility.data,
        active=form.active.data,
    )


def _save_photo(form: GoodsForm, goods: Goods) -> None:
    upload = form.photo.data
    if upload and getattr(upload, "filename", ""):
        services.set_photo(_actor(), goods, upload.read(services.MAX_PHOTO_BYTES + 1))


@bp.route("/stores/<int:store_id>/goods/new", methods=["GET", "POST"])
@bp.route("/stores/<int:store_id>/goods/<int:goods_id>/edit", methods=["GET", "POST"])
@requires()
def goods_form(store_id: int, goods_id: int | None = None):
    store = _run(store_id)
    goods = services.get_goods(store, goods_id) if goods_id else None
    form = GoodsForm(obj=goods)
    if form.validate_on_submit():
        try:
            if goods is None:
                goods = services.add_goods(_actor(), store, _details(form))
            else:
                services.update_goods(_actor(), goods, _details(form))
            _save_photo(form, goods)
        except DomainError as exc:
            db.session.rollback()
            form.fail(exc)
        else:
            db.session.commit()
            flash(_("%(goods)s saved.", goods=goods.name), "success")
            return redirect(url_for(".show", store_id=store.id))
    return render_template("stores/goods_form.html", store=store, goods=goods, form=form)


@bp.route("/stores/<int:store_id>/goods/<int:goods_id>", methods=["GET", "POST"])
@requires()
def goods_history(store_id: int, goods_id: int):
    store = _run(store_id)
    goods = services.get_goods(store, goods_id)
    form = AdjustForm()
    if form.validate_on_submit():
        try:
            services.adjust(
                _actor(), goods, form.change.data, form.reason.data, form.note.data or ""
            )
        except DomainError as exc:
            db.session.rollback()
            form.fail(exc)
        else:
            db.session.commit()
            flash(_("Stock adjusted."), "success")
            return redirect(url_for(".goods_history", store_id=store.id, goods_id=goods.id))
    return render_template(
        "stores/goods_history.html",
        store=store,
        goods=goods,
        movements=services.movements_of(goods),
        form=form,
    )


@bp.route("/goods/<int:goods_id>/photo")
def goods_photo(goods_id: int):
    goods = db.session.get(Goods, goods_id)
    if goods is None or goods.photo_type is None or not goods.active:
        abort(404)
    response = Response(goods.photo, mimetype=goods.photo_type)
    response.headers["Cache-Control"] = "public, max-age=300"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


# -- donations ----------------------------------------------------------------------------


def _donation_items(form: DonationForm) -> list[services.DonationItem]:
    items = []
    for line in form.lines:
        row = line.form
        if not row.quantity.data and not row.new_name.data and not row.goods_id.data:
            continue  # a blank row
        new_goods = None
        goods_id = int(row.goods_id.data) if (row.goods_id.data or "").isdigit() else None
        if goods_id is None and row.new_name.data:
            new_goods = services.GoodsDetails(
                name=row.new_name.data, points_price=row.new_price.data or 0
            )
        items.append(
            services.DonationItem(
                quantity=row.quantity.data or 0,
                goods_id=goods_id,
                value_fen=yuan_to_fen(row.value_yuan.data),
                new_goods=new_goods,
            )
        )
    return items


@bp.route("/stores/<int:store_id>/donations/new", methods=["GET", "POST"])
@requires()
def donation_new(store_id: int):
    store = _run(store_id)
    form = DonationForm()
    if request.method == "GET":
        form.donated_on.data = services.local_today()
    choices = options([("", "—")] + [(g.id, g.name) for g in services.goods_of(store)])
    for line in form.lines:
        line.form.goods_id.choices = choices
    if form.validate_on_submit():
        try:
            donation = services.receive_donation(
                _actor(),
                store,
                donor_kind=form.donor_kind.data,
                donor_name=form.donor_name.data or "",
                donor_phone=form.donor_phone.data or "",
                donated_on=form.donated_on.data,
                items=_donation_items(form),
                note=form.note.data or "",
                key=f"form:{_actor().id}:{form.key.data[:64]}",
            )
        except DomainError as exc:
            db.session.rollback()
            form.fail(exc)
        else:
            db.session.commit()
            flash(_("Donation recorded; stock updated."), "success")
            return redirect(url_for(".donation", store_id=store.id, donation_id=donation.id))
    return render_template("stores/donation_form.html", store=store, form=form)


@bp.route("/stores/<int:store_id>/donations/<int:donation_id>")
@requires()
def donation(store_id: int, donation_id: int):
    """The receipt (捐赠回执), printable."""
    store = _run(store_id)
    found = db.session.get(Donation, donation_id)
    if found is None or found.store_id != store.id:
        abort(404)
    return render_template("stores/donation_receipt.html", store=store, donation=found)


@bp.route("/stores/<int:store_id>/donations")
@requires()
def donations(store_id: int):
    store = _run(store_id)
    page = db.paginate(
        db.select(Donation)
        .filter_by(store_id=store.id)
        .order_by(Donation.donated_on.desc(), Donation.id.desc()),
        per_page=50,
    )
    return render_template("stores/donations.html", store=store, page=page)


# -- stock-take ---------------------------------------------------------------------------


@bp.route("/stores/<int:store_id>/stocktake", methods=["GET", "POST"])
@requires()
def stocktake(store_id: int):
    """Count the shelves; the differences are posted as stock movements."""
    store = _run(store_id)
    goods = services.goods_of(store)
    errors = {}
    if request.method == "POST":
        counted = {}  # CSRF is checked for every form post by CSRFProtect
        for item in goods:
            raw = (request.form.get(f"count-{item.id}") or "").strip()
            if raw == "":
                continue  # not counted this time
            if not raw.isdigit():
                errors[item.id] = _("Enter a whole number, zero or more.")
                continue
            counted[item.id] = int(raw)
        shown = {
            item.id: int(request.form[f"shown-{item.id}"])
            for item in goods
            if (request.form.get(f"shown-{item.id}") or "").isdigit()
        }
        if not errors and not counted:
            flash(_("Enter at least one count."), "error")
        elif not errors:
            try:
                movements = services.stocktake(
                    _actor(), store, counted, request.form.get("note", ""), shown
                )
            except DomainError as exc:
                db.session.rollback()
                flash(str(exc.message), "error")
            else:
                db.session.commit()
                flash(
                    ngettext(
                        "%(num)d item counted, %(diff)d difference posted.",
                        "%(num)d items counted, %(diff)d differences posted.",
                        len(counted),
                        diff=len(movements),
                    ),
                    "success",
                )
                return redirect(url_for(".show", store_id=store.id))
    return render_template("stores/stocktake.html", store=store, goods=goods, errors=errors)


# -- redemptions --------------------------------------------------------------------------


@bp.route("/stores/<int:store_id>/redemptions")
@requires()
def redemption_list(store_id: int):
    store = _run(store_id)
    page = db.paginate(
        db.select(Redemption)
        .filter_by(store_id=store.id)
        .order_by(Redemption.id.desc())
        .options(selectinload(Redemption.user)),
        per_page=50,
    )
    return render_template("stores/redemptions.html", store=store, page=page)


@bp.route("/stores/<int:store_id>/redemptions/<int:redemption_id>", methods=["GET", "POST"])
@requires()
def receipt(store_id: int, redemption_id: int):
    """The receipt, printable; cancel it the same day."""
    store = _run(store_id)
    found = redemptions.get_redemption(store, redemption_id)
    form = CancelForm()
    if form.validate_on_submit():
        try:
            redemptions.cancel(_actor(), found, form.reason.data)
        except DomainError as exc:
            db.session.rollback()
            form.fail(exc)
        else:
            db.session.commit()
            flash(_("Cancelled: the points and the goods are back."), "success")
            return redirect(url_for(".receipt", store_id=store.id, redemption_id=found.id))
    return render_template(
        "stores/receipt.html",
        store=store,
        redemption=found,
        form=form,
        cancellable=found.state == RedemptionState.COMPLETED and redemptions.made_today(found),
    )


# -- the public notice (公示) ---------------------------------------------------------------


def _month(value: str | None) -> date:
    today = services.local_today()
    try:
        year, month = (int(part) for part in (value or "").split("-"))
        if 2000 <= year <= today.year:
            return date(year, month, 1)
    except ValueError:
        pass
    return today.replace(day=1)


def _next_month(first: date) -> date:
    return date(first.year + first.month // 12, first.month % 12 + 1, 1)


@bp.route("/stores/<int:store_id>/notice")
def notice(store_id: int):
    """What came in and went out in a month, for anyone to read: donors by name unless
    anonymous, recipients masked."""
    store = services.get_store(store_id)
    first = _month(request.args.get("month"))
    end = _next_month(first)
    donations = services.donations_of(store, first, end)
    lines = db.session.execute(
        db.select(
            Redemption.created_at,
            User.name,
            Goods.name,
            RedemptionLine.quantity,
            RedemptionLine.points_price,
        )
        .join(RedemptionLine.redemption)
        .join(User, User.id == Redemption.user_id)
        .join(Goods, Goods.id == RedemptionLine.goods_id)
        .where(
            Redemption.store_id == store.id,
            Redemption.state == RedemptionState.COMPLETED,
            Redemption.created_at >= redemptions.local_midnight(first),
            Redemption.created_at < redemptions.local_midnight(end),
        )
        .order_by(Redemption.created_at, RedemptionLine.id)
    ).all()
    redeemed = [
        {
            "at": at,
            "recipient": identity.mask_name(name),
            "goods": goods,
            "quantity": quantity,
            "points": quantity * price,
        }
        for at, name, goods, quantity, price in lines
    ]
    previous = date(first.year - (first.month == 1), (first.month - 2) % 12 + 1, 1)
    return render_template(
        "stores/notice.html",
        store=store,
        month=first,
        previous=previous,
        following=end if end <= services.local_today() else None,
        donations=donations,
        donated_fen=sum(d.value_fen for d in donations),
        redeemed=redeemed,
        redeemed_points=sum(r["points"] for r in redeemed),
        anonymous=DonorKind.ANONYMOUS,
    )


# -- households in difficulty ---------------------------------------------------------------


@bp.route("/staff/households", methods=["GET", "POST"])
@requires(Role.STATION_STAFF, Role.ADMIN)
def households():
    from timebank.auth.services import normalise_login
    from timebank.ledger.services import allocation_regions

    actor = _actor()
    regions = allocation_regions(actor)
    if not regions:
        abort(403)
    form = HouseholdForm()
    communities = []
    for region in regions:
        if region.level == RegionLevel.COMMUNITY:
            communities.append(region)
        else:
            communities.extend(
                db.session.scalars(
                    db.select(Region)
                    .where(
                        Region.level == RegionLevel.COMMUNITY,
                        Region.path.startswith(region.path, autoescape=True),
                    )
                    .order_by(Region.path)
                    .limit(500)
                )
            )
    form.region_id.choices = options((r.id, r.name) for r in communities)
    if form.validate_on_submit():
        region = next((r for r in communities if str(r.id) == form.region_id.data), None)
        login = normalise_login(form.person.data)
        person = db.session.scalar(
            db.select(User).where((User.phone == login) | (User.username == login))
        )
        if region is None:
            form.region_id.errors = [_("Choose a community.")]
        elif person is None:
            form.person.errors = [_("Nobody has registered with this number.")]
        else:
            try:
                services.keep_household(
                    actor,
                    region,
                    person,
                    reason=form.reason.data or "",
                    monthly_points=form.monthly_points.data or 0,
                )
            except DomainError as exc:
                db.session.rollback()
                form.fail(exc)
            else:
                db.session.commit()
                flash(_("%(name)s is on the list.", name=person.name), "success")
                return redirect(url_for(".households"))
    listed = []
    for region in regions:
        listed.extend(services.households_in(region))
    return render_template("stores/households.html", form=form, households=listed, regions=regions)


@bp.route("/staff/households/<int:household_id>/drop", methods=["POST"])
@requires(Role.STATION_STAFF, Role.ADMIN)
def drop_household(household_id: int):
    household = db.session.get(Household, household_id)
    if household is None:
        abort(404)
    services.drop_household(_actor(), household)
    db.session.commit()
    flash(_("%(name)s is off the list.", name=household.user.name), "success")
    return redirect(url_for(".households"))

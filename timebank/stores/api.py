"""API: love supermarkets, their goods and stock, donations, redemptions at the counter, and
the list of households in difficulty."""

from flask import Response, jsonify, request
from flask.views import MethodView
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy.orm import selectinload

from timebank.audit.services import record
from timebank.auth.models import User
from timebank.core.api import Blueprint, paginate
from timebank.core.errors import DomainError, NotFound, PermissionDenied
from timebank.core.security import requires
from timebank.extensions import db
from timebank.ledger.api import (
    REPLAY_DOC,
    REPLAYED_HEADER,
    _rename_field,
    caller_key,
    idempotent,
)
from timebank.regions.api import get_region
from timebank.regions.models import Region
from timebank.stores import redemptions, services
from timebank.stores.models import Goods, Household, Redemption, Store
from timebank.stores.schemas import (
    AdjustmentSchema,
    CancelSchema,
    DonationCreateSchema,
    DonationSchema,
    GoodsFieldsSchema,
    GoodsPageSchema,
    GoodsQuerySchema,
    GoodsSchema,
    HouseholdCreateSchema,
    HouseholdPageSchema,
    HouseholdQuerySchema,
    HouseholdSchema,
    MovementSchema,
    RedemptionCreateSchema,
    RedemptionSchema,
    ResidentAtCounterSchema,
    ResidentListSchema,
    ResidentQuerySchema,
    StocktakeResultSchema,
    StocktakeSchema,
    StoreCreateSchema,
    StorePageSchema,
    StoreQuerySchema,
    StoreSchema,
    StoreUpdateSchema,
    TicketQuerySchema,
)

blp = Blueprint(
    "Stores",
    __name__,
    url_prefix="",
    description="Love supermarkets: goods, stock, donations, redemption at the counter",
)


def _actor():
    return current_user._get_current_object()


def _is_signed_in() -> bool:
    return bool(getattr(current_user, "is_authenticated", False))


# -- stores -------------------------------------------------------------------------------


@blp.route("/stores")
class Stores(MethodView):
    @blp.arguments(StoreQuerySchema, location="query")
    @blp.response(200, StorePageSchema)
    @blp.doc(security=[])
    def get(self, args):
        """Open stores (anyone), or with mine=true the stores the caller runs"""
        if args["mine"]:
            if not _is_signed_in():
                raise PermissionDenied(_("Please sign in first."), status=401, code="unauthorized")
            ids = [s.id for s in services.stores_for(_actor())]
            select = db.select(Store).where(Store.id.in_(ids))
        else:
            select = db.select(Store).where(Store.active)
        if args.get("region_id"):
            region = get_region(args["region_id"], field="region_id")
            select = select.join(Store.region).where(
                Region.path.startswith(region.path, autoescape=True)
            )
        return paginate(select.order_by(Store.name, Store.id), args["page"], args["per_page"])

    @requires()
    @blp.arguments(StoreCreateSchema)
    @blp.response(201, StoreSchema)
    def post(self, args):
        """Open a store at a station or in a community"""
        store = services.create_store(_actor(), services.StoreDetails(**args))
        db.session.commit()
        return store


@blp.route("/stores/<int:store_id>")
class StoreItem(MethodView):
    @blp.response(200, StoreSchema)
    @blp.doc(security=[])
    def get(self, store_id):
        """One store"""
        return services.get_store(store_id)

    @requires()
    @blp.arguments(StoreUpdateSchema)
    @blp.response(200, StoreSchema)
    def patch(self, args, store_id):
        """Change a store's details, or close it (active=false)"""
        store = services.update_store(_actor(), services.get_store(store_id), **args)
        db.session.commit()
        return store


# -- goods --------------------------------------------------------------------------------


@blp.route("/stores/<int:store_id>/goods")
class StoreGoods(MethodView):
    @blp.arguments(GoodsQuerySchema, location="query")
    @blp.response(200, GoodsPageSchema)
    @blp.doc(security=[])
    def get(self, args, store_id):
        """The store's goods: active ones for anyone, all of them for those who run it"""
        store = services.get_store(store_id)
        select = db.select(Goods).filter_by(store_id=store.id)
        if not (_is_signed_in() and services.can_run_store(_actor(), store)):
            select = select.filter_by(active=True)
        if args.get("barcode"):
            select = select.filter_by(barcode=args["barcode"].strip())
        if args["q"]:
            select = select.where(Goods.name.contains(args["q"].strip(), autoescape=True))
        select = select.order_by(Goods.category, Goods.name, Goods.id)
        return paginate(select, args["page"], args["per_page"])

    @requires()
    @blp.arguments(GoodsFieldsSchema)
    @blp.response(201, GoodsSchema)
    def post(self, args, store_id):
        """Add goods to the store (stock arrives through donations)"""
        store = services.get_run_store(_actor(), store_id)
        goods = services.add_goods(_actor(), store, services.GoodsDetails(**args))
        db.session.commit()
        return goods


def _goods(store_id: int, goods_id: int) -> tuple[Store, Goods]:
    store = services.get_run_store(_actor(), store_id)
    return store, services.get_goods(store, goods_id)


@blp.route("/stores/<int:store_id>/goods/<int:goods_id>")
class GoodsItem(MethodView):
    @requires()
    @blp.response(200, GoodsSchema)
    def get(self, store_id, goods_id):
        """One item of the store's goods"""
        return _goods(store_id, goods_id)[1]

    @requires()
    @blp.arguments(GoodsFieldsSchema)
    @blp.response(200, GoodsSchema)
    def put(self, args, store_id, goods_id):
        """Change the goods' details (not the stock: adjust it or take stock)"""
        _store, goods = _goods(store_id, goods_id)
        services.update_goods(_actor(), goods, services.GoodsDetails(**args))
        db.session.commit()
        return goods


@blp.route("/stores/<int:store_id>/goods/<int:goods_id>/adjustments")
class Adjustments(MethodView):
    @requires()
    @blp.arguments(AdjustmentSchema)
    @blp.response(201, MovementSchema)
    def post(self, args, store_id, goods_id):
        """Adjust the stock with a reason (damaged, expired, lost, found, correction)"""
        _store, goods = _goods(store_id, goods_id)
        movement = services.adjust(_actor(), goods, args["change"], args["reason"], args["note"])
        db.session.commit()
        return movement


@blp.route("/stores/<int:store_id>/goods/<int:goods_id>/movements")
class Movements(MethodView):
    @requires()
    @blp.response(200, MovementSchema(many=True))
    def get(self, store_id, goods_id):
        """The goods' stock movements, newest first (the latest 200)"""
        return services.movements_of(_goods(store_id, goods_id)[1])


@blp.route("/stores/<int:store_id>/stocktakes")
class Stocktakes(MethodView):
    @requires()
    @blp.arguments(StocktakeSchema)
    @blp.response(201, StocktakeResultSchema)
    def post(self, args, store_id):
        """Post a stock-take: the count of each item; the differences move the stock"""
        store = services.get_run_store(_actor(), store_id)
        counted = {line["goods_id"]: line["counted"] for line in args["lines"]}
        shown = {line["goods_id"]: line["shown"] for line in args["lines"] if "shown" in line}
        movements = services.stocktake(_actor(), store, counted, args["note"], shown)
        db.session.commit()
        return {"counted": len(counted), "movements": movements}


# -- donations ----------------------------------------------------------------------------


@blp.route("/donations")
class Donations(MethodView):
    @requires()
    @blp.arguments(DonationCreateSchema)
    @blp.response(201, DonationSchema)
    def post(self, args):
        """Record goods received; stock rises and the receipt gets a serial number"""
        store = services.get_run_store(_actor(), args["store_id"])
        items = [
            services.DonationItem(
                quantity=item["quantity"],
                goods_id=item.get("goods_id"),
                value_fen=item["value_fen"],
                new_goods=services.GoodsDetails(**item["new_goods"])
                if "new_goods" in item
                else None,
            )
            for item in args["items"]
        ]
        # Optional here: with it, a retried POST answers the first donation.
        client_key = request.headers.get("Idempotency-Key", "").strip()[:100]
        donation = services.receive_donation(
            _actor(),
            store,
            donor_kind=args["donor_kind"],
            donor_name=args["donor_name"],
            donor_phone=args["donor_phone"],
            donated_on=args["donated_on"],
            items=items,
            note=args["note"],
            key=caller_key(_actor(), client_key) if client_key else None,
        )
        db.session.commit()
        return donation


@blp.route("/donations/<int:donation_id>")
class DonationItemView(MethodView):
    @requires()
    @blp.response(200, DonationSchema)
    def get(self, donation_id):
        """One donation and its lines"""
        from timebank.stores.models import Donation

        donation = db.session.get(Donation, donation_id)
        if donation is None or not services.can_run_store(_actor(), donation.store):
            raise NotFound(_("No such donation."))
        return donation


# -- the counter ------------------------------------------------------------------------------


@blp.route("/stores/<int:store_id>/residents/lookup")
class ResidentLookup(MethodView):
    @requires()
    @blp.arguments(ResidentQuerySchema)
    @blp.response(200, ResidentListSchema)
    def post(self, args, store_id):
        """Identify a resident at the counter by a scanned code, or find them by mobile
        number or name (masked): each answer carries the ticket the counter serves them
        with. A POST: it is audited, and a code stays out of URLs and access logs"""
        store = services.get_run_store(_actor(), store_id)
        if args.get("code"):
            found = [redemptions.identify(args["code"])]
        else:
            found = redemptions.search_residents(store, args.get("q"))
        record(_actor(), "store.identify", store, region=store.region, users=[u.id for u in found])
        items = [redemptions.masked(user, store) for user in found]
        db.session.commit()
        return {"items": items}


@blp.route("/stores/<int:store_id>/residents/<int:user_id>")
class ResidentAtCounter(MethodView):
    @requires()
    @blp.arguments(TicketQuerySchema, location="query")
    @blp.response(200, ResidentAtCounterSchema)
    def get(self, args, store_id, user_id):
        """What the counter needs: the points balance, eligibility, and what is left of
        each limited item this period (with the ticket the lookup gave)"""
        store = services.get_run_store(_actor(), store_id)
        redemptions.check_ticket(store, user_id, args.get("ticket"))
        user = db.session.get(User, user_id)
        if user is None:
            raise NotFound(_("No such resident."), field="user_id")
        limited = [g for g in services.goods_of(store, active_only=True) if g.limit_quantity]
        return {
            **redemptions.masked(user, store),
            "points_balance": redemptions.points_balance(user),
            "in_difficulty": redemptions.in_difficulty(user),
            "allowances": [
                {"goods_id": g.id, "left": redemptions.allowance(user, g)} for g in limited
            ],
        }


@blp.route("/redemptions")
class Redemptions(MethodView):
    @requires()
    @idempotent
    @blp.arguments(RedemptionCreateSchema)
    @blp.response(201, RedemptionSchema)
    @blp.alt_response(200, schema=RedemptionSchema, success=True, **REPLAY_DOC)
    def post(self, args, idempotency_key):
        """Redeem points for goods at the counter: points, stock and the redemption move
        together or not at all; a retried confirm with the same key redeems once"""
        actor = _actor()
        store = services.get_run_store(actor, args["store_id"])
        if "code" in args:
            resident = redemptions.identify(args["code"])
        else:
            redemptions.check_ticket(store, args["user_id"], args.get("ticket"))
            resident = db.session.get(User, args["user_id"])
            if resident is None:
                raise NotFound(_("No such resident."), field="user_id")
        lines = [(line["goods_id"], line["quantity"]) for line in args["lines"]]
        try:
            result = redemptions.redeem(
                actor, store, resident, lines, key=caller_key(actor, idempotency_key)
            )
        except DomainError as error:
            _rename_field(error, {})
            raise
        # Not a column: the balance after this redemption, for the receipt.
        result.redemption.balance = result.balance
        # Serialized before the commit expires what it reads (no second transaction to
        # reload it); a Response passes through flask-smorest as it is.
        body = RedemptionSchema().dump(result.redemption)
        db.session.commit()
        response = jsonify(body)
        response.status_code = 200 if result.replayed else 201
        response.headers[REPLAYED_HEADER] = "true" if result.replayed else "false"
        return response


@blp.route("/redemptions/<int:redemption_id>")
class RedemptionItem(MethodView):
    @requires()
    @blp.response(200, RedemptionSchema)
    def get(self, redemption_id):
        """One redemption: its cashier's store, or the resident's own"""
        redemption = db.session.get(Redemption, redemption_id)
        actor = _actor()
        if redemption is None or not (
            redemption.user_id == actor.id or services.can_run_store(actor, redemption.store)
        ):
            raise NotFound(_("No such redemption."))
        return redemption


@blp.route("/redemptions/<int:redemption_id>/cancel")
class RedemptionCancel(MethodView):
    @requires()
    @blp.arguments(CancelSchema)
    @blp.response(200, RedemptionSchema)
    def post(self, args, redemption_id):
        """Cancel a redemption made today: points and stock go back, audited"""
        redemption = db.session.get(Redemption, redemption_id)
        if redemption is None:
            raise NotFound(_("No such redemption."))
        services.get_run_store(_actor(), redemption.store_id)
        redemptions.cancel(_actor(), redemption, args["reason"])
        db.session.commit()
        return redemption


# -- households in difficulty ---------------------------------------------------------------


@blp.route("/households")
class Households(MethodView):
    @requires()
    @blp.arguments(HouseholdQuerySchema, location="query")
    @blp.response(200, HouseholdPageSchema)
    def get(self, args):
        """Households in difficulty on a region's list (for those who allocate there)"""
        from timebank.ledger.services import allocation_regions

        region = get_region(args["region_id"], field="region_id")
        if not any(r.contains(region) for r in allocation_regions(_actor())):
            raise PermissionDenied(_("You do not keep this region's list."), field="region_id")
        select = (
            db.select(Household)
            .join(Household.region)
            .where(Household.active, Region.path.startswith(region.path, autoescape=True))
            .order_by(Household.id)
            .options(selectinload(Household.user))
        )
        return paginate(select, args["page"], args["per_page"])

    @requires()
    @blp.arguments(HouseholdCreateSchema)
    @blp.response(201, HouseholdSchema)
    def post(self, args):
        """Put a household on the list, with the points it receives each month"""
        region = get_region(args["region_id"], field="region_id")
        person = db.session.get(User, args["user_id"])
        if person is None:
            raise NotFound(_("That person does not exist."), field="user_id")
        household = services.keep_household(
            _actor(),
            region,
            person,
            reason=args["reason"],
            monthly_points=args["monthly_points"],
        )
        db.session.commit()
        return household


@blp.route("/households/<int:household_id>")
class HouseholdItem(MethodView):
    @requires()
    @blp.response(204)
    def delete(self, household_id):
        """Take a household off the list"""
        household = db.session.get(Household, household_id)
        if household is None:
            raise NotFound(_("No such household."))
        services.drop_household(_actor(), household)
        db.session.commit()
        return Response(status=204)

"""The counter (收银台): the page a cashier redeems residents' points on, with a USB
barcode scanner or a touch screen. The page only lays things out; its script does the work
through the JSON API, so the counter and a scanner app follow the same rules."""

from flask import Blueprint, render_template
from flask_babel import get_timezone
from flask_login import current_user

from timebank.core.security import requires
from timebank.stores import services
from timebank.stores.models import LimitPeriod

bp = Blueprint("store_counter", __name__)


@bp.route("/stores/<int:store_id>/pos")
@requires()
def pos(store_id: int):
    store = services.get_run_store(current_user._get_current_object(), store_id)
    return render_template(
        "stores/pos.html",
        store=store,
        goods=services.goods_of(store, active_only=True),
        periods={period.value: period.label for period in LimitPeriod},
        time_zone=str(get_timezone()),
    )

"""Bench-only endpoints that benchmarks compare against; registered only with BENCH_ENDPOINTS
on.

- ``GET /_bench/bare``: no work at all (gunicorn and Flask alone).
- ``POST /_bench/debit``: a bare ledger debit, the redemption benchmark's baseline. The
  caller authenticates with a bearer token exactly as for ``POST /api/v1/redemptions``,
  the store and the resident are looked up, the cashier's right to run the store and the
  counter's ticket for the resident are checked as there, and then only ``ledger.post``
  moves ``points`` from the resident's points account to the store's sales account, once
  per Idempotency-Key. No limits, no
  stock, no redemption rows, no audit line: what a redemption costs beyond this is its
  own work.
"""

from flask import Blueprint, g, request
from flask_babel import gettext as _
from flask_login import current_user

from timebank.auth.models import User
from timebank.core.errors import NotFound, PermissionDenied, ValidationFailed
from timebank.core.security import requires
from timebank.extensions import csrf, db
from timebank.ledger import services as ledger
from timebank.ledger.api import IDEMPOTENCY_HEADER, caller_key
from timebank.ledger.models import TransactionKind
from timebank.stores import services as stores
from timebank.stores.redemptions import check_ticket

bp = Blueprint("bench", __name__, url_prefix="/_bench")


@bp.route("/bare")
def bare():
    return {"ok": True}


def _whole(body: dict, name: str) -> int:
    value = body.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValidationFailed(_("Enter an amount above zero."), field=name)
    return value


@bp.route("/debit", methods=["POST"])
@csrf.exempt  # bearer tokens only (checked below), as the API's money-moving calls
@requires()
def debit():
    """Body {store_id, user_id, ticket, points}; header Idempotency-Key. 201, or 200 for a
    replay."""
    if g.get("auth_via") != "token":
        raise PermissionDenied(_("Please sign in first."), status=401, code="unauthorized")
    key = request.headers.get(IDEMPOTENCY_HEADER, "").strip()
    if not key:
        raise ValidationFailed(_("An idempotency key is required."), field=IDEMPOTENCY_HEADER)
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ValidationFailed(_("Send a JSON object."))
    actor = current_user._get_current_object()
    store = stores.get_run_store(actor, _whole(body, "store_id"))
    check_ticket(store, _whole(body, "user_id"), body.get("ticket"))
    resident = db.session.get(User, body["user_id"])
    if resident is None:
        raise NotFound(_("No such resident."), field="user_id")
    points = _whole(body, "points")
    posted = ledger.post(
        TransactionKind.REDEMPTION,
        [
            ledger.Leg(ledger.points_account(resident), -points),
            ledger.Leg(ledger.store_account(store), points),
        ],
        key=caller_key(actor, key),
        actor=actor,
        memo="bench debit",
    )
    answer = {"transaction_id": posted.transaction.id, "points": points}
    db.session.commit()
    return answer, 200 if posted.replayed else 201

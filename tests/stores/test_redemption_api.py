"""Redeeming at the counter through the API: identified by code, the cart, the one
transaction, retries, refusals that move nothing, limits, eligibility and cancellation."""

import uuid
from datetime import timedelta

from tests.stores.conftest import API
from timebank.extensions import db
from timebank.ledger import services as ledger
from timebank.ledger.models import AccountKind
from timebank.stores.models import Goods, Redemption, StockMovement
from timebank.volunteers import codes


def _in_app(app, call, *args, **kwargs):
    with app.test_request_context():
        return call(*args, **kwargs)


def card(app, profile) -> str:
    from timebank.volunteers.models import Volunteer

    return _in_app(app, lambda: codes.card_token(db.session.get(Volunteer, profile.id)))


def points(app, profile) -> int:
    def read():
        account = ledger.find_person_account(profile.user, AccountKind.POINTS)
        return ledger.balance_of(account) if account else 0

    return _in_app(app, read)


def stock_of(app, goods) -> int:
    return _in_app(app, lambda: db.session.get(Goods, goods.id).stock)


def count(app, model) -> int:
    return _in_app(app, lambda: db.session.scalar(db.select(db.func.count()).select_from(model)))


def ticket(app, store, user_id) -> str:
    """What the counter's lookup of this person gives (see test_a_cashier_needs_a_lookup)."""
    from timebank.auth.models import User
    from timebank.stores import redemptions
    from timebank.stores.models import Store

    return _in_app(
        app,
        lambda: redemptions.ticket_for(
            db.session.get(Store, store.id), db.session.get(User, user_id)
        ),
    )


def redeem(client, headers, store, lines, *, key=None, **resident):
    if "user_id" in resident and "ticket" not in resident:
        resident["ticket"] = ticket(client.application, store, resident["user_id"])
    body = {"store_id": store.id, "lines": lines, **resident}
    return client.post(
        f"{API}/redemptions",
        json=body,
        headers={**headers, "Idempotency-Key": key or str(uuid.uuid4())},
    )


def refused(response, status, code=None):
    assert response.status_code == status, response.json
    if code:
        assert response.json["error"]["code"] == code, response.json
    return response.json["error"]


def test_a_cashier_redeems_a_cart_for_a_resident_identified_by_card(
    app, client, auth, store, stock, resident
):
    rice, oil = stock(store, "大米 5kg", 30), stock(store, "食用油", 20, quantity=4)
    person = resident(points=100)
    cashier = auth("eastcashier")
    found = client.post(
        f"{API}/stores/{store.id}/residents/lookup",
        json={"code": card(app, person)},
        headers=cashier,
    )
    assert found.status_code == 200
    [who] = found.json["items"]
    assert who["user_id"] == person.user_id and who["name"].endswith("*")
    at_counter = client.get(
        f"{API}/stores/{store.id}/residents/{who['user_id']}",
        query_string={"ticket": who["ticket"]},
        headers=cashier,
    )
    assert at_counter.json["points_balance"] == 100 and not at_counter.json["in_difficulty"]

    key = str(uuid.uuid4())
    lines = [{"goods_id": rice.id, "quantity": 1}, {"goods_id": oil.id, "quantity": 2}]
    made = redeem(client, cashier, store, lines, key=key, code=card(app, person))
    assert made.status_code == 201, made.json
    assert made.headers["Idempotent-Replayed"] == "false"
    receipt = made.json
    assert receipt["points"] == 70 and receipt["balance"] == 30 and receipt["state"] == "completed"
    assert receipt["serial"].startswith(f"DH{store.id:04d}-")
    assert [(line["goods"], line["quantity"], line["points"]) for line in receipt["lines"]] == [
        ("大米 5kg", 1, 30),
        ("食用油", 2, 40),
    ]
    assert points(app, person) == 30
    assert (stock_of(app, rice), stock_of(app, oil)) == (9, 2)

    # The confirm retried after a network glitch: the same redemption, nothing more moves.
    again = redeem(client, cashier, store, lines, key=key, code=card(app, person))
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json["id"] == receipt["id"]
    assert points(app, person) == 30 and stock_of(app, rice) == 9
    # The same key for another cart is refused.
    other = [{"goods_id": rice.id, "quantity": 1}]
    refused(redeem(client, cashier, store, other, key=key, code=card(app, person)), 409)

    # The resident sees it in their statement.
    statement = client.get(f"{API}/me/accounts", headers=auth(person.user.phone))
    assert statement.status_code == 200
    mine = client.get(f"{API}/redemptions/{receipt['id']}", headers=auth(person.user.phone))
    assert mine.status_code == 200 and mine.json["points"] == 70


def test_a_failure_after_the_points_debit_leaves_everything_as_it_was(
    app, client, auth, store, stock, resident, monkeypatch
):
    rice = stock(store, "大米 5kg", 30)
    person = resident(points=100)
    from timebank.stores import redemptions

    def broken(*args, **kwargs):
        raise RuntimeError("the database went away after the debit")

    # Audit is written after the ledger debit: failing there must undo the debit too.
    monkeypatch.setattr(redemptions, "record", broken)
    answer = redeem(
        client,
        auth("eastcashier"),
        store,
        [{"goods_id": rice.id, "quantity": 2}],
        user_id=person.user_id,
    )
    refused(answer, 500, "server_error")
    assert points(app, person) == 100
    assert stock_of(app, rice) == 10
    assert count(app, Redemption) == 0
    assert (
        _in_app(
            app,
            lambda: db.session.scalar(
                db.select(db.func.count()).select_from(StockMovement).filter_by(kind="redemption")
            ),
        )
        == 0
    )


def test_bad_carts_are_refused_and_move_nothing(
    app, client, auth, store, other_store, stock, resident
):
    rice = stock(store, "大米 5kg", 30, quantity=3)
    soap = stock(store, "肥皂", 5, limit_quantity=2, limit_period="month")
    elsewhere = stock(other_store, "面粉", 10)
    person, poor = resident(points=200), resident(points=20)
    cashier = auth("eastcashier")

    def attempt(lines, status, error=None, **who):
        who = who or {"user_id": person.user_id}
        return refused(redeem(client, cashier, store, lines, **who), status, error)

    attempt([{"goods_id": rice.id, "quantity": 0}], 422)
    attempt([{"goods_id": rice.id, "quantity": -1}], 422)
    attempt([{"goods_id": elsewhere.id, "quantity": 1}], 422, "goods_elsewhere")
    attempt([{"goods_id": rice.id, "quantity": 4}], 409, "out_of_stock")
    attempt([{"goods_id": soap.id, "quantity": 3}], 409, "over_limit")
    one_rice = [{"goods_id": rice.id, "quantity": 1}]
    error = attempt(one_rice, 409, "insufficient_points", user_id=poor.user_id)
    assert "30" in error["message"] and "20" in error["message"]
    forged = "TBC.0000000000000000.1.AAAAAAAAAAAAAAAAAAAAAAAAAA"
    attempt(one_rice, 422, code=forged)
    attempt(one_rice, 403, user_id=999_999, ticket="made-up")
    # A cashier of another store, at this one.
    refused(
        redeem(
            client,
            auth("westcashier"),
            store,
            [{"goods_id": rice.id, "quantity": 1}],
            user_id=person.user_id,
        ),
        403,
        "not_your_store",
    )
    # Nothing moved.
    assert points(app, person) == 200 and points(app, poor) == 20
    assert stock_of(app, rice) == 3 and stock_of(app, soap) == 10
    assert count(app, Redemption) == 0


def test_translated_refusals(app, client, auth, store, stock, resident):
    rice = stock(store, "大米 5kg", 30)
    poor = resident(points=10)
    lines = [{"goods_id": rice.id, "quantity": 1}]
    chinese = redeem(
        client, auth("eastcashier", **{"Accept-Language": "zh"}), store, lines, user_id=poor.user_id
    )
    english = redeem(
        client, auth("eastcashier", **{"Accept-Language": "en"}), store, lines, user_id=poor.user_id
    )
    assert "积分不足" in refused(chinese, 409)["message"]
    assert "Not enough points" in refused(english, 409)["message"]


def test_a_limit_counts_this_period_and_a_cancellation_gives_it_back(
    app, client, auth, store, other_store, stock, resident
):
    soap = stock(store, "肥皂", 5, limit_quantity=2, limit_period="month")
    person = resident(points=100)
    cashier = auth("eastcashier")
    first = redeem(
        client, cashier, store, [{"goods_id": soap.id, "quantity": 2}], user_id=person.user_id
    )
    assert first.status_code == 201
    left = client.get(
        f"{API}/stores/{store.id}/residents/{person.user_id}",
        query_string={"ticket": ticket(app, store, person.user_id)},
        headers=cashier,
    )
    assert left.json["allowances"] == [{"goods_id": soap.id, "left": 0}]
    refused(
        redeem(
            client, cashier, store, [{"goods_id": soap.id, "quantity": 1}], user_id=person.user_id
        ),
        409,
        "over_limit",
    )
    url = f"{API}/redemptions/{first.json['id']}/cancel"
    refused(client.post(url, json={"reason": ""}, headers=cashier), 422)
    refused(client.post(url, json={"reason": "拿错了"}, headers=auth("westcashier")), 403)
    cancelled = client.post(url, json={"reason": "居民改选其他物品"}, headers=cashier)
    assert cancelled.status_code == 200 and cancelled.json["state"] == "cancelled"
    assert points(app, person) == 100 and stock_of(app, soap) == 10
    refused(client.post(url, json={"reason": "again"}, headers=cashier), 409, "already_cancelled")
    assert points(app, person) == 100
    again = redeem(
        client, cashier, store, [{"goods_id": soap.id, "quantity": 2}], user_id=person.user_id
    )
    assert again.status_code == 201


def test_only_a_redemption_made_today_can_be_cancelled(app, client, auth, store, stock, resident):
    rice = stock(store, "大米 5kg", 30)
    person = resident(points=100)
    cashier = auth("eastcashier")
    made = redeem(
        client, cashier, store, [{"goods_id": rice.id, "quantity": 1}], user_id=person.user_id
    )

    def yesterday():
        found = db.session.get(Redemption, made.json["id"])
        found.created_at = found.created_at - timedelta(days=1)
        db.session.commit()

    _in_app(app, yesterday)
    refused(
        client.post(
            f"{API}/redemptions/{made.json['id']}/cancel", json={"reason": "晚了"}, headers=cashier
        ),
        409,
        "not_today",
    )
    assert points(app, person) == 70


def test_goods_for_households_in_difficulty(
    app, client, auth, places, people, store, stock, resident
):
    kept = stock(store, "慰问米面", 10, eligibility="difficulty")
    person = resident(points=100)
    cashier = auth("eastcashier")
    lines = [{"goods_id": kept.id, "quantity": 1}]
    refused(redeem(client, cashier, store, lines, user_id=person.user_id), 409, "not_eligible")
    added = client.post(
        f"{API}/households",
        json={
            "user_id": person.user_id,
            "region_id": places.east_c.id,
            "reason": "低保户",
            "monthly_points": 50,
        },
        headers=auth("eaststaff"),
    )
    assert added.status_code == 201, added.json
    # Cashiers do not keep the list.
    refused(
        client.post(
            f"{API}/households",
            json={"user_id": person.user_id, "region_id": places.east_c.id},
            headers=cashier,
        ),
        403,
    )
    assert redeem(client, cashier, store, lines, user_id=person.user_id).status_code == 201


def test_period_starts_follow_the_local_calendar(ctx):
    from datetime import UTC, datetime

    from timebank.stores.redemptions import period_start

    # 2026-12-01 00:30 in Beijing is 2026-11-30 16:30 UTC: already December there.
    now = datetime(2026, 11, 30, 16, 30, tzinfo=UTC)
    assert period_start("month", now) == datetime(2026, 11, 30, 16, 0, tzinfo=UTC)
    assert period_start("year", now) == datetime(2025, 12, 31, 16, 0, tzinfo=UTC)
    # Tuesday 1 December: the week began on Monday 30 November, Beijing time.
    assert period_start("week", now) == datetime(2026, 11, 29, 16, 0, tzinfo=UTC)


def test_a_cashier_needs_a_lookup_to_serve_a_resident(
    app, client, auth, store, other_store, stock, resident
):
    """Stepping through user ids reveals nothing and spends nothing: the counter reaches a
    resident through their code or a search, which gives a ticket for this store."""
    rice = stock(store, "大米 5kg", 30)
    person = resident(points=100)
    cashier = auth("eastcashier")
    url = f"{API}/stores/{store.id}/residents/{person.user_id}"
    refused(client.get(url, headers=cashier), 403, "resident_not_identified")
    lines = [{"goods_id": rice.id, "quantity": 1}]
    for forged in ("", "made-up", ticket(app, other_store, person.user_id)):
        answer = redeem(client, cashier, store, lines, user_id=person.user_id, ticket=forged)
        refused(answer, 403, "resident_not_identified")
    assert points(app, person) == 100

    lookup = f"{API}/stores/{store.id}/residents/lookup"
    refused(client.post(lookup, json={}, headers=cashier), 422)
    found = client.post(lookup, json={"q": person.user.phone}, headers=cashier)
    [item] = found.json["items"]
    assert item["user_id"] == person.user_id and "*" in item["phone"]
    served = client.get(url, query_string={"ticket": item["ticket"]}, headers=cashier)
    assert served.status_code == 200 and served.json["points_balance"] == 100
    made = redeem(client, cashier, store, lines, user_id=person.user_id, ticket=item["ticket"])
    assert made.status_code == 201 and made.json["resident"].endswith("*")

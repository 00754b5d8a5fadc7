"""Counters racing each other, in real processes: the last units of an item, one resident
at several counters, and a confirm retried in parallel with one key."""

import uuid

import pytest

from tests import racing
from tests.conftest import TEST_DATABASE_URL, fresh_database

POSTGRES = TEST_DATABASE_URL.startswith("postgres")
COUNTERS = 8 if POSTGRES else 4  # processes redeeming at once
RETRIES = 20 if POSTGRES else 6  # the same confirm sent at once

pytestmark = pytest.mark.slow


@pytest.fixture
def fresh_url(tmp_path):
    with fresh_database(tmp_path, "timebank_stores") as url:
        yield url


def _setup(url: str, instance: str, *, counters: int, residents: int, points: int, units: int):
    """A store with `counters` cashiers, one item (10 points) with `units` in stock, and
    `residents` people holding `points` points each."""
    from flask_migrate import upgrade

    from tests import factories
    from timebank.auth.models import Role
    from timebank.core.security import SYSTEM
    from timebank.extensions import db
    from timebank.ledger import services as ledger
    from timebank.stores import services

    app = racing.make_app(url, instance)
    with app.app_context():
        upgrade()
    with app.test_request_context():
        places = factories.places()
        store = services.create_store(
            SYSTEM, services.StoreDetails(name="东一爱心超市", station_id=places.east_station.id)
        )
        db.session.commit()
        cashiers = [f"cashier{n}" for n in range(counters)]
        for login in cashiers:
            factories.user(login, Role.CASHIER, store.id)
        goods = services.add_goods(
            SYSTEM, store, services.GoodsDetails(name="爱心米", points_price=10)
        )
        services.receive_donation(
            SYSTEM,
            store,
            donor_kind="business",
            donor_name="东街粮油店",
            donated_on=services.local_today(),
            items=[services.DonationItem(quantity=units, goods_id=goods.id)],
        )
        people = []
        for n in range(residents):
            profile = factories.volunteer(
                places.east_c,
                verified=True,
                name=f"居民{n}",
                phone=f"136{n:08d}",
                document_number=factories.resident_id(serial=n + 1),
            )
            ledger.allocate(
                SYSTEM, places.east_c, profile.user, points, key=f"fund:{n}", memo="测试"
            )
            people.append(profile.user_id)
        db.session.commit()
        from timebank.auth.models import User
        from timebank.stores.redemptions import ticket_for

        tickets = {u: ticket_for(store, db.session.get(User, u)) for u in people}
        ids = {
            "store": store.id,
            "goods": goods.id,
            "cashiers": cashiers,
            "residents": people,
            "tickets": tickets,
        }
    racing.dispose(app)
    return ids


def _redeem(ids, user_id, key=None):
    body = {
        "store_id": ids["store"],
        "user_id": user_id,
        "ticket": ids["tickets"][user_id],
        "lines": [{"goods_id": ids["goods"], "quantity": 1}],
    }
    return ("POST", "/api/v1/redemptions", body, {"Idempotency-Key": key or str(uuid.uuid4())})


def test_the_last_units_go_to_exactly_as_many_residents(fresh_url, tmp_path):
    """COUNTERS counters redeem the last 5 units for COUNTERS residents who can pay."""
    instance = str(tmp_path)
    units = 5 if POSTGRES else 2
    ids = _setup(
        fresh_url, instance, counters=COUNTERS, residents=COUNTERS, points=100, units=units
    )
    plans = {
        login: [_redeem(ids, user_id)]
        for login, user_id in zip(ids["cashiers"], ids["residents"], strict=True)
    }

    answers = racing.race(fresh_url, instance, plans)

    statuses = sorted(status for answer in answers.values() for status, _ in answer)
    assert statuses == [201] * units + [409] * (COUNTERS - units), answers
    codes = {body["error"]["code"] for a in answers.values() for s, body in a if s == 409}
    assert codes == {"out_of_stock"}
    assert racing.scalar(fresh_url, "SELECT stock FROM goods") == 0
    assert racing.scalar(fresh_url, "SELECT count(*) FROM redemption") == units
    assert racing.scalar(fresh_url, "SELECT sum(change) FROM stock_movement") == 0
    spent = racing.scalar(
        fresh_url,
        "SELECT sum(100 - balance) FROM ledger_account"
        " WHERE kind = 'points' AND user_id IS NOT NULL",
    )
    assert spent == 10 * units
    racing.assert_ledger_verifies(fresh_url, instance)


def test_one_resident_at_every_counter_spends_only_what_they_have(fresh_url, tmp_path):
    """COUNTERS counters redeem for one resident who can afford 3 items."""
    instance = str(tmp_path)
    ids = _setup(fresh_url, instance, counters=COUNTERS, residents=1, points=30, units=50)
    [resident] = ids["residents"]
    plans = {login: [_redeem(ids, resident)] for login in ids["cashiers"]}

    answers = racing.race(fresh_url, instance, plans)

    statuses = sorted(status for answer in answers.values() for status, _ in answer)
    assert statuses == [201] * 3 + [409] * (COUNTERS - 3), answers
    assert racing.scalar(fresh_url, "SELECT stock FROM goods") == 47
    assert (
        racing.scalar(
            fresh_url, "SELECT balance FROM ledger_account WHERE user_id = :u", u=resident
        )
        == 0
    )
    racing.assert_ledger_verifies(fresh_url, instance)


def test_a_confirm_retried_in_parallel_redeems_once(fresh_url, tmp_path):
    """One cashier's confirm sent RETRIES times at once with one key (a flaky network, a
    double tap, a retrying client): one redemption; every answer names it."""
    instance = str(tmp_path)
    ids = _setup(fresh_url, instance, counters=1, residents=1, points=100, units=10)
    [resident] = ids["residents"]
    [cashier] = ids["cashiers"]
    key = str(uuid.uuid4())
    # The same login in every process: the key is the caller's, so they are one client.
    plans = {f"{cashier}#{n}": [_redeem(ids, resident, key)] for n in range(RETRIES)}

    answers = racing.race(fresh_url, instance, plans)

    statuses = sorted(status for answer in answers.values() for status, _ in answer)
    assert statuses == [200] * (RETRIES - 1) + [201], answers
    redemption_ids = {body["id"] for answer in answers.values() for _, body in answer}
    assert len(redemption_ids) == 1
    assert racing.scalar(fresh_url, "SELECT count(*) FROM redemption") == 1
    assert racing.scalar(fresh_url, "SELECT stock FROM goods") == 9
    assert (
        racing.scalar(
            fresh_url, "SELECT balance FROM ledger_account WHERE user_id = :u", u=resident
        )
        == 90
    )
    racing.assert_ledger_verifies(fresh_url, instance)

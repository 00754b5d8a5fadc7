"""Store fixtures: a love supermarket at the east station, its cashier, goods and residents
with points."""

import itertools

import pytest
from stdnum import ean

from tests import factories
from timebank.auth.models import Role
from timebank.core.security import SYSTEM
from timebank.extensions import db
from timebank.ledger import services as ledger
from timebank.stores import services
from timebank.stores.models import Goods, Store

API = "/api/v1"


@pytest.fixture
def store(app, places):
    """东一爱心超市 at the east station, with cashier `eastcashier`."""
    with app.test_request_context():
        station = db.session.get(type(places.east_station), places.east_station.id)
        made = services.create_store(
            SYSTEM,
            services.StoreDetails(
                name="东一爱心超市", station_id=station.id, opening_hours="周二、周五 9:00-11:30"
            ),
        )
        db.session.commit()
        factories.user("eastcashier", Role.CASHIER, made.id, name="王收银")
        return made


@pytest.fixture
def other_store(app, places):
    """西一爱心超市 at the west station, with cashier `westcashier`."""
    with app.test_request_context():
        made = services.create_store(
            SYSTEM, services.StoreDetails(name="西一爱心超市", station_id=places.west_station.id)
        )
        db.session.commit()
        factories.user("westcashier", Role.CASHIER, made.id)
        return made


@pytest.fixture
def stock(app):
    """stock(store, name, price, quantity=10, **details) → committed goods with that stock,
    received as an anonymous donation."""
    bodies = itertools.count(690123456789)

    def make(store, name, price, quantity=10, **details):
        body = str(next(bodies))
        details.setdefault("barcode", body + ean.calc_check_digit(body))
        with app.test_request_context():
            fresh = db.session.get(Store, store.id)
            goods = services.add_goods(
                SYSTEM, fresh, services.GoodsDetails(name=name, points_price=price, **details)
            )
            if quantity:
                services.receive_donation(
                    SYSTEM,
                    fresh,
                    donor_kind="anonymous",
                    donor_name="",
                    donated_on=services.local_today(),
                    items=[services.DonationItem(quantity=quantity, goods_id=goods.id)],
                )
            db.session.commit()
            return db.session.get(Goods, goods.id)

    return make


@pytest.fixture
def resident(app, places):
    """resident(points=100, **registration) → a registered person in the east community
    holding that many points (allocated from the community's budget)."""
    counter = itertools.count(1)

    def make(points=100, region=None, **overrides):
        n = next(counter)
        overrides.setdefault("phone", f"136{n:08d}")
        overrides.setdefault("document_number", factories.resident_id(serial=500 + n))
        overrides.setdefault("name", f"居民{n}")
        with app.test_request_context():
            profile = factories.volunteer(region or places.east_c, verified=True, **overrides)
            if points:
                ledger.allocate(
                    SYSTEM,
                    db.session.get(type(places.east_c), profile.region_id),
                    profile.user,
                    points,
                    key=f"test-fund:{profile.user_id}",
                    memo="测试积分",
                )
                db.session.commit()
            return profile

    return make

"""Store pages: opening a store, goods, donations and their receipts, stock-takes,
receipts and same-day cancellation, the public notice, households in difficulty."""

import io
import re

import pytest

from tests.conftest import login
from tests.stores.conftest import API
from tests.stores.test_redemption_api import redeem
from timebank.extensions import db
from timebank.stores.models import Donation, Goods, Household, StockMovement, Store

EN = {"Accept-Language": "en"}


def text(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def reload(app, model, id_):
    with app.test_request_context():
        return db.session.get(model, id_)


def test_station_staff_open_a_store_and_add_goods(app, client, places, people):
    login(client, "eaststaff")
    form = text(client.get("/stores/new", headers=EN))
    assert "东一站" in form and "西一站" not in form
    opened = client.post(
        "/stores/new",
        data={"place": f"station:{places.east_station.id}", "name": "东一爱心超市"},
        headers=EN,
    )
    assert opened.status_code == 302
    store_id = int(re.search(r"/stores/(\d+)", opened.headers["Location"]).group(1))
    assert reload(app, Store, store_id).station_id == places.east_station.id

    bad = text(
        client.post(
            f"/stores/{store_id}/goods/new",
            data={
                "name": "大米",
                "points_price": "0",
                "barcode": "12ab",
                "category": "food",
                "eligibility": "everyone",
                "limit_period": "",
            },
            headers=EN,
        )
    )
    assert "The price is a whole number of points above zero." in bad
    assert "This is not a valid EAN barcode" in bad
    wrong_digit = text(
        client.post(
            f"/stores/{store_id}/goods/new",
            data={
                "name": "大米",
                "points_price": "30",
                "barcode": "6901234567893",
                "category": "food",
                "eligibility": "everyone",
                "limit_period": "",
            },
            headers=EN,
        )
    )
    assert "This is not a valid EAN barcode" in wrong_digit
    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
    saved = client.post(
        f"/stores/{store_id}/goods/new",
        data={
            "name": "大米 5kg",
            "points_price": "30",
            "barcode": "6901234567892",
            "category": "grain_oil",
            "eligibility": "everyone",
            "unit": "袋",
            "limit_quantity": "1",
            "limit_period": "month",
            "active": "y",
            "photo": (io.BytesIO(png), "rice.png"),
        },
        headers=EN,
    )
    assert saved.status_code == 302
    page = text(client.get(f"/stores/{store_id}", headers=EN))
    assert "大米 5kg" in page and "6901234567892" in page
    with app.test_request_context():
        goods = db.session.scalar(db.select(Goods).filter_by(store_id=store_id))
        assert (goods.points_price, goods.limit_quantity, goods.photo_type) == (30, 1, "image/png")
    photo = client.get(f"/goods/{goods.id}/photo")
    assert photo.status_code == 200 and photo.mimetype == "image/png"
    not_an_image = text(
        client.post(
            f"/stores/{store_id}/goods/{goods.id}/edit",
            data={
                "name": "大米 5kg",
                "points_price": "30",
                "category": "grain_oil",
                "eligibility": "everyone",
                "limit_quantity": "",
                "limit_period": "",
                "photo": (io.BytesIO(b"<svg onload=alert(1)>"), "x.png"),
            },
            headers=EN,
        )
    )
    assert "The photo must be a JPEG or PNG image." in not_an_image


def test_a_donation_raises_stock_and_prints_a_receipt(app, client, store, stock):
    rice = stock(store, "大米 5kg", 30, quantity=0)
    login(client, "eastcashier")
    form = text(client.get(f"/stores/{store.id}/donations/new", headers=EN))
    assert "大米 5kg" in form
    data = {
        "donor_kind": "business",
        "donor_name": "东街粮油店",
        "donated_on": "2026-11-30",
        "lines-0-goods_id": str(rice.id),
        "lines-0-quantity": "20",
        "lines-0-value_yuan": "600.50",
        "lines-1-goods_id": "",
        "lines-1-new_name": "食用油 1L",
        "lines-1-new_price": "20",
        "lines-1-quantity": "10",
        "lines-1-value_yuan": "300",
    }
    nameless = text(
        client.post(
            f"/stores/{store.id}/donations/new", data={**data, "donor_name": ""}, headers=EN
        )
    )
    assert "Enter the donor&#39;s name, or choose anonymous." in nameless
    made = client.post(f"/stores/{store.id}/donations/new", data=data, headers=EN)
    assert made.status_code == 302
    receipt = text(client.get(made.headers["Location"], headers=EN))
    assert "东街粮油店" in receipt and "食用油 1L" in receipt
    assert "900.50" in receipt  # 600.50 + 300 yuan
    serial = re.search(r'id="serial">([^<]+)<', receipt).group(1)
    assert serial.startswith(f"JZ{store.id:04d}-20261130-")
    assert reload(app, Goods, rice.id).stock == 20
    with app.test_request_context():
        donation = db.session.scalar(db.select(Donation).filter_by(serial=serial))
        assert donation.value_fen == 90050
        oil = db.session.scalar(db.select(Goods).filter_by(store_id=store.id, name="食用油 1L"))
        assert (oil.stock, oil.points_price) == (10, 20)


def test_stocktake_posts_the_differences(app, client, store, stock):
    rice, oil, soap = (
        stock(store, "大米", 30, 10),
        stock(store, "油", 20, 5),
        stock(store, "皂", 5, 8),
    )
    login(client, "eastcashier")
    page = text(client.get(f"/stores/{store.id}/stocktake", headers=EN))
    assert "大米" in page
    bad = text(
        client.post(f"/stores/{store.id}/stocktake", data={f"count-{rice.id}": "-1"}, headers=EN)
    )
    assert "Enter a whole number, zero or more." in bad
    done = client.post(
        f"/stores/{store.id}/stocktake",
        data={
            f"count-{rice.id}": "7",
            f"count-{oil.id}": "6",
            f"count-{soap.id}": "8",
            "note": "月底盘点",
        },
        headers=EN,
    )
    assert done.status_code == 302
    assert [reload(app, Goods, g.id).stock for g in (rice, oil, soap)] == [7, 6, 8]
    with app.test_request_context():
        posted = db.session.execute(
            db.select(StockMovement.goods_id, StockMovement.change, StockMovement.stock_after)
            .filter_by(kind="stocktake")
            .order_by(StockMovement.goods_id)
        ).all()
    assert posted == [(rice.id, -3, 7), (oil.id, 1, 6)]  # the soap matched: nothing posted
    history = text(client.get(f"/stores/{store.id}/goods/{rice.id}", headers=EN))
    assert "Stock-take" in history and "月底盘点" in history

    adjusted = client.post(
        f"/stores/{store.id}/goods/{rice.id}",
        data={"change": "-2", "reason": "expired", "note": "过期"},
        headers=EN,
    )
    assert adjusted.status_code == 302 and reload(app, Goods, rice.id).stock == 5
    too_many = text(
        client.post(
            f"/stores/{store.id}/goods/{rice.id}",
            data={"change": "-9", "reason": "damaged"},
            headers=EN,
        )
    )
    assert "Only 5 of 大米 left in stock." in too_many
    assert reload(app, Goods, rice.id).stock == 5


def test_receipt_cancel_and_the_public_notice_masks_recipients(
    app, client, auth, store, stock, resident
):
    rice = stock(store, "大米 5kg", 30)
    person = resident(points=100, name="欧阳娜娜")
    lines = [{"goods_id": rice.id, "quantity": 2}]
    made = redeem(client, auth("eastcashier"), store, lines, user_id=person.user_id)
    assert made.status_code == 201
    notice = text(client.get(f"/stores/{store.id}/notice", headers=EN))  # public: no login
    assert "欧***" in notice and "欧阳娜娜" not in notice
    assert "大米 5kg" in notice and "Anonymous" in notice  # the fixture's anonymous donor

    login(client, "eastcashier")
    receipt = text(client.get(f"/stores/{store.id}/redemptions/{made.json['id']}", headers=EN))
    assert made.json["serial"] in receipt and "Cancel this redemption" in receipt
    cancelled = client.post(
        f"/stores/{store.id}/redemptions/{made.json['id']}", data={"reason": "拿错了"}, headers=EN
    )
    assert cancelled.status_code == 302
    assert reload(app, Goods, rice.id).stock == 10
    after = text(client.get(f"/stores/{store.id}/notice"))
    assert "欧***" not in after  # a cancelled redemption is not listed


def test_a_cashier_of_another_store_is_refused(client, store, other_store):
    login(client, "westcashier")
    assert client.get(f"/stores/{store.id}").status_code == 403
    assert client.get(f"/stores/{store.id}/donations/new").status_code == 403
    assert client.get(f"/stores/{other_store.id}").status_code == 200


def test_households_list_fills_the_monthly_allocation(app, client, places, people, resident):
    person = resident(points=0)
    login(client, "eaststaff")
    added = client.post(
        "/staff/households",
        data={
            "region_id": str(places.east_c.id),
            "person": person.user.phone,
            "reason": "低保户",
            "monthly_points": "80",
        },
        headers=EN,
    )
    assert added.status_code == 302
    page = text(client.get("/staff/households", headers=EN))
    assert person.user.name in page and "低保户" in page
    batch = text(client.get(f"/staff/allocations?households={places.east_c.id}", headers=EN))
    assert f"{person.user.phone}, 80" in batch
    unknown = text(
        client.post(
            "/staff/households",
            data={"region_id": str(places.east_c.id), "person": "13999999999"},
            headers=EN,
        )
    )
    assert "Nobody has registered with this number." in unknown
    with app.test_request_context():
        household = db.session.scalar(db.select(Household).filter_by(user_id=person.user_id))
    dropped = client.post(f"/staff/households/{household.id}/drop")
    assert dropped.status_code == 302
    assert reload(app, Household, household.id).active is False


def test_a_stocktake_of_goods_that_moved_meanwhile_asks_for_a_recount(
    app, client, auth, store, stock, resident
):
    rice = stock(store, "大米", 30, 10)
    person = resident(points=100)
    login(client, "eastcashier")
    sheet = text(client.get(f"/stores/{store.id}/stocktake", headers=EN))
    assert f'name="shown-{rice.id}" value="10"' in sheet
    # While staff count, the counter redeems one.
    lines = [{"goods_id": rice.id, "quantity": 1}]
    made = redeem(client, auth("eastcashier"), store, lines, user_id=person.user_id)
    assert made.status_code == 201
    counted = {f"count-{rice.id}": "10", f"shown-{rice.id}": "10"}
    again = text(client.post(f"/stores/{store.id}/stocktake", data=counted, headers=EN))
    assert "These goods moved while you counted: 大米. Count them again." in again
    assert reload(app, Goods, rice.id).stock == 9  # nothing posted


def test_the_months_household_batch_grants_once_from_two_pages(
    app, client, places, people, resident
):
    from timebank.ledger import services as ledger
    from timebank.ledger.models import AccountKind

    person = resident(points=0)
    login(client, "eaststaff")
    client.post(
        "/staff/households",
        data={
            "region_id": str(places.east_c.id),
            "person": person.user.phone,
            "monthly_points": "80",
        },
    )
    url = f"/staff/allocations?households={places.east_c.id}"
    first, second = text(client.get(url, headers=EN)), text(client.get(url, headers=EN))
    keys = [
        re.search(r'name="batch_key"[^>]*value="([0-9a-f]{32})"', page) for page in (first, second)
    ]
    assert keys[0] and keys[0].group(1) == keys[1].group(1)  # the same key from both pages
    memo = re.search(r'name="memo"[^>]*value="([^"]+)"', first).group(1)
    data = {
        "region_id": str(places.east_c.id),
        "lines": f"{person.user.phone}, 80",
        "memo": memo,
        "batch_key": keys[0].group(1),
    }
    assert client.post("/staff/allocations", data=data).status_code == 302
    assert client.post("/staff/allocations", data=data).status_code == 302  # the second tab

    def balance():
        account = ledger.find_person_account(person.user, AccountKind.POINTS)
        return ledger.balance_of(account)

    with app.test_request_context():
        assert balance() == 80


def test_a_redemption_is_undone_at_the_store_not_by_a_ledger_reversal(
    app, client, auth, people, store, stock, resident
):
    from timebank.core.errors import ValidationFailed
    from timebank.ledger import services as ledger
    from timebank.stores.models import Redemption

    rice = stock(store, "大米", 30)
    person = resident(points=100)
    lines = [{"goods_id": rice.id, "quantity": 1}]
    made = redeem(client, auth("eastcashier"), store, lines, user_id=person.user_id)
    with app.test_request_context():
        from timebank.auth.models import User
        from timebank.ledger.models import Transaction

        redemption = db.session.get(Redemption, made.json["id"])
        original = db.session.get(Transaction, redemption.transaction_id)
        root = db.session.get(User, people.root.id)
        with pytest.raises(ValidationFailed) as refused:
            ledger.reverse(root, original, "误操作")
        assert refused.value.code == "cancel_at_the_store"


def test_an_administrator_appoints_a_cashier_through_the_pages(app, client, people, store):
    from timebank.auth.models import RoleGrant

    login(client, "eastadmin")
    page = text(client.get(f"/admin/users/{people.volunteer.id}", headers=EN))
    assert f'value="store:{store.id}"' in page
    granted = client.post(
        f"/admin/users/{people.volunteer.id}",
        data={"role": "cashier", "scope": f"store:{store.id}"},
    )
    assert granted.status_code == 302
    with app.test_request_context():
        grant = db.session.scalar(
            db.select(RoleGrant).filter_by(user_id=people.volunteer.id, role="cashier")
        )
        assert (grant.scope_kind, grant.scope_id) == ("store", store.id)
    assert people.volunteer.name in text(client.get("/admin/users", headers=EN))
    client.post("/logout")
    login(client, "13900000001")
    assert client.get(f"/stores/{store.id}").status_code == 200


def test_a_double_submitted_donation_is_recorded_once(app, client, auth, store, stock):
    rice = stock(store, "大米 5kg", 30, quantity=0)
    login(client, "eastcashier")
    form = text(client.get(f"/stores/{store.id}/donations/new", headers=EN))
    key = re.search(r'name="key"[^>]*value="([0-9a-f]{32})"', form).group(1)
    data = {
        "donor_kind": "person",
        "donor_name": "李阿姨",
        "donated_on": "2026-11-30",
        "lines-0-goods_id": str(rice.id),
        "lines-0-quantity": "5",
        "key": key,
    }
    first = client.post(f"/stores/{store.id}/donations/new", data=data)
    second = client.post(f"/stores/{store.id}/donations/new", data=data)  # the double click
    assert first.status_code == second.status_code == 302
    assert first.headers["Location"] == second.headers["Location"]  # the same receipt
    assert reload(app, Goods, rice.id).stock == 5

    body = {
        "store_id": store.id,
        "donor_kind": "anonymous",
        "donated_on": "2026-11-30",
        "items": [{"goods_id": rice.id, "quantity": 3}],
    }
    headers = {**auth("eastcashier"), "Idempotency-Key": "donation-retry-0001"}
    made = client.post(f"{API}/donations", json=body, headers=headers)
    again = client.post(f"{API}/donations", json=body, headers=headers)
    assert made.status_code == again.status_code == 201
    assert made.json["id"] == again.json["id"]
    assert reload(app, Goods, rice.id).stock == 8

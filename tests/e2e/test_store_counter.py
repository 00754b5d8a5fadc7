"""In Chromium: the counter of a love supermarket. A cashier signs in; a USB scanner types a
resident's card code and two goods' barcodes; the cashier confirms and sees the receipt. The
live server's database shows the resident's points and the stock moved by exactly that much,
and a confirm whose answer is lost is retried with the same key and redeems once.

The module opens a store of its own at the demo staff's station, with its own cashier and
goods, in the live server's database, as the event tests make their events.
"""

import re
from dataclasses import dataclass

import pytest

from tests.e2e.conftest import serve
from tests.e2e.test_event_flow import new_page, sign_in, snapshot
from timebank.demo import DEMO_PASSWORD

pytestmark = pytest.mark.browser

STATION = "三坊七巷社区志愿服务站"
CASHIER = "poscashier"
RICE = ("大米 5kg", "6901234567892", 30)  # name, barcode (EAN-13), points
OIL = ("花生油 1.8L", "6923456789012", 20)
POINTS = 200  # allocated to each resident the tests serve
SERIAL = re.compile(r"DH\d{4}-\d{8}-\d{6}")


@dataclass
class Counter:
    store_id: int
    goods: dict[str, int]  # barcode → goods id


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    with serve(tmp_path_factory) as live:
        yield live


@pytest.fixture(scope="module")
def counter(site) -> Counter:
    """A store at the demo staff's station, its cashier, and two goods with ten of each."""
    from timebank.auth.models import Role
    from timebank.auth.services import create_user, grant_role
    from timebank.core.security import SYSTEM
    from timebank.extensions import db
    from timebank.stations.models import Station
    from timebank.stores import services

    with site.context():
        station = db.session.scalar(db.select(Station).filter_by(name=STATION))
        store = services.create_store(
            SYSTEM, services.StoreDetails(name="收银台测试爱心超市", station_id=station.id)
        )
        cashier = create_user(SYSTEM, name="林收银", password=DEMO_PASSWORD, username=CASHIER)
        db.session.flush()
        grant_role(SYSTEM, cashier, Role.CASHIER, store.id)
        goods = {
            barcode: services.add_goods(
                SYSTEM,
                store,
                services.GoodsDetails(name=name, points_price=price, barcode=barcode, unit="件"),
            )
            for name, barcode, price in (RICE, OIL)
        }
        services.receive_donation(
            SYSTEM,
            store,
            donor_kind="business",
            donor_name="永辉超市",
            donated_on=services.local_today(),
            items=[services.DonationItem(quantity=10, goods_id=g.id) for g in goods.values()],
        )
        db.session.commit()
        return Counter(store.id, {barcode: g.id for barcode, g in goods.items()})


def resident(site, phone: str) -> tuple[int, str]:
    """A demo volunteer given POINTS points by the community: (user id, card code)."""
    from timebank.auth.models import User
    from timebank.core.security import SYSTEM
    from timebank.extensions import db
    from timebank.ledger import services as ledger
    from timebank.volunteers import codes
    from timebank.volunteers.services import profile_of

    with site.context():
        user = db.session.scalar(db.select(User).filter_by(phone=phone))
        profile = profile_of(user)
        ledger.allocate(
            SYSTEM, profile.region, user, POINTS, key=f"e2e-counter:{phone}", memo="困难群众积分"
        )
        db.session.commit()
        return user.id, codes.card_token(profile)


def state(site, counter: Counter, user_id: int) -> dict:
    """What the live server's database holds: the resident's points, the stock, the
    resident's redemptions at the store."""
    from timebank.auth.models import User
    from timebank.extensions import db
    from timebank.stores import redemptions
    from timebank.stores.models import Goods, Redemption

    with site.context():
        made = db.session.scalars(
            db.select(Redemption).filter_by(store_id=counter.store_id, user_id=user_id)
        ).all()
        return {
            "points": redemptions.points_balance(db.session.get(User, user_id)),
            "stock": {
                barcode: db.session.get(Goods, goods_id).stock
                for barcode, goods_id in counter.goods.items()
            },
            "redemptions": [
                (r.serial, r.points, sorted((line.goods_id, line.quantity) for line in r.lines))
                for r in made
            ],
        }


# The browser


def open_counter(browser, site, counter: Counter):
    page = new_page(browser)
    sign_in(page, site.url, CASHIER)
    page.goto(f"{site.url}/stores/{counter.store_id}/pos")
    page.locator("#pos[data-state=ready]").wait_for()
    return page


def scan(page, text: str) -> None:
    """What a USB scanner does: types into whatever has the focus, then presses Enter."""
    assert page.evaluate("document.activeElement.id") == "pos-scan"
    page.keyboard.type(text)
    page.keyboard.press("Enter")


def identify(page, user_id: int, code: str) -> None:
    scan(page, code)
    page.locator(f'#pos-resident[data-user-id="{user_id}"]').wait_for()
    assert page.locator("#pos-message").get_attribute("data-code") == "identified"


def cart_line(page, goods_id: int, quantity: int):
    line = page.locator(f'#pos-cart li[data-goods-id="{goods_id}"][data-quantity="{quantity}"]')
    line.wait_for()
    return line


def points(locator) -> int:
    return int(locator.get_attribute("data-points"))


# The tests


def test_a_cashier_scans_a_resident_and_two_goods_and_redeems_them(site, browser, counter):
    user_id, code = resident(site, "13800000002")  # 王芳
    before = state(site, counter, user_id)
    assert before["points"] >= POINTS and before["redemptions"] == []

    page = open_counter(browser, site, counter)
    identify(page, user_id, code)
    assert page.locator("#pos-resident-name").inner_text() == "王*"  # masked at the counter
    assert points(page.locator("#pos-balance")) == before["points"]
    assert not page.locator("#pos-difficulty").is_visible()

    rice, oil = counter.goods[RICE[1]], counter.goods[OIL[1]]
    scan(page, RICE[1])
    cart_line(page, rice, 1)
    scan(page, OIL[1])
    cart_line(page, oil, 1)
    scan(page, OIL[1])  # the same goods again: one more on its line
    cart_line(page, oil, 2)
    # A tap works as well as a scan; the minus button takes it back.
    page.locator(f'#pos-goods [data-goods-id="{rice}"]').click()
    cart_line(page, rice, 2).locator("[data-action=dec]").click()
    cart_line(page, rice, 1)
    assert page.locator("#pos-cart li").count() == 2

    cost = RICE[2] + 2 * OIL[2]
    assert points(page.locator("#pos-total")) == cost
    assert points(page.locator("#pos-after")) == before["points"] - cost
    snapshot(page, "counter-cart")

    confirm = page.locator("#pos-confirm")
    assert confirm.is_enabled()
    with page.expect_response(lambda r: r.url.endswith("/api/v1/redemptions")) as answer:
        confirm.click()
    assert answer.value.status == 201

    receipt = page.locator("#pos-receipt")
    receipt.wait_for()
    serial = page.locator("#pos-receipt-serial").inner_text()
    assert SERIAL.fullmatch(serial), serial
    assert receipt.get_attribute("data-replayed") == "false"
    assert page.locator("#pos-receipt-lines tr").count() == 2
    assert points(page.locator("#pos-receipt-total")) == cost
    assert points(page.locator("#pos-receipt-balance")) == before["points"] - cost
    assert page.locator("#pos-receipt-resident").inner_text() == "王*"
    assert not page.locator("#pos-work").is_visible()
    snapshot(page, "counter-receipt")

    # On paper only the receipt, without its buttons.
    page.emulate_media(media="print")
    assert receipt.is_visible() and page.locator("#pos-receipt-serial").is_visible()
    for hidden in ("#pos-scan", "#pos-message", "#pos-print", "#pos-next", "header.topbar"):
        assert not page.locator(hidden).is_visible(), hidden
    page.emulate_media(media="screen")

    after = state(site, counter, user_id)
    assert after["points"] == before["points"] - cost
    assert after["stock"] == {
        RICE[1]: before["stock"][RICE[1]] - 1,
        OIL[1]: before["stock"][OIL[1]] - 2,
    }
    assert after["redemptions"] == [(serial, cost, sorted([(rice, 1), (oil, 2)]))]

    # Next resident: an empty counter, the scan input ready again.
    page.locator("#pos-next").click()
    page.locator("#pos[data-state=ready]").wait_for()
    assert not receipt.is_visible()
    assert page.locator("#pos-cart li").count() == 0
    assert page.locator("#pos-resident").get_attribute("data-user-id") == ""
    assert page.evaluate("document.activeElement.id") == "pos-scan"
    page.context.close()


def test_a_confirm_whose_answer_is_lost_is_retried_and_redeems_once(site, browser, counter):
    user_id, code = resident(site, "13800000003")  # 李娜
    before = state(site, counter, user_id)
    page = open_counter(browser, site, counter)

    # Nonsense and unknown barcodes are refused in words, and change nothing.
    scan(page, "hello")
    page.locator('#pos-message[data-code="not_understood"]').wait_for()
    scan(page, "4006381333931")
    page.locator('#pos-message[data-code="unknown_barcode"]').wait_for()

    identify(page, user_id, code)
    rice = counter.goods[RICE[1]]
    scan(page, RICE[1])
    cart_line(page, rice, 1)

    # The first confirm reaches the server, which redeems; its answer is lost on the way.
    sent = []

    def lose_first_answer(route):
        sent.append((route.request.headers.get("idempotency-key"), route.request.post_data_json))
        response = route.fetch()
        if len(sent) == 1:
            assert response.status == 201
            route.abort("connectionreset")
        else:
            route.fulfill(response=response)

    page.route("**/api/v1/redemptions", lose_first_answer)
    page.locator("#pos-confirm").click()
    page.locator("#pos[data-state=pending]").wait_for()
    assert page.locator("#pos-message").get_attribute("data-code") == "uncertain"
    # Frozen until retried: the cart cannot change under the key it was sent with.
    assert page.locator(f'#pos-goods [data-goods-id="{rice}"]').is_disabled()
    assert len(state(site, counter, user_id)["redemptions"]) == 1

    page.locator("#pos-confirm").click()  # now labelled Retry
    receipt = page.locator("#pos-receipt")
    receipt.wait_for()
    assert receipt.get_attribute("data-replayed") == "true"
    assert len(sent) == 2 and sent[0] == sent[1]  # the same key and the same cart
    assert len(sent[0][0]) >= 16
    ticket = sent[0][1].pop("ticket")  # the lookup's ticket for this resident here
    assert ticket and sent[0][1] == {
        "store_id": counter.store_id,
        "user_id": user_id,
        "lines": [{"goods_id": rice, "quantity": 1}],
    }
    page.locator("#pos-receipt-balance:not([data-points=''])").wait_for()
    assert points(page.locator("#pos-receipt-balance")) == before["points"] - RICE[2]

    after = state(site, counter, user_id)
    assert after["points"] == before["points"] - RICE[2]  # debited once
    assert after["stock"][RICE[1]] == before["stock"][RICE[1]] - 1
    [(serial, cost, lines)] = after["redemptions"]
    assert page.locator("#pos-receipt-serial").inner_text() == serial
    assert (cost, lines) == (RICE[2], [(rice, 1)])

    # The next cart gets a new key; this time the resident is found by mobile number.
    page.unroute("**/api/v1/redemptions")
    page.locator("#pos-next").click()
    page.locator("#pos-search").fill("13800000003")
    page.locator("#pos-search").press("Enter")
    found = page.locator(f'#pos-results button[data-user-id="{user_id}"]')
    assert found.inner_text().split() == ["李*", "138****0003"]  # masked
    found.click()
    page.locator(f'#pos-resident[data-user-id="{user_id}"]').wait_for()
    scan(page, RICE[1])
    cart_line(page, rice, 1)
    with page.expect_request(lambda r: r.url.endswith("/api/v1/redemptions")) as request:
        page.locator("#pos-confirm").click()
    assert request.value.headers["idempotency-key"] != sent[0][0]
    page.locator("#pos-receipt[data-replayed=false]").wait_for()
    assert len(state(site, counter, user_id)["redemptions"]) == 2
    page.context.close()

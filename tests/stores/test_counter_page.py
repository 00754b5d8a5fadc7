"""The counter page: who may open it, and what its script finds on it (the store's goods,
the API's addresses, its words) with no inline script for the CSP to block."""

import re
from urllib.parse import unquote

import pytest

from tests.conftest import login


def pos(store) -> str:
    return f"/stores/{store.id}/pos"


def goods_buttons(html: str) -> dict[int, str]:
    """{goods id: the button's opening tag} of the goods grid."""
    return {
        int(match.group(1)): match.group(0)
        for match in re.finditer(r'<button[^>]*\bdata-goods-id="(\d+)"[^>]*>', html)
    }


def goods_grid(html: str) -> str:
    return html[html.index('id="pos-goods"') : html.index('id="pos-no-goods"')]


def test_the_cashier_gets_the_counter_with_the_store_s_goods(
    client, store, other_store, stock, people
):
    rice = stock(store, "大米 5kg", 30, unit="袋", limit_quantity=2, limit_period="month")
    soap = stock(store, "肥皂", 5, quantity=0)  # out of stock: shown, not tappable
    oil = stock(store, "食用油", 20, eligibility="difficulty")
    hidden = stock(store, "旧毛巾", 3, active=False)
    elsewhere = stock(other_store, "西边的挂面", 8)

    login(client, "eastcashier")
    response = client.get(pos(store))
    assert response.status_code == 200
    html = response.get_data(as_text=True)

    buttons = goods_buttons(html)
    assert set(buttons) == {rice.id, soap.id, oil.id}
    assert hidden.id not in buttons and elsewhere.id not in buttons
    assert f'data-barcode="{rice.barcode}"' in buttons[rice.id]
    assert 'data-price="30"' in buttons[rice.id] and 'data-stock="10"' in buttons[rice.id]
    assert 'data-limit-quantity="2"' in buttons[rice.id]
    assert 'data-limit-period="month"' in buttons[rice.id]
    assert 'data-eligibility="difficulty"' in buttons[oil.id]
    assert "disabled" in buttons[soap.id] and "disabled" not in buttons[rice.id]
    english = client.get(pos(store), headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Limit 2 per month" in goods_grid(english)
    assert "In difficulty only" in goods_grid(english)

    # What the script needs: the store, the API's addresses, the scan input, its words.
    assert f'data-store-id="{store.id}"' in html
    assert f'data-residents-url="/api/v1/stores/{store.id}/residents"' in html
    assert f'data-lookup-url="/api/v1/stores/{store.id}/residents/lookup"' in html
    assert f'data-goods-url="/api/v1/stores/{store.id}/goods"' in html
    assert 'data-redemptions-url="/api/v1/redemptions"' in html
    assert 'id="pos-scan"' in html and "autofocus" in html
    assert 'id="pos-text"' in html and "data-period-month=" in html
    assert 'name="csrf-token"' in html
    assert "东一爱心超市" in html

    # The app's CSP allows scripts from files only: no inline script, handler or style.
    scripts = re.findall(r"<script\b[^>]*>", html)
    assert any("js/pos.js" in tag for tag in scripts)
    assert all(" src=" in tag for tag in scripts), scripts
    assert not re.search(r"\son[a-z]+=", html)
    assert " style=" not in html
    assert "'unsafe-inline'" not in response.headers["Content-Security-Policy"]


def test_the_counter_of_a_store_with_no_goods_says_so(client, store):
    login(client, "eastcashier")
    html = client.get(pos(store)).get_data(as_text=True)
    assert goods_buttons(html) == {}
    assert re.search(r'id="pos-no-goods"(?![^>]*hidden)', html)


@pytest.mark.parametrize("who", ["eaststaff", "root"])
def test_the_station_s_staff_and_administrators_run_the_counter_too(client, store, people, who):
    login(client, who)
    assert client.get(pos(store)).status_code == 200


def test_a_cashier_of_another_store_is_refused(client, store, other_store, stock):
    stock(store, "大米 5kg", 30)
    login(client, "westcashier")
    response = client.get(pos(store))
    assert response.status_code == 403
    assert b"data-goods-id" not in response.data
    # Their own counter opens.
    assert client.get(pos(other_store)).status_code == 200


def test_people_without_a_role_at_the_store_are_refused(client, store, people):
    login(client, "13900000001")  # a volunteer
    assert client.get(pos(store)).status_code == 403


def test_anonymous_visitors_are_sent_to_sign_in(client, store):
    response = client.get(pos(store))
    assert response.status_code == 302
    location = unquote(response.headers["Location"])
    assert "/login" in location and f"next=/stores/{store.id}/pos" in location


def test_a_missing_store_is_not_found(client, store):
    login(client, "eastcashier")
    assert client.get("/stores/999999/pos").status_code == 404

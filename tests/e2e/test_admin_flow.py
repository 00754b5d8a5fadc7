"""In Chromium: the demo district administrator creates a station, grants a role, switches language.

Elements are found by id, href, name and value where possible, so the flow does not depend on the
translations; the language checks look at <html lang> and at one translated word each.
"""

import os
import re
import secrets
import shutil

import pytest

from timebank import ROOT
from timebank.demo import DEMO_PASSWORD

pytestmark = pytest.mark.browser

ADMIN_LOGIN = "district"  # 林晓红, administrator of 鼓楼区
COMMUNITY = "三坊七巷社区"
GRANTEE = "黄志强"  # the demo team leader, "leader"
ZH_STATIONS = "站点"  # the Chinese catalogue's word for "Stations"
DOCS_SCREENSHOT = ROOT / "docs" / "screenshot.png"


def nav_link(page, href: str):
    return page.locator(f'header nav a[href="{href}"]')


def submit(form) -> None:
    form.locator("input[type=submit]").click()


def switch_language(page, code: str) -> None:
    page.locator(f'footer button[name="lang"][value="{code}"]').click()
    page.wait_for_load_state()


def assert_chinese(page) -> None:
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    stations = nav_link(page, "/admin/stations/")
    assert stations.inner_text().strip() == ZH_STATIONS, (
        "the nav link to the stations is not in Chinese: is 'Stations' translated in "
        "timebank/translations/zh/LC_MESSAGES/messages.po?"
    )


def assert_english(page) -> None:
    assert page.locator("html").get_attribute("lang") == "en"
    assert nav_link(page, "/admin/stations/").inner_text().strip() == "Stations"
    assert page.locator('footer button[value="en"]').get_attribute("aria-current") == "true"


def sign_in(page, base_url: str, login: str, password: str) -> None:
    page.goto(f"{base_url}/login")
    page.locator("#login").fill(login)
    page.locator("#password").fill(password)
    submit(page.locator("main form"))
    page.wait_for_load_state()


def test_admin_creates_station_grants_role_and_switches_language(live_server, page, tmp_path):
    base = live_server

    # Sign in: the interface starts in Chinese, from the browser's language.
    page.goto(f"{base}/login")
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    sign_in(page, base, ADMIN_LOGIN, DEMO_PASSWORD)
    assert page.url == f"{base}/"
    assert_chinese(page)

    # Create a station in 三坊七巷社区.
    station_name = f"{COMMUNITY}青年驿站-{secrets.token_hex(2)}"
    nav_link(page, "/admin/stations/").click()
    assert page.url == f"{base}/admin/stations/"
    page.locator('main a[href="/admin/stations/new"]').click()
    form = page.locator("main form")
    form.locator("#name").fill(station_name)
    community = form.locator("#region_id option", has_text=COMMUNITY)
    assert community.count() == 1
    form.locator("#region_id").select_option(community.get_attribute("value"))
    form.locator("#address").fill("东街街道三坊七巷社区南后街88号")
    form.locator("#phone").fill("0591-87654321")
    submit(form)

    assert page.url == f"{base}/admin/stations/"
    assert page.locator(".flash-success").filter(has_text=station_name).count() == 1
    row = page.locator("main table tbody tr", has=page.get_by_role("link", name=station_name))
    assert row.count() == 1
    assert row.locator("td").nth(1).inner_text().strip() == COMMUNITY
    edit_href = row.get_by_role("link", name=station_name).get_attribute("href")
    station_id = re.fullmatch(r"/admin/stations/(\d+)/edit", edit_href).group(1)

    # Grant the demo team leader the station staff role on the new station.
    nav_link(page, "/admin/users").click()
    page.get_by_role("link", name=GRANTEE, exact=True).click()
    assert re.fullmatch(rf"{re.escape(base)}/admin/users/\d+", page.url)
    roles_before = page.locator("main table tbody tr").count()
    grant_form = page.locator("main form", has=page.locator("#role"))
    grant_form.locator("#role").select_option("station_staff")
    role_label = grant_form.locator('#role option[value="station_staff"]').inner_text().strip()
    grant_form.locator("#scope").select_option(f"station:{station_id}")
    submit(grant_form)

    assert page.locator(".flash-success").count() == 1
    grant_row = page.locator("main table tbody tr").filter(
        has=page.locator("td", has_text=station_name)
    )
    assert grant_row.count() == 1
    assert grant_row.locator("td").nth(0).inner_text().strip() == role_label
    # The roles he had before (volunteer, team leader) are still there.
    assert roles_before >= 1
    assert page.locator("main table tbody tr").count() == roles_before + 1

    # Switch to English on the stations page, and back to Chinese.
    nav_link(page, "/admin/stations/").click()
    switch_language(page, "en")
    assert page.url == f"{base}/admin/stations/"  # the switch returns to the same page
    assert_english(page)
    assert page.get_by_role("heading", level=1).inner_text().strip() == "Stations"
    assert page.get_by_role("link", name=station_name).count() == 1

    shot = tmp_path / "stations-en.png"
    page.screenshot(path=str(shot))
    assert shot.stat().st_size > 0
    if os.environ.get("TIMEBANK_UPDATE_SCREENSHOT") == "1":
        DOCS_SCREENSHOT.parent.mkdir(exist_ok=True)
        shutil.copyfile(shot, DOCS_SCREENSHOT)

    switch_language(page, "zh")
    assert page.url == f"{base}/admin/stations/"
    assert_chinese(page)
    assert page.locator('footer button[value="zh"]').get_attribute("aria-current") == "true"


def test_wrong_password_shows_one_generic_message(live_server, page):
    base = live_server
    messages = []
    for login in ("wenquan", "nobody-here"):  # a real account, then an unknown one
        sign_in(page, base, login, "Not-the-password-2026")
        assert page.url == f"{base}/login"
        assert page.locator("html").get_attribute("lang") == "zh-CN"
        errors = page.locator(".flash-error")
        assert errors.count() == 1
        messages.append(errors.inner_text().strip())
        assert page.locator("main .error[role=alert]").count() == 0  # no per-field hint
        assert page.locator("#password").input_value() == ""  # the password is not echoed
        assert page.locator("header nav a[href^='/admin/']").count() == 0  # not signed in
    assert messages[0], "the error message is empty"
    assert messages[0] == messages[1], "the message tells which part of the login was wrong"

"""In Chromium: a resident registers on a phone, shows a rotating code; station staff verify.

Elements are found by id, name, href and CSS state classes where possible, so the flow does not
depend on the translations; each status is checked by its class and by its label, in either
language, since the volunteer strings may not be translated yet.
"""

import io
import os
import re
from pathlib import Path

import pytest

from tests.factories import resident_id
from timebank.demo import DEMO_PASSWORD

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
NAME = "林思远"  # not one of the demo volunteers
MOBILE = "13912345678"
PASSWORD = "Minjiang-River-2026"
DOCUMENT = resident_id(born="19950612", serial=7, area="350102")  # 鼓楼区, born 1995-06-12
COMMUNITY = "三坊七巷社区"  # served by the demo "staff" account's station
STAFF_LOGIN = "staff"
PENDING_LABELS = {"待认证", "Awaiting verification"}
VERIFIED_LABELS = {"已认证", "Verified"}
ROTATION_TIMEOUT = 40_000  # ms: one 30 s period, the script's slack and a slow machine
# Set to a folder to keep full-page screenshots of each screen, for a look at the layout.
SHOTS = os.environ.get("TIMEBANK_E2E_SHOTS")


def snapshot(page, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=True)


def submit(form) -> None:
    form.locator("input[type=submit], button[type=submit]").first.click()


def sign_in(page, base_url: str, login: str, password: str) -> None:
    page.goto(f"{base_url}/login")
    page.locator("#login").fill(login)
    page.locator("#password").fill(password)
    submit(page.locator("main form"))
    page.wait_for_load_state()


def sign_out(page, base_url: str) -> None:
    toggle = page.locator("label[for=nav-toggle]")
    if toggle.is_visible():  # on a phone the menu is folded behind ☰
        toggle.click()
    page.locator('header form[action="/logout"] button[type=submit]').click()
    page.wait_for_load_state()
    assert page.url == f"{base_url}/login"
    assert page.locator('header a[href="/login"]').count() == 1


def assert_no_horizontal_scroll(page) -> None:
    widths = page.evaluate(
        "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert widths[0] <= widths[1], f"{page.url} scrolls sideways: {widths}"


def assert_status(page, state: str, labels: set[str]) -> None:
    badge = page.locator(f"main .badge.status-{state}")
    assert badge.count() == 1, f"no '{state}' status on {page.url}"
    assert badge.inner_text().strip() in labels


def read_code(page) -> str:
    """Decode the QR code on screen as a scanner would: from pixels, not from the markup."""
    import zxingcpp
    from PIL import Image

    image = Image.open(io.BytesIO(page.locator("#personal-qr").screenshot()))
    results = zxingcpp.read_barcodes(image)
    assert len(results) == 1, f"found {len(results)} codes in the screenshot"
    return results[0].text


def register(page, base_url: str) -> None:
    page.goto(f"{base_url}/volunteers/register")
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    assert_no_horizontal_scroll(page)
    snapshot(page, "register")
    form = page.locator("main form")
    form.locator("#name").fill(NAME)
    form.locator("#document_type").select_option("resident_id")
    form.locator("#document_number").fill(DOCUMENT)
    form.locator("#phone").fill(MOBILE)
    form.locator("#password").fill(PASSWORD)
    form.locator("#confirm").fill(PASSWORD)
    # The communities are grouped by street; choose by the name people see.
    form.locator("#region_id").select_option(label=COMMUNITY)
    form.locator("#skills").fill("急救, 陪伴老人")
    form.locator("#consent").check()
    submit(form)
    page.wait_for_load_state()


def test_volunteer_registers_shows_code_and_is_verified_by_staff(live_server, page):
    base = live_server
    page.set_viewport_size(PHONE)

    # 1. Register on a phone: signed in at once, on the profile, awaiting verification.
    register(page, base)
    assert page.url == f"{base}/me/volunteer"
    assert page.locator(".flash-success").count() == 1
    assert page.locator('header form[action="/logout"]').count() == 1
    assert DOCUMENT not in page.content(), "the full ID number reached the page"
    masked = page.locator("main .mono").first.inner_text().strip()
    assert masked.endswith(DOCUMENT[-4:])
    assert DOCUMENT[:-4] not in masked
    assert page.get_by_text(NAME, exact=True).count() >= 1
    assert page.get_by_text(COMMUNITY, exact=False).count() >= 1
    assert_status(page, "pending", PENDING_LABELS)
    assert_no_horizontal_scroll(page)
    snapshot(page, "profile-pending")

    # 2. My code: a QR code a scanner can read, with a countdown, that rotates.
    page.locator('main a[href="/me/code"]').first.click()
    assert page.url == f"{base}/me/code"
    assert page.locator("#personal-qr svg").count() == 1
    assert re.search(r"\d+", page.locator("#countdown").inner_text())
    assert_no_horizontal_scroll(page)
    box = page.locator("#personal-qr").bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
    assert box["width"] >= 200, "the code is too small to scan from a phone screen"
    snapshot(page, "code")
    first = read_code(page)
    assert first.startswith("TBP.")
    assert DOCUMENT not in page.content()
    first_svg = page.locator("#personal-qr").inner_html()

    with page.expect_response(
        lambda r: r.url == f"{base}/me/code.json", timeout=ROTATION_TIMEOUT
    ) as refreshed:
        page.wait_for_function(
            "svg => document.getElementById('personal-qr').innerHTML !== svg",
            arg=first_svg,
            timeout=ROTATION_TIMEOUT,
        )
    assert refreshed.value.status == 200
    second = read_code(page)
    assert second.startswith("TBP.") and second != first
    # Same volunteer (handle), the next time window.
    _, handle, window, _ = first.split(".")
    _, handle2, window2, _ = second.split(".")
    assert handle2 == handle
    assert int(window2) == int(window) + 1

    page.goto(f"{base}/me/card")
    assert page.locator("main img[src^='/me/card.png']").count() == 1
    assert_no_horizontal_scroll(page)
    snapshot(page, "card")
    sign_out(page, base)

    # 3. Station staff, at a desk, find the newcomer and verify them in person.
    page.set_viewport_size(DESKTOP)
    sign_in(page, base, STAFF_LOGIN, DEMO_PASSWORD)
    page.locator('header nav a[href="/staff/volunteers"]').click()
    assert page.url == f"{base}/staff/volunteers"
    snapshot(page, "staff-index")
    search = page.locator("main form[role=search]")
    search.locator("#q").fill(NAME)
    submit(search)
    page.wait_for_load_state()
    rows = page.locator("main table tbody tr")
    assert rows.count() == 1
    assert rows.locator(".status-pending").count() == 1
    rows.get_by_role("link", name=NAME, exact=True).click()
    assert re.fullmatch(rf"{re.escape(base)}/staff/volunteers/\d+", page.url)
    volunteer_url = page.url
    assert DOCUMENT not in page.content()
    assert_status(page, "pending", PENDING_LABELS)
    snapshot(page, "staff-show")
    page.locator('main form[action$="/verify"] button[type=submit]').click()
    page.wait_for_load_state()
    assert page.url == volunteer_url
    assert page.locator(".flash-success").filter(has_text=NAME).count() == 1
    assert_status(page, "verified", VERIFIED_LABELS)
    assert page.locator('main form[action$="/verify"]').count() == 0
    sign_out(page, base)

    # 4. The volunteer signs in again, by mobile number, and sees the new status.
    page.set_viewport_size(PHONE)
    sign_in(page, base, MOBILE, PASSWORD)
    page.goto(f"{base}/me/volunteer")
    assert_status(page, "verified", VERIFIED_LABELS)
    assert page.locator("main .flash-warning").count() == 0
    assert DOCUMENT not in page.content()
    snapshot(page, "profile-verified")

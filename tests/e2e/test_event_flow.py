"""In Chromium: the screens at an event. The kiosk's code rotates and a volunteer's phone checks
in with it; staff check volunteers in by their personal codes, through a (fake) camera, a
keyboard-wedge scanner, and with no network at all (queued, then uploaded exactly once).

Each test makes its own event, under way, at the demo staff's station, in the live server's
database; what the pages say is checked against what the database recorded.
"""

import io
import os
import re
from datetime import timedelta
from pathlib import Path

import pytest

from tests.e2e.conftest import VIEWPORT, serve
from timebank.demo import DEMO_PASSWORD

pytestmark = pytest.mark.browser

STAFF = "staff"  # 陈晓明, staff of 三坊七巷社区志愿服务站
STATION = "三坊七巷社区志愿服务站"
CODE_SECONDS = 10  # the shortest rotation the app allows, so a test can watch it turn
ROTATION_TIMEOUT = (CODE_SECONDS + 8) * 1000  # ms: one period, the script's slack, a slow box
FAKE_CAMERA = ("--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream")
# Set to a folder to keep screenshots of each screen, for a look at the layout.
SHOTS = os.environ.get("TIMEBANK_E2E_SHOTS")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    with serve(tmp_path_factory, EVENT_CODE_SECONDS=str(CODE_SECONDS)) as live:
        yield live


# Data in the live server's database


def new_event(site, title: str, signed_up: tuple[str, ...] = ()) -> int:
    """An event under way at the staff's station (started ten minutes ago); its id."""
    from timebank.core.db import utcnow
    from timebank.core.security import SYSTEM
    from timebank.events import services
    from timebank.extensions import db
    from timebank.stations.models import Station

    with site.context():
        station = db.session.scalar(db.select(Station).filter_by(name=STATION))
        start = utcnow().replace(microsecond=0) - timedelta(minutes=10)
        event = services.create_event(
            SYSTEM,
            station,
            services.EventDetails(title=title, starts_at=start, ends_at=start + timedelta(hours=2)),
        )
        services.publish(SYSTEM, event)
        for phone in signed_up:
            services.sign_up(user_of(phone), event)
        db.session.commit()
        return event.id


def user_of(phone: str):
    from timebank.auth.models import User
    from timebank.extensions import db

    return db.session.scalar(db.select(User).filter_by(phone=phone))


def card_code(site, phone: str) -> tuple[str, str]:
    """A demo volunteer's printed-card code and name."""
    from timebank.volunteers import codes
    from timebank.volunteers.services import profile_of

    with site.context():
        user = user_of(phone)
        return codes.card_token(profile_of(user)), user.name


def attendances(site, event_id: int) -> list[dict]:
    from timebank.events.models import Attendance, Scan
    from timebank.extensions import db

    with site.context():
        rows = db.session.scalars(db.select(Attendance).filter_by(event_id=event_id)).all()
        scans = db.session.scalars(db.select(Scan).filter_by(event_id=event_id)).all()
        return [
            {
                "phone": row.user.phone,
                "via": row.check_in_via,
                "by": row.checked_in_by_id,
                "out": row.checked_out_at,
                "scans": [s.nonce for s in scans if s.user_id == row.user_id],
            }
            for row in rows
        ]


# The browser


def sign_in(page, base: str, login: str, password: str = DEMO_PASSWORD) -> None:
    page.goto(f"{base}/login")
    page.locator("#login").fill(login)
    page.locator("#password").fill(password)
    page.locator("main form").locator("input[type=submit], button[type=submit]").first.click()
    page.wait_for_load_state()
    assert "/login" not in page.url, f"could not sign in as {login}"


def new_page(browser, **options):
    context = browser.new_context(locale="zh-CN", viewport=VIEWPORT, **options)
    context.set_default_timeout(10_000)
    return context.new_page()


def snapshot(page, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=True)


def read_qrs(locator) -> list[str]:
    """Decode the codes on screen as a phone would: from pixels, not from the markup."""
    import zxingcpp
    from PIL import Image

    return [r.text for r in zxingcpp.read_barcodes(Image.open(io.BytesIO(locator.screenshot())))]


def read_qr(locator) -> str:
    found = read_qrs(locator)
    assert len(found) == 1, f"found {len(found)} codes in the screenshot"
    return found[0]


def write_y4m(path: Path, text: str, width: int = 640, height: int = 480, frames: int = 2) -> Path:
    """A video file Chromium's fake camera plays in a loop: the QR code of `text` on white."""
    import qrcode
    from PIL import Image

    code = qrcode.QRCode(border=4, box_size=8)
    code.add_data(text)
    code.make(fit=True)
    image = code.make_image(fill_color="black", back_color="white").get_image().convert("L")
    side = min(width, height) - 40
    image = image.resize((side, side), Image.NEAREST)
    frame = Image.new("L", (width, height), 255)
    frame.paste(image, ((width - side) // 2, (height - side) // 2))
    y, cb, cr = frame.convert("RGB").convert("YCbCr").split()
    half = (width // 2, height // 2)
    planes = y.tobytes() + cb.resize(half).tobytes() + cr.resize(half).tobytes()
    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(frames):
            out.write(b"FRAME\n" + planes)
    return path


def open_scanner(page, base: str, event_id: int, purpose: str = "checkin") -> None:
    page.goto(f"{base}/events/{event_id}/scanner?purpose={purpose}")
    assert page.locator(f'#scanner input[name=purpose][value="{purpose}"]').is_checked()
    assert page.evaluate("typeof window.jsQR") == "function", "jsQR is not installed: make install"


def wedge(page, token: str) -> None:
    """What a keyboard-wedge scanner does: types the code into the focused input, then Enter."""
    field = page.locator("#wedge-input")
    assert page.evaluate("document.activeElement.id") == "wedge-input"
    field.press_sequentially(token, delay=2)
    field.press("Enter")


def result(page, outcome: str):
    found = page.locator(f'#scanner-result[data-outcome="{outcome}"]')
    found.wait_for()
    return found


# The tests


def test_kiosk_code_rotates_survives_a_drop_and_checks_a_volunteer_in(site, browser):
    base = site.url
    volunteer_phone = "13800000003"  # 李娜
    event_id = new_event(site, "社区长者助餐（自助签到）", signed_up=(volunteer_phone,))

    kiosk = new_page(browser)
    sign_in(kiosk, base, STAFF)
    kiosk.goto(f"{base}/events/{event_id}/kiosk?purpose=checkin")
    code = kiosk.locator("#kiosk-qr")
    box = code.bounding_box()
    assert box["width"] >= 300, "the code is too small to scan from a step away"
    assert re.search(r"\d+", kiosk.locator("#kiosk-countdown").inner_text())
    assert kiosk.locator('[data-count="signed_up"]').inner_text() == "1"
    assert kiosk.locator('[data-count="checked_in"]').inner_text() == "0"
    snapshot(kiosk, "kiosk")
    first = read_qr(code)
    assert first.startswith(f"{base}/e/TBK."), first

    # The code turns in place, without reloading the page, on the server's schedule.
    kiosk.evaluate("window.__samePage = true")
    token = code.get_attribute("data-token")
    with kiosk.expect_response(
        lambda r: "/kiosk/code.json" in r.url, timeout=ROTATION_TIMEOUT
    ) as refreshed:
        kiosk.wait_for_function(
            "t => document.getElementById('kiosk-qr').dataset.token !== t",
            arg=token,
            timeout=ROTATION_TIMEOUT,
        )
    assert refreshed.value.status == 200
    assert kiosk.evaluate("window.__samePage") is True
    second = read_qr(code)
    assert second.startswith(f"{base}/e/TBK.") and second != first
    window = int(first.rsplit("/e/", 1)[1].split(".")[3])
    assert int(second.rsplit("/e/", 1)[1].split(".")[3]) == window + 1

    # No network: the last code stays on screen with a notice; it recovers by itself.
    kiosk.context.set_offline(True)
    kiosk.locator("#kiosk-reconnecting").wait_for(state="visible", timeout=ROTATION_TIMEOUT)
    assert read_qr(code) == second
    kiosk.context.set_offline(False)
    kiosk.locator("#kiosk-reconnecting").wait_for(state="hidden", timeout=ROTATION_TIMEOUT)
    current = read_qr(code)
    assert current != second and kiosk.evaluate("window.__samePage") is True

    # A volunteer scans the screen with a phone: the URL opens the check-in page.
    phone = new_page(browser)
    phone.set_viewport_size({"width": 390, "height": 844})
    sign_in(phone, base, volunteer_phone)
    phone.goto(current)
    phone.locator("form.scan-form button[type=submit]").click()
    phone.locator('section.scan-result[data-outcome="checked_in"]').wait_for()
    recorded = attendances(site, event_id)
    assert [(a["phone"], a["via"]) for a in recorded] == [(volunteer_phone, "kiosk")]

    # The kiosk's counts follow with its next code.
    kiosk.locator('[data-count="checked_in"]:text-is("1")').wait_for(timeout=ROTATION_TIMEOUT)
    phone.context.close()

    # The poster to print: both static codes on one A4 page, and no buttons on paper.
    kiosk.goto(f"{base}/events/{event_id}/poster")
    snapshot(kiosk, "poster")
    codes = sorted(read_qrs(kiosk.locator("#poster .poster-codes")))
    assert len(codes) == 2 and all(c.startswith(f"{base}/e/TBS.") for c in codes)
    assert {c.rsplit("/e/", 1)[1].split(".")[2] for c in codes} == {"I", "O"}
    assert kiosk.locator(".poster-tools").is_visible()
    kiosk.emulate_media(media="print")
    assert not kiosk.locator(".poster-tools").is_visible()
    kiosk.context.close()


def test_staff_scan_a_card_with_the_camera(site, browser, launch_chromium, tmp_path):
    base = site.url
    event_id = new_event(site, "垃圾分类宣传（摄像头扫码）")
    token, name = card_code(site, "13800000004")  # 刘洋, not signed up: a walk-in
    assert token.startswith("TBC.")
    video = write_y4m(tmp_path / "card.y4m", token)

    camera = launch_chromium(*FAKE_CAMERA, f"--use-file-for-fake-video-capture={video}")
    page = new_page(camera, permissions=["camera"])
    sign_in(page, base, STAFF)
    open_scanner(page, base, event_id)
    if page.locator("#camera-start").is_visible():  # started already where the camera is allowed
        page.locator("#camera-start").click()

    shown = result(page, "checked_in")
    snapshot(page, "scanner-camera")
    assert shown.get_attribute("data-tone") == "ok"
    assert page.locator("#scanner").get_attribute("data-camera") in {"jsqr", "native"}
    assert page.locator("#scanner-name").inner_text() == name
    shown_at = page.locator("#scanner-time").inner_text()
    assert re.fullmatch(r"\d\d:\d\d:\d\d", shown_at)
    # In the event's time zone, as the server's message has it, whatever the device's zone.
    assert shown_at[:5] in page.locator("#scanner-message").inner_text()
    recorded = attendances(site, event_id)
    assert len(recorded) == 1
    assert recorded[0]["phone"] == "13800000004" and recorded[0]["via"] == "card"
    assert recorded[0]["by"] is not None  # recorded as checked in by the staff member
    # The camera keeps seeing the card: still one scan sent, not one per frame.
    assert len(recorded[0]["scans"]) == 1
    assert page.locator("#scanner-log li").count() == 1
    page.context.close()


def test_staff_scan_with_a_keyboard_wedge_in_and_out(site, browser):
    base = site.url
    event_id = new_event(site, "社区图书角整理（扫码枪）", signed_up=("13800000006",))
    token, name = card_code(site, "13800000006")  # 杨磊

    page = new_page(browser)
    sign_in(page, base, STAFF)
    open_scanner(page, base, event_id)

    wedge(page, token)
    shown = result(page, "checked_in")
    assert shown.get_attribute("data-tone") == "ok"
    assert page.locator("#scanner-name").inner_text() == name
    assert page.locator("#wedge-input").input_value() == ""  # ready for the next person

    # The same card again: answered "already", in amber, with the first time; nothing new.
    first_time = page.locator("#scanner-time").inner_text()
    wedge(page, token.lower())  # a scanner in lower case is read the same
    again = result(page, "already_checked_in")
    assert again.get_attribute("data-tone") == "warn"
    assert page.locator("#scanner-time").inner_text() == first_time

    # Something that is not a personal code: red, and nothing is sent.
    wedge(page, "HTTPS://EXAMPLE.COM/X")
    assert result(page, "not_personal_code").get_attribute("data-tone") == "error"

    # Check-out mode (the input keeps the focus), then the same card checks out.
    page.locator('input[name=purpose][value="checkout"]').check()
    assert "purpose=checkout" in page.url
    wedge(page, token)
    assert result(page, "checked_out").get_attribute("data-tone") == "ok"
    recorded = attendances(site, event_id)
    assert len(recorded) == 1 and recorded[0]["out"] is not None
    assert len(recorded[0]["scans"]) == 3  # in, already in, out
    assert page.locator("#scanner-log li").count() == 4
    page.context.close()


def test_a_scan_made_offline_is_queued_and_recorded_once(site, browser):
    base = site.url
    event_id = new_event(site, "重阳登高（无网络）")
    token, name = card_code(site, "13800000008")  # 黄强

    page = new_page(browser)
    context = page.context
    sign_in(page, base, STAFF)
    open_scanner(page, base, event_id)

    context.set_offline(True)
    wedge(page, token)
    assert result(page, "queued").get_attribute("data-tone") == "queued"
    queue = page.locator("#scanner-queue")
    page.locator('#scanner-queue[data-count="1"]').wait_for()
    snapshot(page, "scanner-offline")
    assert queue.is_visible()
    assert "1" in queue.inner_text()
    stored = page.evaluate(
        "JSON.parse(localStorage.getItem(document.getElementById('scanner').dataset.queueKey))"
    )
    assert len(stored) == 1
    assert stored[0]["token"] == token and stored[0]["purpose"] == "checkin"
    assert len(stored[0]["nonce"]) >= 16
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", stored[0]["scanned_at"])
    assert attendances(site, event_id) == []

    # Back online, the first upload reaches the server but its answer is lost on the way
    # back: the scanner sends the same scan again, and the server records it only once.
    sent = []

    def lose_first_answer(route):
        sent.append(route.request.post_data_json)
        response = route.fetch()
        if len(sent) == 1:
            assert response.status == 200
            route.abort("connectionreset")
        else:
            route.fulfill(response=response)

    page.route("**/api/v1/events/*/scans", lose_first_answer)
    context.set_offline(False)
    shown = result(page, "checked_in")
    assert shown.get_attribute("data-tone") == "ok"
    assert page.locator("#scanner-name").inner_text() == name
    page.locator('#scanner-queue[data-count="0"]').wait_for(state="attached")
    assert not queue.is_visible()
    assert (
        page.evaluate("localStorage.getItem(document.getElementById('scanner').dataset.queueKey)")
        is None
    )

    assert len(sent) == 2 and sent[0] == sent[1] == stored[0]  # same nonce, same moment
    recorded = attendances(site, event_id)
    assert len(recorded) == 1
    assert recorded[0]["phone"] == "13800000008"
    assert recorded[0]["scans"] == [stored[0]["nonce"]]
    context.close()

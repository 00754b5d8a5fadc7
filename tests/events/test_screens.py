"""Screens at the event: who may open the kiosk, poster and scanner, the kiosk's rotating code
(as JSON for its script) and the poster's printable codes."""

import io
import json
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
import zxingcpp
from PIL import Image

from tests import factories
from tests.conftest import login
from timebank.events import attendance, screens, services, tokens
from timebank.events.models import Via
from timebank.extensions import db

JSON = {"Accept": "application/json"}


def pages(event_id: int) -> list[str]:
    return [
        f"/events/{event_id}/kiosk",
        f"/events/{event_id}/kiosk?purpose=checkout",
        f"/events/{event_id}/kiosk/code.json?purpose=checkin",
        f"/events/{event_id}/poster",
        f"/events/{event_id}/poster/checkin.png",
        f"/events/{event_id}/scanner",
    ]


def decode(png: bytes) -> str:
    results = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))
    assert len(results) == 1
    return results[0].text


@pytest.fixture
def make_event(app, places):
    """make_event(**details) → a published, committed event at the east station, built in a
    context of its own (these tests push none, so each request gets its own, as in production)."""

    def make(**details):
        with app.test_request_context():
            station = db.session.get(type(places.east_station), places.east_station.id)
            return factories.event(station, **details)

    return make


@pytest.fixture
def clock(monkeypatch):
    """A settable clock for the kiosk's codes (only the event modules see it)."""
    now = SimpleNamespace(value=1_800_000_000.0)  # the start of a window for any period ≤ 60
    fake = SimpleNamespace(time=lambda: now.value)
    monkeypatch.setattr(tokens, "time", fake)
    monkeypatch.setattr(screens, "time", fake)
    return now


def test_screens_ask_to_sign_in(client, make_event):
    event = make_event()
    for url in pages(event.id):
        response = client.get(url)
        assert response.status_code == 302, url
        assert "/login" in response.headers["Location"]
    # The kiosk's script asks for JSON and gets a JSON answer it can act on.
    response = client.get(f"/events/{event.id}/kiosk/code.json", headers=JSON)
    assert response.status_code == 401
    assert response.json["error"]["code"] == "unauthorized"


@pytest.mark.parametrize("who", ["13900000001", "westadmin", "eastleader"])
def test_screens_refuse_people_who_do_not_organize_the_event(client, people, make_event, who):
    event = make_event()  # at the east station
    login(client, who)
    for url in pages(event.id):
        response = client.get(url)
        assert response.status_code == 403, url
        assert b"<svg" not in response.data
        assert event.qr_handle.encode() not in response.data
    assert client.get(f"/events/{event.id}/kiosk/code.json", headers=JSON).json["error"][
        "code"
    ] == ("forbidden")


def test_screens_of_a_missing_event_are_not_found(client, people):
    login(client, "eaststaff")
    assert client.get("/events/999999/kiosk").status_code == 404
    assert client.get("/events/999999/scanner").status_code == 404


@pytest.mark.parametrize("who", ["eaststaff", "eastadmin", "root"])
def test_organizers_get_the_kiosk(client, people, make_event, who):
    event = make_event(title="重阳敬老活动")
    login(client, who)
    page = client.get(f"/events/{event.id}/kiosk")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "重阳敬老活动" in html
    assert html.count("<svg") == 1
    assert f'data-code-url="/events/{event.id}/kiosk/code.json?purpose=checkin"' in html
    assert 'id="kiosk-countdown"' in html and "{s}" in html  # the script's template
    assert 'data-count="checked_in"' in html and 'data-count="signed_up"' in html
    assert "js/kiosk.js" in html and "<script>" not in html  # no inline script (CSP)
    assert 'class="topbar"' not in html  # a screen of its own, nothing to tap away
    token = re.search(r'data-token="([^"]+)"', html).group(1)
    assert token.startswith("TBK.") and ".I." in token

    checkout = client.get(f"/events/{event.id}/kiosk?purpose=checkout").get_data(as_text=True)
    assert re.search(r'data-token="TBK\.[0-9A-F]{16}\.O\.', checkout)
    # Anything else shows check-in rather than an error on a screen nobody is watching.
    assert ".I." in re.search(
        r'data-token="([^"]+)"', client.get(f"/events/{event.id}/kiosk?purpose=x").text
    ).group(1)


def test_the_public_screen_link_shows_the_kiosk_without_a_login(client, people, make_event):
    """Staff open the kiosk on a public tablet through its screen link, not their session;
    regenerating the event's codes revokes the link."""
    event = make_event(title="重阳敬老活动")
    login(client, "eaststaff")
    html = client.get(f"/events/{event.id}/kiosk").get_data(as_text=True)
    link = re.search(r'id="kiosk-screen-link">([^<]+)<', html).group(1)
    path = link.removeprefix("http://localhost")
    public = client.application.test_client()  # the tablet: no session at all
    screen = public.get(path)
    assert screen.status_code == 200 and "重阳敬老活动" in screen.text
    assert screen.headers["Referrer-Policy"] == "no-referrer"
    assert "Back to the event" not in screen.text and 'id="kiosk-screen-link"' not in screen.text
    code_url = re.search(r'data-code-url="([^"]+)"', screen.text).group(1).replace("&amp;", "&")
    assert code_url.startswith(path) and code_url.endswith("purpose=checkin")
    code = public.get(code_url, headers=JSON)
    assert code.status_code == 200 and code.json["token"].startswith("TBK.")
    # The staff pages themselves still need a login.
    assert public.get(f"/events/{event.id}/kiosk/code.json", headers=JSON).status_code == 401

    assert client.post(f"/events/{event.id}/regenerate-codes").status_code == 302
    assert public.get(path).status_code == 404
    assert public.get(code_url, headers=JSON).status_code == 404
    assert public.get("/screen/forged-key").status_code == 404


def test_kiosk_code_json_rotates_with_the_period(client, app, people, make_event, clock):
    event = make_event()
    login(client, "eaststaff")
    period = app.config["EVENT_CODE_SECONDS"]
    url = f"/events/{event.id}/kiosk/code.json?purpose=checkin"

    clock.value += 1
    first = client.get(url, headers=JSON)
    assert first.status_code == 200
    assert first.headers["Cache-Control"] == "no-store"
    first = first.json
    assert set(first) >= {"token", "url", "svg", "expires_in", "period", "counts"}
    assert first["period"] == period
    assert first["expires_in"] == pytest.approx(period - 1)
    assert first["url"] == f"http://localhost/e/{first['token']}"
    assert first["svg"].lstrip().startswith("<svg")

    clock.value += period - 6  # later in the same window: the same code, less time left
    same = client.get(url, headers=JSON).json
    assert same["token"] == first["token"]
    assert same["expires_in"] == pytest.approx(5)

    clock.value += 10  # the next window
    second = client.get(url, headers=JSON).json
    assert second["token"] != first["token"]
    assert second["expires_in"] == pytest.approx(period - 5)
    window = int(first["token"].split(".")[3])
    assert int(second["token"].split(".")[3]) == window + 1
    with app.test_request_context():
        presented = tokens.resolve(second["token"], now=clock.value)
    assert presented.event.id == event.id
    assert presented.purpose == tokens.CHECK_IN

    checkout = client.get(f"/events/{event.id}/kiosk/code.json?purpose=checkout", headers=JSON)
    assert ".O." in checkout.json["token"]
    refused = client.get(f"/events/{event.id}/kiosk/code.json?purpose=nonsense", headers=JSON)
    assert refused.status_code == 422
    assert refused.json["error"]["code"] == "validation_error"


def test_kiosk_counts_follow_the_event(client, app, people, make_event, enrol):
    event = make_event(starts_in=-10)
    here, signed_up = enrol(), enrol()
    with app.test_request_context():
        services.sign_up(here.user, event)
        services.sign_up(signed_up.user, event)
        attendance.check_in(event, here.user, via=Via.KIOSK)
        db.session.commit()
    login(client, "eaststaff")
    counts = client.get(f"/events/{event.id}/kiosk/code.json?purpose=checkin", headers=JSON)
    assert counts.json["counts"] == {"checked_in": 1, "checked_out": 0, "signed_up": 2}
    page = client.get(f"/events/{event.id}/kiosk").get_data(as_text=True)
    assert re.search(r'data-count="checked_in">1<', page)
    assert re.search(r'data-count="signed_up">2<', page)


def test_the_poster_shows_both_codes_the_window_and_the_revocation_note(
    client, app, people, make_event
):
    event = make_event(title="社区图书角整理", address="三坊七巷党群服务中心")
    login(client, "eaststaff")
    page = client.get(f"/events/{event.id}/poster")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "社区图书角整理" in html and "三坊七巷党群服务中心" in html
    assert html.count("<svg") == 2
    assert 'data-purpose="checkin"' in html and 'data-purpose="checkout"' in html
    assert "css/screens.css" in html
    assert f"/events/{event.id}/poster/checkin.png" in html
    assert f"/events/{event.id}/poster/checkout.png" in html
    # In English, the words a reader of the poster relies on.
    english = client.get(f"/events/{event.id}/poster", headers={"Accept-Language": "en"}).text
    assert 'lang="en"' in english
    assert "These codes work from" in english
    assert "stops working: print it again" in english
    styles = (Path(app.static_folder) / "css" / "screens.css").read_text(encoding="utf-8")
    assert "@page { size: A4" in styles and "@media print" in styles


@pytest.mark.parametrize("purpose", [tokens.CHECK_IN, tokens.CHECK_OUT])
def test_the_poster_png_decodes_to_the_event_url(client, app, people, make_event, purpose):
    event = make_event(starts_in=5)
    login(client, "eaststaff")
    response = client.get(f"/events/{event.id}/poster/{purpose}.png")
    assert response.status_code == 200
    assert response.mimetype == "image/png"
    assert "attachment" in response.headers["Content-Disposition"]
    text = decode(response.data)
    assert text.startswith("http://localhost/e/TBS.")
    token = text.rsplit("/e/", 1)[1]
    with app.test_request_context():
        assert token == tokens.poster_token(event, purpose)
        presented = tokens.resolve(token)
    assert presented.event.id == event.id and presented.purpose == purpose
    assert presented.via == Via.POSTER
    assert client.get(f"/events/{event.id}/poster/other.png").status_code == 404


def test_the_scanner_page_is_wired_to_the_scans_api(client, people, make_event):
    event = make_event()
    login(client, "eaststaff")
    page = client.get(f"/events/{event.id}/scanner?purpose=checkout")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert f'data-scans-url="/api/v1/events/{event.id}/scans"' in html
    assert 'name="csrf-token"' in html
    assert re.search(r'value="checkout" checked', html)
    assert 'id="wedge-input"' in html and "autofocus" in html
    assert "vendor/jsQR.js" in html and "js/scanner.js" in html
    block = re.search(
        r'<script type="application/json" id="scanner-messages">(.*?)</script>', html, re.S
    )
    messages = json.loads(block.group(1))
    assert {"queued", "not_personal", "camera_unavailable"} <= set(messages)
    assert "{n}" in messages["queued"]

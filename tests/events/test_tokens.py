"""Event codes: rotation and its grace, poster window, tampering, revocation, other events."""

import time
from datetime import timedelta

import pytest

from timebank.core.errors import ValidationFailed
from timebank.events import services, tokens
from timebank.events.models import Via


def _refused(token, now, code):
    with pytest.raises(ValidationFailed) as caught:
        tokens.resolve(token, now)
    assert caught.value.code == code
    return caught.value


def test_kiosk_code_names_its_event_and_purpose(ctx, make_event):
    event = make_event()
    token, expires = tokens.kiosk_token(event, tokens.CHECK_OUT)
    presented = tokens.resolve(token)
    assert presented.event.id == event.id
    assert presented.purpose == tokens.CHECK_OUT
    assert presented.via == Via.KIOSK
    assert expires > time.time()
    assert tokens.url(token).endswith(f"/e/{token}")


def test_kiosk_code_rotates_and_the_previous_one_has_a_short_grace(ctx, app, make_event):
    event = make_event()
    period, grace = app.config["EVENT_CODE_SECONDS"], app.config["EVENT_CODE_GRACE_SECONDS"]
    start = (time.time() // period) * period  # the start of a window
    old, _ = tokens.kiosk_token(event, tokens.CHECK_IN, now=start + 1)
    new, _ = tokens.kiosk_token(event, tokens.CHECK_IN, now=start + period + 1)
    assert old != new
    next_window = start + period
    assert tokens.resolve(old, next_window + grace - 1).event.id == event.id
    _refused(old, next_window + grace + 1, "code_expired")
    _refused(old, next_window + period + 1, "code_expired")
    # A code from the future (a skewed device) is not accepted either.
    _refused(new, start + 1, "code_expired")


def test_tampered_codes_are_unknown(ctx, make_event):
    event = make_event()
    token, _ = tokens.kiosk_token(event, tokens.CHECK_IN)
    head, mac = token.rsplit(".", 1)
    _refused(head + "." + ("A" if mac[0] != "A" else "B") + mac[1:], None, "unknown_code")
    # Changing the purpose letter breaks the MAC: a check-in code cannot check out.
    _refused(token.replace(".I.", ".O."), None, "unknown_code")
    _refused("https://example.com/phish", None, "unknown_code")
    _refused("", None, "unknown_code")


def test_a_code_for_another_event_does_not_name_this_one(ctx, places, make_event):
    one, other = make_event(), make_event(places.west_station)
    token, _ = tokens.kiosk_token(one, tokens.CHECK_IN)
    swapped = token.replace(one.qr_handle, other.qr_handle)
    _refused(swapped, None, "unknown_code")


def test_regenerating_revokes_kiosk_and_poster_codes(ctx, people, make_event):
    event = make_event()
    kiosk, _ = tokens.kiosk_token(event, tokens.CHECK_IN)
    poster = tokens.poster_token(event, tokens.CHECK_IN)
    services.regenerate_codes(people.east_staff, event)
    now = event.starts_at.timestamp()
    _refused(kiosk, None, "code_revoked")
    _refused(poster, now, "code_revoked")
    assert tokens.resolve(tokens.poster_token(event, tokens.CHECK_IN), now).via == Via.POSTER


def test_poster_code_works_only_around_the_event(ctx, app, make_event):
    event = make_event(starts_in=24 * 60, lasts=60, grace_minutes=10)
    poster = tokens.poster_token(event, tokens.CHECK_IN)
    opens = event.starts_at - timedelta(minutes=app.config["CHECKIN_OPENS_MINUTES_BEFORE"])
    closes = event.ends_at + timedelta(minutes=10)
    _refused(poster, (opens - timedelta(minutes=1)).timestamp(), "outside_window")
    assert tokens.resolve(poster, opens.timestamp()).purpose == tokens.CHECK_IN
    assert tokens.resolve(poster, closes.timestamp()).purpose == tokens.CHECK_IN
    _refused(poster, (closes + timedelta(minutes=1)).timestamp(), "outside_window")

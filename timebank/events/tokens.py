"""Event QR tokens: the kiosk's rotating code and the printed poster's static code.

    TBK.<handle>.<purpose>.<window>.<mac>   kiosk code, valid for its window (and briefly after)
    TBS.<handle>.<purpose>.<mac>            poster code, valid around the event's time window

purpose is I (check-in) or O (check-out). The MAC is keyed by SECRET_KEY and the event's
own secret: regenerating the secret revokes every code shown or printed so far. A code is
a URL on this app (/e/<token>), so any phone camera or WeChat opens it.
"""

import re
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from flask import current_app, url_for
from flask_babel import gettext as _

from timebank.core.errors import ValidationFailed
from timebank.core.qr import sign, token_key
from timebank.extensions import db

KIOSK, POSTER = "TBK", "TBS"
CHECK_IN, CHECK_OUT = "checkin", "checkout"
PURPOSE_LETTER = {CHECK_IN: "I", CHECK_OUT: "O"}
LETTER_PURPOSE = {v: k for k, v in PURPOSE_LETTER.items()}
TOKEN_RE = re.compile(
    r"^(TBK\.[0-9A-F]{16}\.[IO]\.[0-9]{1,12}|TBS\.[0-9A-F]{16}\.[IO])\.[A-Z2-7]{26}$"
)


def new_handle() -> str:
    return secrets.token_hex(8).upper()


def new_secret() -> str:
    return secrets.token_hex(32)


def period() -> int:
    return max(10, int(current_app.config["EVENT_CODE_SECONDS"]))


def grace() -> int:
    """Seconds the previous kiosk code is still accepted after it rotated."""
    return max(0, int(current_app.config["EVENT_CODE_GRACE_SECONDS"]))


def _mac(event, *parts, secret: str | None = None) -> str:
    key = token_key("event") + (secret or event.qr_secret).encode()
    return sign(key, "|".join(str(p) for p in parts))


def kiosk_token(event, purpose: str, now: float | None = None) -> tuple[str, float]:
    """The kiosk's current code and the moment (epoch seconds) the next one takes over."""
    now = time.time() if now is None else now
    window = int(now // period())
    letter = PURPOSE_LETTER[purpose]
    mac = _mac(event, KIOSK, event.qr_handle, letter, window)
    return f"{KIOSK}.{event.qr_handle}.{letter}.{window}.{mac}", (window + 1) * period()


def poster_token(event, purpose: str) -> str:
    letter = PURPOSE_LETTER[purpose]
    mac = _mac(event, POSTER, event.qr_handle, letter)
    return f"{POSTER}.{event.qr_handle}.{letter}.{mac}"


def url(token: str) -> str:
    return url_for("events.scan", token=token, _external=True)


def poster_window(event) -> tuple[datetime, datetime]:
    """When a poster's code works: from check-in opening to the end plus grace."""
    before = timedelta(minutes=current_app.config["CHECKIN_OPENS_MINUTES_BEFORE"])
    return event.starts_at - before, event.ends_at + timedelta(minutes=event.grace_minutes)


def _matches(expected: str, given: str) -> bool:
    return secrets.compare_digest(expected.encode(), given.encode())


@dataclass(frozen=True)
class Presented:
    event: object
    purpose: str
    via: str  # Via.KIOSK or Via.POSTER


def resolve(token: str, now: float | None = None) -> Presented:
    """The event and purpose a scanned code names while it is valid; a clear refusal
    (tampered, unknown, expired, revoked) otherwise. Nothing is recorded here."""
    from timebank.events.models import Event, Via

    now = time.time() if now is None else now
    token = (token or "").strip().upper()
    unknown = ValidationFailed(
        _("This is not a Timebank event code. Scan the code shown at the event."),
        field="token",
        code="unknown_code",
    )
    if not TOKEN_RE.match(token):
        raise unknown
    parts = token.split(".")
    kind, handle, letter = parts[0], parts[1], parts[2]
    event = db.session.scalar(db.select(Event).filter_by(qr_handle=handle))
    if event is None:
        raise unknown
    if not _matches(_mac(event, *parts[:-1]), parts[-1]):
        if event.previous_qr_secret and _matches(
            _mac(event, *parts[:-1], secret=event.previous_qr_secret), parts[-1]
        ):
            raise ValidationFailed(
                _("The organizers have replaced this code. Scan the current one."),
                field="token",
                code="code_revoked",
            )
        raise unknown
    if kind == KIOSK:
        window = int(parts[3])
        current = int(now // period())
        fresh = window == current or (window == current - 1 and now - current * period() <= grace())
        if not fresh:
            raise ValidationFailed(
                _("This code has expired. Scan the code on the screen again."),
                field="token",
                code="code_expired",
            )
        via = Via.KIOSK
    else:
        opens, closes = poster_window(event)
        moment = datetime.fromtimestamp(now, UTC)
        if not opens <= moment <= closes:
            raise ValidationFailed(
                _("This poster's code only works around the event's time."),
                field="token",
                code="outside_window",
            )
        via = Via.POSTER
    return Presented(event, LETTER_PURPOSE[letter], via)

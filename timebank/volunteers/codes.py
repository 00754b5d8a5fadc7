"""Personal QR tokens: a rotating code on the volunteer's phone and a revocable printed card.

    TBP.<handle>.<window>.<mac>    phone code, valid for its window and the one after
    TBC.<handle>.<version>.<mac>   card code, valid until the card is reissued

The handle is random per volunteer (no database id travels in a code) and the MAC, under
a key derived from SECRET_KEY, makes codes unforgeable. Upper-case base32 and digits keep
codes short and safe to type through a keyboard-wedge barcode scanner.
"""

import re
import secrets
import time
from dataclasses import dataclass

from flask import current_app
from flask_babel import gettext as _

from timebank.core.errors import ValidationFailed
from timebank.core.qr import sign, token_key
from timebank.extensions import db
from timebank.volunteers.models import Volunteer, VolunteerStatus

PHONE, CARD = "TBP", "TBC"
TOKEN_RE = re.compile(r"^TB[PC]\.[0-9A-F]{16}\.[0-9]{1,12}\.[A-Z2-7]{26}$")


def new_handle() -> str:
    return secrets.token_hex(8).upper()


def period() -> int:
    """Seconds each phone code lasts; configured between 30 and 60."""
    return min(max(int(current_app.config.get("PERSONAL_CODE_SECONDS", 30)), 30), 60)


def _window(now: float) -> int:
    return int(now // period())


def phone_token(volunteer: Volunteer, now: float | None = None) -> tuple[str, float]:
    """The current phone code and the moment (epoch seconds) the next one takes over."""
    now = time.time() if now is None else now
    window = _window(now)
    mac = sign(token_key("personal"), f"{PHONE}|{volunteer.qr_handle}|{window}")
    return f"{PHONE}.{volunteer.qr_handle}.{window}.{mac}", (window + 1) * period()


def payload(volunteer: Volunteer) -> dict:
    """What the phone page shows and fetches again when the code expires."""
    from timebank.core import qr

    token, expires = phone_token(volunteer)
    return {
        "token": token,
        "svg": qr.svg(token),
        "expires_at": expires,
        "expires_in": max(1, round(expires - time.time())),
        "period": period(),
    }


def card_token(volunteer: Volunteer) -> str:
    mac = sign(token_key("personal"), f"{CARD}|{volunteer.qr_handle}|{volunteer.card_version}")
    return f"{CARD}.{volunteer.qr_handle}.{volunteer.card_version}.{mac}"


@dataclass(frozen=True)
class Presented:
    volunteer: Volunteer
    via: str  # "phone" or "card"


def resolve(token: str, now: float | None = None) -> Presented:
    """The volunteer a scanned code names, while it is valid; a clear refusal otherwise.

    A phone code is accepted in its own window and the next (a code shown just before it
    rotates still scans). A card code is accepted while its version is the current one.
    """
    now = time.time() if now is None else now
    token = (token or "").strip().upper()
    unknown = ValidationFailed(_("This is not a Timebank personal code."), field="token")
    # The whole shape first: scanners typing through an input method send odd characters.
    if not TOKEN_RE.match(token):
        raise unknown
    kind, handle, number, mac = token.split(".")
    expected = sign(token_key("personal"), f"{kind}|{handle}|{int(number)}")
    if not secrets.compare_digest(expected.encode(), mac.encode()):
        raise unknown
    volunteer = db.session.scalar(db.select(Volunteer).filter_by(qr_handle=handle))
    if volunteer is None:
        raise unknown
    if kind == PHONE:
        if not 0 <= _window(now) - int(number) <= 1:
            raise ValidationFailed(
                _("This code has expired. Ask the volunteer to show the current code."),
                field="token",
                code="code_expired",
            )
        via = "phone"
    else:
        if int(number) != volunteer.card_version:
            raise ValidationFailed(
                _("This card has been replaced by a newer one and no longer works."),
                field="token",
                code="card_revoked",
            )
        via = "card"
    if volunteer.status == VolunteerStatus.SUSPENDED or not volunteer.user.active:
        raise ValidationFailed(
            _("This volunteer is suspended."), field="token", code="volunteer_suspended"
        )
    return Presented(volunteer, via)

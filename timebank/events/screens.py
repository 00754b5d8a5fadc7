"""Screens at the event: the kiosk's rotating code, the printable poster, the staff scanner."""

import hashlib
import hmac
import time

from flask import (
    Blueprint,
    Response,
    current_app,
    jsonify,
    make_response,
    render_template,
    request,
    url_for,
)
from flask_babel import get_timezone
from flask_babel import gettext as _
from flask_login import current_user
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import func

from timebank.core import qr
from timebank.core.errors import NotFound, ValidationFailed
from timebank.core.security import requires
from timebank.events import services, tokens
from timebank.events.models import Attendance, Event, EventState
from timebank.extensions import db

bp = Blueprint("event_screens", __name__)

PURPOSES = (tokens.CHECK_IN, tokens.CHECK_OUT)


def _purpose(value: str | None, *, strict: bool = False) -> str:
    """The purpose asked for; a page falls back to check-in, the JSON refuses nonsense."""
    if value in PURPOSES:
        return value
    if strict:
        raise ValidationFailed(_("Choose check-in or check-out."), field="purpose")
    return tokens.CHECK_IN


def live_counts(event: Event) -> dict[str, int]:
    """What the kiosk shows beside the code: who is here, who left, who signed up."""
    checked_in, checked_out = db.session.execute(
        db.select(func.count(Attendance.id), func.count(Attendance.checked_out_at)).where(
            Attendance.event_id == event.id
        )
    ).one()
    return {
        "checked_in": checked_in,
        "checked_out": checked_out,
        "signed_up": services.confirmed_count(event),
    }


def code_payload(event: Event, purpose: str) -> dict:
    """The kiosk's current code and how long it lasts by the server's clock: the screen
    counts down from expires_in and never compares its own clock with the server's."""
    token, expires = tokens.kiosk_token(event, purpose)
    link = tokens.url(token)
    return {
        "purpose": purpose,
        "token": token,
        "url": link,
        "svg": qr.svg(link),
        "expires_in": round(max(0.0, expires - time.time()), 3),
        "period": tokens.period(),
        "counts": live_counts(event),
    }


# Kiosk: a tablet at the entrance showing a code that rotates


# A kiosk stands in public for hours: staff open it through a screen link that needs no
# login, so nobody walking past the tablet finds a staff session on it. The link is bound
# to the event's secret: regenerating the codes revokes it with the printed posters.


def _screen_links() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.secret_key, salt="timebank.event-kiosk")


def _secret_tag(event: Event) -> str:
    return hashlib.sha256(event.qr_secret.encode()).hexdigest()[:16]


def screen_key(event: Event) -> str:
    return _screen_links().dumps({"e": event.id, "t": _secret_tag(event)})


def event_for_screen(key: str) -> Event:
    try:
        data = _screen_links().loads(key)
        event = db.session.get(Event, int(data["e"]))
    except (BadSignature, KeyError, TypeError, ValueError):
        event = None
    if event is None or not hmac.compare_digest(_secret_tag(event), str(data.get("t"))):
        raise NotFound(
            _("This screen link is no longer valid: open the kiosk again from the event's page.")
        )
    return event


def _render_kiosk(event: Event, *, key: str | None):
    purpose = _purpose(request.args.get("purpose"))
    if key is None:
        links = {p: url_for(".kiosk", event_id=event.id, purpose=p) for p in PURPOSES}
        code_url = url_for(".kiosk_code", event_id=event.id, purpose=purpose)
        screen_link = url_for(".kiosk_screen", key=screen_key(event), _external=True)
    else:
        links = {p: url_for(".kiosk_screen", key=key, purpose=p) for p in PURPOSES}
        code_url = url_for(".kiosk_screen_code", key=key, purpose=purpose)
        screen_link = None
    response = make_response(
        render_template(
            "events/screens/kiosk.html",
            event=event,
            purpose=purpose,
            code=code_payload(event, purpose),
            usable=event.state == EventState.PUBLISHED,
            links=links,
            code_url=code_url,
            screen_link=screen_link,
        )
    )
    response.headers["Referrer-Policy"] = "no-referrer"  # the screen link is the key
    return response


def _code_response(event: Event):
    response = jsonify(code_payload(event, _purpose(request.args.get("purpose"), strict=True)))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/events/<int:event_id>/kiosk")
@requires()
def kiosk(event_id: int):
    return _render_kiosk(services.get_managed_event(current_user, event_id), key=None)


@bp.route("/events/<int:event_id>/kiosk/code.json", endpoint="kiosk_code")
@requires()
def kiosk_code(event_id: int):
    return _code_response(services.get_managed_event(current_user, event_id))


@bp.route("/screen/<key>")
def kiosk_screen(key: str):
    return _render_kiosk(event_for_screen(key), key=key)


@bp.route("/screen/<key>/code.json")
def kiosk_screen_code(key: str):
    return _code_response(event_for_screen(key))


# Poster: static codes to print, valid around the event's time window


@bp.route("/events/<int:event_id>/poster")
@requires()
def poster(event_id: int):
    event = services.get_managed_event(current_user, event_id)
    codes = []
    for purpose in PURPOSES:
        link = tokens.url(tokens.poster_token(event, purpose))
        codes.append(
            {
                "purpose": purpose,
                "svg": qr.svg(link),
                "png": url_for(".poster_png", event_id=event.id, purpose=purpose),
            }
        )
    opens, closes = tokens.poster_window(event)
    return render_template(
        "events/screens/poster.html", event=event, codes=codes, opens=opens, closes=closes
    )


@bp.route("/events/<int:event_id>/poster/<any(checkin, checkout):purpose>.png")
@requires()
def poster_png(event_id: int, purpose: str):
    event = services.get_managed_event(current_user, event_id)
    png = qr.png(tokens.url(tokens.poster_token(event, purpose)), box_size=16)
    response = Response(png, mimetype="image/png")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="event-{event.id}-{purpose}.png"'
    )
    response.headers["Cache-Control"] = "no-store"
    return response


# Scanner: staff scan volunteers' personal codes (camera or keyboard-wedge scanner)


def scanner_messages() -> dict[str, str]:
    """The scanner script's own words, translated here; results come from the server."""
    return {
        "checkin": _("Check-in"),
        "checkout": _("Check-out"),
        "not_personal": _(
            "This is not a volunteer's personal code. Scan the code on their phone or card."
        ),
        "queued": _("No connection: saved on this device, %(n)s waiting to upload.", n="{n}"),
        "uploading": _("Uploading %(n)s saved scans…", n="{n}"),
        "uploaded": _("All saved scans are uploaded."),
        "signed_out": _(
            "You have been signed out: sign in again to upload the %(n)s saved scans.", n="{n}"
        ),
        "server_error": _("The server did not answer; the scan is saved and will be sent again."),
        "camera_starting": _("Starting the camera…"),
        "camera_on": _("Point the camera at the volunteer's code."),
        "camera_unavailable": _(
            "The camera cannot be used on this device or page. Use a scanner or type the code."
        ),
        "camera_denied": _("Access to the camera was refused. Allow it in the browser's settings."),
    }


@bp.route("/events/<int:event_id>/scanner")
@requires()
def scanner(event_id: int):
    event = services.get_managed_event(current_user, event_id)
    return render_template(
        "events/screens/scanner.html",
        event=event,
        purpose=_purpose(request.args.get("purpose")),
        scans_url=url_for("Events.scan", event_id=event.id),
        messages=scanner_messages(),
        time_zone=str(get_timezone()),
        usable=event.state == EventState.PUBLISHED,
    )

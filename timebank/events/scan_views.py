"""Pages: /e/<token>, where a phone camera lands after scanning an event's code."""

import contextlib
import math
from datetime import UTC, datetime

from flask import (
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import format_time
from flask_babel import gettext as _
from flask_login import current_user
from itsdangerous import BadSignature, URLSafeTimedSerializer

from timebank.core.db import utcnow
from timebank.core.errors import DomainError, ValidationFailed
from timebank.core.security import requires
from timebank.events import attendance, services, tokens
from timebank.events.forms import (
    ScanForm,
)
from timebank.events.models import (
    Event,
)
from timebank.events.views import _flash_errors, _is_signed_in, bp
from timebank.extensions import db

# How long after a valid scan the volunteer may still sign in and confirm: typing a
# password takes longer than a kiosk code lives. Long enough for that, short enough that
# a forwarded link soon stops working.
SCAN_VOUCHER_SECONDS = 3 * 60

# -- /e/<token>: where a scanned event code lands ------------------------------------------


def _vouchers() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt="timebank.event-scan")


def _voucher_time(token: str, voucher: str | None) -> datetime | None:
    """When this code was seen valid, if the voucher says so and is recent."""
    if not voucher:
        return None
    try:
        seen, signed_at = _vouchers().loads(
            voucher, max_age=SCAN_VOUCHER_SECONDS, return_timestamp=True
        )
    except BadSignature:
        return None
    if seen != token.strip().upper():
        return None
    return signed_at.astimezone(UTC) if signed_at.tzinfo else signed_at.replace(tzinfo=UTC)


def _resolve(token: str, voucher: str | None):
    """The code, valid now or when the voucher says it was scanned; the moment to record
    (None for now)."""
    try:
        return tokens.resolve(token), None
    except ValidationFailed as exc:
        seen_at = _voucher_time(token, voucher) if exc.code == "code_expired" else None
        if seen_at is None:
            raise
        return tokens.resolve(token, seen_at.timestamp()), seen_at


def _location(form: ScanForm) -> tuple[float, float] | None:
    try:
        lat, lon = float(form.latitude.data or ""), float(form.longitude.data or "")
    except ValueError:
        return None
    if not (math.isfinite(lat) and math.isfinite(lon)):
        return None
    return lat, lon


def _result_page(code: str, message: str, event=None):
    return render_template(
        "events/scan_result.html",
        result={"code": code, "message": str(message), "error": True},
        event=event,
        at=None,
    )


@bp.route("/e/<token>", methods=["GET", "POST"])
def scan(token: str):
    voucher = request.values.get("seen")
    try:
        presented, seen_at = _resolve(token, voucher)
    except ValidationFailed as exc:
        return _result_page(exc.code, exc.message)
    event = presented.event
    if not services.can_see(current_user, event):
        abort(404)
    if not voucher or seen_at is None:
        voucher = _vouchers().dumps(token.strip().upper())
    if not _is_signed_in():
        flash(_("Sign in to record your attendance."), "info")
        return redirect(
            url_for("auth.login", next=url_for("events.scan", token=token, seen=voucher))
        )
    form = ScanForm()
    if request.method == "POST":
        if form.validate_on_submit():
            return _record_scan(token, seen_at, _location(form))
        _flash_errors(form)
    form.seen.data = voucher
    return render_template(
        "events/scan.html",
        event=event,
        form=form,
        checking_in=presented.purpose == tokens.CHECK_IN,
        locate=bool(event.latitude is not None and event.radius_m),
    )


def _record_scan(token: str, seen_at: datetime | None, location):
    try:
        outcome = attendance.present(current_user, token, location=location, now=seen_at)
    except DomainError as exc:
        db.session.rollback()
        result = {"code": exc.code, "message": str(exc.message), "error": True}
        with contextlib.suppress(DomainError):
            result["event_id"] = tokens.resolve(token, (seen_at or utcnow()).timestamp()).event.id
    else:
        db.session.commit()
        result = {
            "code": outcome.code,
            "event_id": outcome.attendance.event_id,
            "at": outcome.at.isoformat(),
            "minutes": outcome.attendance.minutes,
            "walk_in": outcome.walk_in,
            "pending_verification": outcome.pending_verification,
            "error": False,
        }
    session["scan_result"] = result
    return redirect(url_for("events.scan_result"))


@bp.route("/scan/result")
@requires()
def scan_result():
    result = session.get("scan_result")
    if not result:
        return redirect(url_for("events.mine"))
    event = db.session.get(Event, result["event_id"]) if result.get("event_id") else None
    at = datetime.fromisoformat(result["at"]) if result.get("at") else None
    return render_template(
        "events/scan_result.html",
        result=result,
        event=event,
        at=format_time(at, "HH:mm") if at else None,
    )

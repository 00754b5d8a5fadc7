"""Per-request plumbing: request ids, structured logs, security headers, session timeouts."""

import json
import logging
import re
import time
import uuid
from datetime import UTC, datetime
from urllib.parse import urlsplit

from flask import current_app, flash, g, request, session
from flask_babel import gettext as _
from flask_login import current_user, logout_user
from sqlalchemy import inspect

from timebank.core.db import sqlite_begin_mode

REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

CSP = (
    "default-src 'self'; img-src 'self' data:; object-src 'none'; "
    "base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)

request_log = logging.getLogger("timebank.request")


class JsonFormatter(logging.Formatter):
    """One JSON object per line, so logs can be shipped and searched as they are."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(getattr(record, "fields", {}))
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def configure_logging(app) -> None:
    root = logging.getLogger("timebank")
    if not any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(JsonFormatter())
        root.addHandler(handler)
    root.setLevel(app.config["LOG_LEVEL"])
    root.propagate = False


def is_safe_next(target: str | None) -> bool:
    """Only paths on this site: no scheme, no host, no protocol-relative or backslash tricks."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return False
    parts = urlsplit(target)
    return not parts.scheme and not parts.netloc and "\\" not in target and "\n" not in target


def safe_next(target: str | None, default: str) -> str:
    return target if is_safe_next(target) else default


def _begin_request() -> None:
    g.started = time.perf_counter()
    incoming = request.headers.get("X-Request-ID", "")
    g.request_id = incoming if REQUEST_ID_RE.match(incoming) else uuid.uuid4().hex
    # Read-only requests may share SQLite's read lock; writes take the write lock up front.
    g.begin_token = sqlite_begin_mode.set(
        "DEFERRED" if request.method in SAFE_METHODS else "IMMEDIATE"
    )


def _enforce_session_timeouts():
    """Sign out a browser session idle too long or open too long."""
    if getattr(g, "auth_via", None) == "token" or not current_user.is_authenticated:
        return None
    now = time.time()
    cfg = current_app.config
    started = session.get("login_at", 0)
    seen = session.get("seen_at", started)
    if (
        now - started > cfg["SESSION_ABSOLUTE_TIMEOUT"].total_seconds()
        or now - seen > cfg["SESSION_IDLE_TIMEOUT"].total_seconds()
    ):
        logout_user()
        session.clear()
        flash(_("Your session has expired. Please sign in again."), "warning")
        return current_app.login_manager.unauthorized()
    # Refresh at most once a minute so most responses do not rewrite the cookie.
    if now - seen > 60:
        session["seen_at"] = int(now)
    return None


def _set_headers(response):
    headers = response.headers
    headers["X-Request-ID"] = g.get("request_id", "")
    headers.setdefault("Content-Security-Policy", CSP)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("Permissions-Policy", "camera=(self), geolocation=(self), microphone=()")
    if current_app.config.get("SESSION_COOKIE_SECURE"):
        headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
    if _caller_id() is not None:
        headers.setdefault("Cache-Control", "no-store")
    return response


def _caller_id() -> int | None:
    """The signed-in user's id, read without loading anything.

    These hooks run after the view has committed, which expires the user: asking
    current_user.is_authenticated would select the row again in a new transaction (on
    SQLite a BEGIN IMMEDIATE, the write lock, for every request that wrote something).
    """
    user = g.get("_login_user")
    state = inspect(user, raiseerr=False) if user is not None else None
    if state is None or not state.identity:
        return None  # anonymous, or nobody has looked at current_user yet
    return state.identity[0]


def _log_request(response):
    started = g.get("started")
    request_log.info(
        "request",
        extra={
            "fields": {
                "request_id": g.get("request_id"),
                "method": request.method,
                "path": request.path,
                "status": response.status_code,
                "ms": round((time.perf_counter() - started) * 1000, 1) if started else None,
                "user_id": _caller_id(),
                "ip": request.remote_addr,
            }
        },
    )
    return response


def _end_request(_exc):
    token = g.pop("begin_token", None)
    if token is not None:
        sqlite_begin_mode.reset(token)


def register_request_hooks(app) -> None:
    configure_logging(app)
    # First of all hooks, so every later answer (even a refused token) carries the id.
    app.before_request_funcs.setdefault(None, []).insert(0, _begin_request)
    app.before_request(_enforce_session_timeouts)
    app.after_request(_set_headers)
    app.after_request(_log_request)
    app.teardown_request(_end_request)

"""Flask-Login wiring: session ids with a version, bearer tokens, API CSRF, the 401 answer."""

from flask import current_app, g, redirect, request, url_for
from flask_babel import lazy_gettext as _l

from timebank.core.errors import render_error, wants_json
from timebank.core.web import SAFE_METHODS
from timebank.extensions import csrf, db, login_manager

# Endpoints that take credentials in the body and so need no CSRF token.
CSRF_FREE_API_ENDPOINTS = {"Auth.Tokens"}


def _load_session_user(session_id: str):
    from timebank.auth.models import User

    user_id, _, version = session_id.partition(":")
    if not user_id.isdigit() or not version.isdigit():
        return None
    user = db.session.get(User, int(user_id))
    if user is None or user.session_version != int(version) or not user.active:
        return None
    return user


def _bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


def _load_bearer_user():
    """A bearer token, when present, decides who the caller is; a bad one is a 401."""
    token = _bearer_token()
    if token is None:
        return None
    from timebank.auth.services import user_for_token

    user = user_for_token(token)
    if user is None:
        from werkzeug.exceptions import Unauthorized

        return render_error(Unauthorized())
    g._login_user = user  # what flask_login.current_user reads
    g.auth_via = "token"
    return None


def _protect_api_from_csrf():
    """API calls made with the browser session need the CSRF token, like forms do."""
    if (
        request.blueprint in current_app.extensions["timebank.api_blueprints"]
        and request.method not in SAFE_METHODS
        and getattr(g, "auth_via", None) != "token"
        and request.endpoint not in CSRF_FREE_API_ENDPOINTS
        and current_app.config.get("WTF_CSRF_ENABLED", True)
    ):
        csrf.protect()


def _unauthorized():
    if wants_json():
        from werkzeug.exceptions import Unauthorized

        return render_error(Unauthorized())
    return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))


def configure_login(app) -> None:
    login_manager.init_app(app)
    login_manager.session_protection = "basic"
    login_manager.login_view = "auth.login"
    login_manager.login_message = _l("Please sign in to see this page.")
    login_manager.login_message_category = "info"
    login_manager.user_loader(_load_session_user)
    login_manager.unauthorized_handler(_unauthorized)
    app.extensions["timebank.api_blueprints"] = set()
    # Bearer first: it must be decided before anything reads current_user.
    app.before_request_funcs.setdefault(None, []).insert(0, _load_bearer_user)
    app.before_request(_protect_api_from_csrf)


def _login_key() -> str:
    """Throttle by the account being tried, whichever way the login arrives."""
    from timebank.auth.services import normalise_login

    body = request.get_json(silent=True) if request.is_json else None
    login = (body or {}).get("login") if isinstance(body, dict) else request.form.get("login")
    return "login:" + normalise_login(login if isinstance(login, str) else "")


def _failed(response) -> bool:
    # Only failed attempts use up the allowance: success redirects (pages) or creates (API).
    return response.status_code not in (201, 302)


def login_rate_limits(view):
    """Per-account and per-address limits on sign-in attempts, shared through the limiter store."""
    from timebank.extensions import limiter

    per_account = limiter.limit(
        lambda: current_app.config["LOGIN_LIMIT_PER_ACCOUNT"],
        key_func=_login_key,
        methods=["POST"],
        scope="login-account",
        deduct_when=_failed,
    )
    per_ip = limiter.limit(
        lambda: current_app.config["LOGIN_LIMIT_PER_IP"],
        methods=["POST"],
        scope="login-ip",
        deduct_when=_failed,
    )
    return per_ip(per_account(view))

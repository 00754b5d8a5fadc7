"""Domain errors and the one error shape every API answer and error page uses."""

import logging
from contextlib import contextmanager

from flask import g, jsonify, render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

log = logging.getLogger(__name__)

# Stable machine codes per HTTP status, for errors raised by Flask or webargs.
HTTP_CODES = {
    400: ("bad_request", _l("The request could not be understood.")),
    401: ("unauthorized", _l("Please sign in first.")),
    403: ("forbidden", _l("You do not have permission to do this.")),
    404: ("not_found", _l("Not found.")),
    405: ("method_not_allowed", _l("This method is not allowed here.")),
    409: ("conflict", _l("This conflicts with the current state.")),
    413: ("too_large", _l("The upload is too large.")),
    415: ("unsupported_media_type", _l("Unsupported content type.")),
    422: ("validation_error", _l("Some fields are not valid.")),
    428: ("precondition_required", _l("A required header is missing.")),
    429: ("rate_limited", _l("Too many attempts. Please wait and try again.")),
    500: ("server_error", _l("Something went wrong on our side. Please try again later.")),
    503: ("unavailable", _l("The service is temporarily unavailable.")),
}


class DomainError(Exception):
    """An expected refusal from a service; carries a code, a message and an HTTP status."""

    status = 400
    code = "bad_request"

    def __init__(self, message, *, code=None, field=None, status=None, fields=None):
        super().__init__(str(message))
        self.message = message
        self.code = code or self.code
        self.field = field
        self.status = status or self.status
        # Several fields at once ({field: [messages]}), when a form is checked as a whole.
        self.fields = fields


class Problems:
    """Collects the refusals of independent checks, so a form shows every mistake at once.

    problems = Problems()
    with problems.check():
        validate_phone(phone)
    problems.raise_any()
    """

    def __init__(self):
        self.errors: list[DomainError] = []

    @contextmanager
    def check(self):
        try:
            yield
        except ValidationFailed as exc:
            self.errors.append(exc)

    def __bool__(self) -> bool:
        return bool(self.errors)

    def raise_any(self) -> None:
        if len(self.errors) == 1:
            raise self.errors[0]
        if self.errors:
            first = self.errors[0]
            fields: dict[str, list[str]] = {}
            for exc in self.errors:
                for name, messages in (exc.fields or {exc.field or "": [str(exc.message)]}).items():
                    fields.setdefault(name, []).extend(messages)
            raise ValidationFailed(first.message, field=first.field, fields=fields)


class ValidationFailed(DomainError):
    status = 422
    code = "validation_error"


class PermissionDenied(DomainError):
    status = 403
    code = "forbidden"


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Conflict(DomainError):
    status = 409
    code = "conflict"


def wants_json() -> bool:
    return request.path.startswith("/api/") or (request.accept_mimetypes.best == "application/json")


def error_body(status: int, code: str, message: str, fields: dict | None = None) -> dict:
    body = {"code": code, "status": status, "message": str(message)}
    if fields:
        body["fields"] = fields
    rid = getattr(g, "request_id", None)
    if rid:
        body["request_id"] = rid
    return {"error": body}


def _webargs_fields(exc: HTTPException) -> dict | None:
    """Flatten webargs' {location: {field: [msgs]}} into {field: [msgs]}."""
    messages = (getattr(exc, "data", None) or {}).get("messages")
    if not messages:
        return None
    fields = {}
    for location_messages in messages.values():
        if isinstance(location_messages, dict):
            fields.update(location_messages)
    # marshmallow leaves a non-str (lazy) message unwrapped; every field gets a list.
    return {
        str(name): _as_text(msgs if isinstance(msgs, list | dict) else [msgs])
        for name, msgs in fields.items()
    } or None


def _as_text(value):
    """Render lazy translations (and nested messages) as plain strings for JSON."""
    if isinstance(value, dict):
        return {str(k): _as_text(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_as_text(v) for v in value]
    return str(value)


def render_error(exc: Exception):
    """Turn any exception into the JSON shape for the API or an error page for people."""
    fields = None
    headers = {}
    if isinstance(exc, DomainError):
        status, code, message = exc.status, exc.code, exc.message
        if exc.fields:
            fields = {name: [str(m) for m in messages] for name, messages in exc.fields.items()}
        elif exc.field:
            fields = {exc.field: [str(message)]}
    elif isinstance(exc, CSRFError):
        status, code = 400, "csrf_failed"
        message = _(
            "The form has expired or lacks its security token. Reload the page and try again."
        )
    elif isinstance(exc, HTTPException):
        status = exc.code or 500
        code, message = HTTP_CODES.get(status, ("http_error", exc.description))
        fields = _webargs_fields(exc)
        if status == 429:
            message = _("Too many attempts. Please wait and try again.")
        elif status not in HTTP_CODES:
            message = exc.description
        headers = dict(exc.get_headers()) if status in (405, 429) else {}
        headers.pop("Content-Type", None)
    else:
        log.exception("unhandled error", exc_info=exc)
        status = 500
        code, message = HTTP_CODES[500]
    if wants_json():
        response = jsonify(error_body(status, code, message, fields))
    else:
        response = render_template("errors/error.html", status=status, code=code, message=message)
    return response, status, headers


def register_errorhandlers(app) -> None:
    app.register_error_handler(DomainError, render_error)
    app.register_error_handler(HTTPException, render_error)
    app.register_error_handler(InternalServerError, render_error)
    app.register_error_handler(Exception, render_error)

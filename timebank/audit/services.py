"""record(): the one helper every state-changing service calls."""

from flask import g, has_request_context, request

from timebank.audit.models import AuditEvent
from timebank.extensions import db


def record(actor, action: str, obj=None, *, region=None, **detail) -> AuditEvent:
    """Add an audit line in the caller's transaction: it commits or rolls back with the change.

    The request's address and id are taken when there is a request; services stay
    callable from the CLI, where there is none.
    """
    event = AuditEvent(
        actor_id=getattr(actor, "id", None),
        action=action,
        object_type=obj.__tablename__ if obj is not None else "",
        object_id=getattr(obj, "id", None),
        region_path=region.path if region is not None else None,
        detail={k: v for k, v in detail.items() if v is not None},
    )
    if has_request_context():
        event.ip = request.remote_addr
        event.request_id = getattr(g, "request_id", None)
    db.session.add(event)
    return event

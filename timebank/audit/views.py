"""Pages: the audit log, filtered, within an administrator's subtree."""

from datetime import datetime, time, timedelta

from flask import Blueprint, render_template, request
from flask_babel import get_timezone
from flask_login import current_user

from timebank.audit.models import AuditEvent
from timebank.auth.models import Role, User
from timebank.core.security import in_admin_scope, requires
from timebank.extensions import db

bp = Blueprint("audit", __name__, url_prefix="/admin/audit")


def _day(value: str | None):
    try:
        return datetime.strptime(value or "", "%Y-%m-%d").date()
    except ValueError:
        return None


def audit_in_scope(actor):
    """Audit lines about objects in the actor's subtree (everything, for a superadmin)."""
    return db.select(AuditEvent).where(in_admin_scope(actor, AuditEvent.region_path))


@bp.route("/")
@requires(Role.ADMIN)
def index():
    query = audit_in_scope(current_user)
    action = request.args.get("action", "").strip()
    actor = request.args.get("actor", "").strip()
    start, end = _day(request.args.get("start")), _day(request.args.get("end"))
    tz = get_timezone()
    if action:
        query = query.where(AuditEvent.action.startswith(action, autoescape=True))
    if actor:
        query = query.join(User, AuditEvent.actor_id == User.id).where(
            db.or_(
                User.name.contains(actor, autoescape=True),
                User.phone == actor,
                User.username == actor.lower(),
            )
        )
    if start:
        query = query.where(AuditEvent.created_at >= datetime.combine(start, time(), tz))
    if end:
        query = query.where(
            AuditEvent.created_at < datetime.combine(end + timedelta(days=1), time(), tz)
        )
    page = db.paginate(query.order_by(AuditEvent.id.desc()), per_page=50, error_out=False)
    return render_template(
        "audit/index.html",
        page=page,
        action=action,
        actor=actor,
        start=request.args.get("start", ""),
        end=request.args.get("end", ""),
    )

"""AuditEvent: one append-only line of the audit log."""

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from timebank.core.db import utcnow
from timebank.extensions import db


class AuditEvent(db.Model):
    __tablename__ = "audit_event"
    __table_args__ = (
        Index("ix_audit_event_region_path_created_at", "region_path", "created_at"),
        Index("ix_audit_event_object", "object_type", "object_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), index=True)
    action: Mapped[str] = mapped_column(String(64), index=True)
    object_type: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[int | None]
    # Path of the region the object belongs to, so administrators see their subtree only.
    region_path: Mapped[str | None] = mapped_column(String(255))
    ip: Mapped[str | None] = mapped_column(String(45))
    request_id: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict] = mapped_column(JSON, default=dict)

    actor: Mapped["User | None"] = relationship()  # noqa: F821

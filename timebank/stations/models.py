"""Station: a community volunteer station, placed in one community of the region tree."""

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from timebank.core.db import utcnow
from timebank.extensions import db
from timebank.regions.models import Region


class Station(db.Model):
    __tablename__ = "station"
    __table_args__ = (UniqueConstraint("region_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    region_id: Mapped[int] = mapped_column(ForeignKey("region.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    address: Mapped[str] = mapped_column(String(200), default="")
    phone: Mapped[str] = mapped_column(String(20), default="")
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    region: Mapped[Region] = relationship()

    def __repr__(self) -> str:
        return f"<Station {self.id} {self.name}>"

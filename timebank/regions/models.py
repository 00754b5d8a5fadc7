"""Region: one node of the administrative tree, with a materialised path for subtree queries."""

import enum
from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import CheckConstraint, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from timebank.core.db import utcnow
from timebank.extensions import db


class RegionLevel(enum.StrEnum):
    CITY = "city"
    DISTRICT = "district"
    STREET = "street"
    COMMUNITY = "community"

    @property
    def label(self):
        return REGION_LEVEL_LABELS[self]

    @property
    def child(self) -> "RegionLevel | None":
        order = list(RegionLevel)
        index = order.index(self)
        return order[index + 1] if index + 1 < len(order) else None


REGION_LEVEL_LABELS = {
    RegionLevel.CITY: _l("City"),
    RegionLevel.DISTRICT: _l("District"),
    RegionLevel.STREET: _l("Street / town"),
    RegionLevel.COMMUNITY: _l("Community"),
}


class Region(db.Model):
    __tablename__ = "region"
    __table_args__ = (
        CheckConstraint("level IN ('city', 'district', 'street', 'community')", name="level_known"),
        UniqueConstraint("parent_id", "name"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("region.id"), index=True)
    level: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(100))
    # Administrative division code (行政区划代码), when known.
    code: Mapped[str | None] = mapped_column(String(12), unique=True)
    # "/1/4/17/": ancestors then self. Subtree = path LIKE '/1/4/%'; no recursive query,
    # and it is the natural shard key prefix.
    path: Mapped[str] = mapped_column(String(255), index=True, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    parent: Mapped["Region | None"] = relationship(remote_side=[id], back_populates="children")
    children: Mapped[list["Region"]] = relationship(back_populates="parent", order_by="Region.name")

    @property
    def level_enum(self) -> RegionLevel:
        return RegionLevel(self.level)

    @property
    def depth(self) -> int:
        return self.path.count("/") - 2

    def contains(self, other: "Region") -> bool:
        """True when other is this region or lies inside it."""
        return other.path.startswith(self.path)

    def ancestor_ids(self) -> list[int]:
        return [int(part) for part in self.path.strip("/").split("/") if part]

    def __repr__(self) -> str:
        return f"<Region {self.id} {self.level} {self.name}>"

"""Star levels from lifetime approved service hours, with thresholds set per region."""

from dataclasses import dataclass

from flask import current_app
from flask_babel import gettext as _

from timebank.audit.services import record
from timebank.core.errors import ValidationFailed
from timebank.core.security import can_admin_region, ensure
from timebank.extensions import db
from timebank.regions.models import Region
from timebank.volunteers.models import StarLevelChange, StarRule, Volunteer

LEVELS = 5


def default_thresholds() -> list[int]:
    return [int(h) for h in current_app.config["STAR_THRESHOLDS_HOURS"]]


def rule_for(region: Region | None) -> StarRule | None:
    """The rule set on the nearest region at or above this one."""
    if region is None:
        return None
    ids = region.ancestor_ids()
    rules = {
        rule.region_id: rule
        for rule in db.session.scalars(db.select(StarRule).where(StarRule.region_id.in_(ids)))
    }
    for region_id in reversed(ids):
        if region_id in rules:
            return rules[region_id]
    return None


def thresholds_for(region: Region | None) -> list[int]:
    rule = rule_for(region)
    return rule.hours if rule else default_thresholds()


def level_for(minutes: int, thresholds: list[int]) -> int:
    return sum(1 for hours in thresholds if minutes >= hours * 60)


@dataclass(frozen=True)
class Progress:
    level: int
    lifetime_minutes: int
    next_level: int | None
    next_minutes: int | None  # the threshold of the next level, in minutes

    @property
    def percent(self) -> int:
        if self.next_minutes is None:
            return 100
        previous = 0 if self.level == 0 else self._thresholds[self.level - 1] * 60
        span = self.next_minutes - previous
        return max(0, min(100, (self.lifetime_minutes - previous) * 100 // span))

    @property
    def minutes_to_next(self) -> int | None:
        if self.next_minutes is None:
            return None
        return self.next_minutes - self.lifetime_minutes

    _thresholds: tuple = ()


def progress(volunteer: Volunteer, lifetime_minutes: int | None = None) -> Progress:
    from timebank.ledger.services import lifetime_service_minutes

    if lifetime_minutes is None:
        lifetime_minutes = lifetime_service_minutes(volunteer.user)
    thresholds = thresholds_for(volunteer.region)
    level = level_for(lifetime_minutes, thresholds)
    nxt = level + 1 if level < LEVELS else None
    return Progress(
        level=level,
        lifetime_minutes=lifetime_minutes,
        next_level=nxt,
        next_minutes=thresholds[level] * 60 if nxt else None,
        _thresholds=tuple(thresholds),
    )


def refresh(volunteer: Volunteer) -> StarLevelChange | None:
    """Bring the stored level in line with lifetime hours; record the change when there is one.

    The ledger calls this after every service credit and reversal of one, in the same
    transaction, so the level and its history never lag the hours.
    """
    current = progress(volunteer)
    if current.level == volunteer.star_level:
        return None
    change = StarLevelChange(
        volunteer_id=volunteer.id,
        from_level=volunteer.star_level,
        to_level=current.level,
        lifetime_minutes=current.lifetime_minutes,
    )
    volunteer.star_level = current.level
    db.session.add(change)
    return change


def refresh_for_user(user) -> StarLevelChange | None:
    volunteer = db.session.scalar(db.select(Volunteer).filter_by(user_id=user.id))
    return refresh(volunteer) if volunteer is not None else None


def unseen_changes(volunteer: Volunteer) -> list[StarLevelChange]:
    return list(
        db.session.scalars(
            db.select(StarLevelChange)
            .filter_by(volunteer_id=volunteer.id, seen_at=None)
            .order_by(StarLevelChange.id)
        )
    )


def history(volunteer: Volunteer, limit: int = 10) -> list[StarLevelChange]:
    return list(
        db.session.scalars(
            db.select(StarLevelChange)
            .filter_by(volunteer_id=volunteer.id)
            .order_by(StarLevelChange.id.desc())
            .limit(limit)
        )
    )


def parse_thresholds(text: str) -> list[int]:
    parts = [p.strip() for p in (text or "").replace("，", ",").split(",") if p.strip()]
    try:
        hours = [int(p) for p in parts]
    except ValueError:
        hours = []
    if (
        len(hours) != LEVELS
        or hours[0] <= 0
        or any(b <= a for a, b in zip(hours, hours[1:], strict=False))
    ):
        raise ValidationFailed(
            _("Give five whole numbers of hours in increasing order, e.g. 100,300,600,1000,1500."),
            field="thresholds",
        )
    if hours[-1] > 100000:
        raise ValidationFailed(_("The thresholds are too large."), field="thresholds")
    return hours


def relevel(region: Region, batch: int = 1000) -> int:
    """Bring every volunteer in a region's subtree to the level the rules in force give them.

    Run after thresholds change, in the same transaction; changes are recorded as after
    a credit. Volunteers are read a batch at a time with one hours query per batch.
    Answers how many levels changed.
    """
    from timebank.ledger.services import lifetime_service_minutes_by_user

    changed = 0
    thresholds: dict[int, list[int]] = {}
    last_id = 0
    while True:
        volunteers = db.session.scalars(
            db.select(Volunteer)
            .join(Volunteer.region)
            .where(Region.path.startswith(region.path), Volunteer.id > last_id)
            .order_by(Volunteer.id)
            .limit(batch)
        ).all()
        if not volunteers:
            return changed
        last_id = volunteers[-1].id
        minutes = lifetime_service_minutes_by_user([v.user_id for v in volunteers])
        for volunteer in volunteers:
            if volunteer.region_id not in thresholds:
                thresholds[volunteer.region_id] = thresholds_for(volunteer.region)
            lifetime = minutes.get(volunteer.user_id, 0)
            level = level_for(lifetime, thresholds[volunteer.region_id])
            if level != volunteer.star_level:
                db.session.add(
                    StarLevelChange(
                        volunteer_id=volunteer.id,
                        from_level=volunteer.star_level,
                        to_level=level,
                        lifetime_minutes=lifetime,
                    )
                )
                volunteer.star_level = level
                changed += 1
        db.session.flush()


def set_rule(actor, region: Region, thresholds: str | None) -> StarRule | None:
    """Set (or with None, remove) the thresholds for a region and everything below it,
    and re-level the volunteers there."""
    ensure(can_admin_region(actor, region))
    rule = db.session.scalar(db.select(StarRule).filter_by(region_id=region.id))
    if thresholds is None:
        if rule is not None:
            record(actor, "star_rule.delete", rule, region=region)
            db.session.delete(rule)
            db.session.flush()
            relevel(region)
        return None
    hours = parse_thresholds(thresholds)
    text = ",".join(str(h) for h in hours)
    if rule is None:
        rule = StarRule(region_id=region.id, thresholds=text, updated_by_id=actor.id)
        db.session.add(rule)
    else:
        rule.thresholds = text
        rule.updated_by_id = actor.id
    db.session.flush()
    changed = relevel(region)
    record(actor, "star_rule.set", rule, region=region, thresholds=text, relevelled=changed)
    return rule

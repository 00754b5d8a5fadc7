"""Attended time to credited minutes: the rounding rules and the cap."""

from datetime import datetime, timedelta

from timebank.events.models import Rounding


def round_minutes(minutes: int, rule: str) -> int:
    """Round attended minutes per started hour.

    The common rule (HALF_HOUR): whole hours count in full, and the part of the last,
    started hour counts 0 under 15 minutes, 30 from 15 to under 45, and 60 from 45.
    """
    if minutes <= 0:
        return 0
    rule = Rounding(rule)
    if rule is Rounding.MINUTE:
        return minutes
    hours, rest = divmod(minutes, 60)
    if rule is Rounding.QUARTER:
        part = (rest + 7) // 15 * 15  # 0-7 -> 0, 8-22 -> 15, ... 53-59 -> 60
    elif rest < 15:
        part = 0
    elif rest < 45:
        part = 30
    else:
        part = 60
    return hours * 60 + part


def cap_minutes(event) -> int:
    """The most an attendance may be credited: the scheduled span plus grace, and the
    event's own maximum when it sets one."""
    cap = event.scheduled_minutes + event.grace_minutes
    if event.max_minutes is not None:
        cap = min(cap, event.max_minutes)
    return cap


def credited_minutes(event, checked_in_at: datetime, checked_out_at: datetime) -> int:
    """Minutes credited for being present from check-in to check-out.

    Time before the start (less grace) and after the end (plus grace) does not count:
    arriving an hour early does not add an hour.
    """
    grace = timedelta(minutes=event.grace_minutes)
    start = max(checked_in_at, event.starts_at - grace)
    end = min(checked_out_at, event.ends_at + grace)
    present = max(0, int((end - start).total_seconds() // 60))
    return min(round_minutes(present, event.rounding), cap_minutes(event))

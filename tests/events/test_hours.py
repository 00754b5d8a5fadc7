"""The rounding table and the cap on credited time."""

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from timebank.events.hours import cap_minutes, credited_minutes, round_minutes

START = datetime(2026, 11, 22, 1, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("attended", "credited"),
    [
        (0, 0),
        (14, 0),  # under 15 minutes counts nothing
        (15, 30),
        (44, 30),  # 15-45 counts half an hour
        (45, 60),
        (59, 60),  # 45-60 counts the full hour
        (60, 60),
        (74, 60),  # per started hour: the second hour's 14 minutes count 0
        (75, 90),
        (105, 120),
        (179, 180),
        (-5, 0),
    ],
)
def test_half_hour_rule(attended, credited):
    assert round_minutes(attended, "half_hour") == credited


@pytest.mark.parametrize(("attended", "credited"), [(7, 0), (8, 15), (52, 45), (53, 60), (67, 60)])
def test_quarter_rule(attended, credited):
    assert round_minutes(attended, "quarter") == credited


def test_minute_rule_keeps_every_minute():
    assert round_minutes(97, "minute") == 97


def _event(lasts=120, grace=15, max_minutes=None, rounding="half_hour"):
    return SimpleNamespace(
        starts_at=START,
        ends_at=START + timedelta(minutes=lasts),
        scheduled_minutes=lasts,
        grace_minutes=grace,
        max_minutes=max_minutes,
        rounding=rounding,
    )


def test_arriving_early_and_leaving_late_counts_only_the_span_plus_grace():
    event = _event(lasts=120, grace=15, rounding="minute")
    early, late = START - timedelta(hours=2), event.ends_at + timedelta(hours=3)
    # From start - 15 to end + 15, capped at span + grace = 135.
    assert credited_minutes(event, early, late) == 135
    assert cap_minutes(event) == 135


def test_rounding_never_lifts_time_above_the_cap():
    event = _event(lasts=110, grace=0)  # 110 minutes rounds to 120 but the cap is 110
    assert credited_minutes(event, START, event.ends_at) == 110


def test_event_maximum_caps_lower_than_the_span():
    event = _event(lasts=240, max_minutes=120)
    assert credited_minutes(event, START, event.ends_at) == 120


def test_a_check_out_before_the_start_counts_nothing():
    event = _event()
    assert credited_minutes(event, START - timedelta(hours=1), START - timedelta(minutes=50)) == 0

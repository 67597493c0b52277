"""Follow-up schedule: time points, clinic-default windows, due/overdue status."""

from __future__ import annotations

from datetime import date, timedelta
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hipspine.clinical.schedule import (
    TimePointRule,
    add_months,
    default_rules,
    follow_up_schedule,
    schedule_status,
)

START = date(2024, 3, 1)


def by_id(start: date = START) -> dict[str, tuple[date, date, date]]:
    return {p.id: (p.target, p.opens, p.closes) for p in follow_up_schedule(start)}


def test_add_months_clamps_to_month_end() -> None:
    assert add_months(date(2024, 1, 31), 1) == date(2024, 2, 29)  # leap year
    assert add_months(date(2023, 1, 31), 1) == date(2023, 2, 28)
    assert add_months(date(2024, 11, 15), 3) == date(2025, 2, 15)
    assert add_months(date(2024, 3, 1), 0) == date(2024, 3, 1)


def test_default_schedule_time_points() -> None:
    points = follow_up_schedule(START)
    assert [p.id for p in points] == [
        "baseline",
        "week_6",
        "month_3",
        "month_6",
        "month_12",
        "month_24",
        "month_36",
        "month_48",
        "month_60",
    ]
    table = by_id()
    # baseline: start, window 30 days before to the start date
    assert table["baseline"] == (date(2024, 3, 1), date(2024, 1, 31), date(2024, 3, 1))
    # 6 weeks: 1 Mar + 42 days = 12 Apr, ±7 days
    assert table["week_6"] == (date(2024, 4, 12), date(2024, 4, 5), date(2024, 4, 19))
    # 3 months: 1 Jun, ±14 days
    assert table["month_3"] == (date(2024, 6, 1), date(2024, 5, 18), date(2024, 6, 15))
    # 12 months: 1 Mar 2025, ±30 days
    assert table["month_12"] == (date(2025, 3, 1), date(2025, 1, 30), date(2025, 3, 31))
    assert table["month_24"][0] == date(2026, 3, 1)


def test_years_configures_the_yearly_tail() -> None:
    assert [r.id for r in default_rules(years=1)][-1] == "month_12"
    assert [r.id for r in default_rules(years=2)][-1] == "month_24"
    with pytest.raises(ValueError, match="years"):
        default_rules(years=0)


def status_on(today: date, visits: list[date]) -> dict[str, str]:
    result = schedule_status(follow_up_schedule(START), visits, today=today)
    return {s.time_point.id: s.status for s in result.time_points}


def test_status_around_the_six_week_window() -> None:
    baseline_visit = [date(2024, 2, 20)]
    # Window opens 5 Apr and closes 19 Apr.
    assert status_on(date(2024, 4, 4), baseline_visit)["week_6"] == "upcoming"
    assert status_on(date(2024, 4, 5), baseline_visit)["week_6"] == "due"
    assert status_on(date(2024, 4, 19), baseline_visit)["week_6"] == "due"
    assert status_on(date(2024, 4, 20), baseline_visit)["week_6"] == "overdue"
    on_day = status_on(date(2024, 4, 20), baseline_visit)
    assert on_day["baseline"] == "completed"
    assert on_day["month_3"] == "upcoming"


def test_visit_at_the_window_edge_completes_and_one_day_late_does_not() -> None:
    inside = schedule_status(follow_up_schedule(START), [date(2024, 4, 19)], today=date(2024, 5, 1))
    week_6 = next(s for s in inside.time_points if s.time_point.id == "week_6")
    assert (week_6.status, week_6.visit) == ("completed", date(2024, 4, 19))
    late = schedule_status(follow_up_schedule(START), [date(2024, 4, 20)], today=date(2024, 5, 1))
    week_6 = next(s for s in late.time_points if s.time_point.id == "week_6")
    assert week_6.status == "overdue"
    assert late.unmatched_visits == (date(2024, 4, 20),)


def test_missing_baseline_is_overdue_not_completed() -> None:
    assert status_on(date(2024, 3, 2), [])["baseline"] == "overdue"
    assert status_on(date(2024, 3, 1), [])["baseline"] == "due"


def test_nearest_visit_in_window_is_used() -> None:
    result = schedule_status(
        follow_up_schedule(START), [date(2024, 4, 6), date(2024, 4, 13)], today=date(2024, 5, 1)
    )
    week_6 = next(s for s in result.time_points if s.time_point.id == "week_6")
    assert week_6.visit == date(2024, 4, 13)  # 1 day from 12 Apr, vs 6 days
    assert result.unmatched_visits == (date(2024, 4, 6),)


def test_status_carries_window_disclaimer_and_sources() -> None:
    result = schedule_status(follow_up_schedule(START), [], today=START)
    assert "not a published standard" in result.window_note
    assert "Rolfson" in result.source and "Clement" in result.source


def test_future_visit_is_rejected() -> None:
    with pytest.raises(ValueError, match="after today"):
        schedule_status(follow_up_schedule(START), [date(2024, 5, 1)], today=date(2024, 4, 1))


def test_custom_rules_and_overlap_check() -> None:
    rules = [
        TimePointRule("baseline", "Baseline"),
        TimePointRule("week_2", "2 weeks", weeks=2, window_before_days=3, window_after_days=3),
    ]
    points = follow_up_schedule(START, rules)
    assert [p.target for p in points] == [START, START + timedelta(days=14)]
    overlapping = [
        TimePointRule("week_2", "2 weeks", weeks=2, window_after_days=10),
        TimePointRule("week_3", "3 weeks", weeks=3, window_before_days=5),
    ]
    with pytest.raises(ValueError, match="overlap"):
        follow_up_schedule(START, overlapping)
    with pytest.raises(ValueError, match="window_before_days"):
        TimePointRule("x", "x", window_before_days=-1)
    with pytest.raises(ValueError, match="unique"):
        follow_up_schedule(START, [TimePointRule("a", "A"), TimePointRule("a", "A", weeks=1)])


@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2090, 12, 31)))
def test_default_windows_never_overlap_for_any_start(start: date) -> None:
    points = follow_up_schedule(start)
    for earlier, later in pairwise(points):
        assert earlier.closes < later.opens
    assert points[0].target == start

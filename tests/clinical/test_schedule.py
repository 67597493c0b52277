"""Follow-up schedule: time points, clinic-default windows, due/overdue status."""

from __future__ import annotations

from datetime import date, timedelta
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hipspine.clinical.schedule import (
    ScheduleError,
    TimePointRule,
    add_months,
    default_rules,
    follow_up_schedule,
    parse_schedule,
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


# --- a clinic's own schedule, written as a list ------------------------------------------------


def test_parse_schedule_matching_the_default_keeps_its_windows() -> None:
    rules = parse_schedule("0,6w,3m,6m,12m")
    assert rules == tuple(r for r in default_rules() if r.months <= 12)


def test_parse_schedule_custom_points_and_windows() -> None:
    rules = parse_schedule(" Baseline , 2w, 10m, 2y ")
    assert [(r.id, r.label, r.weeks, r.months) for r in rules] == [
        ("baseline", "Baseline", 0, 0),
        ("week_2", "2 weeks", 2, 0),
        ("month_10", "10 months", 0, 10),
        ("month_24", "24 months", 0, 24),  # a default yearly point: its window is kept
    ]
    # 2 weeks = 14 days; 14 / 6 = 2.3 → at least 3 days each side
    assert (rules[1].window_before_days, rules[1].window_after_days) == (3, 3)
    # 10 months ≈ 304 days; / 6 = 51 → at most 30 days
    assert rules[2].window_before_days == 30
    points = follow_up_schedule(START, rules)
    assert [p.target for p in points] == [
        START,
        START + timedelta(weeks=2),
        date(2025, 1, 1),
        date(2026, 3, 1),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("0,6x", "'6x' is not a time point"),
        ("0,-3m", "'-3m' is not a time point"),
        ("0,12m,1y", "'1y' repeats the time point '12m'"),
        ("0,baseline", "repeats"),
    ],
)
def test_parse_schedule_errors_name_the_item(text: str, message: str) -> None:
    with pytest.raises(ScheduleError, match=message):
        parse_schedule(text)


def test_overlapping_custom_windows_are_refused() -> None:
    # 6 weeks: default ±7 days (35–49 days); 7 weeks: 49 / 6 → ±8 days (41–57 days)
    with pytest.raises(ScheduleError, match="week_6 and week_7 overlap"):
        follow_up_schedule(START, parse_schedule("0,6w,7w"))

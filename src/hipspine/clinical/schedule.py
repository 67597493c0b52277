"""Follow-up schedule: time points after treatment, their windows, and which are due.

Default time points: baseline, 6 weeks, 3, 6 and 12 months, then yearly. Sources: the ICHOM
Hip & Knee Osteoarthritis Standard Set collects at baseline and annually (Rolfson O et al.,
*Arthritis Care Res* 2016;68(11):1631-1639); the ICHOM Low Back Pain Standard Set at 6, 12
and 24 months, optionally 3 months and 5 years (Clement RC et al., *Acta Orthop*
2015;86(5):523-533); orthobiologic hip and facet studies at 6 weeks, 3, 6 and 12 months then
annually (clinical reference 6.1). The window around each time point is a hipspine clinic
default, **not a published standard**, and is configurable.

Months are calendar months from the start date (31 Jan + 1 month = 28/29 Feb).
Values live in ``data/schedule.toml``. A clinic's own schedule can be written as a list
(``"0,6w,3m,6m,12m"``) and read with :func:`parse_schedule`.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from itertools import pairwise
from typing import Any, Literal

from hipspine.clinical._data import load

VisitStatus = Literal["completed", "due", "overdue", "upcoming"]


class ScheduleError(ValueError):
    """A schedule that cannot be used: a bad time point, a repeat, or overlapping windows."""


def _schedule_data() -> dict[str, Any]:
    return load("schedule")


@dataclass(frozen=True)
class TimePointRule:
    """A time point after the start date with the window in which a visit counts for it."""

    id: str
    label: str
    weeks: int = 0
    months: int = 0
    window_before_days: int = 0
    window_after_days: int = 0

    def __post_init__(self) -> None:
        if not self.id or not self.label:
            raise ScheduleError("time point id and label must be non-empty")
        for name in ("weeks", "months", "window_before_days", "window_after_days"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ScheduleError(f"{name} of time point {self.id!r} must be an integer ≥ 0")


@dataclass(frozen=True)
class TimePoint:
    """A scheduled time point: target date and the window [opens, closes], inclusive."""

    id: str
    label: str
    target: date
    opens: date
    closes: date


@dataclass(frozen=True)
class TimePointStatus:
    """A time point with its status on a given day and the visit that completed it, if any."""

    time_point: TimePoint
    status: VisitStatus
    visit: date | None


@dataclass(frozen=True)
class ScheduleStatus:
    """Status of every time point, plus completed visits that fall in no window."""

    time_points: tuple[TimePointStatus, ...]
    unmatched_visits: tuple[date, ...]
    window_note: str
    source: str


def add_months(start: date, months: int) -> date:
    """Return the same day ``months`` calendar months later, clamped to the month's last day."""
    index = start.month - 1 + months
    year, month = start.year + index // 12, index % 12 + 1
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


def default_rules(*, years: int | None = None) -> tuple[TimePointRule, ...]:
    """Return the default time points (baseline, 6 weeks, 3, 6, 12 months, then yearly).

    Yearly points run up to ``years`` years (default from ``data/schedule.toml``: 5, the
    ICHOM low back pain optional long-term point; Clement 2015). Windows are a clinic default.
    """
    data = _schedule_data()
    total_years = int(data["default_years"]) if years is None else years
    if isinstance(total_years, bool) or not isinstance(total_years, int) or total_years < 1:
        raise ValueError(f"years must be an integer ≥ 1, got {years!r}")
    rules = [
        TimePointRule(
            id=str(entry["id"]),
            label=str(entry["label"]),
            weeks=int(entry["weeks"]),
            months=int(entry["months"]),
            window_before_days=int(entry["window_before_days"]),
            window_after_days=int(entry["window_after_days"]),
        )
        for entry in data["time_point"]
    ]
    rules = [r for r in rules if r.months <= 12 * total_years]
    for months in range(int(data["yearly_after_months"]) + 12, 12 * total_years + 1, 12):
        rules.append(
            TimePointRule(
                id=f"month_{months}",
                label=f"{months} months",
                months=months,
                window_before_days=int(data["yearly_window_before_days"]),
                window_after_days=int(data["yearly_window_after_days"]),
            )
        )
    return tuple(rules)


_ITEM = re.compile(r"^(?:(?P<zero>0|baseline)|(?P<n>[0-9]{1,3})\s*(?P<unit>[wmy]))$")
# A clinic default, not a published standard: a custom time point's window is ±1/6 of its
# distance from the start, at least 3 and at most 30 days, so neighbouring windows of a
# sensible schedule do not overlap (follow_up_schedule refuses overlapping ones).
_CUSTOM_WINDOW_FRACTION = 6
_CUSTOM_WINDOW_MIN_DAYS = 3
_CUSTOM_WINDOW_MAX_DAYS = 30
_DAYS_PER_MONTH = 30.4375


def parse_schedule(text: str) -> tuple[TimePointRule, ...]:
    """Return the time points of a schedule written as a list, e.g. ``"0,6w,3m,6m,12m"``.

    Items are separated by commas: ``0`` (or ``baseline``) is the start, ``Nw`` N weeks,
    ``Nm`` N calendar months and ``Ny`` N years (12 N months) after it. A time point at the
    same distance as a default one (``data/schedule.toml``) keeps the default's id, label
    and window; any other gets a window of ±1/6 of its distance from the start, between 3
    and 30 days (a clinic default, not a published standard). Raises ``ValueError`` naming
    the item that is not a time point or that repeats another.
    """
    if not isinstance(text, str) or not text.strip():
        raise ScheduleError("the schedule is empty; give time points such as 0,6w,3m,6m,12m")
    items = [item.strip().lower() for item in text.split(",")]
    wanted: list[tuple[str, int, int]] = []
    for item in items:
        match = _ITEM.match(item)
        if match is None:
            raise ScheduleError(
                f"{item!r} is not a time point; use 0 (baseline), Nw (weeks), Nm (months) "
                "or Ny (years), e.g. 0,6w,3m,6m,12m"
            )
        if match["zero"]:
            wanted.append((item, 0, 0))
            continue
        n, unit = int(match["n"]), match["unit"]
        weeks, months = (n, 0) if unit == "w" else (0, n) if unit == "m" else (0, 12 * n)
        wanted.append((item, weeks, months))
    longest = max(months for _, _, months in wanted)
    defaults = {
        (rule.weeks, rule.months): rule
        for rule in default_rules(
            years=max(1, -(-longest // 12), int(_schedule_data()["default_years"]))
        )
    }
    rules: list[TimePointRule] = []
    seen: dict[tuple[int, int], str] = {}
    for item, weeks, months in wanted:
        if (weeks, months) in seen:
            raise ScheduleError(f"{item!r} repeats the time point {seen[(weeks, months)]!r}")
        seen[(weeks, months)] = item
        if (weeks, months) in defaults:
            rules.append(defaults[(weeks, months)])
            continue
        days = weeks * 7 + months * _DAYS_PER_MONTH
        half = min(
            _CUSTOM_WINDOW_MAX_DAYS,
            max(_CUSTOM_WINDOW_MIN_DAYS, round(days / _CUSTOM_WINDOW_FRACTION)),
        )
        if weeks:
            rule_id, label = f"week_{weeks}", f"{weeks} week{'s' if weeks != 1 else ''}"
        else:
            rule_id, label = f"month_{months}", f"{months} month{'s' if months != 1 else ''}"
        rules.append(
            TimePointRule(
                id=rule_id,
                label=label,
                weeks=weeks,
                months=months,
                window_before_days=half,
                window_after_days=half,
            )
        )
    return tuple(rules)


def follow_up_schedule(
    start: date, rules: Sequence[TimePointRule] | None = None
) -> tuple[TimePoint, ...]:
    """Return the dated time points from a treatment or baseline date.

    ``rules`` defaults to :func:`default_rules`. Target = start + weeks + calendar months.
    Windows must not overlap, so a visit can count for one time point only.
    """
    if not isinstance(start, date):
        raise ValueError(f"start must be a date, got {start!r}")
    chosen = default_rules() if rules is None else tuple(rules)
    if not chosen:
        raise ScheduleError("rules must contain at least one time point")
    if len({r.id for r in chosen}) != len(chosen):
        raise ScheduleError("time point ids must be unique")
    points = []
    for rule in chosen:
        target = add_months(start, rule.months) + timedelta(weeks=rule.weeks)
        points.append(
            TimePoint(
                rule.id,
                rule.label,
                target,
                target - timedelta(days=rule.window_before_days),
                target + timedelta(days=rule.window_after_days),
            )
        )
    points.sort(key=lambda p: p.target)
    for earlier, later in pairwise(points):
        if later.opens <= earlier.closes:
            raise ScheduleError(
                f"windows of {earlier.id} and {later.id} overlap; narrow them so each visit "
                "counts for one time point"
            )
    return tuple(points)


def schedule_status(
    schedule: Sequence[TimePoint], completed_visits: Iterable[date], *, today: date
) -> ScheduleStatus:
    """Return each time point's status on ``today`` given the dates of completed visits.

    * ``completed`` — a completed visit falls inside the window (the one nearest the target
      date is used);
    * ``upcoming`` — the window has not opened;
    * ``due`` — the window is open today and no visit is recorded;
    * ``overdue`` — the window closed without a recorded visit.

    Visits dated after ``today`` are rejected; visits outside every window are returned in
    ``unmatched_visits``. Windows: clinic default (``data/schedule.toml``), not a standard.
    """
    visits = sorted(set(completed_visits))
    for visit in visits:
        if not isinstance(visit, date):
            raise ValueError(f"completed_visits must be dates, got {visit!r}")
        if visit > today:
            raise ValueError(f"completed visit {visit} is after today ({today})")
    used: set[date] = set()
    statuses = []
    for point in schedule:
        in_window = [v for v in visits if point.opens <= v <= point.closes and v not in used]
        if in_window:
            visit = min(in_window, key=lambda v: (abs((v - point.target).days), v))
            used.add(visit)
            statuses.append(TimePointStatus(point, "completed", visit))
        elif today < point.opens:
            statuses.append(TimePointStatus(point, "upcoming", None))
        elif today <= point.closes:
            statuses.append(TimePointStatus(point, "due", None))
        else:
            statuses.append(TimePointStatus(point, "overdue", None))
    data = _schedule_data()
    return ScheduleStatus(
        tuple(statuses),
        tuple(v for v in visits if v not in used),
        str(data["window_note"]),
        str(data["source"]),
    )

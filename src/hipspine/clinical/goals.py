"""Functional goals with a target date, tracked with Goal Attainment Scaling and PSFS items.

Goal Attainment Scaling (GAS; Kiresuk TJ, Sherman RE. Goal attainment scaling: a general
method for evaluating comprehensive community mental health programs. *Community Ment
Health J* 1968;4(6):443-453) rates each goal on five levels:
−2 much less than expected, −1 somewhat less than expected, 0 the expected outcome,
+1 somewhat more than expected, +2 much more than expected.
A goal is *attained* at level 0 or above.

The summary GAS T-score (same paper) is
``T = 50 + 10 Σ(wᵢxᵢ) / √((1 − ρ) Σwᵢ² + ρ (Σwᵢ)²)`` with the conventional inter-goal
correlation ρ = 0.3; T = 50 when every goal is met exactly as expected.

A goal may name the Patient-Specific Functional Scale activity it is tracked with (Stratford
P et al., *Physiother Can* 1995;47:258-263; each activity scored 0 unable … 10 pre-injury
level). John's goal (Guggino, *Hip and low back pain*): a 6-mile hike with elevation gain
by October.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import IntEnum
from typing import Literal

CONVENTIONAL_RHO = 0.3


class AttainmentLevel(IntEnum):
    """The five GAS levels (Kiresuk & Sherman 1968)."""

    MUCH_LESS_THAN_EXPECTED = -2
    SOMEWHAT_LESS_THAN_EXPECTED = -1
    EXPECTED = 0
    SOMEWHAT_MORE_THAN_EXPECTED = 1
    MUCH_MORE_THAN_EXPECTED = 2

    @property
    def meaning(self) -> str:
        """The level in words."""
        return _MEANING[self]

    @classmethod
    def parse(cls, value: int | AttainmentLevel) -> AttainmentLevel:
        """Return the level for −2 … +2, with an error naming the allowed values otherwise."""
        if isinstance(value, bool) or not isinstance(value, int) or not -2 <= value <= 2:
            raise ValueError(f"GAS level must be an integer −2, −1, 0, +1 or +2, got {value!r}")
        return cls(value)


_MEANING = {
    AttainmentLevel.MUCH_LESS_THAN_EXPECTED: "much less than expected",
    AttainmentLevel.SOMEWHAT_LESS_THAN_EXPECTED: "somewhat less than expected",
    AttainmentLevel.EXPECTED: "expected outcome",
    AttainmentLevel.SOMEWHAT_MORE_THAN_EXPECTED: "somewhat more than expected",
    AttainmentLevel.MUCH_MORE_THAN_EXPECTED: "much more than expected",
}


@dataclass(frozen=True)
class FunctionalGoal:
    """A patient's functional goal with its target date.

    ``level_descriptions`` optionally describes what each GAS level means for this goal
    (e.g. 0: "6-mile hike with 1,000 ft gain"). ``psfs_activity`` names the PSFS activity the
    goal is tracked with; ``weight`` is its GAS weight (importance × difficulty, > 0).
    """

    description: str
    target_date: date
    set_on: date
    psfs_activity: str | None = None
    level_descriptions: Mapping[int, str] = field(default_factory=dict)
    weight: float = 1.0

    def __post_init__(self) -> None:
        if not isinstance(self.description, str) or not self.description.strip():
            raise ValueError("description must be a non-empty text")
        if not isinstance(self.target_date, date) or not isinstance(self.set_on, date):
            raise ValueError("target_date and set_on must be dates")
        if self.target_date < self.set_on:
            raise ValueError(f"target_date {self.target_date} is before set_on {self.set_on}")
        if self.psfs_activity is not None and not self.psfs_activity.strip():
            raise ValueError("psfs_activity must be a non-empty text or None")
        for level in self.level_descriptions:
            AttainmentLevel.parse(level)
        if (
            isinstance(self.weight, bool)
            or not isinstance(self.weight, int | float)
            or not (math.isfinite(self.weight) and self.weight > 0)
        ):
            raise ValueError(f"weight must be a number > 0, got {self.weight!r}")


@dataclass(frozen=True)
class GoalRating:
    """One GAS rating of a goal on a date."""

    rated_on: date
    level: AttainmentLevel

    def __post_init__(self) -> None:
        if not isinstance(self.rated_on, date):
            raise ValueError(f"rated_on must be a date, got {self.rated_on!r}")
        object.__setattr__(self, "level", AttainmentLevel.parse(self.level))


GoalStatus = Literal[
    "achieved", "achieved late", "not achieved", "in progress", "unknown", "not rated"
]


@dataclass(frozen=True)
class GoalProgress:
    """Progress of one goal: the ratings in date order and whether it was met in time."""

    goal: FunctionalGoal
    ratings: tuple[GoalRating, ...]
    latest: AttainmentLevel | None
    change_from_first: int | None
    achieved_on: date | None
    achieved_by_target: bool | None
    status: GoalStatus


def goal_progress(
    goal: FunctionalGoal, ratings: Iterable[GoalRating], *, today: date
) -> GoalProgress:
    """Return a goal's GAS trajectory and whether it was attained (level ≥ 0) by its target date.

    ``achieved_by_target`` is ``True`` once a rating on or before the target date reaches the
    expected outcome (level 0, Kiresuk & Sherman 1968); ``False`` once the target date has
    passed without such a rating *and* a rating exists on or after the target date (status
    ``"achieved late"`` if a later rating reached level 0, else ``"not achieved"``); and
    ``None`` otherwise: ``"in progress"`` before the target date, ``"unknown"`` after it when
    the goal was not rated since — an unrated goal is never counted as failed.
    Ratings after ``today`` are rejected.
    """
    ordered = tuple(sorted(ratings, key=lambda r: r.rated_on))
    for rating in ordered:
        if rating.rated_on > today:
            raise ValueError(f"rated_on {rating.rated_on} is after today ({today})")
        if rating.rated_on < goal.set_on:
            raise ValueError(
                f"rated_on {rating.rated_on} is before the goal was set ({goal.set_on})"
            )
    if not ordered:
        return GoalProgress(goal, ordered, None, None, None, None, "not rated")
    latest = ordered[-1].level
    change = int(latest) - int(ordered[0].level)
    achieved_on = next((r.rated_on for r in ordered if r.level >= AttainmentLevel.EXPECTED), None)
    status: GoalStatus
    if achieved_on is not None and achieved_on <= goal.target_date:
        by_target: bool | None = True
        status = "achieved"
    elif today <= goal.target_date:
        by_target, status = None, "in progress"
    elif ordered[-1].rated_on >= goal.target_date:
        by_target = False
        status = "achieved late" if achieved_on is not None else "not achieved"
    else:
        # The target date passed with no rating on or after it: unknown, not failed.
        by_target, status = None, "unknown"
    return GoalProgress(goal, ordered, latest, change, achieved_on, by_target, status)


def gas_t_score(
    levels: Sequence[int], weights: Sequence[float] | None = None, *, rho: float = CONVENTIONAL_RHO
) -> float:
    """Return the Kiresuk & Sherman (1968) GAS T-score for one patient's goals.

    ``T = 50 + 10 Σ(wᵢxᵢ) / √((1 − ρ) Σwᵢ² + ρ (Σwᵢ)²)``, xᵢ the level (−2 … +2), wᵢ the
    weight (default 1), ρ the assumed inter-goal correlation (conventionally 0.3).
    """
    if not levels:
        raise ValueError("levels must contain at least one goal's GAS level")
    xs = [int(AttainmentLevel.parse(level)) for level in levels]
    ws = [1.0] * len(xs) if weights is None else [float(w) for w in weights]
    if len(ws) != len(xs):
        raise ValueError(f"weights has {len(ws)} values for {len(xs)} levels")
    for w in ws:
        if not (math.isfinite(w) and w > 0):
            raise ValueError(f"weights must be numbers > 0, got {w!r}")
    if not (isinstance(rho, int | float) and 0 <= rho < 1):
        raise ValueError(f"rho must be in [0, 1), got {rho!r}")
    numerator = sum(w * x for w, x in zip(ws, xs, strict=True))
    denominator = math.sqrt((1 - rho) * sum(w * w for w in ws) + rho * sum(ws) ** 2)
    return 50.0 + 10.0 * numerator / denominator


def psfs_series(
    goal: FunctionalGoal, psfs_by_date: Mapping[date, Mapping[str, float]]
) -> list[tuple[date, float | None]]:
    """Return the goal's linked PSFS activity score (0–10) at each date, ``None`` if not scored.

    PSFS: Stratford et al., *Physiother Can* 1995;47:258-263 (0 unable … 10 pre-injury
    level). A date where the activity was not scored stays ``None`` (unknown), never 0.
    """
    if goal.psfs_activity is None:
        raise ValueError(f"goal {goal.description!r} has no psfs_activity to track")
    series: list[tuple[date, float | None]] = []
    for day in sorted(psfs_by_date):
        score = psfs_by_date[day].get(goal.psfs_activity)
        if score is not None and (
            isinstance(score, bool) or not isinstance(score, int | float) or not 0 <= score <= 10
        ):
            raise ValueError(
                f"PSFS score for {goal.psfs_activity!r} on {day} must be 0–10, got {score!r}"
            )
        series.append((day, None if score is None else float(score)))
    return series

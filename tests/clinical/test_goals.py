"""Goals: Goal Attainment Scaling, target dates and linked PSFS items (John's hike)."""

from __future__ import annotations

import math
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hipspine.clinical.goals import (
    AttainmentLevel,
    FunctionalGoal,
    GoalRating,
    gas_t_score,
    goal_progress,
    psfs_series,
)

HIKE = "Hike 6 miles with elevation gain"


def john_hike() -> FunctionalGoal:
    return FunctionalGoal(
        description="6-mile hike in New Mexico with elevation gain",
        set_on=date(2025, 2, 1),
        target_date=date(2025, 10, 31),
        psfs_activity=HIKE,
        level_descriptions={-2: "walks 1 mile on the flat", 0: "6-mile hike with elevation gain"},
        weight=2,
    )


def rating(day: date, level: int) -> GoalRating:
    return GoalRating(day, level)  # type: ignore[arg-type]


def test_levels_and_meanings() -> None:
    assert [int(level) for level in AttainmentLevel] == [-2, -1, 0, 1, 2]
    assert AttainmentLevel.parse(0).meaning == "expected outcome"
    assert AttainmentLevel.parse(-2).meaning == "much less than expected"
    assert AttainmentLevel.parse(2).meaning == "much more than expected"
    with pytest.raises(ValueError, match="GAS level"):
        AttainmentLevel.parse(3)
    with pytest.raises(ValueError, match="GAS level"):
        rating(date(2025, 3, 1), -3)


def test_john_achieves_the_hike_by_october() -> None:
    ratings = [
        rating(date(2025, 2, 1), -2),
        rating(date(2025, 6, 1), -1),
        rating(date(2025, 9, 20), 0),
    ]
    progress = goal_progress(john_hike(), ratings, today=date(2025, 11, 5))
    assert progress.status == "achieved"
    assert progress.achieved_by_target is True
    assert progress.achieved_on == date(2025, 9, 20)
    assert progress.latest == AttainmentLevel.EXPECTED
    assert progress.change_from_first == 2  # −2 → 0


def test_achieved_exactly_on_target_date_counts() -> None:
    progress = goal_progress(john_hike(), [rating(date(2025, 10, 31), 1)], today=date(2025, 10, 31))
    assert progress.achieved_by_target is True


def test_in_progress_before_target_date() -> None:
    progress = goal_progress(john_hike(), [rating(date(2025, 6, 1), -1)], today=date(2025, 7, 1))
    assert (progress.status, progress.achieved_by_target) == ("in progress", None)


def test_not_achieved_when_rated_below_expected_after_target() -> None:
    progress = goal_progress(
        john_hike(),
        [rating(date(2025, 6, 1), -1), rating(date(2025, 11, 2), -1)],
        today=date(2025, 11, 10),
    )
    assert (progress.status, progress.achieved_by_target) == ("not achieved", False)


def test_achieved_late_is_not_achieved_by_target() -> None:
    progress = goal_progress(john_hike(), [rating(date(2025, 11, 15), 0)], today=date(2025, 11, 20))
    assert progress.status == "achieved late"
    assert progress.achieved_by_target is False
    assert progress.achieved_on == date(2025, 11, 15)


def test_unrated_since_target_is_unknown_not_failed() -> None:
    progress = goal_progress(john_hike(), [rating(date(2025, 6, 1), -1)], today=date(2026, 1, 5))
    assert (progress.status, progress.achieved_by_target) == ("unknown", None)
    empty = goal_progress(john_hike(), [], today=date(2026, 1, 5))
    assert (empty.status, empty.achieved_by_target, empty.latest) == ("not rated", None, None)


def test_ratings_out_of_time_are_rejected() -> None:
    with pytest.raises(ValueError, match="after today"):
        goal_progress(john_hike(), [rating(date(2025, 6, 1), 0)], today=date(2025, 5, 1))
    with pytest.raises(ValueError, match="before the goal was set"):
        goal_progress(john_hike(), [rating(date(2025, 1, 1), 0)], today=date(2025, 5, 1))


def test_goal_validation_names_the_field() -> None:
    with pytest.raises(ValueError, match="target_date"):
        FunctionalGoal("hike", target_date=date(2025, 1, 1), set_on=date(2025, 2, 1))
    with pytest.raises(ValueError, match="description"):
        FunctionalGoal(" ", target_date=date(2025, 3, 1), set_on=date(2025, 2, 1))
    with pytest.raises(ValueError, match="weight"):
        FunctionalGoal("hike", target_date=date(2025, 3, 1), set_on=date(2025, 2, 1), weight=0)
    with pytest.raises(ValueError, match="GAS level"):
        FunctionalGoal(
            "hike",
            target_date=date(2025, 3, 1),
            set_on=date(2025, 2, 1),
            level_descriptions={5: "x"},
        )


# --- GAS T-score -------------------------------------------------------------------------


def test_t_score_hand_computed() -> None:
    # All goals at the expected level: T = 50.
    assert gas_t_score([0, 0, 0]) == 50.0
    # One goal at +2: 50 + 10 × 2 / √(0.7 × 1 + 0.3 × 1) = 70.
    assert gas_t_score([2]) == pytest.approx(70.0)
    assert gas_t_score([-2]) == pytest.approx(30.0)
    # Three goals at +1: 50 + 10 × 3 / √(0.7 × 3 + 0.3 × 9) = 50 + 30 / √4.8 = 63.6931
    assert gas_t_score([1, 1, 1]) == pytest.approx(63.6931, abs=1e-4)
    # Weighted: levels (+2, −1), weights (2, 1): Σwx = 3; Σw² = 5; (Σw)² = 9;
    # 50 + 10 × 3 / √(0.7 × 5 + 0.3 × 9) = 50 + 30 / √6.2 = 62.0483
    assert gas_t_score([2, -1], [2, 1]) == pytest.approx(62.0483, abs=1e-4)


def test_t_score_rho_is_configurable() -> None:
    # ρ = 0: 50 + 10 × 3 / √3 = 67.3205
    assert gas_t_score([1, 1, 1], rho=0) == pytest.approx(50 + 30 / math.sqrt(3))


def test_t_score_bad_input() -> None:
    with pytest.raises(ValueError, match="levels"):
        gas_t_score([])
    with pytest.raises(ValueError, match="weights"):
        gas_t_score([0, 1], [1])
    with pytest.raises(ValueError, match="weights"):
        gas_t_score([0], [-1])
    with pytest.raises(ValueError, match="GAS level"):
        gas_t_score([4])
    with pytest.raises(ValueError, match="rho"):
        gas_t_score([0], rho=1.0)


@given(
    st.lists(
        st.tuples(st.integers(-2, 2), st.floats(min_value=0.1, max_value=10)),
        min_size=1,
        max_size=10,
    )
)
def test_t_score_sign_follows_weighted_attainment(goals: list[tuple[int, float]]) -> None:
    levels = [level for level, _ in goals]
    weights = [weight for _, weight in goals]
    score = gas_t_score(levels, weights)
    weighted = sum(level * weight for level, weight in goals)
    assert math.isfinite(score)
    if weighted > 1e-9:
        assert score > 50
    elif weighted < -1e-9:
        assert score < 50
    # With weights ≥ 0 and |x| ≤ 2 the T-score stays within 50 ± 10 × 2 / √ρ.
    assert abs(score - 50) <= 20 / math.sqrt(0.3) + 1e-9


# --- PSFS link ---------------------------------------------------------------------------


def test_psfs_series_tracks_the_linked_activity_and_keeps_gaps_unknown() -> None:
    series = psfs_series(
        john_hike(),
        {
            date(2025, 6, 1): {HIKE: 5, "Sitting 1 hour": 7},
            date(2025, 2, 1): {HIKE: 2},
            date(2025, 4, 1): {"Sitting 1 hour": 6},
        },
    )
    assert series == [(date(2025, 2, 1), 2.0), (date(2025, 4, 1), None), (date(2025, 6, 1), 5.0)]


def test_psfs_series_rejects_out_of_range_and_unlinked_goals() -> None:
    with pytest.raises(ValueError, match="0–10"):
        psfs_series(john_hike(), {date(2025, 2, 1): {HIKE: 11}})
    unlinked = FunctionalGoal("walk", target_date=date(2025, 3, 1), set_on=date(2025, 2, 1))
    with pytest.raises(ValueError, match="psfs_activity"):
        psfs_series(unlinked, {})

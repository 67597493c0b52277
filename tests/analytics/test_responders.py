"""Responder rates and Wilson intervals, by hand; the MCID rule agrees with trajectory.py."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from hipspine.analytics.registry import MEASURES
from hipspine.analytics.report import registry_report
from hipspine.analytics.responders import (
    important_array,
    important_change,
    rated_measures,
    wilson,
)
from hipspine.clinical.trajectory import measure_trajectory
from tests.analytics.helpers import patient, registry


def test_wilson_interval_by_hand() -> None:
    # 8 of 10, z = 1.959964: centre (0.8 + 0.19208) / 1.38415 = 0.71676,
    # half-width 1.959964 * sqrt(0.016 + 0.0096036) / 1.38415 = 0.22657
    p, low, high = wilson(8, 10)
    assert p == 0.8
    assert low == pytest.approx(0.49016, abs=1e-5)
    assert high == pytest.approx(0.94332, abs=1e-5)
    assert wilson(0, 0) == (None, None, None)
    _, low0, high0 = wilson(0, 5)
    assert low0 == 0.0 and high0 == pytest.approx(0.43449, abs=1e-5)


@pytest.mark.parametrize("index", rated_measures())
def test_vectorised_rule_matches_the_trajectory_rule(index: int) -> None:
    measure = MEASURES[index]
    rule = important_change(measure.key)
    assert rule is not None
    grid = {
        "nprs": np.arange(0, 11.0),
        "odi": np.arange(0, 101.0, 2),
        "lefs": np.arange(0, 81.0),
    }.get(measure.instrument, np.arange(0, 101.0, 2.5))
    base, value = np.meshgrid(grid, grid)
    vectorised = rule.array(base.ravel(), value.ravel())
    treated = dt.date(2024, 1, 1)
    for b, v, fast in zip(base.ravel()[::7], value.ravel()[::7], vectorised[::7], strict=True):
        traj = measure_trajectory(
            key=measure.key,
            label=measure.label,
            instrument_id=measure.instrument,
            scope=measure.scope,
            values=[(treated, float(b)), (dt.date(2024, 4, 1), float(v))],
            baseline_date=treated,
            treatment_date=treated,
        )
        assert traj.points[1].status == "clinically important improvement" if fast else True
        assert fast == (traj.points[1].status == "clinically important improvement"), (b, v)


def test_mixed_measure_rule_equals_each_measures_rule() -> None:
    """important_array (all measures at once) gives each rule's own answer, NaN = False."""
    grid = np.concatenate([np.arange(0, 101.0, 0.5), [np.nan]])
    base, value = (x.ravel() for x in np.meshgrid(grid, grid))
    for index, measure in enumerate(MEASURES):
        rule = important_change(measure.key)
        codes = np.full(len(base), index, dtype=np.int8)
        mixed = important_array(codes, base, value)
        expected = np.zeros(len(base), dtype=bool) if rule is None else rule.array(base, value)
        assert (mixed == expected).all(), measure.key


def test_responder_rates_on_a_hand_made_cohort() -> None:
    # four patients with low back pain 8 at baseline; at 3 months (day 91): 4 (−4, 50% → responder),
    # 6 (−2 = 25% → no: both 2 points and 30% are needed), 5 (−3, 37.5% → responder),
    # and one never came back (due, not followed).
    people = [patient(i, treatment="prp" if i < 2 else "corticosteroid") for i in range(4)]
    scores = [(i, "nprs:lumbar", -3, 8.0) for i in range(4)]
    scores += [
        (0, "nprs:lumbar", 91, 4.0),
        (1, "nprs:lumbar", 95, 6.0),
        (2, "nprs:lumbar", 88, 5.0),
    ]
    report = registry_report(registry(people, scores)).data
    rows = {(r["treatment"], r["measure"], r["time_point"]): r for r in report["responders"]}
    overall = rows[("all", "nprs:lumbar", "month_3")]
    assert (overall["responders"], overall["followed"], overall["due"]) == (2, 3, 4)
    p, low, high = wilson(2, 3)
    assert (overall["rate"], overall["ci_low"], overall["ci_high"]) == (p, low, high)
    prp = rows[("prp", "nprs:lumbar", "month_3")]
    assert (prp["responders"], prp["followed"], prp["due"]) == (1, 2, 2)
    steroid = rows[("corticosteroid", "nprs:lumbar", "month_3")]
    assert (steroid["responders"], steroid["followed"], steroid["due"]) == (1, 1, 2)
    week6 = rows[("all", "nprs:lumbar", "week_6")]
    assert (week6["followed"], week6["due"]) == (0, 4)


def test_the_visit_closest_to_the_target_counts() -> None:
    people = [patient(0)]
    # two visits in the 3-month window (77..105): day 80 (far) and day 93 (closest to 91)
    scores = [(0, "odi", 0, 40.0), (0, "odi", 80, 38.0), (0, "odi", 93, 20.0)]
    report = registry_report(registry(people, scores)).data
    row = next(
        r for r in report["responders"] if r["measure"] == "odi" and r["time_point"] == "month_3"
    )
    assert row["treatment"] == "all" and row["responders"] == 1 and row["followed"] == 1
    traj = next(
        r for r in report["trajectories"] if r["measure"] == "odi" and r["time_point"] == "month_3"
    )
    assert traj["mean"] == 20.0 and traj["mean_change"] == -20.0


def test_a_responder_must_also_reach_a_verified_mdc(monkeypatch: pytest.MonkeyPatch) -> None:
    """With an MDC above the MCID (LEFS MCID 9, MDC swapped to 12), a change between the
    two is within measurement error: the registry does not count it, as the trajectory does
    not call it clinically important — vectorised and mixed-measure forms alike."""
    from hipspine.analytics import responders
    from tests.clinical.test_trajectory import swap_mdc

    swap_mdc(monkeypatch, "lefs", 12.0)
    responders.important_change.cache_clear()
    responders._vector_rules.cache_clear()
    try:
        index = next(i for i, m in enumerate(MEASURES) if m.instrument == "lefs")
        rule = important_change(MEASURES[index].key)
        assert rule is not None and rule.mdc == (12.0, "points")
        base = np.full(5, 40.0)
        value = np.array([48.0, 49.0, 51.0, 52.0, 60.0])  # +8, +9 (MCID), +11, +12 (MDC), +20
        expected = [False, False, False, True, True]
        assert rule.array(base, value).tolist() == expected
        codes = np.full(5, index, dtype=np.uint8)
        assert important_array(codes, base, value).tolist() == expected
        for v, fast in zip(value, expected, strict=True):
            traj = measure_trajectory(
                key=MEASURES[index].key,
                label="LEFS",
                instrument_id="lefs",
                scope=MEASURES[index].scope,
                values=[(dt.date(2024, 1, 1), 40.0), (dt.date(2024, 4, 1), float(v))],
                baseline_date=dt.date(2024, 1, 1),
                treatment_date=dt.date(2024, 1, 1),
            )
            assert (traj.points[1].status == "clinically important improvement") == fast, v
    finally:
        responders.important_change.cache_clear()
        responders._vector_rules.cache_clear()

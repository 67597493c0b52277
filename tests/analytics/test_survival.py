"""Kaplan–Meier by hand and against lifelines."""

from __future__ import annotations

import numpy as np
import pytest
from lifelines import KaplanMeierFitter
from lifelines.utils import median_survival_times

from hipspine.analytics import survival
from hipspine.analytics.report import registry_report
from tests.analytics.helpers import patient, registry

TIMES = [2, 3, 3, 5, 6, 8, 9]
EVENTS = [1, 1, 0, 1, 0, 1, 0]


def test_product_limit_by_hand() -> None:
    km = survival.fit(TIMES, EVENTS)
    # at risk 7 → S(2) = 6/7; at 3: 6 at risk, 1 event → 6/7 · 5/6 = 5/7 (and one censored);
    # at 5: 4 at risk → 5/7 · 3/4 = 15/28; 6 censored; at 8: 2 at risk → 15/56; 9 censored.
    assert km.times.tolist() == [2, 3, 5, 6, 8, 9]
    assert km.at_risk.tolist() == [7, 6, 4, 3, 2, 1]
    assert km.survival == pytest.approx([6 / 7, 5 / 7, 15 / 28, 15 / 28, 15 / 56, 15 / 56])
    assert km.median()[0] == 8  # first time S ≤ 0.5
    assert km.patients == 7


def test_band_and_median_interval_match_lifelines() -> None:
    km = survival.fit(TIMES, EVENTS)
    kmf = KaplanMeierFitter().fit(TIMES, EVENTS)
    sf = kmf.survival_function_["KM_estimate"].loc[km.times]
    ci = kmf.confidence_interval_.loc[km.times]
    assert km.survival == pytest.approx(sf.to_numpy())
    assert km.lower == pytest.approx(ci.iloc[:, 0].to_numpy())
    assert km.upper == pytest.approx(ci.iloc[:, 1].to_numpy())
    medians = median_survival_times(kmf.confidence_interval_)
    median, low, high = km.median()
    assert median == kmf.median_survival_time_
    assert low == medians.iloc[0, 0]
    assert (high if high is not None else np.inf) == medians.iloc[0, 1]


def test_counts_give_the_same_curve_as_rows() -> None:
    a = survival.fit(TIMES, EVENTS)
    b = survival.fit([2, 3, 3, 5, 6, 8, 9], [1, 1, 0, 1, 0, 1, 0], [1, 1, 1, 1, 1, 1, 1])
    c = survival.fit([3, 2, 3, 5, 6, 8, 9], [1, 1, 0, 1, 0, 1, 0])
    assert a.survival == pytest.approx(b.survival)
    assert a.survival == pytest.approx(c.survival)


def test_time_to_improvement_from_visits_with_censoring() -> None:
    # groin NPRS 8 at baseline. P0 improves at 6 weeks (day 42), P1 only at 3 months (day 91),
    # P2 never (last seen day 183, censored), P3 drops out after 6 weeks without improving.
    people = [patient(i) for i in range(4)]
    s = [(i, "nprs:groin", 0, 8.0) for i in range(4)]
    s += [(0, "nprs:groin", 42, 4.0), (0, "nprs:groin", 91, 3.0)]
    s += [(1, "nprs:groin", 42, 7.0), (1, "nprs:groin", 91, 5.0)]
    s += [(2, "nprs:groin", 42, 8.0), (2, "nprs:groin", 91, 7.0), (2, "nprs:groin", 183, 7.0)]
    s += [(3, "nprs:groin", 42, 7.0)]
    rows = registry_report(registry(people, s)).data["time_to_improvement"]
    groin = next(r for r in rows if r["treatment"] == "all" and r["region"] == "groin")
    # at 42: 4 at risk, 1 event, 1 censored (P3) → S = 3/4; at 91: 2 at risk, 1 event → 3/8
    assert groin["patients"] == 4 and groin["improved"] == 2
    assert groin["curve"]["weeks"] == [6.0, 13.0]
    assert groin["curve"]["improved"] == pytest.approx([1 / 4, 5 / 8])
    assert groin["curve"]["at_risk"] == [4, 2]
    assert groin["median_weeks"] == 13.0
    assert groin["improved_by"]["3 months"]["improved"] == pytest.approx(5 / 8)
    assert groin["improved_by"]["6 weeks"]["improved"] == pytest.approx(1 / 4)


# --- Turnbull NPMLE (interval-censored) ------------------------------------------------------


def test_turnbull_by_hand() -> None:
    # Three patients: A improved in (0, 2], B in (1, 3], C was last seen at 2 without improving
    # (2, inf). Endpoints sorted (at a tie: closed rights before open lefts):
    #   0L 1L 2R 2L 3R infR → innermost intervals where a left is followed by a right:
    #   (1, 2] and (2, 3]. A covers only (1, 2], B covers both, C covers only (2, 3]
    #   (and the tail beyond 3, but the tail holds no innermost interval: after 3R comes infR).
    # Self-consistency p1 = (1 + p1/(p1+p2)) / 3, p2 = (p2/(p1+p2) + 1) / 3 with p1 + p2 = 1:
    #   p1 = (1 + p1) / 3 → p1 = 1/2, p2 = 1/2. S after (1, 2] = 1/2, after (2, 3] = 0.
    tb = survival.turnbull([0, 1, 2], [2, 3, np.inf])
    assert tb.left.tolist() == [1, 2] and tb.right.tolist() == [2, 3]
    assert tb.mass == pytest.approx([0.5, 0.5])
    assert tb.survival == pytest.approx([0.5, 0.0])
    assert tb.converged and tb.patients == 3
    # S is exactly 1/2 on the flat stretch between the innermost intervals: medians [2, 2]
    assert tb.median() == (2.0, 2.0)
    assert tb.improved_by(2) == pytest.approx((0.5, 0.5))
    # 1.5 lies inside (1, 2]: F(1.5) is only known to be between 0 and 1/2
    assert tb.improved_by(1.5) == pytest.approx((0.0, 0.5))


def test_turnbull_median_inside_an_interval() -> None:
    # (0, 4] ×3 and (4, 10] ×1: innermost (0, 4] and (4, 10] with masses 3/4 and 1/4
    # (disjoint, so no iteration is needed: the fraction of patients). S jumps 1 → 1/4 across
    # (0, 4], so the median is only known to lie in (0, 4].
    tb = survival.turnbull([0, 4], [4, 10], [3, 1])
    assert tb.mass == pytest.approx([0.75, 0.25])
    assert tb.median() == (0.0, 4.0)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_turnbull_matches_lifelines(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 150
    t = rng.exponential(10, n)
    lower = np.floor(t / 3) * 3 + rng.uniform(0, 0.01, n)  # no ties between endpoints
    upper = lower + rng.choice([1.5, 3.7, 6.2], n)
    upper[rng.uniform(size=n) < 0.25] = np.inf
    tb = survival.turnbull(lower, upper)
    kmf = KaplanMeierFitter().fit_interval_censoring(lower, upper, tol=1e-12)
    theirs = kmf.survival_function_["NPMLE_estimate_lower"]
    finite = np.isfinite(tb.right)
    # lifelines' survival just after each innermost interval's right end
    assert np.abs(theirs.loc[tb.right[finite]].to_numpy() - tb.survival[finite]).max() < 1e-6


def test_turnbull_reduces_to_kaplan_meier_with_exact_times() -> None:
    # exact events (L == R) and right-censoring (t, inf): the NPMLE is the product-limit curve
    lower = np.array(TIMES, dtype=float)
    upper = np.where(np.array(EVENTS) == 1, lower, np.inf)
    tb = survival.turnbull(lower, upper)
    km = survival.fit(TIMES, EVENTS)
    # one innermost point per event time, and the tail beyond the last censoring (9, inf]
    assert tb.left.tolist() == [2, 3, 5, 8, 9] and tb.right.tolist() == [2, 3, 5, 8, np.inf]
    expected = km.survival[np.isin(km.times, [2, 3, 5, 8])]
    assert tb.survival[:4] == pytest.approx(expected, abs=1e-8)
    assert tb.mass[4] == pytest.approx(km.survival[-1], abs=1e-8)  # KM's undefined tail
    assert tb.median() == (8.0, 8.0)


def test_turnbull_right_censoring_and_counts() -> None:
    # 10 patients: 4 improve in (0, 6], 6 leave unimproved at 6 → mass 0.4 in (0, 6] and 0.6
    # beyond 6 in the open tail (6, inf]; the curve stays at 0.6 and never reaches the median.
    tb = survival.turnbull([0, 6], [6, np.inf], [4, 6])
    assert tb.left.tolist() == [0, 6] and tb.right.tolist() == [6, np.inf]
    assert tb.mass == pytest.approx([0.4, 0.6])
    assert tb.improved_by(6) == pytest.approx((0.4, 0.4))
    rows = survival.turnbull([0] * 4 + [6] * 6, [6] * 4 + [np.inf] * 6)
    assert rows.mass == pytest.approx(tb.mass)
    # only the tail (infinite interval) could take the median → an unbounded interval
    assert tb.median() == (6.0, np.inf)


def test_turnbull_fields_in_the_registry_report() -> None:
    # as in the visit test above: P0 (0, 42], P1 (42, 91], P2 censored at 183, P3 at 42
    people = [patient(i) for i in range(4)]
    s = [(i, "nprs:groin", 0, 8.0) for i in range(4)]
    s += [(0, "nprs:groin", 42, 4.0), (0, "nprs:groin", 91, 3.0)]
    s += [(1, "nprs:groin", 42, 7.0), (1, "nprs:groin", 91, 5.0)]
    s += [(2, "nprs:groin", 42, 8.0), (2, "nprs:groin", 91, 7.0), (2, "nprs:groin", 183, 7.0)]
    s += [(3, "nprs:groin", 42, 7.0)]
    report = registry_report(registry(people, s))
    rows = report.data["time_to_improvement"]
    groin = next(r for r in rows if r["treatment"] == "all" and r["region"] == "groin")
    # innermost (0, 42], (42, 91], (183, inf]; P3 (42, inf) covers the last two. EM:
    # p1 = 1/4 (P0 alone), p2 = (1 + p2/(p2+p3)) / 4, p3 = (1 + p3/(p2+p3)) / 4 → p2 = p3 = 3/8
    # — the same as Kaplan–Meier here, as every visit day is shared.
    assert groin["improved_by_turnbull"]["6 weeks"] == pytest.approx([1 / 4, 1 / 4])
    assert groin["improved_by_turnbull"]["3 months"] == pytest.approx([5 / 8, 5 / 8])
    assert groin["median_weeks_turnbull"] == pytest.approx([6, 13])  # S: 3/4 → 3/8 in (42, 91]
    assert groin["median_weeks"] == 13.0  # Kaplan–Meier at visits, beside it

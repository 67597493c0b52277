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

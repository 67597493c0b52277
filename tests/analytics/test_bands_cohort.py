"""Reference bands on a tiny cohort by hand; cohort filters."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from hipspine.analytics import bands
from hipspine.analytics.cohort import Cohort, select
from hipspine.analytics.report import registry_report
from tests.analytics.helpers import patient, registry


def test_percentiles_from_counts_equal_numpy() -> None:
    values = np.array([3.0, 5.0, 5.0, 6.0, 9.0])
    h = bands.Histogram(np.array([3.0, 5.0, 6.0, 9.0]), np.array([1, 2, 1, 1]))
    for q in (0, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 1):
        assert h.quantile(q) == pytest.approx(np.quantile(values, q))
    # by hand: 25th percentile at position 4 · 0.25 = 1 → 5; 90th at 3.6 → 6 + 0.6 · 3 = 7.8
    assert h.quantile(0.25) == 5.0 and h.quantile(0.9) == pytest.approx(7.8)
    # mid-rank: below 5 is one score, two equal → (1 + 1) / 5 = 40
    assert h.percentile_rank(5.0) == 40.0


def test_bands_and_a_patients_position() -> None:
    # 20 patients with LEFS 41..60 in week 13 (day 91); patient 0 scores 41 (lowest)
    people = [patient(i) for i in range(20)]
    scores = [(i, "lefs", 0, 30.0) for i in range(20)] + [
        (i, "lefs", 91, 41.0 + i) for i in range(20)
    ]
    report = registry_report(registry(people, scores))
    band = next(b for b in report.data["bands"] if b["measure"] == "lefs" and b["week"] == 13)
    assert band["n"] == 20
    assert band["p50"] == pytest.approx(50.5)  # median of 41..60
    assert band["p25"] == pytest.approx(41 + 19 * 0.25)
    where = report.position(0)
    assert where[0]["week"] == 13 and where[0]["percentile"] == pytest.approx(2.5)
    assert where[0]["direction"] == "higher_is_better"
    thin = registry_report(registry(people[:5], scores[:5] + scores[20:25]))
    assert thin.data["bands"] == []  # fewer than MIN_N scores: no band
    assert thin.position(0)[0]["percentile"] is None


def test_cohort_filters() -> None:
    people = [
        patient(
            0, condition="hip_oa", facet_side=None, sex="male", age=40, kl_grade=4, target="hip"
        ),
        patient(
            1,
            condition="lumbar_facet",
            hip_side=None,
            kl_grade=None,
            age=70,
            treatment="pt_only",
            target="none",
        ),
        patient(2, condition="both", treated_on=dt.date(2025, 5, 1), clinic="c2"),
    ]
    scores = [(0, "nprs:groin", 0, 8.0), (1, "nprs:lumbar", 0, 4.0), (2, "nprs:lumbar", -2, 6.0)]
    reg = registry(people, scores)

    def pids(**filters: object) -> list[int]:
        return select(reg, Cohort(**filters)).patients.column("pid").to_pylist()  # type: ignore[arg-type]

    assert pids() == [0, 1, 2]
    assert pids(condition=("hip_oa", "both")) == [0, 2]
    assert pids(kl_grade=(4,)) == [0]  # unknown grade (patient 1) never matches
    assert pids(baseline_pain_min=5) == [0, 2]
    assert pids(age_min=45, age_max=60) == [2]
    assert pids(sex=("male",)) == [0]
    assert pids(treatment=("pt_only",)) == [1]
    assert pids(target=("hip_and_facet",)) == [2]
    assert pids(side=("right",)) == [0, 2]
    assert pids(clinic=("c2",)) == [2]
    assert pids(treated_from=dt.date(2025, 1, 1)) == [2]
    assert select(reg, Cohort(condition=("hip_oa",))).measurements.num_rows == 1
    with pytest.raises(ValueError, match="condition: 'knee'"):
        Cohort(condition=("knee",))

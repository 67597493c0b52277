"""A straightforward pandas implementation of the registry report, to check and to race.

It computes the same numbers as :func:`hipspine.analytics.report.registry_report` the way
an analyst would write them in pandas (sort, group by, merge), with the Kaplan–Meier curves
from lifelines' ``KaplanMeierFitter`` instead of hipspine's own estimator — an independent
check of both. The clinical rules (time-point windows, MCID rule) are shared, so a
disagreement means a computation bug, not a definition difference. Used by the tests and by
``benchmarks/bench_registry.py``; not by the application.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd  # type: ignore[import-untyped]
from lifelines import KaplanMeierFitter  # type: ignore[import-untyped]
from lifelines.utils import median_survival_times  # type: ignore[import-untyped]

from hipspine.analytics import bands
from hipspine.analytics.cohort import Cohort, select
from hipspine.analytics.registry import MEASURE_INDEX, MEASURES, PAIN_REGIONS, Registry, time_points
from hipspine.analytics.report import (
    ALL,
    ANALGESIC_TIME_POINT,
    CHECKPOINTS,
    _responder_key,
    analgesic_summary,
    completeness_rows,
    goal_rows,
    trajectory_rows,
)
from hipspine.analytics.responders import important_change, rated_measures, responder_row


def _tp(day: pd.Series) -> pd.Series:
    out = pd.Series(-1, index=day.index, dtype="int64")
    for k, t in enumerate(time_points()):
        out[(day >= t.lo) & (day <= t.hi)] = k
    return out


def _closest(frame: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    targets = np.array([t.target for t in time_points()])
    frame = frame.assign(
        key=(frame["day"] - targets[frame["tp"].to_numpy()]).abs() * 4096 + frame["day"]
    )
    return frame.sort_values([*by, "key"], kind="stable").groupby(by, sort=False).head(1)


def report(registry: Registry, cohort: Cohort | None = None) -> dict[str, Any]:
    """The report's numbers (as :func:`registry_report`'s ``data``, without statements)."""
    chosen = select(registry, cohort or Cohort())
    points = time_points()
    p = chosen.patients.to_pandas()
    m = chosen.measurements.to_pandas()
    m["value"] = m["value"].astype("float64")
    m["day"] = m["day"].astype("int64")
    m["tp"] = _tp(m["day"])
    p["observed"] = (pd.Timestamp(chosen.as_of) - pd.to_datetime(p["treated_on"])).dt.days
    base = (
        m[m["tp"] == 0]
        .sort_values("day", kind="stable")
        .groupby(["pid", "measure"])["value"]
        .last()
        .rename("base")
        .reset_index()
    )
    v = _closest(m[m["tp"] > 0], ["pid", "measure", "tp"])
    v = v.merge(base, on=["pid", "measure"], how="left").merge(p[["pid", "treatment"]], on="pid")
    v["important"] = False
    for i in rated_measures():
        rule = important_change(MEASURES[i].key)
        assert rule is not None
        sel = v["measure"] == i
        v.loc[sel, "important"] = rule.array(
            v.loc[sel, "base"].to_numpy(), v.loc[sel, "value"].to_numpy()
        )

    # responders
    rated = v[v["measure"].isin(rated_measures()) & v["base"].notna()]
    per_treatment = (
        rated.groupby(["treatment", "measure", "tp"])["important"]
        .agg(["size", "sum"])
        .reset_index()
    )
    overall = (
        rated.groupby(["measure", "tp"])["important"]
        .agg(["size", "sum"])
        .reset_index()
        .assign(treatment=ALL)
    )
    counts = pd.concat([overall, per_treatment])
    b = base[base["measure"].isin(rated_measures())].merge(
        p[["pid", "treatment", "observed"]], on="pid"
    )
    responders = []
    for row in counts.itertuples():
        mine = b if row.treatment == ALL else b[b["treatment"] == row.treatment]
        mine = mine[mine["measure"] == row.measure]
        due = int((mine["observed"] >= points[row.tp].hi).sum())
        responders.append(
            responder_row(
                row.treatment, int(row.measure), points[row.tp].id, int(row.size), int(row.sum), due
            )
        )
    for measure in rated_measures():  # time points nobody attended but some were due
        for k in range(1, len(points)):
            for name in [ALL, *sorted(p["treatment"].unique())]:
                if not (
                    (counts["treatment"] == name)
                    & (counts["measure"] == measure)
                    & (counts["tp"] == k)
                ).any():
                    mine = b if name == ALL else b[b["treatment"] == name]
                    due = int(
                        ((mine["measure"] == measure) & (mine["observed"] >= points[k].hi)).sum()
                    )
                    if due:
                        responders.append(responder_row(name, measure, points[k].id, 0, 0, due))

    # time to first important improvement, lifelines
    survival = []
    for region in PAIN_REGIONS:
        code = MEASURE_INDEX[f"nprs:{region}"]
        rule = important_change(MEASURES[code].key)
        assert rule is not None
        f = m[(m["measure"] == code) & (m["day"] > 0)].merge(
            base[base["measure"] == code], on=["pid", "measure"]
        )
        f["imp"] = rule.array(f["base"].to_numpy(), f["value"].to_numpy())
        per = f.groupby("pid").agg(last=("day", "max"))
        per["event"] = f[f["imp"]].groupby("pid")["day"].min()
        per["e"] = per["event"].notna()
        per["t"] = per["event"].fillna(per["last"])
        per = per.join(p.set_index("pid")["treatment"])
        for name, group in [(ALL, per), *sorted(per.groupby("treatment"))]:
            survival.append(_lifelines(name, code, group))

    # trajectories
    with_base = v[v["base"].notna()]
    traj = [
        (
            mi,
            0,
            len(g),
            g["base"].mean(),
            g["base"].std(ddof=1) if len(g) > 1 else None,
            0,
            None,
            None,
        )
        for mi, g in base.groupby("measure")
    ]
    change = with_base.assign(change=with_base["value"] - with_base["base"])
    for (mi, tp), g in v.groupby(["measure", "tp"]):
        c = change[(change["measure"] == mi) & (change["tp"] == tp)]["change"]
        traj.append(
            (mi, tp, len(g), g["value"].mean(), g["value"].std(ddof=1) if len(g) > 1 else None,
             len(c), c.mean() if len(c) else None, c.std(ddof=1) if len(c) > 1 else None)
        )  # fmt: skip

    # bands: quantiles straight from the scores
    follow = m[(m["day"] > 0) & (m["day"] < 7 * (bands.MAX_WEEK + 1))].assign(
        week=lambda d: d["day"] // 7
    )
    grouped = follow.groupby(["measure", "week"])["value"]
    sizes = grouped.size()
    quantiles = grouped.quantile([q / 100 for q in bands.PERCENTILES]).unstack()
    band_rows = []
    for (mi, week), n in sizes.items():
        if n < bands.MIN_N:
            continue
        band: dict[str, Any] = {"measure": MEASURES[mi].key, "week": int(week), "n": int(n)}
        for q in bands.PERCENTILES:
            band[f"p{q}"] = float(quantiles.loc[(mi, week), q / 100])
        band_rows.append(band)

    # analgesics at the 6-month time point
    k6 = [t.id for t in points].index(ANALGESIC_TIME_POINT)
    day6 = points[k6].target
    med = chosen.medications.to_pandas()
    med["days_per_week"] = med["days_per_week"].astype("float64")
    start = med["start_day"].fillna(-(2**31) + 1)
    active0 = (start <= 0) & (med["stop_day"].isna() | (med["stop_day"] > 0))
    active6 = (start <= day6) & (med["stop_day"].isna() | (med["stop_day"] > day6))
    use = (
        pd.DataFrame(
            {
                "pid": med["pid"],
                "d0": np.where(active0, med["days_per_week"], 0.0),
                "d1": np.where(active6, med["days_per_week"], 0.0),
            }
        )
        .groupby("pid")[["d0", "d1"]]
        .sum()
    )
    followed6 = v[v["tp"] == k6]["pid"].unique()
    use = use[use.index.isin(followed6) & (use["d0"] > 0)]
    diff = use["d1"] - use["d0"]
    analgesics = analgesic_summary(
        (len(use), use["d0"].mean(), use["d1"].mean(), diff.mean(), diff.std(ddof=1) if len(use) > 1 else None,
         int((use["d1"] == 0).sum()), int((use["d1"] <= use["d0"] / 2).sum())),
        points[k6].id,
    )  # fmt: skip

    # goals
    g = chosen.goal_ratings.to_pandas()
    g["day"] = g["day"].astype("int64")
    g["tp"] = _tp(g["day"])
    g = _closest(g[g["tp"] > 0], ["pid", "tp"])
    goals = goal_rows([(tp, len(x), int((x["level"] >= 0).sum())) for tp, x in g.groupby("tp")])

    # completeness
    seen = v[["pid", "tp"]].drop_duplicates()
    row_values: list[int] = []
    for k, t in enumerate(points):
        if k == 0:
            continue
        due = p[p["observed"] >= t.hi]
        answered = due["pid"].isin(seen[seen["tp"] == k]["pid"]).sum()
        row_values += [len(due), int(answered)]

    return {
        "as_of": chosen.as_of.isoformat(),
        "cohort": {"filters": (cohort or Cohort()).describe(), "patients": len(p)},
        "responders": sorted(responders, key=_responder_key),
        "time_to_improvement": sorted(
            survival,
            key=lambda r: (r["treatment"] != ALL, r["treatment"], MEASURE_INDEX[r["measure"]]),
        ),
        "trajectories": trajectory_rows([tuple(_plain(x) for x in r) for r in traj]),
        "bands": band_rows,
        "analgesics": analgesics,
        "goals": goals,
        "completeness": completeness_rows(tuple(row_values)),
    }


def _plain(x: Any) -> Any:
    if x is None:
        return None
    if isinstance(x, (np.integer, int)):
        return int(x)
    value = float(x)
    return None if math.isnan(value) else value


def _lifelines(treatment: str, code: int, group: pd.DataFrame) -> dict[str, Any]:
    kmf = KaplanMeierFitter().fit(group["t"], group["e"])
    sf = kmf.survival_function_["KM_estimate"]
    ci = kmf.confidence_interval_
    lower, upper = ci.iloc[:, 0], ci.iloc[:, 1]
    medians = median_survival_times(ci)
    med = kmf.median_survival_time_

    def finite(x: float) -> float | None:
        return None if math.isinf(x) or math.isnan(x) else float(x) / 7

    def at(day: int) -> tuple[float, float, float]:
        s = sf[sf.index <= day]
        if len(s) == 0:
            return 1.0, 1.0, 1.0
        t = s.index[-1]
        return float(s.iloc[-1]), float(lower.loc[t]), float(upper.loc[t])

    event_times = kmf.event_table.index[kmf.event_table["observed"] > 0]
    event_times = event_times[event_times > 0]
    curve_s = sf.loc[event_times]
    improved_by = {}
    for label, day in CHECKPOINTS:
        s, lo, hi = at(day)
        improved_by[label] = {"improved": 1 - s, "ci_low": 1 - hi, "ci_high": 1 - lo}
    return {
        "treatment": treatment,
        "measure": MEASURES[code].key,
        "region": MEASURES[code].region,
        "patients": len(group),
        "improved": int(group["e"].sum()),
        "median_weeks": finite(med),
        "median_ci_weeks": [finite(medians.iloc[0, 0]), finite(medians.iloc[0, 1])],
        "improved_by": improved_by,
        "curve": {
            "weeks": (np.asarray(event_times, dtype=float) / 7).tolist(),
            "improved": (1 - curve_s.to_numpy()).tolist(),
            "ci_low": (1 - upper.loc[event_times].to_numpy()).tolist(),
            "ci_high": (1 - lower.loc[event_times].to_numpy()).tolist(),
            "at_risk": kmf.event_table.loc[event_times, "at_risk"].astype(int).tolist(),
        },
    }


TURNBULL_FIELDS = ("median_weeks_turnbull", "improved_by_turnbull")
"""Not in the reference: lifelines' interval-censored fit loops in Python over the unique
intervals every iteration, far too slow at registry size; ``tests/analytics/test_survival``
checks hipspine's Turnbull NPMLE against lifelines on smaller data instead."""


def comparable(ours: Mapping[str, Any], theirs: Mapping[str, Any]) -> dict[str, Any]:
    """hipspine's report data limited to what the reference computes."""
    out = {k: v for k, v in ours.items() if k in theirs}
    out["time_to_improvement"] = [
        {k: v for k, v in row.items() if k not in TURNBULL_FIELDS}
        for row in ours["time_to_improvement"]
    ]
    return out


def differences(a: Any, b: Any, path: str = "", *, tolerance: float = 1e-9) -> list[str]:
    """Where two reports differ (numbers compared with a relative tolerance)."""
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        out = []
        for key in sorted(set(a) | set(b), key=str):
            if key not in a or key not in b:
                out.append(f"{path}.{key}: only in {'first' if key in a else 'second'}")
            else:
                out += differences(a[key], b[key], f"{path}.{key}", tolerance=tolerance)
        return out
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{path}: {len(a)} vs {len(b)} items"]
        out = []
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            out += differences(x, y, f"{path}[{i}]", tolerance=tolerance)
        return out
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        if math.isclose(float(a), float(b), rel_tol=tolerance, abs_tol=tolerance):
            return []
        return [f"{path}: {a!r} vs {b!r}"]
    return [] if a == b else [f"{path}: {a!r} vs {b!r}"]


__all__ = ["comparable", "differences", "report"]

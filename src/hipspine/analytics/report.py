"""The registry report as plain data, computed with DuckDB over the Arrow tables.

:func:`registry_report` answers, for a cohort (:mod:`hipspine.analytics.cohort`):

* responder rates per scheduled time point, measure and treatment, Wilson 95% intervals,
  with the number due and still followed (:mod:`hipspine.analytics.responders`);
* time to first clinically important NPRS improvement per region and treatment, Kaplan–Meier
  with 95% bands and median (:mod:`hipspine.analytics.survival`, estimator and bias there);
* mean scores and mean change from baseline per time point with 95% t intervals;
* recovery reference bands by week (:mod:`hipspine.analytics.bands`);
* change in analgesic use from treatment to 6 months, goal attainment per time point,
  follow-up completeness (answered / due per time point);
* plain-language statements computed from the above (e.g. the clinic's claim that "most people begin to
  have pain reduction three months following their procedures", with its interval).

Every number comes from the registry; nothing is asserted. A pandas implementation of the
same report (:mod:`benchmarks.registry_baseline`) must give the same numbers.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa  # type: ignore[import-untyped]
from scipy import stats  # type: ignore[import-untyped]

from hipspine.analytics import bands, survival
from hipspine.analytics.cohort import Cohort, select
from hipspine.analytics.registry import (
    EPOCH,
    MEASURE_INDEX,
    MEASURES,
    PAIN_REGIONS,
    Registry,
    time_points,
)
from hipspine.analytics.responders import important_change, rated_measures, responder_row, wilson

ALL = "all"
CHECKPOINTS = (("6 weeks", 42), ("3 months", 91), ("6 months", 183), ("12 months", 365))
ANALGESIC_TIME_POINT = "month_6"


@dataclass
class Report:
    """The report's plain data, plus the histograms behind the bands (for patient positions)."""

    data: dict[str, Any]
    histograms: Mapping[tuple[int, int], bands.Histogram] = field(default_factory=dict)
    measurements: pa.Table | None = None
    offsets: np.ndarray | None = None

    def position(self, pid: int) -> list[dict[str, object]]:
        """Where one patient's follow-up scores sit on this report's reference bands."""
        if self.measurements is None or self.offsets is None:
            raise ValueError("this report holds no measurements")
        if not 0 <= pid < len(self.offsets) - 1:
            raise KeyError(f"no patient with index {pid} in this cohort")
        start, stop = int(self.offsets[pid]), int(self.offsets[pid + 1])
        return bands.position(self.histograms, self.measurements.slice(start, stop - start))


def _tp_case(column: str = "day") -> str:
    parts = " ".join(
        f"WHEN {column} BETWEEN {t.lo} AND {t.hi} THEN {k}" for k, t in enumerate(time_points())
    )
    return f"(CASE {parts} END)"


def _target_case(tp: str = "tp") -> str:
    parts = " ".join(f"WHEN {k} THEN {t.target}" for k, t in enumerate(time_points()))
    return f"(CASE {tp} {parts} END)"


def _t_interval(mean: float, sd: float | None, n: int) -> tuple[float | None, float | None]:
    if n < 2 or sd is None or math.isnan(sd):
        return None, None
    half = float(stats.t.ppf(0.975, n - 1)) * sd / math.sqrt(n)
    return mean - half, mean + half


def _connect(registry: Registry) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("SET threads TO 2")
    con.execute("SET enable_progress_bar = false")
    con.register("p", registry.patients)
    con.register("m", registry.measurements)
    con.register("med", registry.medications)
    con.register("g", registry.goal_ratings)
    return con


@dataclass(frozen=True)
class Visits:
    """Per-patient arrays the report is built from (NumPy, aligned with the registry)."""

    tp: np.ndarray  # time point of every measurement row (−1 outside every window)
    base: np.ndarray  # baseline value by pid * 16 + measure (NaN = none)
    rows: np.ndarray  # measurement rows chosen as time-point values (per pid, measure, tp ≥ 1)
    pid: np.ndarray  # of the chosen rows
    measure: np.ndarray
    point: np.ndarray  # time point of the chosen rows
    value: np.ndarray  # float64
    v_base: np.ndarray  # baseline of the chosen rows (NaN = none)
    important: np.ndarray  # per chosen row: clinically important improvement from baseline
    has_base: np.ndarray
    treatment: np.ndarray  # treatment code per pid
    treatments: tuple[str, ...]
    observed: np.ndarray  # days from treatment to the registry date, per pid
    offsets: np.ndarray  # measurement rows of pid i: offsets[i] … offsets[i + 1] − 1


@cache
def _tp_lookup() -> np.ndarray:
    lookup = np.full(1 << 16, -1, dtype=np.int8)
    for k, t in enumerate(time_points()):
        lookup[t.lo + OFFSET : t.hi + OFFSET + 1] = k
    return lookup


OFFSET = 1 << 15
STRIDE = 16  # measures per patient in the baseline index


def prepare(registry: Registry) -> Visits:
    """Assign time points, baselines and time-point values (registry sort order: pid, day, measure).

    Baseline: the latest value in the baseline window. Time-point value: the visit in the
    window closest to the target day, the earlier on a tie. One pass over sorted arrays; the
    tie-breaking sort runs only on the (rare) windows with more than one visit.
    """
    m = registry.measurements
    pid = m.column("pid").to_numpy()
    measure = m.column("measure").to_numpy()
    day = m.column("day").to_numpy()
    value = m.column("value").to_numpy()
    tp = _tp_lookup()[day.astype(np.int32) + OFFSET]
    patients = registry.patients
    size = int(pid.max()) + 1 if len(pid) else 0
    size = max(size, int(patients.column("pid").to_numpy().max()) + 1 if patients.num_rows else 0)

    base = np.full(size * STRIDE, np.nan)
    b = np.nonzero(tp == 0)[0]
    key = pid[b].astype(np.int64) * STRIDE + measure[b]
    if len(key) and np.bincount(key).max() > 1:
        _, last = np.unique(key[::-1], return_index=True)  # rows run in day order: last = latest
        chosen = b[len(b) - 1 - last]
        base[pid[chosen].astype(np.int64) * STRIDE + measure[chosen]] = value[chosen]
    else:
        base[key] = value[b]
    offsets = np.searchsorted(pid, np.arange(size + 1))

    f = _closest(pid, tp, day, measure)
    rows = f
    v_measure = measure[rows]
    v_pid = pid[rows]
    v_base = base[v_pid.astype(np.int64) * STRIDE + v_measure]
    important = np.zeros(len(rows), dtype=bool)
    v_value = value[rows].astype(np.float64)
    for i in rated_measures():
        rule = important_change(MEASURES[i].key)
        assert rule is not None
        sel = v_measure == i
        important[sel] = rule.array(v_base[sel], v_value[sel])
    treatment_column = patients.column("treatment").combine_chunks().dictionary_encode()
    treatments = tuple(treatment_column.dictionary.to_pylist())
    treatment = np.full(size, -1, dtype=np.int16)
    treatment[patients.column("pid").to_numpy()] = treatment_column.indices.to_numpy()
    observed = np.full(size, -(10**9), dtype=np.int64)
    treated = patients.column("treated_on").cast(pa.int32()).fill_null(-(10**9)).to_numpy()
    observed[patients.column("pid").to_numpy()] = (registry.as_of - EPOCH).days - treated
    return Visits(
        tp, base, rows, v_pid, v_measure, tp[rows], v_value, v_base, important, ~np.isnan(v_base),
        treatment, treatments, observed, offsets,
    )  # fmt: skip


def _closest(pid: np.ndarray, tp: np.ndarray, day: np.ndarray, sub: np.ndarray) -> np.ndarray:
    """Rows (tp ≥ 1) holding, per (pid, tp, sub), the value closest to the target day.

    Rows are sorted by pid then day, so each (pid, time point) is one contiguous block; only
    blocks with more than one visit day need the tie-breaking sort.
    """
    f = np.nonzero(tp > 0)[0]
    pf, tf, df = pid[f], tp[f], day[f]
    same_block = (pf[1:] == pf[:-1]) & (tf[1:] == tf[:-1])
    second_day = same_block & (df[1:] != df[:-1])
    if not second_day.any():
        return f
    block = np.cumsum(np.concatenate([[True], ~same_block]))
    crowded = np.zeros(block[-1] + 1, dtype=bool)
    crowded[block[1:][second_day]] = True
    in_crowd = crowded[block]
    chosen = np.nonzero(in_crowd)[0]
    targets = np.array([t.target for t in time_points()])
    distance = np.abs(df[chosen].astype(np.int64) - targets[tf[chosen]]) * 4096 + df[chosen]
    order = chosen[np.lexsort((distance, sub[f[chosen]], block[chosen]))]
    pair = block[order].astype(np.int64) * 256 + sub[f[order]]
    first = np.concatenate([[True], pair[1:] != pair[:-1]])
    keep = ~in_crowd
    keep[order[first]] = True
    return np.asarray(f[keep])


def registry_report(registry: Registry, cohort: Cohort | None = None) -> Report:
    """Compute the complete registry report for ``cohort`` (everyone by default)."""
    cohort = cohort or Cohort()
    chosen = select(registry, cohort)
    visits = prepare(chosen)
    points = time_points()
    data: dict[str, Any] = {
        "as_of": chosen.as_of.isoformat(),
        "cohort": {"filters": cohort.describe(), "patients": chosen.size},
        "time_points": [
            {"id": t.id, "label": t.label, "day": t.target, "window": [t.lo, t.hi]} for t in points
        ],
        "measures": [
            {"key": m.key, "label": m.label, "direction": m.direction.value} for m in MEASURES
        ],
    }
    # NumPy and DuckDB release the GIL: two independent halves of the report run side by side
    with ThreadPoolExecutor(max_workers=2) as pool:
        survival_part = pool.submit(_time_to_improvement, chosen, visits)
        con = _connect(chosen)
        histogram_part = pool.submit(_histograms, con)
        data["responders"] = _responders(chosen, visits)
        data["trajectories"] = _trajectories(chosen, visits)
        data["time_to_improvement"] = survival_part.result()
        hists = histogram_part.result()
    data["bands"] = bands.band_rows(hists)
    seen = _seen(chosen, visits)
    k6 = [t.id for t in points].index(ANALGESIC_TIME_POINT)
    con.register("followed", pa.table({"pid": np.nonzero(seen[:, k6])[0].astype(np.int32)}))
    data["analgesics"] = _analgesics(con)
    data["goals"] = _goals(chosen)
    data["completeness"] = _completeness(chosen, visits, seen)
    data["statements"] = statements(data)
    con.close()
    return Report(data, hists, chosen.measurements, visits.offsets)


def _groups(visits: Visits) -> list[tuple[str, int | None]]:
    return [(ALL, None), *((name, code) for code, name in enumerate(visits.treatments))]


def _responders(registry: Registry, visits: Visits) -> list[dict[str, Any]]:
    points = time_points()
    has = visits.has_base
    important = visits.important[has]
    t_count, width = len(points), len(visits.treatments) + 1
    group = visits.treatment[visits.pid[has]].astype(np.int64) + 1
    key = (group * STRIDE + visits.measure[has]) * t_count + visits.point[has]
    size = width * STRIDE * t_count
    followed = np.bincount(key, minlength=size).reshape(width, STRIDE, t_count)
    responders = np.bincount(key, weights=important, minlength=size).reshape(width, STRIDE, t_count)
    followed[0] = followed[1:].sum(axis=0)
    responders[0] = responders[1:].sum(axis=0)
    have = np.nonzero(~np.isnan(visits.base))[0]
    b_pid, b_measure = have // STRIDE, have % STRIDE
    b_group = visits.treatment[b_pid].astype(np.int64) + 1
    # number of time-point windows closed by the registry date, per baseline
    closes = np.array([t.hi for t in points])
    closed = np.searchsorted(closes, visits.observed[b_pid], side="right")
    tally = np.bincount(
        (b_group * STRIDE + b_measure) * (t_count + 1) + closed,
        minlength=width * STRIDE * (t_count + 1),
    ).reshape(width, STRIDE, t_count + 1)
    tally[0] = tally[1:].sum(axis=0)
    due_by = tally[:, :, ::-1].cumsum(axis=2)[:, :, ::-1]  # due_by[..., k + 1]: closed > k
    out = []
    names = [ALL, *visits.treatments]
    for i in rated_measures():
        for k in range(1, t_count):
            for g in range(width):
                due = int(due_by[g, i, k + 1])
                if followed[g, i, k] == 0 and due == 0:
                    continue
                out.append(
                    responder_row(
                        names[g],
                        i,
                        points[k].id,
                        int(followed[g, i, k]),
                        int(responders[g, i, k]),
                        due,
                    )
                )
    return sorted(out, key=_responder_key)


def _responder_key(row: Mapping[str, Any]) -> tuple[Any, ...]:
    order = [t.id for t in time_points()]
    return (
        row["treatment"] != ALL,
        row["treatment"],
        MEASURE_INDEX[row["measure"]],
        order.index(row["time_point"]),
    )


def _time_to_improvement(registry: Registry, visits: Visits) -> list[dict[str, Any]]:
    m = registry.measurements
    pid = m.column("pid").to_numpy()
    measure = m.column("measure").to_numpy()
    day = m.column("day").to_numpy()
    value = m.column("value").to_numpy().astype(np.float64)
    rows: list[tuple[Any, ...]] = []
    names = visits.treatments
    for region in PAIN_REGIONS:
        code = MEASURE_INDEX[f"nprs:{region}"]
        rule = important_change(MEASURES[code].key)
        assert rule is not None
        sel = np.nonzero((measure == code) & (day > 0))[0]
        base = visits.base[pid[sel].astype(np.int64) * STRIDE + code]
        sel = sel[~np.isnan(base)]
        base = base[~np.isnan(base)]
        p, d = pid[sel], day[sel].astype(np.int64)
        imp = rule.array(base, value[sel])
        last = np.concatenate([p[1:] != p[:-1], [True]]) if len(p) else np.zeros(0, dtype=bool)
        who, last_day = p[last], d[last]
        pe, de = p[imp], d[imp]
        first = np.concatenate([[True], pe[1:] != pe[:-1]]) if len(pe) else np.zeros(0, dtype=bool)
        event_pid, event_day = pe[first], de[first]
        at = np.searchsorted(event_pid, who)
        has_event = np.zeros(len(who), dtype=bool)
        inside = at < len(event_pid)
        has_event[inside] = event_pid[at[inside]] == who[inside]
        t = np.where(
            has_event,
            event_day[np.minimum(at, max(len(event_pid) - 1, 0))] if len(event_pid) else 0,
            last_day,
        )
        group = visits.treatment[who].astype(np.int64)
        for g_name, g_code in _groups(visits):
            mask = np.ones(len(who), dtype=bool) if g_code is None else group == g_code
            if not mask.any():
                continue
            keys, counts = np.unique(t[mask] * 2 + has_event[mask], return_counts=True)
            for key, count in zip(keys, counts, strict=True):
                rows.append((g_name, code, int(key // 2), bool(key % 2), int(count)))
    del names
    return km_summaries(rows)


def km_summaries(rows: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    """One Kaplan–Meier summary per (treatment, measure) from (treatment, measure, t, e, n)."""
    groups: dict[tuple[str, int], list[tuple[Any, ...]]] = {}
    for row in rows:
        groups.setdefault((row[0], int(row[1])), []).append(row)
    out = []
    for (treatment, measure), part in groups.items():
        km = survival.fit(
            [r[2] for r in part], [bool(r[3]) for r in part], [int(r[4]) for r in part]
        )
        summary = survival.curve_summary(km, CHECKPOINTS)
        out.append(
            {
                "treatment": treatment,
                "measure": MEASURES[measure].key,
                "region": MEASURES[measure].region,
                **summary,
            }
        )
    return sorted(
        out, key=lambda r: (r["treatment"] != ALL, r["treatment"], MEASURE_INDEX[r["measure"]])
    )


def _trajectories(registry: Registry, visits: Visits) -> list[dict[str, Any]]:
    t_count = len(time_points())
    value, v_base, has = visits.value, visits.v_base, visits.has_base
    key = visits.measure.astype(np.int64) * t_count + visits.point
    have = np.nonzero(~np.isnan(visits.base))[0]
    b_key = (have % STRIDE) * t_count
    size = STRIDE * t_count
    n, mean, sd = _grouped(key, value, size)
    bn, bmean, bsd = _grouped(b_key, visits.base[have], size)
    cn, cmean, csd = _grouped(key[has], value[has] - v_base[has], size)
    rows: list[tuple[Any, ...]] = []
    for k in np.nonzero((n > 0) | (bn > 0))[0]:
        if k % t_count == 0:
            rows.append((k // t_count, 0, int(bn[k]), bmean[k], bsd[k], 0, None, None))
        else:
            rows.append(
                (k // t_count, k % t_count, int(n[k]), mean[k], sd[k], int(cn[k]), cmean[k], csd[k])
            )
    return trajectory_rows(rows)


def _grouped(
    key: np.ndarray, x: np.ndarray, size: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Count, mean and sample SD per key (two passes, so no cancellation)."""
    n = np.bincount(key, minlength=size)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.bincount(key, weights=x, minlength=size) / n
        squares = np.bincount(key, weights=(x - mean[key]) ** 2, minlength=size)
        sd = np.sqrt(squares / (n - 1))
    return n, mean, np.where(n > 1, sd, np.nan)


def _mean_sd(x: np.ndarray) -> tuple[float | None, float | None]:
    if len(x) == 0:
        return None, None
    mean = float(x.mean())
    return mean, float(x.std(ddof=1)) if len(x) > 1 else None


def trajectory_rows(rows: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    """Rows (measure, tp, n, mean, sd, n_change, mean_change, sd_change) as plain data."""
    points = time_points()
    out = []
    for measure, tp, n, mean, sd, nc, mc, sdc in rows:
        mean, sd = _number(mean), _number(sd)
        mc, sdc = _number(mc), _number(sdc)
        low, high = _t_interval(mean, sd, int(n)) if mean is not None else (None, None)
        c_low, c_high = (None, None) if not nc or mc is None else _t_interval(mc, sdc, int(nc))
        out.append(
            {
                "measure": MEASURES[int(measure)].key,
                "time_point": points[int(tp)].id,
                "n": int(n),
                "mean": mean,
                "ci_low": low,
                "ci_high": high,
                "n_change": int(nc),
                "mean_change": mc if nc else None,
                "change_ci_low": c_low,
                "change_ci_high": c_high,
            }
        )
    order = [t.id for t in points]
    return sorted(out, key=lambda r: (MEASURE_INDEX[r["measure"]], order.index(r["time_point"])))


def _number(x: Any) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


def _histograms(con: duckdb.DuckDBPyConnection) -> dict[tuple[int, int], bands.Histogram]:
    table = con.sql(
        f"""SELECT measure, (day // 7)::INTEGER AS week, value, count(*)::BIGINT AS n FROM m
            WHERE day > 0 AND day < {7 * (bands.MAX_WEEK + 1)} GROUP BY ALL"""
    ).to_arrow_table()
    return bands.histograms(
        table.column("measure").to_numpy(),
        table.column("week").to_numpy(),
        table.column("value").to_numpy(),
        table.column("n").to_numpy(),
    )


def _analgesics(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    points = time_points()
    k = [t.id for t in points].index(ANALGESIC_TIME_POINT)
    day = points[k].target
    row = con.execute(
        f"""WITH use AS (
              SELECT pid,
                sum(CASE WHEN coalesce(start_day, -2147483647) <= 0 AND (stop_day IS NULL OR stop_day > 0)
                    THEN days_per_week ELSE 0 END)::DOUBLE AS d0,
                sum(CASE WHEN coalesce(start_day, -2147483647) <= {day} AND (stop_day IS NULL OR stop_day > {day})
                    THEN days_per_week ELSE 0 END)::DOUBLE AS d1
              FROM med GROUP BY pid),
            SELECT count(*), avg(d0), avg(d1), avg(d1 - d0), stddev_samp(d1 - d0),
                   count(*) FILTER (WHERE d1 = 0), count(*) FILTER (WHERE d1 <= d0 / 2)
            FROM use JOIN followed USING (pid) WHERE d0 > 0"""
    ).fetchall()[0]
    return analgesic_summary(row, points[k].id)


def analgesic_summary(row: tuple[Any, ...], time_point: str) -> dict[str, Any]:
    """Plain data from (n, mean before, mean after, mean change, sd change, stopped, halved)."""
    n, before, after, change, sd, stopped, halved = row
    n = int(n)
    low, high = _t_interval(change, sd, n) if n else (None, None)
    s_rate, s_low, s_high = wilson(int(stopped or 0), n)
    h_rate, h_low, h_high = wilson(int(halved or 0), n)
    return {
        "time_point": time_point,
        "note": "Patients using an analgesic (days a week recorded) at treatment and seen at the time point; days a week of use at treatment and at the time point's target day.",
        "patients": n,
        "days_per_week_before": before,
        "days_per_week_after": after,
        "mean_change": change,
        "change_ci_low": low,
        "change_ci_high": high,
        "stopped": {"rate": s_rate, "ci_low": s_low, "ci_high": s_high},
        "at_least_halved": {"rate": h_rate, "ci_low": h_low, "ci_high": h_high},
    }


def _goals(registry: Registry) -> list[dict[str, Any]]:
    g = registry.goal_ratings
    pid, day, level = (g.column(c).to_numpy() for c in ("pid", "day", "level"))
    tp = _tp_lookup()[day.astype(np.int32) + OFFSET]
    rows = _closest(pid, tp, day, np.zeros(len(pid), dtype=np.int8))
    t_count = len(time_points())
    rated = np.bincount(tp[rows], minlength=t_count)
    attained = np.bincount(tp[rows], weights=level[rows] >= 0, minlength=t_count)
    return goal_rows([(k, int(rated[k]), int(attained[k])) for k in range(1, t_count) if rated[k]])


def goal_rows(rows: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    """Goal attainment (GAS level ≥ 0, the expected outcome or better) per time point."""
    points = time_points()
    out = []
    for tp, n, k in sorted(rows):
        rate, low, high = wilson(int(k), int(n))
        out.append(
            {
                "time_point": points[int(tp)].id,
                "rated": int(n),
                "attained": int(k),
                "rate": rate,
                "ci_low": low,
                "ci_high": high,
            }
        )
    return out


def _seen(registry: Registry, visits: Visits) -> np.ndarray:
    """seen[pid, tp]: the patient has any measurement chosen for that time point."""
    seen = np.zeros((len(visits.observed), len(time_points())), dtype=bool)
    seen[visits.pid, visits.point] = True
    return seen


def _completeness(registry: Registry, visits: Visits, seen: np.ndarray) -> list[dict[str, Any]]:
    pids = registry.patients.column("pid").to_numpy()
    observed = visits.observed[pids]
    row: list[int] = []
    for k, t in enumerate(time_points()):
        if k == 0:
            continue
        due = observed >= t.hi
        row += [int(due.sum()), int((due & seen[pids, k]).sum())]
    return completeness_rows(tuple(row))


def completeness_rows(row: tuple[Any, ...]) -> list[dict[str, Any]]:
    """Answered / due per follow-up time point, from (due, answered) pairs in order."""
    out = []
    for k, t in enumerate(time_points()[1:]):
        due, answered = int(row[2 * k] or 0), int(row[2 * k + 1] or 0)
        rate, low, high = wilson(answered, due)
        out.append(
            {
                "time_point": t.id,
                "due": due,
                "answered": answered,
                "rate": rate,
                "ci_low": low,
                "ci_high": high,
            }
        )
    return out


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.0f}%"


def statements(data: Mapping[str, Any]) -> list[str]:
    """Plain-language sentences backed by the numbers above (with their intervals)."""
    out = []
    for row in data["time_to_improvement"]:
        if row["treatment"] != ALL or row["patients"] == 0:
            continue
        region = "low back" if row["region"] == "lumbar" else "hip"
        by = row["improved_by"]["3 months"]
        median = row["median_weeks"]
        lo, hi = row["median_ci_weeks"]
        med_text = (
            "not reached"
            if median is None
            else f"{median:.1f} weeks (95% CI {'–' if lo is None else f'{lo:.1f}'} to {'–' if hi is None else f'{hi:.1f}'})"
        )
        out.append(
            f"{region.capitalize()} pain: {_pct(by['improved'])} (95% CI {_pct(by['ci_low'])}–{_pct(by['ci_high'])}) "
            f"had a clinically important improvement by 3 months (Kaplan–Meier, {row['patients']} patients); "
            f"median time to first improvement {med_text}, as seen at visits."
        )
    completeness = data["completeness"]
    if completeness:
        parts = ", ".join(f"{c['time_point']} {_pct(c['rate'])}" for c in completeness if c["due"])
        if parts:
            out.append(f"Follow-up completeness (answered / due): {parts}.")
    return out


def as_date(day: int) -> dt.date:
    """Epoch day number → date."""
    return EPOCH + dt.timedelta(days=int(day))


__all__ = ["Report", "registry_report"]

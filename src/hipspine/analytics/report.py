"""The registry report as plain data, computed over the Arrow tables.

The measurements are read once, zero-copy, in blocks of whole patients (NumPy: time points,
baselines, time-point values, responder flags and per-cell sums); time to improvement
is tallied in the same pass; the bands' histograms (DuckDB) run beside it on the second core.

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
import itertools
import math
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.compute as pc  # type: ignore[import-untyped]
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
from hipspine.analytics.responders import (
    important_array,
    important_change,
    rated_measures,
    responder_row,
    wilson,
)
from hipspine.reports.wording import patients, turnbull_weeks

ALL = "all"
CHECKPOINTS = (("6 weeks", 42), ("3 months", 91), ("6 months", 183), ("12 months", 365))
ANALGESIC_TIME_POINT = "month_6"
HISTOGRAM_THREADS = 1  # DuckDB threads for the bands, beside the NumPy passes (2 cores)


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


@dataclass
class Visits:
    """What the report needs from the measurements, tallied in one pass (NumPy).

    Time-point values are the measurement rows chosen per (patient, measure, time point
    ≥ 1); they are tallied per *cell* (treatment group + 1, measure, time point), group 0
    being patients without a treatment (later overwritten by the sum of all groups for
    responders).
    """

    base: np.ndarray  # (patients, STRIDE) float32: baseline value per measure (NaN = none)
    treatment: np.ndarray  # treatment code per pid (−1 = none)
    treatments: tuple[str, ...]
    observed: np.ndarray  # days from treatment to the registry date, per pid
    offsets: np.ndarray  # measurement rows of pid i: offsets[i] … offsets[i + 1] − 1
    seen: np.ndarray  # (patients, time points): any value chosen for that time point
    counts: np.ndarray  # (cells, 4): by has baseline · 2 + important
    value_sum: np.ndarray  # per cell; sums are exact on the score grids
    value_squares: np.ndarray
    change_sum: np.ndarray  # change from baseline (rows with a baseline)
    change_squares: np.ndarray
    base_n: np.ndarray  # per measure: baselines, their sum and sum of squares
    base_sum: np.ndarray
    base_squares: np.ndarray
    due: np.ndarray  # (groups, STRIDE, time points + 1): baselines by windows closed
    km: dict[int, np.ndarray]  # NPRS code → (groups, SPAN): patients by day · 2 + improved
    # NPRS code → (unique keys group · 2³² + L · 2¹⁶ + R, patients): the interval (L, R] in
    # days holding the first important improvement (R = NEVER: censored at L), for Turnbull
    intervals: dict[int, tuple[np.ndarray, np.ndarray]]


@cache
def _tp_lookup() -> np.ndarray:
    """Time point of a day, indexed by the day's 16-bit pattern (−1 outside every window)."""
    lookup = np.full(1 << 16, -1, dtype=np.int8)
    for k, t in enumerate(time_points()):
        lookup[np.arange(t.lo, t.hi + 1, dtype=np.int64) & 0xFFFF] = k
    return lookup


def _time_point(day: np.ndarray) -> np.ndarray:
    """Time point of every day (days fit int16; no widening copy of the column)."""
    return np.asarray(_tp_lookup()[np.ascontiguousarray(day, dtype=np.int16).view(np.uint16)])


STRIDE = 16  # measures per patient in the baseline index
SPAN = 2 << 16  # time to improvement: day (int16) · 2 + event
NEVER = 0xFFFF  # Turnbull interval key: right end "not seen" (days fit int16)
BLOCK_ROWS = 1 << 18  # rows per pass step: temporaries stay in cache and reuse memory


def _column(table: pa.Table, name: str) -> np.ndarray:
    """A column as NumPy, zero-copy when it is one chunk without nulls."""
    column = table.column(name)
    if column.num_chunks == 1:
        return np.asarray(column.chunk(0).to_numpy(zero_copy_only=False))
    return np.asarray(column.to_numpy())


def _offsets(pid: np.ndarray, size: int) -> np.ndarray:
    """offsets[i] … offsets[i + 1] − 1: the rows of patient i (rows sorted by pid)."""
    if not len(pid):
        return np.zeros(size + 1, dtype=np.int64)
    first = np.concatenate([[0], np.flatnonzero(pid[1:] != pid[:-1]) + 1])
    bounds = np.append(first, len(pid))
    return np.asarray(bounds[np.searchsorted(pid[first], np.arange(size + 1), side="left")])


def _treatment_codes(registry: Registry) -> tuple[np.ndarray, tuple[str, ...]]:
    """Treatment code per pid (−1 = none; one entry per pid up to the largest in use)."""
    patients = registry.patients
    patient_pid = _column(patients, "pid")
    m_pid = _column(registry.measurements, "pid")
    size = int(m_pid[-1]) + 1 if len(m_pid) else 0  # sorted by pid
    size = max(size, int(patient_pid.max()) + 1 if patients.num_rows else 0)
    column = patients.column("treatment").combine_chunks().dictionary_encode()
    treatment = np.full(size, -1, dtype=np.int16)
    treatment[patient_pid] = column.indices.to_numpy()
    return treatment, tuple(column.dictionary.to_pylist())


def prepare(registry: Registry) -> Visits:
    """Baselines, time-point values and their tallies (registry sort order: pid, day, measure).

    Baseline: the latest value in the baseline window. Time-point value: the visit in the
    window closest to the target day, the earlier on a tie. One pass over the sorted
    columns in blocks of whole patients (:data:`BLOCK_ROWS` rows), so no temporary the size
    of the registry is made; the tie-breaking sort runs only on the (rare) windows with
    more than one visit day, the baseline de-duplication only on patients with more than one
    baseline visit.
    """
    m = registry.measurements
    pid = _column(m, "pid")
    measure = _column(m, "measure")
    day = _column(m, "day")
    value = _column(m, "value")
    patients = registry.patients
    patient_pid = _column(patients, "pid")
    treatment, treatments = _treatment_codes(registry)
    size = len(treatment)
    offsets = _offsets(pid, size)
    observed = np.full(size, -(10**9), dtype=np.int64)
    treated = patients.column("treated_on").cast(pa.int32()).fill_null(-(10**9)).to_numpy()
    observed[patient_pid] = (registry.as_of - EPOCH).days - treated

    points = time_points()
    t_count, width = len(points), len(treatments) + 1
    cells = width * STRIDE * t_count
    closes = np.array([t.hi for t in points])
    # per patient: (group · STRIDE) · (time points + 1) + windows closed, for the due tally
    due_key = (treatment.astype(np.int64) + 1) * STRIDE * (t_count + 1)
    due_key += np.searchsorted(closes, observed, side="right")
    group_cell = (treatment.astype(np.int64) + 1) * STRIDE * t_count

    base = np.full(size * STRIDE, np.nan, dtype=np.float32)
    seen = np.zeros(size * t_count, dtype=bool)
    counts = np.zeros(4 * cells, dtype=np.int64)
    sums = np.zeros((4, cells))
    b_n = np.zeros(STRIDE, dtype=np.int64)
    b_sums = np.zeros((2, STRIDE))
    due = np.zeros(width * STRIDE * (t_count + 1), dtype=np.int64)
    pain_codes = [MEASURE_INDEX[f"nprs:{region}"] for region in PAIN_REGIONS]
    pain_rules = [important_change(MEASURES[code].key) for code in pain_codes]
    km_keys: dict[int, list[np.ndarray]] = {code: [] for code in pain_codes}
    iv_keys: dict[int, list[np.ndarray]] = {code: [] for code in pain_codes}
    iv_counts: dict[int, list[np.ndarray]] = {code: [] for code in pain_codes}

    cut = np.searchsorted(offsets, np.arange(BLOCK_ROWS, len(pid), BLOCK_ROWS))
    bounds = np.unique(np.concatenate([[0], offsets[cut], [len(pid)]]))
    for r0, r1 in itertools.pairwise(bounds):
        p, ms, d, v = pid[r0:r1], measure[r0:r1], day[r0:r1], value[r0:r1]
        tp = _time_point(d)
        # baselines: one per (pid, measure), the latest in the window
        b = np.flatnonzero(tp == 0)
        pb, mb, db = p[b], ms[b], d[b]
        if ((pb[1:] == pb[:-1]) & ((db[1:] != db[:-1]) | (mb[1:] == mb[:-1]))).any():
            key = pb.astype(np.int64) * STRIDE + mb
            _, last = np.unique(key[::-1], return_index=True)  # day order: last = latest
            b = np.sort(b[len(b) - 1 - last])
            pb, mb = p[b], ms[b]
        bv = v[b]
        b_index = pb.astype(np.int64) * STRIDE + mb
        base[b_index] = bv
        bv64 = bv.astype(np.float64)
        b_n += np.bincount(mb, minlength=STRIDE)
        b_sums[0] += np.bincount(mb, weights=bv64, minlength=STRIDE)
        b_sums[1] += np.bincount(mb, weights=bv64 * bv64, minlength=STRIDE)
        due += np.bincount(due_key[pb] + mb.astype(np.int64) * (t_count + 1), minlength=len(due))

        # time to the first important NPRS improvement, seen at any follow-up visit
        for code, rule in zip(pain_codes, pain_rules, strict=True):
            assert rule is not None
            r = np.flatnonzero((ms == code) & (d > 0))
            sp = p[r]
            sb = base[sp.astype(np.int64) * STRIDE + code].astype(np.float64)
            known = ~np.isnan(sb)
            km_key, iv_key = _first_improvement(
                sp[known],
                d[r[known]],
                rule.array(sb[known], v[r[known]].astype(np.float64)),
                group_cell // (STRIDE * t_count),
            )
            km_keys[code].append(km_key)
            keys, n = np.unique(iv_key, return_counts=True)
            iv_keys[code].append(keys)
            iv_counts[code].append(n)

        # time-point values
        chosen = _closest(p, tp, d, ms)
        cp, cm, ct = p[chosen], ms[chosen], tp[chosen]
        index = cp.astype(np.int64) * STRIDE + cm
        cb = base[index].astype(np.float64)
        cv = v[chosen].astype(np.float64)
        has = ~np.isnan(cb)
        change = cv - cb
        important = important_array(cm, cb, cv)
        cell = group_cell[cp] + cm.astype(np.int64) * t_count + ct
        seen[cp.astype(np.int64) * t_count + ct] = True
        code = cell * 4 + has * 2 + important
        counts += np.bincount(code, minlength=4 * cells)
        change[~has] = 0.0
        sums[0] += np.bincount(cell, weights=cv, minlength=cells)
        sums[1] += np.bincount(cell, weights=cv * cv, minlength=cells)
        sums[2] += np.bincount(cell, weights=change, minlength=cells)
        sums[3] += np.bincount(cell, weights=change * change, minlength=cells)
    # A clinic without a single outcome visit (only imported EHR records) has no blocks.
    km = {
        code: np.bincount(
            np.concatenate([np.zeros(0, np.int64), *keys]), minlength=width * SPAN
        ).reshape(width, SPAN)
        for code, keys in km_keys.items()
    }
    intervals = {}
    for code in pain_codes:
        keys = np.concatenate([np.zeros(0, np.int64), *iv_keys[code]])
        n = np.concatenate([np.zeros(0, np.int64), *iv_counts[code]])
        unique, inverse = np.unique(keys, return_inverse=True)
        intervals[code] = (unique, np.bincount(inverse, weights=n).astype(np.int64))
    return Visits(
        base.reshape(size, STRIDE), treatment, treatments, observed, offsets,
        seen.reshape(size, t_count), counts.reshape(cells, 4), sums[0], sums[1], sums[2],
        sums[3], b_n, b_sums[0], b_sums[1], due.reshape(width, STRIDE, t_count + 1), km,
        intervals,
    )  # fmt: skip


def _first_improvement(
    p: np.ndarray, d: np.ndarray, improved: np.ndarray, group: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per patient (rows sorted by pid, day): group · SPAN + day · 2 + event, where day is
    the first visit with an important improvement, else the last visit (censored); and
    group · 2³² + L · 2¹⁶ + R for Turnbull: R that first visit (NEVER if none),
    L the last visit on an earlier day without one (0 = treatment day; the last visit if
    censored)."""
    if not len(p):
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    last = np.concatenate([p[1:] != p[:-1], [True]])
    who, last_day = p[last], d[last].astype(np.int64)
    pe, de = p[improved], d[improved]
    first = np.concatenate([[True], pe[1:] != pe[:-1]]) if len(pe) else np.zeros(0, dtype=bool)
    event_pid, event_day = pe[first], de[first].astype(np.int64)
    at = np.searchsorted(event_pid, who)
    has_event = np.zeros(len(who), dtype=bool)
    inside = at < len(event_pid)
    has_event[inside] = event_pid[at[inside]] == who[inside]
    t = last_day.copy()
    t[has_event] = event_day[at[has_event]]
    km_key = np.asarray(group[who] * SPAN + t * 2 + has_event)
    # L of an improver: the day of the row before the first improving row's (pid, day) run
    rows = np.flatnonzero(improved)
    first_row = rows[first][at[has_event]]
    new_day = np.concatenate([[True], (p[1:] != p[:-1]) | (d[1:] != d[:-1])])
    run_start = np.maximum.accumulate(np.where(new_day, np.arange(len(p)), 0))[first_row]
    prev = run_start - 1
    same = prev >= 0
    same[same] = p[prev[same]] == p[first_row[same]]
    left = last_day
    left[has_event] = np.where(same, d[np.maximum(prev, 0)], 0)
    right = np.full(len(who), NEVER, dtype=np.int64)
    right[has_event] = event_day[at[has_event]]
    iv_key = group[who].astype(np.int64) << 32 | left << 16 | right
    return km_key, np.asarray(iv_key)


def _closest(pid: np.ndarray, tp: np.ndarray, day: np.ndarray, sub: np.ndarray) -> np.ndarray:
    """Boolean mask of the rows (tp ≥ 1) holding, per (pid, tp, sub), the value closest to
    the target day.

    Rows are sorted by pid then day, so each (pid, time point) is one contiguous block; only
    blocks with more than one visit day need the tie-breaking sort.
    """
    chosen = tp > 0
    if len(tp) < 2:
        return chosen
    same_block = (pid[1:] == pid[:-1]) & (tp[1:] == tp[:-1])
    second_day = same_block & chosen[1:] & (day[1:] != day[:-1])
    if not second_day.any():
        return chosen
    starts = np.flatnonzero(np.concatenate([[True], ~same_block]))
    crowded = np.unique(np.searchsorted(starts, np.flatnonzero(second_day) + 1, "right") - 1)
    lo = starts[crowded]
    hi = np.append(starts, len(tp))[crowded + 1]
    lengths = hi - lo
    block = np.repeat(np.arange(len(lo)), lengths)
    rows = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    rows += np.repeat(lo, lengths)
    targets = np.array([t.target for t in time_points()])
    d = day[rows].astype(np.int64)
    distance = np.abs(d - targets[tp[rows]]) * 4096 + d
    sort = np.lexsort((distance, sub[rows], block))
    order = rows[sort]
    key = block[sort].astype(np.int64) * 256 + sub[order]
    first = np.concatenate([[True], key[1:] != key[:-1]])
    chosen[rows] = False
    chosen[order[first]] = True
    return chosen


def registry_report(registry: Registry, cohort: Cohort | None = None) -> Report:
    """Compute the complete registry report for ``cohort`` (everyone by default).

    Each time-to-improvement row has the Kaplan–Meier estimate at visits (improvement
    counted on the day it was seen) and, since it truly happened somewhere between that
    visit and the one before, the interval-censored Turnbull NPMLE beside it
    (``median_weeks_turnbull``, ``improved_by_turnbull``:
    :func:`hipspine.analytics.survival.turnbull_summary`)."""
    cohort = cohort or Cohort()
    chosen = select(registry, cohort)
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
        # Patients with any outcome measurement: a clinic that has only imported EHR
        # records (diagnoses, medications) has patients but nothing to compare yet.
        "measured_patients": int(pc.count_distinct(chosen.measurements.column("pid")).as_py()),
    }
    # DuckDB releases the GIL: on 2 cores the bands' histograms (DuckDB, one thread) run
    # beside the NumPy pass over the measurements
    with ThreadPoolExecutor(max_workers=1) as pool:
        histogram_part = pool.submit(_histograms, chosen)
        visits = prepare(chosen)
        data["time_to_improvement"] = _time_to_improvement(visits)
        _add_turnbull(data["time_to_improvement"], visits)
        data["responders"] = _responders(visits)
        data["trajectories"] = _trajectories(visits)
        seen = visits.seen
        data["analgesics"] = _analgesics(chosen, seen)
        data["goals"] = _goals(chosen)
        data["completeness"] = _completeness(chosen, visits, seen)
        hists = histogram_part.result()
    data["bands"] = bands.band_rows(hists)
    data["statements"] = statements(data)
    return Report(data, hists, chosen.measurements, visits.offsets)


def _groups(treatments: tuple[str, ...]) -> list[tuple[str, int | None]]:
    return [(ALL, None), *((name, code) for code, name in enumerate(treatments))]


def _responders(visits: Visits) -> list[dict[str, Any]]:
    points = time_points()
    t_count, width = len(points), len(visits.treatments) + 1
    counts = visits.counts.reshape(width, STRIDE, t_count, 4)
    followed = counts[:, :, :, 2:].sum(axis=3)
    responders = counts[:, :, :, 3].copy()
    followed[0] = followed[1:].sum(axis=0)
    responders[0] = responders[1:].sum(axis=0)
    tally_due = visits.due.copy()
    tally_due[0] = tally_due[1:].sum(axis=0)
    due_by = tally_due[:, :, ::-1].cumsum(axis=2)[:, :, ::-1]  # due_by[..., k + 1]: closed > k
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


def _time_to_improvement(visits: Visits) -> list[dict[str, Any]]:
    """Kaplan–Meier counts per region and treatment, from the pass in :func:`prepare`."""
    out: list[tuple[Any, ...]] = []
    for code, tally in visits.km.items():
        for g_name, g_code in _groups(visits.treatments):
            row = tally.sum(axis=0) if g_code is None else tally[g_code + 1]
            for k in np.flatnonzero(row):
                out.append((g_name, code, int(k // 2), bool(k % 2), int(row[k])))
    return km_summaries(out)


def _add_turnbull(rows: list[dict[str, Any]], visits: Visits) -> None:
    """Add the Turnbull NPMLE fields to each Kaplan–Meier row (same region and treatment)."""
    fits: dict[tuple[str, str], dict[str, object]] = {}
    for code, (keys, n) in visits.intervals.items():
        group = keys >> 32
        left = ((keys >> 16) & 0xFFFF).astype(float)
        right = (keys & 0xFFFF).astype(float)
        right[right == NEVER] = np.inf
        for g_name, g_code in _groups(visits.treatments):
            mine = np.ones(len(keys), bool) if g_code is None else group == g_code + 1
            if not mine.any():
                continue
            tb = survival.turnbull(left[mine], right[mine], n[mine])
            fits[(g_name, MEASURES[code].key)] = survival.turnbull_summary(tb, CHECKPOINTS)
    for row in rows:
        extra = fits.get((row["treatment"], row["measure"]))
        if extra is not None:
            row.update(extra)


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


def _trajectories(visits: Visits) -> list[dict[str, Any]]:
    t_count = len(time_points())
    size = STRIDE * t_count
    width = len(visits.treatments) + 1

    def per_measure(x: np.ndarray) -> np.ndarray:
        return np.asarray(x.reshape(width, size, *x.shape[1:]).sum(axis=0))

    counts = per_measure(visits.counts)
    n, cn = counts.sum(axis=1), counts[:, 2:].sum(axis=1)
    mean, sd = _mean_sd_from_sums(
        n, per_measure(visits.value_sum), per_measure(visits.value_squares)
    )
    cmean, csd = _mean_sd_from_sums(
        cn, per_measure(visits.change_sum), per_measure(visits.change_squares)
    )
    bn = np.zeros(size, dtype=np.int64)
    bn[::t_count] = visits.base_n
    bsum, bsquares = np.zeros(size), np.zeros(size)
    bsum[::t_count], bsquares[::t_count] = visits.base_sum, visits.base_squares
    bmean, bsd = _mean_sd_from_sums(bn, bsum, bsquares)
    rows: list[tuple[Any, ...]] = []
    for k in np.nonzero((n > 0) | (bn > 0))[0]:
        if k % t_count == 0:
            rows.append((k // t_count, 0, int(bn[k]), bmean[k], bsd[k], 0, None, None))
        else:
            rows.append(
                (k // t_count, k % t_count, int(n[k]), mean[k], sd[k], int(cn[k]), cmean[k], csd[k])
            )
    return trajectory_rows(rows)


def _mean_sd_from_sums(
    n: np.ndarray, total: np.ndarray, squares: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and sample SD per key from count, sum and sum of squares.

    Scores lie on grids of halves (NPRS, ODI, LEFS whole points, HOOS 2.5), so the sums are
    exact integers/halves in float64 and the only rounding is in the final subtraction
    (relative error ~1e-15 here, against a tolerance of 1e-9 to the two-pass pandas result).
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = total / n
        variance = np.maximum(squares - total * mean, 0.0) / (n - 1)
        sd = np.sqrt(variance)
    return mean, np.where(n > 1, sd, np.nan)


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


def _histograms(registry: Registry) -> dict[tuple[int, int], bands.Histogram]:
    con = duckdb.connect()
    try:
        con.execute(f"SET threads TO {HISTOGRAM_THREADS}")
        con.execute("SET enable_progress_bar = false")
        con.register("m", registry.measurements)
        table = con.sql(
            f"""SELECT measure, (day // 7)::INTEGER AS week, value, count(*)::BIGINT AS n FROM m
                WHERE day > 0 AND day < {7 * (bands.MAX_WEEK + 1)} GROUP BY ALL"""
        ).to_arrow_table()
    finally:
        con.close()
    return bands.histograms(
        table.column("measure").to_numpy(),
        table.column("week").to_numpy(),
        table.column("value").to_numpy(),
        table.column("n").to_numpy(),
    )


def _analgesics(registry: Registry, seen: np.ndarray) -> dict[str, Any]:
    """Days a week of analgesic use at treatment and at the time point, per followed patient."""
    points = time_points()
    k = [t.id for t in points].index(ANALGESIC_TIME_POINT)
    day = points[k].target
    med = registry.medications
    pid = _column(med, "pid").astype(np.int64)
    start = med.column("start_day").fill_null(-2147483647).to_numpy()
    stop_column = med.column("stop_day")
    ongoing = stop_column.is_null().to_numpy(zero_copy_only=False)
    stop = stop_column.fill_null(0).to_numpy()
    days = _column(med, "days_per_week").astype(np.float64)
    size = max(len(seen), int(pid.max()) + 1 if len(pid) else 0)

    def use(at: int) -> np.ndarray:
        active = (start <= at) & (ongoing | (stop > at))
        return np.bincount(pid, weights=np.where(active, days, 0.0), minlength=size)

    d0, d1 = use(0), use(day)
    has_med = np.bincount(pid, minlength=size) > 0
    followed = np.zeros(size, dtype=bool)
    followed[: len(seen)] = seen[:, k]
    keep = has_med & followed & (d0 > 0)
    d0, d1 = d0[keep], d1[keep]
    n = int(keep.sum())
    diff = d1 - d0
    row = (
        n,
        float(d0.mean()) if n else None,
        float(d1.mean()) if n else None,
        float(diff.mean()) if n else None,
        float(diff.std(ddof=1)) if n > 1 else None,
        int((d1 == 0).sum()),
        int((d1 <= d0 / 2).sum()),
    )
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
    tp = _time_point(day)
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


def _completeness(registry: Registry, visits: Visits, seen: np.ndarray) -> list[dict[str, Any]]:
    pids = _column(registry.patients, "pid")
    observed = visits.observed[pids]
    seen_p = seen[pids]
    row: list[int] = []
    for k, t in enumerate(time_points()):
        if k == 0:
            continue
        due = observed >= t.hi
        row += [int(due.sum()), int((due & seen_p[:, k]).sum())]
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
    if data["cohort"]["patients"] and not data["measured_patients"]:
        out.append(
            "None of these patients has a measurement the registry follows yet (pain by "
            "region, questionnaires): responder rates and time to improvement need one at "
            "baseline and at a follow-up visit."
        )
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
            f"had a clinically important improvement by 3 months (Kaplan–Meier, {patients(row['patients'])}); "
            f"median time to first improvement {med_text}, as seen at visits; allowing that "
            f"it happened between visits (Turnbull), {turnbull_weeks(row['median_weeks_turnbull'])}"
            " weeks."
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

"""Recovery reference bands: the cohort's score percentiles by week since treatment.

Like a growth chart: for every measure and whole week after treatment (week = ⌊day / 7⌋)
with at least :data:`MIN_N` scores, the 5th, 10th, 25th, 50th, 75th, 90th and 95th
percentiles of the cohort's scores in that week (linear interpolation between order
statistics, Hyndman & Fan 1996 type 7 — the default of NumPy, pandas and DuckDB's
``quantile_cont``). Every score in the registry lies on a small grid (NPRS whole points,
ODI steps of 2, HOOS steps of 2.5, LEFS whole points), so the percentiles are computed
exactly from per-value counts instead of sorting millions of scores.

:func:`position` places one patient on the bands: for each of their follow-up scores, the
mid-rank percentile in that week's reference distribution (share below + half the share
equal), so "60" means the patient scored higher than about 60% of the cohort that week —
whether that is better or worse depends on the measure's direction, given with it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped]

from hipspine.analytics.registry import MEASURES

PERCENTILES = (5, 10, 25, 50, 75, 90, 95)
MIN_N = 20
MAX_WEEK = 104


@dataclass(frozen=True)
class Histogram:
    """Scores of one (measure, week): distinct values ascending and their counts."""

    values: np.ndarray
    counts: np.ndarray

    @property
    def n(self) -> int:
        return int(self.counts.sum())

    @cached_property
    def _cumulative(self) -> np.ndarray:
        return np.cumsum(self.counts)

    @cached_property
    def band(self) -> dict[str, float]:
        """The reference percentiles (p5 … p95), computed once per histogram."""
        return {f"p{p}": self.quantile(p / 100) for p in PERCENTILES}

    def quantile(self, q: float) -> float:
        """Type-7 quantile: position (n − 1)·q between order statistics, interpolated."""
        cum = self._cumulative
        h = (self.n - 1) * q
        lo = int(np.floor(h))
        x_lo = self.values[np.searchsorted(cum, lo, side="right")]
        x_hi = self.values[np.searchsorted(cum, min(lo + 1, self.n - 1), side="right")]
        return float(x_lo + (h - lo) * (x_hi - x_lo))

    def percentile_rank(self, value: float) -> float:
        """Mid-rank percentile of ``value``: 100 × (below + ½ equal) / n."""
        below = self.counts[self.values < value].sum()
        equal = self.counts[self.values == value].sum()
        return float(100.0 * (below + 0.5 * equal) / self.n)


def histograms(
    measure: np.ndarray, week: np.ndarray, value: np.ndarray, count: np.ndarray
) -> dict[tuple[int, int], Histogram]:
    """Group (measure, week, value, count) rows into histograms, values ascending."""
    order = np.lexsort((value, week, measure))
    measure, week, value, count = measure[order], week[order], value[order], count[order]
    keys = np.stack([measure, week], axis=1)
    cut = np.nonzero(np.any(keys[1:] != keys[:-1], axis=1))[0] + 1
    out = {}
    for start, stop in zip(
        np.concatenate([[0], cut]), np.concatenate([cut, [len(order)]]), strict=True
    ):
        if stop > start:
            out[(int(measure[start]), int(week[start]))] = Histogram(
                value[start:stop].astype(float), count[start:stop]
            )
    return out


def band_rows(hists: Mapping[tuple[int, int], Histogram]) -> list[dict[str, object]]:
    """The reference bands as plain data, one row per (measure, week) with n ≥ MIN_N."""
    rows = []
    for (measure, week), h in sorted(hists.items()):
        if h.n < MIN_N:
            continue
        row: dict[str, object] = {"measure": MEASURES[measure].key, "week": week, "n": h.n}
        for p in PERCENTILES:
            row[f"p{p}"] = h.quantile(p / 100)
        rows.append(row)
    return rows


def position(hists: Mapping[tuple[int, int], Histogram], own: pa.Table) -> list[dict[str, object]]:
    """Where one patient's follow-up scores (``own``: their measurement rows) sit on the bands."""
    out = []
    for measure, day, value in zip(
        own.column("measure").to_pylist(),
        own.column("day").to_pylist(),
        own.column("value").to_pylist(),
        strict=True,
    ):
        if day <= 0:
            continue
        week = day // 7
        h = hists.get((measure, week))
        row: dict[str, object] = {
            "measure": MEASURES[measure].key,
            "direction": MEASURES[measure].direction.value,
            "day": day,
            "week": week,
            "value": value,
        }
        if h is None or h.n < MIN_N:
            row.update(percentile=None, reference_n=0 if h is None else h.n)
        else:
            row.update(
                percentile=h.percentile_rank(value),
                reference_n=h.n,
                band=dict(h.band),
            )
        out.append(row)
    return out

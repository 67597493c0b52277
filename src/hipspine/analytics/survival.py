"""Time to first clinically important improvement: Kaplan–Meier on the visit it was seen.

Improvement is only *seen* at visits, so the true time lies in the interval between the last
visit without it and the first visit with it (interval-censored); patients who leave before
improving are right-censored at their last visit. **Estimator used here:** the Kaplan–Meier
product-limit estimate with the event placed at the visit where improvement was first seen
("right-endpoint imputation"), Greenwood variance and the log(−log) pointwise band
(Kalbfleisch & Prentice 2002; the default of lifelines' ``KaplanMeierFitter``), median time
with the Brookmeyer–Crowley interval read off that band (Brookmeyer & Crowley, Biometrics
1982;38:29-41).

**Bias, stated:** right-endpoint imputation can only make improvement look *later* than it
was — by up to the gap between visits (6 weeks between baseline and the first follow-up,
then 7, 13, 26 and 52 weeks), so the curve is a staircase at the scheduled visits and the
median is an upper bound of the interval-censored median. The Turnbull NPMLE
(Turnbull, JRSS B 1976;38:290-295; lifelines' experimental ``fit_interval_censoring``)
removes that bias but not the uncertainty: with the same visit schedule for everyone it can
only say *between which visits* improvement happened. The report therefore gives, with each
curve, the proportion improved by the scheduled visits (6 weeks, 3, 6, 12 months), where the
two estimators agree up to visit-day scatter. Drop-out is assumed non-informative given the
treatment group; the synthetic registry deliberately breaks that (non-responders leave more
often), as real registries do, so read late curve segments with care.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from hipspine.analytics.responders import Z95


@dataclass(frozen=True)
class KaplanMeier:
    """A Kaplan–Meier estimate of the time to an event, from aggregated counts."""

    times: np.ndarray  # distinct times with an event or a censoring, ascending (days)
    at_risk: np.ndarray
    events: np.ndarray
    censored: np.ndarray
    survival: np.ndarray
    lower: np.ndarray
    upper: np.ndarray

    @property
    def patients(self) -> int:
        return int(self.events.sum() + self.censored.sum())

    def at(self, day: float) -> tuple[float, float, float]:
        """Survival and its band just after ``day`` (1 before the first time)."""
        i = int(np.searchsorted(self.times, day, side="right")) - 1
        if i < 0:
            return 1.0, 1.0, 1.0
        return float(self.survival[i]), float(self.lower[i]), float(self.upper[i])

    def median(self) -> tuple[float | None, float | None, float | None]:
        """Median time and its interval (None where the curve or band never reaches 0.5)."""

        def first(curve: np.ndarray) -> float | None:
            hit = np.nonzero(curve <= 0.5)[0]
            return float(self.times[hit[0]]) if len(hit) else None

        return first(self.survival), first(self.lower), first(self.upper)


def fit(
    times: Sequence[float] | np.ndarray,
    events: Sequence[int] | np.ndarray,
    counts: Sequence[int] | np.ndarray | None = None,
    z: float = Z95,
) -> KaplanMeier:
    """Fit from one row per (time, event flag) with a count (``counts``; 1 each by default)."""
    t = np.asarray(times, dtype=float)
    e = np.asarray(events, dtype=bool)
    c = np.ones(len(t), dtype=np.int64) if counts is None else np.asarray(counts, dtype=np.int64)
    grid, inverse = np.unique(t, return_inverse=True)
    d = np.bincount(inverse, weights=c * e, minlength=len(grid)).astype(np.int64)
    q = np.bincount(inverse, weights=c * ~e, minlength=len(grid)).astype(np.int64)
    leaving = d + q
    n = (
        np.concatenate([[leaving.sum()], leaving.sum() - np.cumsum(leaving)[:-1]])
        if len(grid)
        else leaving
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.cumprod(np.where(n > 0, 1 - d / n, 1.0))
        greenwood = np.cumsum(np.where((n > 0) & (n > d), d / (n * (n - d)), 0.0))
        log_s = np.log(s)
        spread = z * np.sqrt(greenwood) / log_s
        lower = np.exp(-np.exp(np.log(-log_s) - spread))
        upper = np.exp(-np.exp(np.log(-log_s) + spread))
    lower = np.where(s >= 1.0, 1.0, np.where(s <= 0.0, 0.0, lower))
    upper = np.where(s >= 1.0, 1.0, np.where(s <= 0.0, 0.0, upper))
    # lower/upper above are the band of S in lifelines' naming order (upper first); sort
    lo, hi = np.minimum(lower, upper), np.maximum(lower, upper)
    return KaplanMeier(grid, n, d, q, s, lo, hi)


def curve_summary(km: KaplanMeier, checkpoints: Sequence[tuple[str, int]]) -> dict[str, object]:
    """Plain data: the cumulative share improved (1 − S) with its band, median and checkpoints."""
    median, m_low, m_high = km.median()
    at = {}
    for label, day in checkpoints:
        s, lo, hi = km.at(day)
        at[label] = {"improved": 1 - s, "ci_low": 1 - hi, "ci_high": 1 - lo}
    keep = km.events > 0
    return {
        "patients": km.patients,
        "improved": int(km.events.sum()),
        "median_weeks": None if median is None else median / 7,
        "median_ci_weeks": [
            None if m_low is None else m_low / 7,
            None if m_high is None else m_high / 7,
        ],
        "improved_by": at,
        "curve": {
            "weeks": (km.times[keep] / 7).tolist(),
            "improved": (1 - km.survival[keep]).tolist(),
            "ci_low": (1 - km.upper[keep]).tolist(),
            "ci_high": (1 - km.lower[keep]).tolist(),
            "at_risk": km.at_risk[keep].tolist(),
        },
    }


def finite(value: float) -> float | None:
    """A float, or None for NaN (JSON has no NaN)."""
    return None if math.isnan(value) else value

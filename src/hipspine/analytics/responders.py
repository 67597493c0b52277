"""Responder rates per scheduled time point, measure and treatment, with Wilson intervals.

A patient *responds* at a time point when the change from baseline to the visit in that
time point's window is a **clinically important improvement** by the very rule that marks
one patient's trajectory (:mod:`hipspine.clinical.trajectory`): the preferred, *verified*
MCIDs of the instrument or subscale (``instruments.change_thresholds(...).preferred``),
combined as ``data/responders.toml`` says (NPRS and ODI: 2 points / 10 points **and** 30% of
baseline, Ostelo et al., Spine 2008;33:90-94; HOOS pain MCII 24, QoL 17; LEFS 9, Binkley
1999), and, where the instrument has a verified minimal detectable change, the change must
reach it too (a change within measurement error is never clinically important). Measures
without a verified MCID get no responder rate. :class:`ImportantChange`
turns that rule into a vectorised NumPy predicate; a test checks it agrees with the
trajectory code on every (baseline, value) pair of each instrument's grid.

The baseline is the latest value in the baseline window; the time-point value is the visit
in the window closest to the target day (the earlier one on a tie). The rate's denominator
is the number still followed (baseline and a value in the window); ``due`` counts patients
with a baseline whose window had closed by the registry date, so ``followed / due`` shows
how much of the cohort the rate rests on (drop-out is rarely at random: non-responders
leave more often, so completer rates tend to flatter a treatment).

Interval: Wilson score interval (Wilson, J Am Stat Assoc 1927;22:209-212), recommended over
the Wald interval for proportions near 0 or 1 and small n (Brown, Cai & DasGupta, Stat Sci
2001;16:101-133).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

import numpy as np

from hipspine.analytics.registry import MEASURES, Measure
from hipspine.clinical import instruments
from hipspine.clinical.instruments import Direction
from hipspine.clinical.trajectory import _EPSILON, _rules

Z95 = 1.959963984540054


@dataclass(frozen=True)
class ImportantChange:
    """The verified-MCID rule of one measure as a vectorised predicate."""

    measure: Measure
    higher_is_better: bool
    points: tuple[float, ...]
    percents: tuple[float, ...]
    combination: str
    sources: tuple[str, ...]
    mdc: tuple[float, str] | None = None
    """A verified MDC (value, unit) the change must also reach, whatever the combination."""

    def array(self, base: np.ndarray, value: np.ndarray) -> np.ndarray:
        """Clinically important improvement from ``base`` to ``value`` (float64 arrays)."""
        gain = value - base if self.higher_is_better else base - value
        checks = [gain >= p - _EPSILON for p in self.points]
        with np.errstate(divide="ignore", invalid="ignore"):
            relative = gain / np.abs(base) * 100.0
        checks += [np.where(base == 0, gain > 0, relative >= q - _EPSILON) for q in self.percents]
        combined = (
            np.logical_and.reduce(checks)
            if self.combination == "all"
            else np.logical_or.reduce(checks)
        )
        if self.mdc is not None:
            combined = combined & _beyond_error(self.mdc, base, gain)
        return np.asarray((gain > _EPSILON) & combined)


def _beyond_error(mdc: tuple[float, str], base: np.ndarray, gain: np.ndarray) -> np.ndarray:
    """Whether each change reaches a verified MDC (as the trajectory's ``_meets``)."""
    value, unit = mdc
    if unit == "points":
        return np.asarray(gain >= value - _EPSILON)
    with np.errstate(divide="ignore", invalid="ignore"):
        relative = gain / np.abs(base) * 100.0
    return np.asarray(np.where(base == 0, True, relative >= value - _EPSILON))


@cache
def important_change(measure_key: str) -> ImportantChange | None:
    """The rule for one measure, or ``None`` when it has no verified preferred MCID."""
    measure = next(m for m in MEASURES if m.key == measure_key)
    thresholds = instruments.change_thresholds(
        measure.instrument, None if measure.scope == "score" else measure.scope
    )
    verified = [t for t in thresholds.preferred("mcid", "mcii", "mid") if t.verified]
    if not verified:
        return None
    mdc = next(iter(thresholds.preferred("mdc")), None)
    return ImportantChange(
        measure=measure,
        higher_is_better=thresholds.direction is Direction.HIGHER_IS_BETTER,
        points=tuple(t.value for t in verified if t.unit == "points"),
        percents=tuple(t.value for t in verified if t.unit != "points"),
        combination=str(_rules()["mcid"]["combination"]),
        sources=tuple(sorted({t.source for t in verified})),
        mdc=(mdc.value, mdc.unit) if mdc is not None and mdc.verified else None,
    )


def rated_measures() -> tuple[int, ...]:
    """Indices of the measures that have a responder definition."""
    return tuple(i for i, m in enumerate(MEASURES) if important_change(m.key) is not None)


def wilson(
    successes: int, n: int, z: float = Z95
) -> tuple[float | None, float | None, float | None]:
    """Return (proportion, lower, upper) of the Wilson score interval; Nones when n = 0."""
    if n == 0:
        return None, None, None
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return p, max(0.0, centre - half), min(1.0, centre + half)


def responder_row(
    treatment: str, measure: int, tp_id: str, followed: int, responders: int, due: int
) -> dict[str, object]:
    """One row of the responder table, as plain data."""
    rate, low, high = wilson(responders, followed)
    return {
        "treatment": treatment,
        "measure": MEASURES[measure].key,
        "time_point": tp_id,
        "due": due,
        "followed": followed,
        "responders": responders,
        "rate": rate,
        "ci_low": low,
        "ci_high": high,
    }


@cache
def _vector_rules() -> tuple[np.ndarray, ...]:
    """Per measure index: rated, sign of a gain, point and percent thresholds (or ±inf)."""
    all_of = str(_rules()["mcid"]["combination"]) == "all"
    neutral = -np.inf if all_of else np.inf  # a check that does not decide the combination
    rated = np.zeros(256, dtype=bool)
    sign = np.ones(256)
    point = np.full(256, neutral)
    percent = np.full(256, neutral)
    has_percent = np.zeros(256, dtype=bool)
    for i in rated_measures():
        rule = important_change(MEASURES[i].key)
        assert rule is not None
        rated[i] = True
        sign[i] = 1.0 if rule.higher_is_better else -1.0
        pick = max if all_of else min
        if rule.points:
            point[i] = pick(p - _EPSILON for p in rule.points)
        if rule.percents:
            percent[i] = pick(q - _EPSILON for q in rule.percents)
            has_percent[i] = True
    return rated, sign, point, percent, has_percent, np.array(all_of)


def important_array(measure: np.ndarray, base: np.ndarray, value: np.ndarray) -> np.ndarray:
    """:meth:`ImportantChange.array` for rows of mixed measures at once (False if unrated)."""
    rated, sign, point, percent, has_percent, all_of = _vector_rules()
    code = np.asarray(measure).astype(np.uint8)
    gain = (value - base) * sign[code]
    points_ok = gain >= point[code]
    combined = points_ok
    if has_percent.any():
        with np.errstate(divide="ignore", invalid="ignore"):
            relative = gain / np.abs(base) * 100.0
        pct_ok = np.where(base == 0, gain > 0, relative >= percent[code])
        pct_ok = np.where(has_percent[code], pct_ok, bool(all_of))
        combined = (points_ok & pct_ok) if all_of else (points_ok | pct_ok)
    for i in _gated_measures():
        rule = important_change(MEASURES[i].key)
        assert rule is not None and rule.mdc is not None
        mine = code == i
        combined = np.where(mine, combined & _beyond_error(rule.mdc, base, gain), combined)
    return np.asarray((gain > _EPSILON) & combined & rated[code])


def _gated_measures() -> tuple[int, ...]:
    """Measures whose responders must also reach a verified MDC."""
    return tuple(i for i in rated_measures() if important_change(MEASURES[i].key).mdc)  # type: ignore[union-attr]

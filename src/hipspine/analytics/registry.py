"""The registry as analytics sees it: four Arrow tables keyed by a dense patient index.

Both the database loader (:mod:`hipspine.analytics.load`) and the synthetic generator
(:mod:`hipspine.analytics.synth`) produce exactly this shape, so every analysis runs the same
way on a clinic's records and on generated data.

* ``patients`` — one row per patient: ``pid`` (0…n−1), ``clinic``, ``sex``, ``age`` (whole
  years at treatment), ``condition`` (``hip_oa``, ``lumbar_facet``, ``both``, ``other``),
  ``hip_side``, ``facet_side``, ``treatment`` (a procedure type or ``pt_only``), ``target``
  (``hip``, ``facet``, ``hip_and_facet``, ``other``, ``none``), ``kl_grade`` (hip
  Kellgren–Lawrence grade, null when not imaged), ``treated_on`` and ``baseline_pain`` (the
  worst NPRS of any region in the baseline window, null when none).
* ``measurements`` — one row per score: ``pid``, ``measure`` (index into :data:`MEASURES`),
  ``day`` (days since treatment; baseline ≤ 0) and ``value``. Sorted by pid, day, measure.
* ``medications`` — analgesic use periods: ``pid``, ``start_day``, ``stop_day`` (null =
  ongoing), ``days_per_week``.
* ``goal_ratings`` — ``pid``, ``day``, ``level`` (GAS −2 … +2).

Days are counted from the treatment date (first procedure, else the start of the therapy
regimen), the zero of every recovery curve in the orthobiologic follow-up studies.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cache

import pyarrow as pa  # type: ignore[import-untyped]

from hipspine.clinical import instruments
from hipspine.clinical.instruments import Direction
from hipspine.clinical.schedule import default_rules

EPOCH = dt.date(1970, 1, 1)


@dataclass(frozen=True)
class Measure:
    """One analysed score: its key, the instrument and subscale it comes from, its region."""

    key: str
    instrument: str
    scope: str
    label: str
    region: str | None = None

    @property
    def direction(self) -> Direction:
        """Whether a higher value is better or worse (from the instrument's data file)."""
        return instruments.direction(self.instrument)


MEASURES: tuple[Measure, ...] = (
    Measure("nprs:lumbar", "nprs", "score", "Low back pain (NPRS)", "lumbar"),
    Measure("nprs:groin", "nprs", "score", "Hip / groin pain (NPRS)", "groin"),
    Measure("odi", "odi", "score", "Oswestry Disability Index"),
    Measure("hoos:pain", "hoos", "pain", "HOOS pain"),
    Measure("hoos:symptoms", "hoos", "symptoms", "HOOS symptoms"),
    Measure("hoos:adl", "hoos", "adl", "HOOS activities of daily living"),
    Measure("hoos:sport_rec", "hoos", "sport_rec", "HOOS sport and recreation"),
    Measure("hoos:qol", "hoos", "qol", "HOOS quality of life"),
    Measure("lefs", "lefs", "score", "Lower Extremity Functional Scale"),
)
MEASURE_INDEX = {m.key: i for i, m in enumerate(MEASURES)}
PAIN_REGIONS = ("lumbar", "groin")
HOOS_SUBSCALES = ("pain", "symptoms", "adl", "sport_rec", "qol")


@dataclass(frozen=True)
class TimePointWindow:
    """A scheduled time point in days since treatment, with its window [lo, hi] inclusive."""

    id: str
    label: str
    target: int
    lo: int
    hi: int


@cache
def time_points(years: int = 2) -> tuple[TimePointWindow, ...]:
    """Return the follow-up time points of :func:`hipspine.clinical.schedule.default_rules`.

    The schedule counts calendar months; a registry needs one window for every patient, so a
    month is taken as 365.25 / 12 days here (at most 2 days from the calendar date within
    two years, well inside every window). Baseline is the window before treatment.
    """
    out = []
    for rule in default_rules(years=years):
        target = rule.weeks * 7 + round(rule.months * 365.25 / 12)
        out.append(
            TimePointWindow(
                rule.id,
                rule.label,
                target,
                target - rule.window_before_days,
                target + rule.window_after_days,
            )
        )
    return tuple(out)


PATIENT_SCHEMA = pa.schema(
    [
        ("pid", pa.int32()),
        ("clinic", pa.string()),
        ("sex", pa.string()),
        ("age", pa.int16()),
        ("condition", pa.string()),
        ("hip_side", pa.string()),
        ("facet_side", pa.string()),
        ("treatment", pa.string()),
        ("target", pa.string()),
        ("kl_grade", pa.int8()),
        ("treated_on", pa.date32()),
        ("baseline_pain", pa.float32()),
    ]
)
MEASUREMENT_SCHEMA = pa.schema(
    [("pid", pa.int32()), ("measure", pa.int8()), ("day", pa.int16()), ("value", pa.float32())]
)
MEDICATION_SCHEMA = pa.schema(
    [
        ("pid", pa.int32()),
        ("start_day", pa.int32()),
        ("stop_day", pa.int32()),
        ("days_per_week", pa.float32()),
    ]
)
GOAL_SCHEMA = pa.schema([("pid", pa.int32()), ("day", pa.int16()), ("level", pa.int8())])


@dataclass(frozen=True)
class Registry:
    """A registry's patients, measurements, analgesic use and goal ratings, as of a date."""

    patients: pa.Table
    measurements: pa.Table
    medications: pa.Table
    goal_ratings: pa.Table
    as_of: dt.date
    patient_ids: pa.Array | None = None  # database id of each pid, when loaded from a database

    @property
    def size(self) -> int:
        """Number of patients."""
        return int(self.patients.num_rows)


def age_at(birth_days: int, treated_days: int) -> int:
    """Whole years between two epoch-day numbers (365.25-day years), as analytics counts age."""
    return int((treated_days - birth_days) // 365.25)

"""Cohort filters: which patients of the registry a report is about.

A :class:`Cohort` selects patients by condition, side, treatment (procedure type or
``pt_only``), injection target, baseline pain (worst NPRS in the baseline window), hip
Kellgren–Lawrence grade, age, sex, clinic and treatment date range. An empty filter keeps
everyone. Unknown is not a match: a patient without an imaging grade is left out by any
grade filter, and one without a baseline pain rating by any baseline-severity filter.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.compute as pc  # type: ignore[import-untyped]

from hipspine.analytics.registry import Registry

CONDITIONS = ("hip_oa", "lumbar_facet", "both", "other")
TARGETS = ("hip", "facet", "hip_and_facet", "other", "none")
SEXES = ("female", "male", "other", "unknown")
SIDES = ("left", "right", "bilateral")


def _choose(name: str, values: tuple[str, ...] | None, allowed: tuple[str, ...]) -> None:
    for value in values or ():
        if value not in allowed:
            raise ValueError(f"{name}: {value!r} is not one of {', '.join(allowed)}")


@dataclass(frozen=True)
class Cohort:
    """Filters on the registry's patients; ``None`` means "any"."""

    condition: tuple[str, ...] | None = None
    side: tuple[str, ...] | None = None  # side of the hip or of the facets
    treatment: tuple[str, ...] | None = None
    target: tuple[str, ...] | None = None
    baseline_pain_min: float | None = None
    baseline_pain_max: float | None = None
    kl_grade: tuple[int, ...] | None = None
    age_min: int | None = None
    age_max: int | None = None
    sex: tuple[str, ...] | None = None
    clinic: tuple[str, ...] | None = None
    treated_from: dt.date | None = None
    treated_to: dt.date | None = None

    def __post_init__(self) -> None:
        _choose("condition", self.condition, CONDITIONS)
        _choose("target", self.target, TARGETS)
        _choose("sex", self.sex, SEXES)
        _choose("side", self.side, SIDES)
        for grade in self.kl_grade or ():
            if grade not in range(5):
                raise ValueError(f"kl_grade: {grade!r} is not one of 0, 1, 2, 3, 4")

    def describe(self) -> dict[str, Any]:
        """The filters that are set, as plain data."""
        out = {}
        for key, value in asdict(self).items():
            if value is not None:
                out[key] = (
                    value.isoformat()
                    if isinstance(value, dt.date)
                    else list(value)
                    if isinstance(value, tuple)
                    else value
                )
        return out

    def mask(self, patients: pa.Table) -> np.ndarray:
        """Boolean array over ``patients``: True for every patient in the cohort."""
        keep = pa.array(np.ones(patients.num_rows, dtype=bool))

        def both(condition: pa.Array) -> None:
            nonlocal keep
            keep = pc.and_(keep, pc.fill_null(condition, False))

        def among(column: str, values: tuple[Any, ...] | None) -> None:
            if values is not None:
                both(pc.is_in(patients.column(column), value_set=pa.array(list(values))))

        among("condition", self.condition)
        among("treatment", self.treatment)
        among("target", self.target)
        among("sex", self.sex)
        among("clinic", self.clinic)
        if self.kl_grade is not None:
            both(
                pc.is_in(
                    patients.column("kl_grade"), value_set=pa.array(list(self.kl_grade), pa.int8())
                )
            )
        if self.side is not None:
            sides = pa.array(list(self.side))
            both(
                pc.or_(
                    pc.fill_null(pc.is_in(patients.column("hip_side"), value_set=sides), False),
                    pc.fill_null(pc.is_in(patients.column("facet_side"), value_set=sides), False),
                )
            )
        for column, low, high in (
            ("baseline_pain", self.baseline_pain_min, self.baseline_pain_max),
            ("age", self.age_min, self.age_max),
        ):
            if low is not None:
                both(pc.greater_equal(patients.column(column), low))
            if high is not None:
                both(pc.less_equal(patients.column(column), high))
        if self.treated_from is not None:
            both(
                pc.greater_equal(
                    patients.column("treated_on"), pa.scalar(self.treated_from, pa.date32())
                )
            )
        if self.treated_to is not None:
            both(
                pc.less_equal(
                    patients.column("treated_on"), pa.scalar(self.treated_to, pa.date32())
                )
            )
        return np.asarray(keep.to_numpy(zero_copy_only=False), dtype=bool)

    @property
    def is_everyone(self) -> bool:
        return not self.describe()


def select(registry: Registry, cohort: Cohort) -> Registry:
    """The registry restricted to the cohort (patient indices kept, so positions still work)."""
    if cohort.is_everyone:
        return registry
    keep = cohort.mask(registry.patients)

    def rows(table: pa.Table) -> pa.Table:
        return table.filter(pa.array(keep[table.column("pid").to_numpy()]))

    return Registry(
        patients=registry.patients.filter(pa.array(keep)),
        measurements=rows(registry.measurements),
        medications=rows(registry.medications),
        goal_ratings=rows(registry.goal_ratings),
        as_of=registry.as_of,
        patient_ids=registry.patient_ids,
    )

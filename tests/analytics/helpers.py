"""Build tiny registries by hand."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pyarrow as pa

from hipspine.analytics.registry import (
    GOAL_SCHEMA,
    MEASURE_INDEX,
    MEASUREMENT_SCHEMA,
    MEDICATION_SCHEMA,
    PATIENT_SCHEMA,
    Registry,
)
from hipspine.analytics.synth import with_baseline_pain


def patient(pid: int, **fields: Any) -> dict[str, Any]:
    row = {
        "pid": pid,
        "clinic": "c1",
        "sex": "female",
        "age": 50,
        "condition": "both",
        "hip_side": "right",
        "facet_side": "bilateral",
        "treatment": "prp",
        "target": "hip_and_facet",
        "kl_grade": 2,
        "treated_on": dt.date(2024, 1, 1),
        "baseline_pain": None,
    }
    row.update(fields)
    return row


def registry(
    patients: list[dict[str, Any]],
    scores: list[tuple[int, str, int, float]],
    *,
    medications: list[tuple[int, int | None, int | None, float]] = (),  # type: ignore[assignment]
    goals: list[tuple[int, int, int]] = (),  # type: ignore[assignment]
    as_of: dt.date = dt.date(2026, 6, 30),
) -> Registry:
    rows = sorted((p, d, MEASURE_INDEX[m], v) for p, m, d, v in scores)
    measurements = pa.table(
        {
            "pid": [r[0] for r in rows],
            "measure": [r[2] for r in rows],
            "day": [r[1] for r in rows],
            "value": [r[3] for r in rows],
        },
        schema=MEASUREMENT_SCHEMA,
    )
    table = pa.Table.from_pylist(patients, schema=PATIENT_SCHEMA)
    return Registry(
        patients=with_baseline_pain(table, measurements),
        measurements=measurements,
        medications=pa.Table.from_pylist(
            [dict(zip(MEDICATION_SCHEMA.names, m, strict=True)) for m in medications],
            schema=MEDICATION_SCHEMA,
        ),
        goal_ratings=pa.Table.from_pylist(
            [dict(zip(GOAL_SCHEMA.names, g, strict=True)) for g in sorted(goals)],
            schema=GOAL_SCHEMA,
        ),
        as_of=as_of,
    )

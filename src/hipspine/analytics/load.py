"""Database → Arrow: a clinic's records as the four registry tables, read in batches.

DuckDB cannot attach SQLite or PostgreSQL here (its extensions would be downloaded), so the
records are streamed through SQLAlchemy Core (server-side cursor on PostgreSQL) in batches
of ``batch`` rows and turned into Arrow arrays batch by batch; DuckDB then queries the Arrow
tables in memory. Reading the registry is an analyst's bulk read: it is recorded as one
audit entry (action ``export``, resource ``registry``) by the caller that holds the actor,
not one per row.

Mapping (see :mod:`hipspine.analytics.registry` for the result):

* condition: ``hip_osteoarthritis`` → ``hip_oa``, ``lumbar_facet_arthropathy`` →
  ``lumbar_facet``, both → ``both``; other episodes only → ``other``;
* treatment date: the first procedure, else the first therapy regimen, else the first
  episode start; treatment: that procedure's type, else ``pt_only``;
* target: ``hip_joint`` sites → hip, ``facet`` sites → facet, both → ``hip_and_facet``;
* imaging grade: the ``kellgren_lawrence_hip`` finding of imaging encounters (worst side);
* NPRS ratings of the lumbar and groin regions (worst side when a visit rates both sides),
  ODI and LEFS scores, HOOS subscales; every medication recorded with days a week of use;
  goal ratings (GAS) from each goal's ratings.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import orjson
import pyarrow as pa  # type: ignore[import-untyped]
from sqlalchemy import String, cast, select

from hipspine.analytics.registry import (
    EPOCH,
    GOAL_SCHEMA,
    HOOS_SUBSCALES,
    MEASURE_INDEX,
    MEASUREMENT_SCHEMA,
    MEDICATION_SCHEMA,
    PATIENT_SCHEMA,
    Registry,
)
from hipspine.analytics.synth import with_baseline_pain
from hipspine.store.db import Database
from hipspine.store.models import (
    Encounter,
    Episode,
    Goal,
    Medication,
    PainRating,
    Patient,
    Procedure,
    QuestionnaireResponse,
    TherapyRegimen,
)

CONDITION_OF = {"hip_osteoarthritis": "hip", "lumbar_facet_arthropathy": "facet"}


def _rows(database: Database, query: Any, batch: int) -> Iterator[Sequence[Any]]:
    with database.engine.connect() as connection:
        result = connection.execution_options(stream_results=True, yield_per=batch).execute(query)
        yield from result.partitions(batch)


def _days(value: Any) -> int:
    if isinstance(value, str):
        value = dt.date.fromisoformat(value[:10])
    return int((value - EPOCH).days)


def _day_numbers(texts: Sequence[str]) -> np.ndarray:
    """ISO dates (``YYYY-MM-DD``, as both databases render a date as text) → day numbers."""
    days = np.array([t[:10] for t in texts], dtype="datetime64[D]")
    return (days - np.datetime64(EPOCH, "D")).astype(np.int64)


def _json(text: str | None) -> Any:
    # JSON columns are read as text (cast in the query) and parsed here with orjson: several
    # times faster than the JSON type's own json.loads per row.
    return None if text is None else orjson.loads(text)


def load(
    database: Database,
    *,
    clinic_ids: Sequence[str] | None = None,
    as_of: dt.date | None = None,
    batch: int = 50_000,
) -> Registry:
    """Read the registry (optionally only ``clinic_ids``) into Arrow tables.

    Patients are numbered in the order of (identifier, id). ``as_of`` defaults to today and
    decides which follow-up time points are due.
    """

    def scoped(query: Any, model: Any) -> Any:
        return query if clinic_ids is None else query.where(model.clinic_id.in_(list(clinic_ids)))

    ids: list[str] = []
    clinic: list[str] = []
    sex: list[str] = []
    birth: list[int | None] = []
    query = scoped(
        select(Patient.id, Patient.clinic_id, Patient.sex, Patient.birth_date), Patient
    ).order_by(Patient.identifier, Patient.id)
    for part in _rows(database, query, batch):
        for pid, cid, s, b in part:
            ids.append(pid)
            clinic.append(cid)
            sex.append(s)
            birth.append(None if b is None else _days(b))
    n = len(ids)
    id_array = pa.array(ids, pa.string())
    index = {v: i for i, v in enumerate(ids)}

    def pids(values: list[str]) -> np.ndarray:
        return np.fromiter((index[v] for v in values), dtype=np.int32, count=len(values))

    # episodes → condition, sides, first start
    has = np.zeros((n, 2), dtype=bool)
    hip_side: list[str | None] = [None] * n
    facet_side: list[str | None] = [None] * n
    first_episode = np.full(n, np.iinfo(np.int32).max, dtype=np.int64)
    q = scoped(
        select(Episode.patient_id, Episode.condition, Episode.side, Episode.started_on), Episode
    )
    for part in _rows(database, q, batch):
        for patient, condition, side, started in part:
            i = index.get(patient)
            if i is None:
                continue
            first_episode[i] = min(first_episode[i], _days(started))
            kind = CONDITION_OF.get(condition)
            if kind == "hip":
                has[i, 0] = True
                hip_side[i] = side
            elif kind == "facet":
                has[i, 1] = True
                facet_side[i] = side

    # treatment: first procedure, else first regimen
    treated = np.full(n, np.iinfo(np.int32).max, dtype=np.int64)
    treatment: list[str] = ["pt_only"] * n
    target: list[str] = ["none"] * n
    q = scoped(
        select(
            Procedure.patient_id,
            Procedure.type,
            cast(Procedure.targets, String),
            Procedure.performed_on,
        ),
        Procedure,
    )
    for part in _rows(database, q, batch):
        for patient, kind, targets, performed in part:
            i = index.get(patient)
            day = _days(performed)
            if i is None or day >= treated[i]:
                continue
            treated[i] = day
            treatment[i] = kind
            sites = {t.get("site") for t in _json(targets) or []}
            hip, facet = "hip_joint" in sites, "facet" in sites
            target[i] = (
                "hip_and_facet"
                if hip and facet
                else "hip"
                if hip
                else "facet"
                if facet
                else "other"
            )
    no_procedure = treated == np.iinfo(np.int32).max
    regimen = np.full(n, np.iinfo(np.int32).max, dtype=np.int64)
    q = scoped(select(TherapyRegimen.patient_id, TherapyRegimen.started_on), TherapyRegimen)
    for part in _rows(database, q, batch):
        for patient, started in part:
            i = index.get(patient)
            if i is not None:
                regimen[i] = min(regimen[i], _days(started))
    treated = np.where(
        no_procedure, np.where(regimen != np.iinfo(np.int32).max, regimen, first_episode), treated
    )
    known_start = treated != np.iinfo(np.int32).max

    kl = np.full(n, -1, dtype=np.int8)
    q = scoped(
        select(Encounter.patient_id, cast(Encounter.case, String)).where(
            Encounter.kind == "imaging"
        ),
        Encounter,
    )
    for part in _rows(database, q, batch):
        for patient, case in part:
            i = index.get(patient)
            for finding in (_json(case) or {}).get("findings", []) if i is not None else []:
                if (
                    finding.get("finding") == "kellgren_lawrence_hip"
                    and finding.get("value") is not None
                ):
                    kl[i] = max(int(kl[i]), int(finding["value"]))

    condition = np.where(
        has[:, 0] & has[:, 1],
        "both",
        np.where(has[:, 0], "hip_oa", np.where(has[:, 1], "lumbar_facet", "other")),
    )
    birth_days = np.array([np.nan if b is None else b for b in birth], dtype=float)
    age = np.floor((treated - birth_days) / 365.25)
    age_valid = ~np.isnan(age) & known_start
    patients = pa.table(
        {
            "pid": pa.array(np.arange(n, dtype=np.int32)),
            "clinic": pa.array(clinic, pa.string()),
            "sex": pa.array(sex, pa.string()),
            "age": pa.array(np.where(age_valid, age, 0).astype(np.int16), mask=~age_valid),
            "condition": pa.array(condition.tolist(), pa.string()),
            "hip_side": pa.array(hip_side, pa.string()),
            "facet_side": pa.array(facet_side, pa.string()),
            "treatment": pa.array(treatment, pa.string()),
            "target": pa.array(target, pa.string()),
            "kl_grade": pa.array(kl, mask=kl < 0),
            "treated_on": pa.array(
                np.where(known_start, treated, 0).astype(np.int32), mask=~known_start
            ).cast(pa.date32()),
            "baseline_pain": pa.nulls(n, pa.float32()),
        },
        schema=PATIENT_SCHEMA,
    )

    # measurements
    m_pid: list[np.ndarray] = []
    m_measure: list[np.ndarray] = []
    m_day: list[np.ndarray] = []
    m_value: list[np.ndarray] = []

    def add(patient: list[str], measure: Any, day: np.ndarray, value: Any) -> None:
        p = pids(patient)
        d = day - treated[p]
        keep = known_start[p]
        m_pid.append(p[keep])
        m_measure.append(np.asarray(measure, dtype=np.int8)[keep])
        m_day.append(d[keep].astype(np.int16))
        m_value.append(np.asarray(value, dtype=np.float32)[keep])

    # The bulk of the registry: read column by column, dates as ISO text turned into day
    # numbers by NumPy, so no Python date object or JSON document is made per row.
    regions = {"lumbar": MEASURE_INDEX["nprs:lumbar"], "groin": MEASURE_INDEX["nprs:groin"]}
    q = scoped(
        select(
            PainRating.patient_id,
            PainRating.region,
            cast(PainRating.rated_on, String),
            PainRating.intensity,
        ).where(PainRating.region.in_(list(regions))),
        PainRating,
    )
    for part in _rows(database, q, batch):
        patient, region, rated, intensity = zip(*part, strict=True)
        add(list(patient), [regions[r] for r in region], _day_numbers(rated), intensity)
    scores = {"odi": MEASURE_INDEX["odi"], "lefs": MEASURE_INDEX["lefs"]}
    q = scoped(
        select(
            QuestionnaireResponse.patient_id,
            QuestionnaireResponse.instrument,
            cast(QuestionnaireResponse.completed_on, String),
            QuestionnaireResponse.score,
        ).where(
            QuestionnaireResponse.instrument.in_(list(scores)),
            QuestionnaireResponse.score.is_not(None),
        ),
        QuestionnaireResponse,
    )
    for part in _rows(database, q, batch):
        patient, instrument, completed, score = zip(*part, strict=True)
        add(list(patient), [scores[i] for i in instrument], _day_numbers(completed), score)
    q = scoped(
        select(
            QuestionnaireResponse.patient_id,
            cast(QuestionnaireResponse.completed_on, String),
            cast(QuestionnaireResponse.subscales, String),
        ).where(QuestionnaireResponse.instrument == "hoos"),
        QuestionnaireResponse,
    )
    for part in _rows(database, q, batch):
        f_patient: list[str] = []
        f_measure: list[int] = []
        f_day: list[str] = []
        f_value: list[float] = []
        for pid_, completed, subscales in part:
            values = _json(subscales) or {}
            for sub in HOOS_SUBSCALES:
                # stored subscales are {"value": …, "name": …}; older rows hold the number
                found = values.get(sub)
                found = found.get("value") if isinstance(found, dict) else found
                if found is not None:
                    f_patient.append(pid_)
                    f_measure.append(MEASURE_INDEX[f"hoos:{sub}"])
                    f_day.append(completed)
                    f_value.append(float(found))
        add(f_patient, f_measure, _day_numbers(f_day), f_value)
    measurements = _sorted_table(m_pid, m_measure, m_day, m_value)

    # medications with a use pattern
    med_rows: list[tuple[int, int | None, int | None, float]] = []
    q = scoped(
        select(
            Medication.patient_id,
            Medication.started_on,
            Medication.stopped_on,
            Medication.days_per_week,
        ).where(Medication.days_per_week.is_not(None)),
        Medication,
    )
    for part in _rows(database, q, batch):
        for patient, started, stopped, days in part:
            i = index.get(patient)
            if i is None or not known_start[i]:
                continue
            med_rows.append(
                (
                    i,
                    None if started is None else _days(started) - int(treated[i]),
                    None if stopped is None else _days(stopped) - int(treated[i]),
                    float(days),
                )
            )
    med_rows.sort(key=lambda r: (r[0], -(10**9) if r[1] is None else r[1]))
    medications = pa.table(
        {
            "pid": pa.array([r[0] for r in med_rows], pa.int32()),
            "start_day": pa.array([r[1] for r in med_rows], pa.int32()),
            "stop_day": pa.array([r[2] for r in med_rows], pa.int32()),
            "days_per_week": pa.array([r[3] for r in med_rows], pa.float32()),
        },
        schema=MEDICATION_SCHEMA,
    )

    goal_rows: list[tuple[int, int, int]] = []
    for part in _rows(
        database, scoped(select(Goal.patient_id, cast(Goal.ratings, String)), Goal), batch
    ):
        for patient, ratings in part:
            i = index.get(patient)
            if i is None or not known_start[i]:
                continue
            for rating in _json(ratings) or []:
                if rating.get("level") is not None and rating.get("rated_on"):
                    goal_rows.append(
                        (i, _days(rating["rated_on"]) - int(treated[i]), int(rating["level"]))
                    )
    goal_rows.sort()
    goals = pa.table(
        {
            "pid": pa.array([r[0] for r in goal_rows], pa.int32()),
            "day": pa.array([r[1] for r in goal_rows], pa.int16()),
            "level": pa.array([r[2] for r in goal_rows], pa.int8()),
        },
        schema=GOAL_SCHEMA,
    )
    return Registry(
        patients=with_baseline_pain(patients, measurements),
        measurements=measurements,
        medications=medications,
        goal_ratings=goals,
        as_of=as_of or dt.date.today(),
        patient_ids=id_array,
    )


def _sorted_table(
    pid: list[np.ndarray], measure: list[np.ndarray], day: list[np.ndarray], value: list[np.ndarray]
) -> pa.Table:
    if not pid:
        return MEASUREMENT_SCHEMA.empty_table()
    p, m, d, v = (np.concatenate(x) for x in (pid, measure, day, value))
    order = np.lexsort((m, d, p))
    table = pa.table(
        {"pid": p[order], "measure": m[order], "day": d[order], "value": v[order]},
        schema=MEASUREMENT_SCHEMA,
    )
    return _worst_of_duplicates(table)


def _worst_of_duplicates(table: pa.Table) -> pa.Table:
    """Keep one value per (patient, measure, day): the worst, e.g. of a left and right rating."""
    if table.num_rows < 2:
        return table
    p = table.column("pid").to_numpy()
    m = table.column("measure").to_numpy()
    d = table.column("day").to_numpy()
    same = (p[1:] == p[:-1]) & (m[1:] == m[:-1]) & (d[1:] == d[:-1])
    if not same.any():
        return table
    v = table.column("value").to_numpy().copy()
    worse_high = np.isin(
        m, [MEASURE_INDEX["nprs:lumbar"], MEASURE_INDEX["nprs:groin"], MEASURE_INDEX["odi"]]
    )
    # walk runs of duplicates (rare: real data with both sides rated on one day)
    starts = np.concatenate([[True], ~same])
    run = np.cumsum(starts) - 1
    best = np.where(worse_high, v, -v)
    worst = np.full(run[-1] + 1, -np.inf, dtype=np.float64)
    np.maximum.at(worst, run, best)
    keep = starts
    v_out = np.where(worse_high[keep], worst, -worst).astype(np.float32)
    return pa.table(
        {"pid": p[keep], "measure": m[keep], "day": d[keep], "value": v_out},
        schema=MEASUREMENT_SCHEMA,
    )


__all__ = ["load"]

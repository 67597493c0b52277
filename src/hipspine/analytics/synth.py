"""A synthetic hip–spine registry: realistic enough to exercise the analytics, never real.

The assumptions (case mix, sides, ages, treatments and targets, recovery curves by region
with responders and non-responders, visit adherence per scheduled time point, drop-out,
analgesic use, goals) live in ``assumptions.toml`` beside this file, each marked as a
modelling choice or with the study that shaped it.

Patients are generated in fixed chunks (``chunk_patients``), each from its own NumPy
stream seeded by ``(seed, chunk)``: the same seed gives the same registry whether it is
written to SQLite, PostgreSQL or straight to Arrow (:func:`registry`), in any batch size.

:func:`write` inserts the records through the database driver's bulk path (``executemany``
on SQLite, ``COPY`` on PostgreSQL), one transaction per chunk. Synthetic rows are not real
patient data, but they are still written under an actor: one audit entry (action
``synth``) per chunk rather than per row, naming the chunk — a per-row chain of 40 million
entries would say nothing more about who wrote them.
"""

from __future__ import annotations

import datetime as dt
import json
import tomllib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped]

from hipspine.analytics.registry import (
    EPOCH,
    GOAL_SCHEMA,
    HOOS_SUBSCALES,
    MEASURE_INDEX,
    MEASUREMENT_SCHEMA,
    MEASURES,
    MEDICATION_SCHEMA,
    PATIENT_SCHEMA,
    Registry,
    time_points,
)

ASSUMPTIONS = Path(__file__).with_name("assumptions.toml")
CONDITIONS = ("hip_oa", "lumbar_facet", "both")
SIDES = ("left", "right", "bilateral")
TREATMENTS = (
    "corticosteroid",
    "prp",
    "bone_marrow_concentrate",
    "adipose_derived_cells",
    "pt_only",
)
TARGETS = ("hip", "facet", "hip_and_facet")
REGIONS = ("groin", "lumbar")
NO_DAY = np.iinfo(np.int32).min
Progress = Callable[[int, int], None]


@cache
def assumptions() -> dict[str, Any]:
    """Return the documented modelling assumptions (``assumptions.toml``)."""
    with ASSUMPTIONS.open("rb") as handle:
        return tomllib.load(handle)


def _day(text: str) -> int:
    return (dt.date.fromisoformat(text) - EPOCH).days


def as_of() -> dt.date:
    """The date the synthetic registry is observed on (later visits have not happened)."""
    return dt.date.fromisoformat(assumptions()["as_of"])


@dataclass
class Chunk:
    """One chunk of generated patients as NumPy arrays (codes index the tuples above)."""

    index: int
    start: int
    n: int
    clinic: np.ndarray
    female: np.ndarray
    birth: np.ndarray
    age: np.ndarray
    condition: np.ndarray
    hip_side: np.ndarray
    facet_side: np.ndarray
    kl_grade: np.ndarray  # 0 = not imaged
    treatment: np.ndarray
    treated: np.ndarray  # epoch days
    baseline_day: np.ndarray
    # visits: one row per attended visit, values NaN where the measure does not apply
    visit_pid: np.ndarray
    visit_tp: np.ndarray
    visit_day: np.ndarray
    visit_values: np.ndarray  # (visits, len(MEASURES))
    med_pid: np.ndarray
    med_start: np.ndarray
    med_stop: np.ndarray  # NO_DAY = ongoing
    med_days: np.ndarray
    goal_pid: np.ndarray  # one goal per listed patient
    rating_pid: np.ndarray
    rating_day: np.ndarray
    rating_level: np.ndarray

    @property
    def has_hip(self) -> np.ndarray:
        return np.asarray(self.condition != 1)

    @property
    def has_back(self) -> np.ndarray:
        return np.asarray(self.condition != 0)


def _shares(table: dict[str, float], keys: tuple[str, ...]) -> np.ndarray:
    values = np.array([float(table[k]) for k in keys])
    return np.asarray(values / values.sum())


def _grid(values: np.ndarray, step: float, lo: float, hi: float) -> np.ndarray:
    return np.asarray(np.clip(np.round(values / step) * step, lo, hi))


def _chunk(seed: int, index: int, start: int, n: int, clinics: int) -> Chunk:
    a = assumptions()
    rng = np.random.default_rng([seed, index])
    demo = a["demographics"]
    clinic = rng.integers(0, clinics, n)
    female = rng.random(n) < demo["female_share"]
    age_years = np.clip(
        np.round(rng.normal(demo["age_mean"], demo["age_sd"], n)), demo["age_min"], demo["age_max"]
    )
    condition = rng.choice(3, n, p=_shares(a["case_mix"], CONDITIONS))
    hip_side = rng.choice(3, n, p=_shares(a["sides"]["hip"], SIDES))
    facet_side = rng.choice(3, n, p=_shares(a["sides"]["facet"], SIDES))
    kl_p = a["imaging"]["kl_grade"]
    kl_grade = rng.choice(np.array([1, 2, 3, 4]), n, p=_shares(kl_p, ("1", "2", "3", "4")))
    has_hip, has_back = condition != 1, condition != 0
    kl_grade = np.where(has_hip, kl_grade, 0)
    treatment = rng.choice(len(TREATMENTS), n, p=_shares(a["treatment_mix"], TREATMENTS))
    first, last = _day(a["first_treatment"]), _day(a["last_treatment"])
    treated = rng.integers(first, last + 1, n)
    birth = treated - np.floor(age_years * 365.25).astype(np.int64) - rng.integers(0, 365, n)
    age = ((treated - birth) // 365.25).astype(np.int64)
    baseline_day = -rng.integers(0, 22, n)

    base = a["baseline"]
    b_groin = _grid(rng.normal(base["nprs_groin"]["mean"], base["nprs_groin"]["sd"], n), 1, 2, 10)
    b_lumbar = _grid(
        rng.normal(base["nprs_lumbar"]["mean"], base["nprs_lumbar"]["sd"], n), 1, 2, 10
    )
    b_odi = _grid(rng.normal(base["odi"]["mean"], base["odi"]["sd"], n), 2, 4, 100)
    hoos_level = rng.normal(base["hoos"]["mean"], base["hoos"]["sd"], n)
    b_hoos = [_grid(hoos_level + rng.normal(0, 6, n), 2.5, 0, 97.5) for _ in HOOS_SUBSCALES]
    b_lefs = _grid(rng.normal(base["lefs"]["mean"], base["lefs"]["sd"], n), 1, 0, 78)

    # latent response per region
    rec = a["recovery"]
    mods = rec["modifiers"]
    fractions: dict[str, tuple[np.ndarray, ...]] = {}
    responder = np.zeros(n, dtype=bool)
    for region in REGIONS:
        p = np.array([rec[t]["responder"][region] for t in TREATMENTS])[treatment]
        p = p * np.where(age > mods["older_than"], mods["older_responder_factor"], 1.0)
        if region == "groin":
            p = p * np.where(kl_grade == 4, mods["kl4_responder_factor"], 1.0)
        resp = rng.random(n) < p
        gain_mean = np.array([rec[t]["gain"][region] for t in TREATMENTS])[treatment]
        gain = np.where(
            resp,
            np.clip(rng.normal(gain_mean, 0.12), 0.2, 0.95),
            np.clip(rng.normal(mods["non_responder_gain"], 0.06, n), -0.15, 0.25),
        )
        tau = np.array([rec[t]["tau_weeks"][region] for t in TREATMENTS])[treatment]
        tau = tau * np.exp(rng.normal(0, 0.35, n))
        present = has_hip if region == "groin" else has_back
        responder |= resp & present
        fractions[region] = (gain, tau)
    wane_after = np.array([rec[t]["wane_after_weeks"] for t in TREATMENTS], dtype=float)[treatment]
    wane = np.array([rec[t]["wane"] for t in TREATMENTS])[treatment]
    wane_weeks = np.array([rec[t]["wane_weeks"] for t in TREATMENTS], dtype=float)[treatment]

    def share(region: str, day: np.ndarray) -> np.ndarray:
        gain, tau = fractions[region]
        weeks = np.maximum(day, 0) / 7.0
        rise = 1 - np.exp(-weeks / tau[:, None])
        lost = wane[:, None] * np.clip((weeks - wane_after[:, None]) / wane_weeks[:, None], 0, 1)
        return np.asarray(gain[:, None] * rise * (1 - lost))

    # visits
    points = time_points(2)
    visits = a["visits"]
    t_count = len(points)
    days = np.zeros((n, t_count), dtype=np.int64)
    attended = np.zeros((n, t_count), dtype=bool)
    days[:, 0] = baseline_day
    attended[:, 0] = True
    alive = np.ones(n, dtype=bool)
    as_of_day = _day(a["as_of"])
    drop = np.where(
        responder, visits["dropout"], visits["dropout"] * visits["non_responder_dropout_factor"]
    )
    for k, point in enumerate(points[1:], start=1):
        before = round((point.target - point.lo) * 0.6)
        after = round((point.hi - point.target) * 0.6)
        day = point.target + rng.integers(-before, after + 1, n)
        outside = rng.random(n) < visits["outside_window"]
        day = np.where(outside, point.hi + rng.integers(3, 21, n), day)
        days[:, k] = day
        shows = alive & (rng.random(n) < visits["attend"][point.id])
        attended[:, k] = shows & (treated + day <= as_of_day)
        alive &= rng.random(n) >= drop

    sd = base["measurement_sd"]
    f_groin, f_lumbar = share("groin", days), share("lumbar", days)
    followed = days > 0
    f_mean = np.where(
        has_hip[:, None] & has_back[:, None],
        (f_groin + f_lumbar) / 2,
        np.where(has_hip[:, None], f_groin, f_lumbar),
    )

    def noisy(scale: float) -> np.ndarray:
        return np.asarray(rng.normal(0, scale, (n, t_count)) * followed)

    values = np.full((n, t_count, len(MEASURES)), np.nan)
    hip2, back2 = has_hip[:, None], has_back[:, None]
    values[:, :, MEASURE_INDEX["nprs:groin"]] = np.where(
        hip2, _grid(b_groin[:, None] * (1 - f_groin) + noisy(sd["nprs"]), 1, 0, 10), np.nan
    )
    values[:, :, MEASURE_INDEX["nprs:lumbar"]] = np.where(
        back2, _grid(b_lumbar[:, None] * (1 - f_lumbar) + noisy(sd["nprs"]), 1, 0, 10), np.nan
    )
    values[:, :, MEASURE_INDEX["odi"]] = np.where(
        back2, _grid(b_odi[:, None] * (1 - f_lumbar) + noisy(sd["odi"]), 2, 0, 100), np.nan
    )
    for sub, b in zip(HOOS_SUBSCALES, b_hoos, strict=True):
        score = 100 - (100 - b[:, None]) * (1 - f_groin) + noisy(sd["hoos"])
        values[:, :, MEASURE_INDEX[f"hoos:{sub}"]] = np.where(
            hip2, _grid(score, 2.5, 0, 100), np.nan
        )
    lefs = 80 - (80 - b_lefs[:, None]) * (1 - f_mean) + noisy(sd["lefs"])
    values[:, :, MEASURE_INDEX["lefs"]] = _grid(lefs, 1, 0, 80)

    scheduled_attended = attended

    # analgesics: NSAID days a week, changed at the 3-month visit
    an = a["analgesics"]
    user = rng.random(n) < an["nsaid_share"]
    day_choices = np.array([int(k) for k in an["days_per_week"]])
    d0 = rng.choice(day_choices, n, p=_shares(an["days_per_week"], tuple(an["days_per_week"])))
    started = -rng.integers(90, 721, n)
    m3 = [p.id for p in points].index("month_3")
    seen = attended[:, m3]
    d1 = np.clip(np.round(d0 * (1 - 1.3 * f_mean[:, m3])), 0, 7)
    changed = user & seen & (d1 != d0)
    first_pid = np.nonzero(user)[0]
    second_pid = np.nonzero(changed & (d1 > 0))[0]
    med_pid = np.concatenate([first_pid, second_pid])
    med_start = np.concatenate([started[first_pid], days[second_pid, m3]])
    med_stop = np.concatenate(
        [
            np.where(changed[first_pid], days[first_pid, m3], NO_DAY),
            np.full(len(second_pid), NO_DAY),
        ]
    )
    med_days = np.concatenate([d0[first_pid], d1[second_pid]]).astype(float)
    order = np.lexsort((med_start, med_pid))
    med_pid, med_start, med_stop, med_days = (
        med_pid[order] + start, med_start[order], med_stop[order], med_days[order],
    )  # fmt: skip

    # goals: GAS level −2 at baseline, then driven by the share of the problem resolved
    go = a["goals"]
    has_goal = rng.random(n) < go["goal_share"]
    level = np.clip(
        np.round(-2 + 5 * f_mean + rng.normal(0, go["level_noise_sd"], (n, t_count))), -2, 2
    )
    level[:, 0] = -2
    rated = attended & has_goal[:, None]
    r_rows, r_cols = np.nonzero(rated)

    # physiotherapy sessions between the scheduled windows: NPRS of the affected regions
    # and LEFS (drawn last, so the scheduled visits do not depend on them)
    pt = a["pt_sessions"]
    s_target = np.array(pt["days"], dtype=np.int64)
    s_count = len(s_target)
    jitter = int(pt["jitter_days"])
    s_days = s_target[None, :] + rng.integers(-jitter, jitter + 1, (n, s_count))
    s_attended = (rng.random((n, s_count)) < pt["attend"]) & (
        treated[:, None] + s_days <= as_of_day
    )
    for k in range(t_count):  # never on the day of an attended scheduled visit
        s_attended &= ~(scheduled_attended[:, k : k + 1] & (days[:, k : k + 1] == s_days))
    s_groin, s_lumbar = share("groin", s_days), share("lumbar", s_days)
    s_mean = np.where(hip2 & back2, (s_groin + s_lumbar) / 2, np.where(hip2, s_groin, s_lumbar))
    s_values = np.full((n, s_count, len(MEASURES)), np.nan)
    s_values[:, :, MEASURE_INDEX["nprs:groin"]] = np.where(
        hip2,
        _grid(b_groin[:, None] * (1 - s_groin) + rng.normal(0, sd["nprs"], (n, s_count)), 1, 0, 10),
        np.nan,
    )
    s_values[:, :, MEASURE_INDEX["nprs:lumbar"]] = np.where(
        back2,
        _grid(
            b_lumbar[:, None] * (1 - s_lumbar) + rng.normal(0, sd["nprs"], (n, s_count)), 1, 0, 10
        ),
        np.nan,
    )
    s_lefs = 80 - (80 - b_lefs[:, None]) * (1 - s_mean) + rng.normal(0, sd["lefs"], (n, s_count))
    s_values[:, :, MEASURE_INDEX["lefs"]] = _grid(s_lefs, 1, 0, 80)

    all_days = np.concatenate([days, s_days], axis=1)
    rows, cols = np.nonzero(np.concatenate([scheduled_attended, s_attended], axis=1))
    order = np.lexsort((all_days[rows, cols], rows))  # each patient's visits in day order
    rows, cols = rows[order], cols[order]
    visit_pid = (start + rows).astype(np.int32)
    visit_tp = np.where(cols < t_count, cols, -1).astype(np.int8)  # −1: a physio session
    visit_day = all_days[rows, cols].astype(np.int16)
    visit_values = np.concatenate([values, s_values], axis=1)[rows, cols]
    return Chunk(
        index=index,
        start=start,
        n=n,
        clinic=clinic,
        female=female,
        birth=birth,
        age=age,
        condition=condition,
        hip_side=hip_side,
        facet_side=facet_side,
        kl_grade=kl_grade,
        treatment=treatment,
        treated=treated,
        baseline_day=baseline_day,
        visit_pid=visit_pid,
        visit_tp=visit_tp,
        visit_day=visit_day,
        visit_values=visit_values,
        med_pid=med_pid.astype(np.int32),
        med_start=med_start.astype(np.int32),
        med_stop=med_stop.astype(np.int32),
        med_days=med_days,
        goal_pid=(np.nonzero(has_goal)[0] + start).astype(np.int32),
        rating_pid=(r_rows + start).astype(np.int32),
        rating_day=days[r_rows, r_cols].astype(np.int16),
        rating_level=level[r_rows, r_cols].astype(np.int8),
    )


def chunks(patients: int, seed: int, clinics: int = 3) -> Iterator[Chunk]:
    """Yield the registry for ``seed`` chunk by chunk (deterministic for the seed)."""
    if patients < 0:
        raise ValueError(f"patients must be ≥ 0, got {patients}")
    if clinics < 1:
        raise ValueError(f"clinics must be ≥ 1, got {clinics}")
    size = int(assumptions()["chunk_patients"])
    for index, start in enumerate(range(0, patients, size)):
        yield _chunk(seed, index, start, min(size, patients - start), clinics)


def clinic_ids(seed: int, clinics: int) -> list[str]:
    """Deterministic database ids of the synthetic clinics of ``seed``."""
    return _uuids(np.random.default_rng([seed, 2**31]), clinics)


def _uuids(rng: np.random.Generator, n: int) -> list[str]:
    raw = rng.integers(0, 256, size=(n, 16), dtype=np.uint8)
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40  # version 4
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80  # RFC 4122 variant
    h = raw.tobytes().hex()
    return [
        f"{h[i : i + 8]}-{h[i + 8 : i + 12]}-{h[i + 12 : i + 16]}-{h[i + 16 : i + 20]}-{h[i + 20 : i + 32]}"
        for i in range(0, 32 * n, 32)
    ]


# --- straight to Arrow ------------------------------------------------------------------------


def _strings(
    codes: np.ndarray, names: tuple[str, ...], valid: np.ndarray | None = None
) -> pa.Array:
    indices = pa.array(codes.astype(np.int8), mask=None if valid is None else ~valid)
    return pa.DictionaryArray.from_arrays(indices, pa.array(names)).cast(pa.string())


def _patient_table(c: Chunk, clinics: list[str]) -> pa.Table:
    has_hip, has_back = c.has_hip, c.has_back
    treatment_names = TREATMENTS
    target = np.where(c.treatment == TREATMENTS.index("pt_only"), 3, c.condition)
    return pa.table(
        {
            "pid": pa.array(np.arange(c.start, c.start + c.n, dtype=np.int32)),
            "clinic": pa.DictionaryArray.from_arrays(
                pa.array(c.clinic.astype(np.int32)), pa.array(clinics)
            ).cast(pa.string()),
            "sex": _strings(c.female.astype(np.int8), ("male", "female")),
            "age": pa.array(c.age.astype(np.int16)),
            "condition": _strings(c.condition, CONDITIONS),
            "hip_side": _strings(c.hip_side, SIDES, has_hip),
            "facet_side": _strings(c.facet_side, SIDES, has_back),
            "treatment": _strings(c.treatment, treatment_names),
            "target": _strings(target, (*TARGETS, "none")),
            "kl_grade": pa.array(c.kl_grade.astype(np.int8), mask=c.kl_grade == 0),
            "treated_on": pa.array(c.treated.astype(np.int32)).cast(pa.date32()),
            "baseline_pain": pa.nulls(c.n, pa.float32()),
        },
        schema=PATIENT_SCHEMA,
    )


def _measurement_table(c: Chunk) -> pa.Table:
    present = ~np.isnan(c.visit_values)
    rows, measure = np.nonzero(present)  # row-major: by visit (pid, day), then measure
    return pa.table(
        {
            "pid": c.visit_pid[rows],
            "measure": measure.astype(np.int8),
            "day": c.visit_day[rows],
            "value": c.visit_values[rows, measure].astype(np.float32),
        },
        schema=MEASUREMENT_SCHEMA,
    )


def _medication_table(c: Chunk) -> pa.Table:
    return pa.table(
        {
            "pid": c.med_pid,
            "start_day": c.med_start,
            "stop_day": pa.array(c.med_stop, mask=c.med_stop == NO_DAY),
            "days_per_week": c.med_days.astype(np.float32),
        },
        schema=MEDICATION_SCHEMA,
    )


def _goal_table(c: Chunk) -> pa.Table:
    return pa.table(
        {"pid": c.rating_pid, "day": c.rating_day, "level": c.rating_level}, schema=GOAL_SCHEMA
    )


def with_baseline_pain(patients: pa.Table, measurements: pa.Table) -> pa.Table:
    """Fill ``baseline_pain``: the worst NPRS of any region inside the baseline window."""
    baseline = time_points()[0]
    measure = measurements.column("measure").to_numpy()
    day = measurements.column("day").to_numpy()
    pain_codes = [MEASURE_INDEX[f"nprs:{r}"] for r in ("lumbar", "groin")]
    keep = np.isin(measure, pain_codes) & (day >= baseline.lo) & (day <= baseline.hi)
    pid = measurements.column("pid").to_numpy()[keep]
    value = measurements.column("value").to_numpy()[keep]
    worst = np.full(patients.num_rows, -1.0, dtype=np.float32)
    np.maximum.at(worst, pid, value)
    column = pa.array(worst, mask=worst < 0)
    index = patients.schema.get_field_index("baseline_pain")
    return patients.set_column(index, "baseline_pain", column)


def registry(
    patients: int, seed: int, clinics: int = 3, *, progress: Progress | None = None
) -> Registry:
    """Generate the synthetic registry of ``seed`` straight into Arrow (no database).

    The same chunks as :func:`write`, so the result equals loading what :func:`write` stored.
    """
    ids = clinic_ids(seed, clinics)
    parts: dict[str, list[pa.Table]] = {"p": [], "m": [], "med": [], "g": []}
    done = 0
    for c in chunks(patients, seed, len(ids)):
        parts["p"].append(_patient_table(c, ids))
        parts["m"].append(_measurement_table(c))
        parts["med"].append(_medication_table(c))
        parts["g"].append(_goal_table(c))
        done += c.n
        if progress:
            progress(done, patients)

    def concat(key: str, schema: pa.Schema) -> pa.Table:
        tables = parts[key]
        return pa.concat_tables(tables).combine_chunks() if tables else schema.empty_table()

    measurements = concat("m", MEASUREMENT_SCHEMA)
    return Registry(
        patients=with_baseline_pain(concat("p", PATIENT_SCHEMA), measurements),
        measurements=measurements,
        medications=concat("med", MEDICATION_SCHEMA),
        goal_ratings=concat("g", GOAL_SCHEMA),
        as_of=as_of(),
    )


# --- into the database ------------------------------------------------------------------------


def _dates(days: np.ndarray) -> list[str]:
    return list(np.asarray(days, dtype="datetime64[D]").astype(str))


def _chunk_rows(
    c: Chunk, seed: int, clinics: list[str], created: Any
) -> dict[str, tuple[list[str], list[tuple[Any, ...]]]]:
    """The rows of every table for one chunk, as (columns, rows) per table."""
    rng = np.random.default_rng([seed, c.index, 1])
    n = c.n
    pid_local = np.arange(n)
    patient_ids = _uuids(rng, n)
    clinic = [clinics[i] for i in c.clinic]
    common = ["id", "clinic_id", "patient_id", "created_at", "created_by"]
    out: dict[str, tuple[list[str], list[tuple[Any, ...]]]] = {}
    births, baselines, treats = (
        _dates(c.birth),
        _dates(c.treated + c.baseline_day),
        _dates(c.treated),
    )
    out["patient"] = (
        ["id", "clinic_id", "identifier", "name", "birth_date", "sex", "email", "created_at", "updated_at", "version"],
        [
            (patient_ids[i], clinic[i], f"SYN-{seed}-{c.start + i:08d}", f"Synthetic patient {c.start + i}",
             births[i], "female" if c.female[i] else "male", None, created, created, 1)
            for i in range(n)
        ],
    )  # fmt: skip

    # episodes: one per condition; the procedure belongs to the hip episode when there is one
    has_hip, has_back = c.has_hip, c.has_back
    hip_eps = _uuids(rng, n)
    back_eps = _uuids(rng, n)
    episodes = []
    for i in range(n):
        if has_hip[i]:
            episodes.append((hip_eps[i], clinic[i], patient_ids[i], created, None,
                             "hip_osteoarthritis", SIDES[c.hip_side[i]], baselines[i], None, 1))  # fmt: skip
        if has_back[i]:
            episodes.append((back_eps[i], clinic[i], patient_ids[i], created, None,
                             "lumbar_facet_arthropathy", SIDES[c.facet_side[i]], baselines[i], None, 1))  # fmt: skip
    out["episode"] = (
        [*common, "condition", "side", "started_on", "closed_on", "version"],
        episodes,
    )

    imaging_ids = _uuids(rng, n)
    out["encounter"] = (
        [*common, "episode_id", "kind", "occurred_on", "clinician_id", "case", "note", "version"],
        [
            (imaging_ids[i], clinic[i], patient_ids[i], created, None, hip_eps[i], "imaging", baselines[i], None,
             json.dumps({"format": "hipspine.case/1", "visit_date": baselines[i], "findings": [
                 {"finding": "kellgren_lawrence_hip", "side": SIDES[c.hip_side[i]], "value": int(c.kl_grade[i])}]}),
             "synthetic radiograph grade", 1)
            for i in pid_local[has_hip]
        ],
    )  # fmt: skip

    proc_ids = _uuids(rng, n)
    procedures = []
    pt_only = TREATMENTS.index("pt_only")
    for i in range(n):
        if c.treatment[i] == pt_only:
            continue
        targets: list[dict[str, str]] = []
        if has_hip[i]:
            targets.append({"site": "hip_joint", "side": SIDES[c.hip_side[i]]})
        if has_back[i]:
            targets.append({"site": "facet", "level": "L4-L5", "side": SIDES[c.facet_side[i]]})
        procedures.append((proc_ids[i], clinic[i], patient_ids[i], created, None,
                           hip_eps[i] if has_hip[i] else back_eps[i], TREATMENTS[c.treatment[i]],
                           json.dumps(targets), "ultrasound", treats[i], None, None))  # fmt: skip
    out["procedure"] = (
        [
            *common,
            "episode_id",
            "type",
            "targets",
            "guidance",
            "performed_on",
            "operator_id",
            "note",
        ],
        procedures,
    )

    regimen_ids = _uuids(rng, n)
    exercises = json.dumps(
        [{"name": "synthetic home programme", "target_muscles": ["gluteus_maximus", "iliopsoas"]}]
    )
    out["therapy_regimen"] = (
        [*common, "episode_id", "started_on", "exercises", "adherence_percent", "version"],
        [(regimen_ids[i], clinic[i], patient_ids[i], created, None, hip_eps[i] if has_hip[i] else back_eps[i],
          treats[i], exercises, None, 1) for i in range(n)],
    )  # fmt: skip

    # visits → pain ratings and questionnaires
    local = c.visit_pid - c.start
    visit_dates = _dates(c.treated[local] + c.visit_day)
    v = c.visit_values
    pains: list[tuple[Any, ...]] = []
    forms: list[tuple[Any, ...]] = []
    p_ids = iter(_uuids(rng, 2 * len(local)))
    q_ids = iter(_uuids(rng, 3 * len(local)))
    synthetic = json.dumps({"synthetic": True, "generator": "hipspine synth"})
    hoos_cols = [MEASURE_INDEX[f"hoos:{s}"] for s in HOOS_SUBSCALES]
    for k, i in enumerate(local):
        row = v[k]
        when = visit_dates[k]
        for region, side_codes in (("lumbar", c.facet_side), ("groin", c.hip_side)):
            value = row[MEASURE_INDEX[f"nprs:{region}"]]
            if value == value:
                pains.append((next(p_ids), clinic[i], patient_ids[i], created, None, None, region,
                              SIDES[side_codes[i]], int(value), "past week", when))  # fmt: skip
        odi = row[MEASURE_INDEX["odi"]]
        if odi == odi:
            forms.append((next(q_ids), clinic[i], patient_ids[i], created, None, None, "odi", "2.1a", "{}",
                          synthetic, float(odi), "{}", None, when, "synthetic", None))  # fmt: skip
        if row[hoos_cols[0]] == row[hoos_cols[0]]:
            subscales = json.dumps(
                {s: float(row[j]) for s, j in zip(HOOS_SUBSCALES, hoos_cols, strict=True)}
            )
            forms.append((next(q_ids), clinic[i], patient_ids[i], created, None, None, "hoos", "LK2.0", "{}",
                          synthetic, None, subscales, None, when, "synthetic", None))  # fmt: skip
        forms.append((next(q_ids), clinic[i], patient_ids[i], created, None, None, "lefs", "Binkley 1999", "{}",
                      synthetic, float(row[MEASURE_INDEX["lefs"]]), "{}", None, when, "synthetic", None))  # fmt: skip
    out["pain_rating"] = (
        [*common, "encounter_id", "region", "side", "intensity", "recall", "rated_on"],
        pains,
    )
    out["questionnaire_response"] = (
        [*common, "encounter_id", "instrument", "instrument_version", "answers", "context", "score",
         "subscales", "band", "completed_on", "source", "submission_key"],
        forms,
    )  # fmt: skip

    med_local = c.med_pid - c.start
    med_ids = _uuids(rng, len(med_local))
    starts = _dates(c.treated[med_local] + c.med_start)
    stops = _dates(c.treated[med_local] + np.where(c.med_stop == NO_DAY, 0, c.med_stop))
    out["medication"] = (
        [*common, "name", "dose", "pattern", "days_per_week", "indication", "started_on", "stopped_on", "version"],
        [(med_ids[k], clinic[i], patient_ids[i], created, None, "ibuprofen", "400 mg", "as_needed",
          float(c.med_days[k]), "hip and low back pain", starts[k],
          None if c.med_stop[k] == NO_DAY else stops[k], 1) for k, i in enumerate(med_local)],
    )  # fmt: skip

    goal_local = c.goal_pid - c.start
    goal_ids = _uuids(rng, len(goal_local))
    ratings: dict[int, list[dict[str, Any]]] = {int(i): [] for i in goal_local}
    rating_dates = _dates(c.treated[c.rating_pid - c.start] + c.rating_day)
    for k, i in enumerate(c.rating_pid - c.start):
        ratings[int(i)].append({"rated_on": rating_dates[k], "level": int(c.rating_level[k])})
    target_dates = _dates(c.treated[goal_local] + 183)
    out["goal"] = (
        [*common, "description", "target_date", "psfs_activity", "ratings", "version"],
        [(goal_ids[k], clinic[i], patient_ids[i], created, None, "Walk 5 km with elevation gain without pain",
          target_dates[k], None, json.dumps(ratings[int(i)]), 1) for k, i in enumerate(goal_local)],
    )  # fmt: skip
    return out


TABLE_ORDER = (
    "patient", "episode", "encounter", "procedure", "therapy_regimen",
    "pain_rating", "questionnaire_response", "medication", "goal",
)  # fmt: skip


@dataclass(frozen=True)
class SynthResult:
    """What :func:`write` stored: patients, rows per table, batches (= audit entries)."""

    patients: int
    rows: dict[str, int]
    batches: int
    clinics: list[str]


def write(
    database: Any,
    patients: int,
    seed: int,
    clinics: int = 3,
    *,
    into: Sequence[str] | None = None,
    progress: Progress | None = None,
) -> SynthResult:
    """Write the synthetic registry of ``seed`` into ``database`` (a migrated hipspine DB).

    One transaction per chunk, through the driver's bulk path (SQLite ``executemany``,
    PostgreSQL ``COPY``), with one ``synth`` audit entry per chunk under the actor
    ``hipspine synth`` (no user). Raises ``ValueError`` when this seed's registry is already
    in the database.
    """
    from sqlalchemy import select

    from hipspine.store import audit, bulk
    from hipspine.store.audit import Actor
    from hipspine.store.models import Clinic, Patient

    # ``into`` places the cohort in existing clinics (the demo clinic); otherwise synthetic
    # clinics with ids derived from the seed are created.
    ids = list(into) if into else clinic_ids(seed, clinics)
    actor = Actor(user_id=None, role="admin", clinic_id=None, client="hipspine synth")
    created: Any = dt.datetime.now(dt.UTC)
    if database.is_sqlite:
        created = created.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
    with database.transaction() as session:
        if session.execute(
            select(Patient.id).where(Patient.identifier == f"SYN-{seed}-{0:08d}")
        ).first():
            raise ValueError(f"the synthetic registry of seed {seed} is already in this database")
        known = set(session.execute(select(Clinic.id).where(Clinic.id.in_(ids))).scalars())
        if into and known != set(ids):
            raise ValueError(f"no clinic with id {', '.join(sorted(set(ids) - known))}")
        for k, clinic_id in enumerate(ids):
            if clinic_id not in known:
                session.add(Clinic(id=clinic_id, name=f"Synthetic clinic {k + 1} (seed {seed})"))
    rows = dict.fromkeys(TABLE_ORDER, 0)
    done = batches = 0
    for c in chunks(patients, seed, len(ids)):
        tables = _chunk_rows(c, seed, ids, created)
        with database.transaction() as session:
            for name in TABLE_ORDER:
                columns, values = tables[name]
                bulk.insert_tuples(session, name, columns, values)
                rows[name] += len(values)
            audit.record(
                session,
                actor,
                "synth",
                "synthetic_registry",
                resource_id=f"seed {seed} chunk {c.index}",
            )
        batches += 1
        done += c.n
        if progress:
            progress(done, patients)
    return SynthResult(patients, rows, batches, ids)

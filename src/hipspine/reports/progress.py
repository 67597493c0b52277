"""One patient's stored records as the clinical core's measurement series, and their progress.

The pages, the PDF report and ``hipspine report`` all show the same thing: the records of
one patient, read through :class:`~hipspine.store.records.Records` (so every read is
authorised and audited), turned into a ``hipspine.series/1`` document and handed to
:func:`hipspine.clinical.trajectory.trajectory` and the summaries. Nothing is computed
here that the core computes: this module only translates.

Translation rules:

* a visit is every date on which a pain rating, questionnaire, strength or function test
  or goal rating was recorded; the baseline is the earliest such date;
* a pain rating's recall period goes with it (``past week`` → ``past_week``), so mixed
  periods raise the trajectory's caution;
* questionnaire scores and subscales are the ones the core computed when the response
  was saved; PSFS activity names come from the response's ``context.activities``;
* manual muscle testing on an encounter's case counts for that encounter's date;
* a medication record is one period of use (``started_on`` … ``stopped_on``, inclusive)
  with its days a week; a visit lists the periods that cover its date;
* each procedure record is one procedure of the series (its targets in words).
"""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hipspine.clinical.series import CHANGE_INSTRUMENTS, Series, SeriesError, parse_series
from hipspine.clinical.summary import Sentence, clinician_summary, patient_summary
from hipspine.clinical.trajectory import Trajectory, trajectory
from hipspine.clinical.vocabulary import Side, muscles
from hipspine.store.models import (
    Encounter,
    Episode,
    FunctionTest,
    Goal,
    Medication,
    PainRating,
    Patient,
    Procedure,
    QuestionnaireResponse,
    RedFlagAcknowledgement,
    StoredAssessment,
    StrengthTest,
    TherapyRegimen,
)
from hipspine.store.records import Records

PROCEDURE_LABELS = {
    "corticosteroid": "corticosteroid injection",
    "prp": "platelet-rich plasma injection",
    "bone_marrow_concentrate": "bone marrow concentrate injection",
    "adipose_derived_cells": "adipose-derived cell injection",
    "prolotherapy": "prolotherapy",
    "other": "procedure",
}
SITE_LABELS = {
    "hip_joint": "hip joint",
    "facet": "facet joint",
    "sacroiliac_joint": "sacroiliac joint",
    "epidural": "epidural",
    "greater_trochanter": "greater trochanter",
    "iliopsoas_bursa": "iliopsoas bursa",
    "muscle": "muscle",
    "tendon": "tendon",
    "other": "other site",
}
# Drug classes the series distinguishes; anything unlisted is "other", never guessed.
# A combination product takes the first class listed here that it contains, so an opioid
# with paracetamol (hydrocodone/acetaminophen) counts as an opioid.
DRUG_CLASSES = {
    "opioid": ("tramadol", "codeine", "oxycodone", "morphine", "tapentadol", "hydrocodone"),
    "nsaid": (
        "ibuprofen", "naproxen", "diclofenac", "celecoxib", "meloxicam", "etoricoxib",
        "ketoprofen", "aspirin", "acetylsalicylic acid", "nabumetone", "indomethacin",
    ),
    "paracetamol": ("paracetamol", "acetaminophen"),
}  # fmt: skip
FUNCTION_FIELDS = {
    "six_minute_walk": "six_minute_walk_m",
    "chair_stand_30s": "chair_stand_30s",
    "gait_speed": "gait_speed_m_s",
}
_PAGE = 500
RECALL_PERIODS = ("now", "past_24_hours", "past_week")
"""The NPRS recall periods the series distinguishes (a change between them is a caution)."""


def drug_class(name: str) -> str:
    """The series drug class of a medication name (``other`` when not listed): the first
    class of :data:`DRUG_CLASSES` one of whose ingredients is a word of the name."""
    folded = name.strip().casefold()
    for kind, names in DRUG_CLASSES.items():
        if any(re.search(rf"\b{re.escape(n)}\b", folded) for n in names):
            return kind
    return "other"


def procedure_text(procedure: Procedure) -> str:
    """A procedure in words, e.g. 'adipose-derived cell injection into the right hip joint,
    ultrasound-guided'. A procedure of another system (type ``other``) is named by its code's
    display; targets and guidance are said only when recorded."""
    code = procedure.code or {}
    name = str(code.get("display") or "") if procedure.type == "other" else ""
    text = name or PROCEDURE_LABELS.get(procedure.type, procedure.type)
    if targets := targets_text(procedure.targets or []):
        text += f" into the {targets}"
    if procedure.guidance:
        text += f", {procedure.guidance}-guided"
    return text


def targets_text(targets: Sequence[dict[str, Any]]) -> str:
    """A procedure's targets in words, e.g. 'right hip joint; bilateral L4-L5 facet joint'."""
    words = []
    for target in targets:
        parts = [
            target.get("side") or "",
            target.get("level") or "",
            SITE_LABELS.get(target.get("site", ""), target.get("site", "")),
        ]
        text = " ".join(p for p in parts if p)
        if target.get("detail"):
            text += f" ({target['detail']})"
        words.append(text)
    return "; ".join(words)


@dataclass
class PatientFile:
    """Everything stored for one patient, oldest first, as one actor may see it."""

    patient: Patient
    episodes: list[Episode] = field(default_factory=list)
    encounters: list[Encounter] = field(default_factory=list)
    pain: list[PainRating] = field(default_factory=list)
    responses: list[QuestionnaireResponse] = field(default_factory=list)
    strength: list[StrengthTest] = field(default_factory=list)
    function: list[FunctionTest] = field(default_factory=list)
    medications: list[Medication] = field(default_factory=list)
    procedures: list[Procedure] = field(default_factory=list)
    regimens: list[TherapyRegimen] = field(default_factory=list)
    goals: list[Goal] = field(default_factory=list)
    assessments: list[StoredAssessment] = field(default_factory=list)
    acknowledgements: list[RedFlagAcknowledgement] = field(default_factory=list)

    @property
    def intake(self) -> Encounter | None:
        """The first encounter that holds a case document."""
        with_case = [e for e in self.encounters if e.case]
        return min(with_case, key=lambda e: e.occurred_on) if with_case else None

    @property
    def latest_assessment(self) -> StoredAssessment | None:
        """The most recently stored assessment."""
        return self.assessments[-1] if self.assessments else None

    def assessed_visit(self, assessment: Any) -> dt.date:
        """The date of the visit an assessment assessed (its encounter's date).

        An assessment is about the case as recorded at that visit, not about the day it
        was stored; when it has no encounter, the day it was stored.
        """
        for encounter in self.encounters:
            if encounter.id == assessment.encounter_id:
                return encounter.occurred_on
        created: dt.datetime = assessment.created_at
        return created.date()

    def acknowledgement(self, flag: str) -> RedFlagAcknowledgement | None:
        """The latest acknowledgement of the red flag ``flag`` (its id), or None."""
        found = [a for a in self.acknowledgements if a.flag == flag]
        return max(found, key=lambda a: a.created_at) if found else None


def _all(records: Records, model: type[Any], patient_id: str) -> list[Any]:
    items: list[Any] = []
    while True:
        page = records.list(model, patient_id, offset=len(items), limit=_PAGE)
        items.extend(page.items)
        if len(items) >= page.total or not page.items:
            return items


def read_patient_file(records: Records, patient_id: str) -> PatientFile:
    """The patient's whole file (raises ``AccessRefused`` if the actor may not see it)."""
    file = PatientFile(records.patient(patient_id))
    file.episodes = _all(records, Episode, patient_id)
    file.encounters = sorted(_all(records, Encounter, patient_id), key=lambda e: e.occurred_on)
    file.pain = _all(records, PainRating, patient_id)
    file.responses = _all(records, QuestionnaireResponse, patient_id)
    file.strength = _all(records, StrengthTest, patient_id)
    file.function = _all(records, FunctionTest, patient_id)
    file.medications = _all(records, Medication, patient_id)
    file.procedures = sorted(_all(records, Procedure, patient_id), key=lambda p: p.performed_on)
    file.regimens = _all(records, TherapyRegimen, patient_id)
    file.goals = _all(records, Goal, patient_id)
    file.assessments = _all(records, StoredAssessment, patient_id)
    file.acknowledgements = _all(records, RedFlagAcknowledgement, patient_id)
    return file


def _age(birth: dt.date | None, on: dt.date) -> int | None:
    if birth is None:
        return None
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def _medications_on(file: PatientFile, day: dt.date) -> list[dict[str, Any]] | None:
    if not file.medications:
        return None
    active: dict[str, Medication] = {}
    for m in file.medications:
        if m.pattern == "stopped" or m.days_per_week is None:
            continue
        if m.started_on is not None and m.started_on > day:
            continue
        if m.stopped_on is not None and m.stopped_on < day:
            continue
        key = m.name.strip().casefold()
        if key not in active or (m.started_on or dt.date.min) >= (
            active[key].started_on or dt.date.min
        ):
            active[key] = m
    return [
        {
            "name": m.name,
            "drug_class": drug_class(m.name),
            "days_per_week": m.days_per_week,
            **({"dose": m.dose} if m.dose else {}),
        }
        for m in active.values()
    ]


def _recall(stored: str | None) -> str | None:
    # The record's words ("past week") as the series' recall period ("past_week"); one it
    # does not name is left out (the series' default, a week, as before).
    folded = (stored or "").strip().casefold().replace(" ", "_").replace("-", "_")
    return folded if folded in RECALL_PERIODS else None


_SIDES = frozenset(side.value for side in Side)


def series_document(file: PatientFile) -> dict[str, Any] | None:
    """The ``hipspine.series/1`` document of the file, or None when nothing was measured."""
    visits: dict[dt.date, dict[str, Any]] = defaultdict(dict)
    for rating in file.pain:
        pain = visits[rating.rated_on].setdefault("pain", {})
        # A side the record did not give (an imported rating's "unknown") is no side.
        side = rating.side if rating.side in _SIDES else None
        pain[(rating.region, side)] = {
            "region": rating.region,
            "side": side,
            "score": rating.intensity,
            **({"recall": recall} if (recall := _recall(rating.recall)) else {}),
        }
    for response in file.responses:
        visit = visits[response.completed_on]
        if response.instrument == "psfs":
            names = (response.context or {}).get("activities", {})
            ratings = {
                str(names.get(item) or f"Activity {item.rsplit('_', 1)[-1]}"): value
                for item, value in (response.answers or {}).items()
                if isinstance(value, int)
            }
            if ratings:
                visit["psfs"] = ratings
            continue
        if response.instrument not in CHANGE_INSTRUMENTS:
            continue
        form: dict[str, Any] = {"instrument": response.instrument}
        subscales = {
            key: sub.get("value")
            for key, sub in (response.subscales or {}).items()
            if isinstance(sub, dict)
        }
        if subscales:
            form["subscales"] = subscales
        if response.score is not None or not subscales:
            form["score"] = response.score
        visit.setdefault("questionnaires", {})[response.instrument] = form
    for test in file.strength:
        visit = visits[test.tested_on]
        if test.mrc:
            entry = {"muscle": test.muscle, "mrc": test.mrc}
            if test.side:
                entry["side"] = test.side
            visit.setdefault("mmt", {})[(test.muscle, test.side)] = entry
        if test.force and test.action and test.position and test.unit in ("N", "kg"):
            visit.setdefault("dynamometry", []).append(
                {
                    "muscle": test.muscle,
                    "side": test.side if test.side in ("left", "right") else None,
                    "action": test.action,
                    "position": test.position,
                    "force": test.force,
                    "unit": "N" if test.unit == "N" else "kgf",
                    "lever_arm_m": test.lever_arm_m,
                }
            )
    # Manual muscle testing recorded on a case (the examination form) counts for the
    # encounter's date, unless a strength test record gives that muscle on that day.
    for encounter in file.encounters:
        for test in (encounter.case or {}).get("strength", []):
            mmt = visits[encounter.occurred_on].setdefault("mmt", {})
            mmt.setdefault(
                (test["muscle"], test.get("side")),
                {k: test[k] for k in ("muscle", "side", "mrc") if test.get(k) is not None},
            )
    for f in file.function:
        value: float | int = int(f.value) if f.test == "chair_stand_30s" else f.value
        visits[f.tested_on].setdefault("function", {})[FUNCTION_FIELDS[f.test]] = value
    goals: list[tuple[Goal, dt.date]] = []
    for goal in file.goals:
        if goal.target_date is None:
            continue
        for rating in goal.ratings or ():
            day = dt.date.fromisoformat(str(rating["rated_on"]))
            visits[day].setdefault("goal_ratings", {})[goal.id] = rating["level"]
        goals.append((goal, goal.target_date))
    if not visits:
        return None
    baseline = min(visits)
    intake = file.intake
    case_patient = (intake.case or {}).get("patient", {}) if intake else {}
    patient: dict[str, Any] = {"id": file.patient.identifier or file.patient.id}
    age = _age(file.patient.birth_date, baseline)
    if age is not None:
        patient["age"] = age
    patient["sex"] = file.patient.sex
    for key in ("height_cm", "weight_kg"):
        if case_patient.get(key) is not None:
            patient[key] = case_patient[key]
    labels = {e.occurred_on: e.note for e in file.encounters if e.note and len(e.note) <= 60}
    document_visits = []
    for day in sorted(visits):
        v = visits[day]
        record: dict[str, Any] = {"date": day.isoformat()}
        if labels.get(day):
            record["label"] = labels[day]
        if "pain" in v:
            record["pain"] = list(v["pain"].values())
        if "questionnaires" in v:
            record["questionnaires"] = list(v["questionnaires"].values())
        for key in ("psfs", "function", "goal_ratings", "dynamometry"):
            if key in v:
                record[key] = v[key]
        if "mmt" in v:
            record["mmt"] = list(v["mmt"].values())
        medications = _medications_on(file, day)
        if medications is not None:
            record["medications"] = medications
        document_visits.append(record)
    return {
        "format": "hipspine.series/1",
        "patient": patient,
        "baseline_date": baseline.isoformat(),
        "procedures": [
            {
                "date": p.performed_on.isoformat(),
                "type": PROCEDURE_LABELS.get(p.type, p.type),
                "target": targets_text(p.targets) or "unspecified",
                **({"guidance": p.guidance} if p.guidance else {}),
            }
            for p in file.procedures
        ],
        "goals": [
            {
                "id": g.id,
                "description": g.description,
                "set_on": min(baseline, target).isoformat(),
                "target_date": target.isoformat(),
                **({"psfs_activity": g.psfs_activity} if g.psfs_activity else {}),
            }
            for g, target in goals
        ],
        "visits": document_visits,
    }


@dataclass(frozen=True)
class Progress:
    """The core's trajectory of a patient and its two summaries."""

    series: Series
    trajectory: Trajectory
    clinician: tuple[Sentence, ...]
    patient: tuple[Sentence, ...]


def progress(file: PatientFile, today: dt.date) -> Progress | None:
    """The patient's progress on ``today``; None when nothing was measured yet.

    Raises :class:`~hipspine.clinical.series.SeriesError` if stored records do not make a
    valid series (e.g. a visit recorded after ``today``).
    """
    document = series_document(file)
    if document is None:
        return None
    series = parse_series(document)
    last = max(v.date for v in series.visits)
    result = trajectory(series, today=max(today, last))
    return Progress(series, result, clinician_summary(result), patient_summary(result))


def muscle_label(muscle_id: str) -> str:
    """A muscle's label from the vocabulary."""
    found = muscles().get(muscle_id)
    return found.label if found else muscle_id.replace("_", " ")


__all__ = [
    "PatientFile",
    "Progress",
    "SeriesError",
    "drug_class",
    "progress",
    "read_patient_file",
    "series_document",
    "targets_text",
]


_CLINIC_TABLES: dict[str, type[Any]] = {
    "episodes": Episode,
    "encounters": Encounter,
    "pain": PainRating,
    "responses": QuestionnaireResponse,
    "strength": StrengthTest,
    "function": FunctionTest,
    "medications": Medication,
    "procedures": Procedure,
    "regimens": TherapyRegimen,
    "goals": Goal,
    "acknowledgements": RedFlagAcknowledgement,
}


@dataclass(frozen=True)
class _ListedAssessment:
    # The part of a stored assessment the list needs (its whole result is ~30 kB of JSON).
    id: str
    encounter_id: str | None
    created_at: dt.datetime
    result: dict[str, Any]


def _fingerprints(session: Any, clinic_id: str) -> dict[str, tuple[Any, ...]]:
    # Per patient of the clinic, a value that changes whenever one of their records is
    # added, changed (versioned records) or deleted: per table, the count, the newest
    # creation and the sum of versions.
    from sqlalchemy import func, select

    prints: dict[str, list[Any]] = {}
    models: tuple[type[Any], ...] = (Patient, StoredAssessment, *_CLINIC_TABLES.values())
    for model in models:
        c = model.__table__.c
        key = c.id if model is Patient else c.patient_id
        aggregates = [func.count(), func.max(c.created_at)]
        if "version" in c:
            aggregates.append(func.sum(c.version))
        for row in session.execute(
            select(key, *aggregates).where(c.clinic_id == clinic_id).group_by(key)
        ):
            prints.setdefault(row[0], []).append((model.__tablename__, *row[1:]))
    return {pid: tuple(parts) for pid, parts in prints.items() if parts[0][0] == "patient"}


def _clinic_files(
    session: Any, clinic_id: str, patient_ids: Sequence[str] | None = None
) -> dict[str, PatientFile]:
    # Plain rows (not ORM objects: a third of the time) with the models' attribute names;
    # the translation above only reads attributes. ``patient_ids`` limits the patients.
    from sqlalchemy import case, null, select

    def mine(c: Any, key: Any) -> Any:
        where = c.clinic_id == clinic_id
        return where if patient_ids is None else where & key.in_(list(patient_ids))

    patients = Patient.__table__
    files = {
        row.id: PatientFile(row)
        for row in session.execute(select(patients).where(mine(patients.c, patients.c.id)))
    }
    for attribute, model in _CLINIC_TABLES.items():
        table = model.__table__
        columns = list(table.c)
        if model is QuestionnaireResponse:
            # Answers and context are read for the PSFS only (activity names); parsing
            # them for every response was a third of the list's time.
            psfs = table.c.instrument == "psfs"
            columns = [
                case((psfs, col), else_=null()).label(col.name)
                if col.name in ("answers", "context")
                else col
                for col in columns
            ]
        rows = session.execute(
            select(*columns)
            .where(mine(table.c, table.c.patient_id))
            .order_by(table.c.created_at, table.c.id)
        )
        for row in rows:
            if row.patient_id in files:
                getattr(files[row.patient_id], attribute).append(row)
    c = StoredAssessment.__table__.c
    for row in session.execute(
        select(
            c.id,
            c.patient_id,
            c.encounter_id,
            c.created_at,
            c.result["red_flags"].label("red_flags"),
            c.result["unscreened_red_flags"].label("unscreened"),
            c.result[("conclusion", "label")].label("conclusion"),
        )
        .where(mine(c, c.patient_id))
        .order_by(c.created_at, c.id)
    ):
        if row.patient_id in files:
            result = {
                "red_flags": row.red_flags or [],
                "unscreened_red_flags": row.unscreened or [],
                "conclusion": {"label": row.conclusion},
            }
            listed: list[Any] = files[row.patient_id].assessments
            listed.append(_ListedAssessment(row.id, row.encounter_id, row.created_at, result))
    for file in files.values():
        file.encounters.sort(key=lambda e: e.occurred_on)
        file.procedures.sort(key=lambda p: p.performed_on)
    return files


@dataclass(frozen=True)
class Overview:
    """What the patient list shows of one patient."""

    patient_id: str
    name: str
    attention: tuple[Attention, ...]
    conclusion: str | None
    last_visit: dt.date | None
    acknowledged: tuple[Attention, ...] = ()

    @property
    def urgency(self) -> tuple[int, int]:
        """Sort key, most urgent first: the most urgent kind of item (:data:`URGENCY`;
        ``len(URGENCY)`` when nothing needs attention), then its level."""
        if not self.attention:
            return (len(URGENCY), 0)
        first = self.attention[0]  # attention() sorts its items by urgency
        return (URGENCY.index(first.kind), _LEVEL_ORDER[first.level])


# Per clinic, per patient: (fingerprint, day, overview); bounded by the clinics' patients.
_OVERVIEWS: dict[str, dict[str, tuple[tuple[Any, ...], dt.date, Overview]]] = {}


def _overview(file: PatientFile, today: dt.date) -> Overview:
    try:
        found = progress(file, today)
    except SeriesError:
        found = None
    latest = file.latest_assessment
    return Overview(
        file.patient.id,
        file.patient.name,
        tuple(attention(file, today, found)),
        (latest.result.get("conclusion") or {}).get("label") if latest else None,
        file.encounters[-1].occurred_on if file.encounters else None,
        tuple(acknowledged_flags(file)),
    )


def clinic_overview(records: Records, today: dt.date) -> dict[str, Overview]:
    """What needs attention for every patient of the actor's clinic (staff only), by id.

    Computed for the whole clinic so that the list can be sorted and filtered by it
    before it is paged. Each patient's overview is kept in memory until one of their
    records changes or the day does, so a list after one visit recomputes one patient.
    Nothing is audited here: the list audits the patients it shows
    (:meth:`Records.patients_by_id`).
    """
    from hipspine.store.records import STAFF, AccessRefused

    clinic_id = records.actor.clinic_id
    if records.actor.role not in STAFF or clinic_id is None:
        raise AccessRefused("patient", None, "list")
    prints = _fingerprints(records.session, clinic_id)
    known = _OVERVIEWS.get(clinic_id, {})
    stale = [
        pid
        for pid, fingerprint in prints.items()
        if pid not in known or known[pid][0] != fingerprint or known[pid][1] != today
    ]
    fresh = {}
    if stale:
        # A short id list is sent as parameters; past that, the clinic is read whole.
        subset = stale if len(stale) <= 200 else None
        for pid, file in _clinic_files(records.session, clinic_id, subset).items():
            if pid in prints:
                fresh[pid] = (prints[pid], today, _overview(file, today))
    current = {pid: fresh[pid] if pid in fresh else known[pid] for pid in prints}
    _OVERVIEWS[clinic_id] = current
    return {pid: entry[2] for pid, entry in current.items()}


@dataclass(frozen=True)
class Attention:
    """One thing about a patient that needs the clinic's attention."""

    kind: str  # one of URGENCY, or "acknowledged" (shown, never counted as attention)
    level: str  # danger | warning | info | muted
    text: str


_URGENCY_LEVEL = {"emergency": "danger", "urgent": "danger", "consider": "warning"}
_LEVEL_ORDER = {"danger": 0, "warning": 1, "info": 2}
# What needs attention, most urgent first: a red flag, a follow-up whose window closed, a
# measure that did not respond, a follow-up due now, red flags not screened, a case not
# yet assessed.
URGENCY = ("red_flag", "overdue", "non_responder", "due", "unscreened", "unassessed")


def schedule_of(file: PatientFile, today: dt.date) -> Any:
    """The follow-up schedule status (core ``schedule_status``) from the treatment date.

    The start is the first procedure, else the first encounter; a visit is any encounter
    (but a procedure: the injection is not a follow-up visit, and counting it would put
    the baseline on the procedure day) or measurement date up to today. None when the
    patient has no encounter yet.
    """
    from hipspine.clinical.schedule import follow_up_schedule, schedule_status

    starts = [p.performed_on for p in file.procedures] or [e.occurred_on for e in file.encounters]
    if not starts:
        return None
    visits = {e.occurred_on for e in file.encounters if e.kind != "procedure"}
    visits |= {r.rated_on for r in file.pain} | {r.completed_on for r in file.responses}
    visits |= {s.tested_on for s in file.strength} | {f.tested_on for f in file.function}
    return schedule_status(
        follow_up_schedule(min(starts)), [v for v in visits if v <= today], today=today
    )


def _is_acknowledged(file: PatientFile, flag: dict[str, Any]) -> bool:
    ack = file.acknowledgement(flag.get("id", ""))
    if ack is None:
        return False
    then = next((a.result for a in file.assessments if a.id == ack.assessment_id), None)
    return covers(then, flag)


def covers(acknowledged_on: Mapping[str, Any] | None, flag: Mapping[str, Any]) -> bool:
    """Whether an acknowledgement made on the assessment whose result is ``acknowledged_on``
    covers ``flag`` as it fires now.

    Only a "consider" flag can be acknowledged (urgent and emergency ones always count), and
    only for the reasons it fired for then: a new reason (an ESR of 20 or more after a flag
    acknowledged for age alone) brings it back until acknowledged again. Values aside — age
    58 and age 59 are one reason. Without the assessment it was made on, it covers nothing.
    """
    if flag.get("urgency") != "consider" or acknowledged_on is None:
        return False
    then = next(
        (f for f in acknowledged_on.get("red_flags", []) if f.get("id") == flag.get("id")), None
    )
    return then is not None and _reasons(flag) <= _reasons(then)


def _reasons(flag: Mapping[str, Any]) -> frozenset[str]:
    return frozenset(re.sub(r"\d+(?:\.\d+)?", "#", str(r)) for r in flag.get("because", ()))


def acknowledged_flags(file: PatientFile) -> list[Attention]:
    """The latest assessment's red flags a clinician acknowledged (a ``consider`` flag with
    a :class:`~hipspine.store.models.RedFlagAcknowledgement` for its id): still shown, as
    muted items, but no longer needing attention (:func:`attention` leaves them out)."""
    latest = file.latest_assessment
    if latest is None:
        return []
    return [
        Attention(
            "acknowledged",
            "muted",
            f"Red flag ({flag.get('urgency')}) acknowledged: {flag.get('condition')}",
        )
        for flag in latest.result.get("red_flags", [])
        if _is_acknowledged(file, flag)
    ]


def attention(file: PatientFile, today: dt.date, found: Progress | None = None) -> list[Attention]:
    """What needs attention: red flags (never hidden; a ``consider`` flag a clinician
    acknowledged is listed by :func:`acknowledged_flags` instead), overdue or due
    follow-ups, measures whose latest change makes the patient a non-responder, a case not
    yet assessed."""
    items: list[Attention] = []
    latest = file.latest_assessment
    if latest is not None:
        for flag in latest.result.get("red_flags", []):
            if _is_acknowledged(file, flag):
                continue
            items.append(
                Attention(
                    "red_flag",
                    _URGENCY_LEVEL.get(flag.get("urgency", ""), "warning"),
                    f"Red flag ({flag.get('urgency')}): {flag.get('condition')}",
                )
            )
        unscreened = latest.result.get("unscreened_red_flags") or []
        if unscreened:
            # Unknown, not negative, but not a red flag that fired either: it ranks after
            # the follow-ups (URGENCY).
            items.append(
                Attention("unscreened", "warning", f"{len(unscreened)} red flag(s) not screened")
            )
    elif file.intake is not None:
        items.append(Attention("unassessed", "info", "Case recorded, not yet assessed"))
    status = schedule_of(file, today)
    if status is not None:
        for point in status.time_points:
            if point.status == "overdue" and point.time_point.closes >= today - dt.timedelta(
                days=365
            ):
                items.append(
                    Attention(
                        "overdue",
                        "danger",
                        f"{point.time_point.label} follow-up overdue "
                        f"(window closed {point.time_point.closes:%-d %b %Y})",
                    )
                )
            elif point.status == "due":
                items.append(
                    Attention(
                        "due",
                        "warning",
                        f"{point.time_point.label} follow-up due "
                        f"(by {point.time_point.closes:%-d %b %Y})",
                    )
                )
    if found is not None:
        for m in (*found.trajectory.pain, *found.trajectory.questionnaires):
            if m.responder.status == "non-responder":
                items.append(Attention("non_responder", "warning", f"Non-responder: {m.label}"))
    return sorted(items, key=lambda a: (URGENCY.index(a.kind), _LEVEL_ORDER[a.level]))

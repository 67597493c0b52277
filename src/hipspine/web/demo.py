"""The demo: a clinic with a clinician who can sign in, and John's whole journey.

John (the patient of Guggino, "Hip and low back pain"): right hip osteoarthritis for a year, ibuprofen on bad days,
then severe low back pain. First visit 17 November 2025 (``examples/john.json``: history,
examination, ultrasound and imaging), an ultrasound-guided injection of adipose-derived
cells into the right hip and the L4-L5 and L5-S1 facet joints on 8 December 2025, a
physical-therapy regimen for the weak muscles, and follow-up at 6 weeks, 3, 6 and 8 months
(``examples/john-followup.json``) with a goal: a 6-mile hike with elevation gain in October.

Each step is its own function so other seeders (the synthetic cohort) compose with it:
``open_demo_clinic`` → ``seed_john(db, actor)`` → anything else with the same actor.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from hipspine.clinical import instruments
from hipspine.clinical.assessment import assess, to_dict
from hipspine.clinical.case import parse_case
from hipspine.store.audit import Actor
from hipspine.store.db import Database
from hipspine.store.models import (
    Clinic,
    Encounter,
    Episode,
    FunctionTest,
    Goal,
    Medication,
    PainRating,
    Procedure,
    QuestionnaireResponse,
    RedFlagAcknowledgement,
    Role,
    StoredAssessment,
    StrengthTest,
    TherapyRegimen,
    User,
)
from hipspine.store.records import Records
from hipspine.web.api.questionnaires import scored

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
DEMO_EMAIL = "demo@hipspine.example"
DEMO_PASSWORD = "hipspine-demo"
DEMO_CLINIC = "hipspine demo clinic"
PROCEDURE_DAY = date(2025, 12, 8)
_SYNTHETIC = re.compile(r"Synthetic clinic \d+ \(seed \d+\)")


def _example(name: str) -> Any:
    for folder in (EXAMPLES, Path.cwd() / "examples"):
        if (folder / name).exists():
            return json.loads((folder / name).read_text())
    raise FileNotFoundError(f"examples/{name} not found (run from the hipspine checkout)")


@dataclass(frozen=True)
class DemoClinic:
    """The demo clinic and its clinician (who signs in with DEMO_EMAIL / DEMO_PASSWORD)."""

    clinic_id: str
    clinician_id: str

    @property
    def actor(self) -> Actor:
        """The clinician as the actor who records the demo data."""
        return Actor(self.clinician_id, Role.CLINICIAN.value, self.clinic_id)


def open_demo_clinic(
    db: Database,
    password_hash: str,
    *,
    email: str = DEMO_EMAIL,
    name: str = "Dr Demo (clinician)",
) -> DemoClinic:
    """Create the demo clinic with one clinician (or return it if it exists)."""
    with db.transaction() as session:
        existing = session.execute(
            select(User).where(func.lower(User.email) == email.lower())
        ).scalar_one_or_none()
        if existing is not None:
            return DemoClinic(existing.clinic_id, existing.id)
        clinic = Clinic(name=DEMO_CLINIC)
        session.add(clinic)
        session.flush()
        user = User(
            clinic_id=clinic.id,
            email=email,
            name=name,
            role=Role.CLINICIAN.value,
            password_hash=password_hash,
        )
        session.add(user)
        session.flush()
        return DemoClinic(clinic.id, user.id)


MALIGNANCY_SCREEN_NOTE = (
    "ESR 12 mm/h (below 20). Hip radiographs: osteoarthritis (Kellgren–Lawrence 3, "
    "Tönnis 2); lumbar MRI: facet arthropathy (Weishaupt 2 at L4-L5 and L5-S1), no disc "
    "herniation compressing a root; radiographs and MRI without signs of malignancy. No "
    "history of cancer, no unexplained weight loss."
)
REGIMEN = [
    {
        "name": "Glute bridge",
        "target_muscles": ["gluteus_maximus", "hamstrings"],
        "sets": 3,
        "reps": 12,
        "per_week": 4,
        "notes": "Squeeze the buttocks at the top; keep the pelvis level.",
    },
    {
        "name": "Prone hip extension",
        "target_muscles": ["gluteus_maximus"],
        "sets": 3,
        "reps": 10,
        "per_week": 3,
    },
    {
        "name": "Supine marching (hip flexion, neutral spine)",
        "target_muscles": ["iliopsoas", "abdominals"],
        "sets": 3,
        "reps": 10,
        "per_week": 4,
        "notes": "Flex the hip with the psoas, not by tilting the pelvis.",
    },
    {
        "name": "Side-lying hip abduction",
        "target_muscles": ["gluteus_medius_minimus"],
        "sets": 3,
        "reps": 12,
        "per_week": 3,
    },
    {
        "name": "Dead bug",
        "target_muscles": ["abdominals"],
        "sets": 3,
        "reps": 8,
        "per_week": 4,
    },
    {
        "name": "Bird dog",
        "target_muscles": ["lumbar_paraspinals", "multifidus"],
        "sets": 3,
        "reps": 8,
        "hold_seconds": 5,
        "per_week": 4,
    },
]


def _response(
    records: Records, patient_id: str, day: date, form: dict[str, Any], encounter_id: str
) -> QuestionnaireResponse:
    instrument_id = form["instrument"]
    if "answers" in form:
        fields = scored(records.session, records.actor.clinic_id, instrument_id, form["answers"])
        source = "clinic"
    else:
        # Subscale scores copied from the clinic's paper record: stored as computed.
        definition = instruments.get(instrument_id)
        names = {s.id: s.name for s in definition.subscales}
        fields = {
            "instrument": instrument_id,
            "instrument_version": definition.version,
            "answers": {},
            "context": {"entered_as": "subscale scores"},
            "score": form.get("score"),
            "subscales": {
                key: {"name": names.get(key, key), "value": value, "answered": None}
                for key, value in (form.get("subscales") or {}).items()
            },
            "band": None,
        }
        source = "import"
    return records.add(
        QuestionnaireResponse(
            patient_id=patient_id,
            encounter_id=encounter_id,
            completed_on=day,
            source=source,
            **fields,
        )
    )


def assessment_of(encounter: Encounter, *, suggest: bool = True) -> StoredAssessment:
    """The engine's assessment of the encounter's case, stored as of the visit's date.

    Demo data is dated as if it had been assessed at the visit (noon UTC). Without
    ``suggest`` the next-test search is skipped (about 200 ms a case) and ``next_tests``
    is stored as ``None``, meaning *not searched* rather than *none found*.
    """
    result = to_dict(assess(parse_case(encounter.case), suggest=suggest))
    if not suggest:
        result["next_tests"] = None
    return StoredAssessment(
        patient_id=encounter.patient_id,
        encounter_id=encounter.id,
        engine_version=result["engine_version"],
        category=result["conclusion"]["category"],
        result=result,
        created_at=datetime.combine(encounter.occurred_on, time(12), tzinfo=UTC),
    )


def assess_recorded_cases(db: Database, actor: Actor, *, suggest: bool = True) -> int:
    """Assess every case of the actor's clinic that has no stored assessment; the count.

    The synthetic cohort is written with cases but no assessments; without this the
    patient list would say "case recorded, not yet assessed" for most of the demo.
    """
    with db.transaction() as session:
        assessed = select(StoredAssessment.encounter_id).where(
            StoredAssessment.clinic_id == actor.clinic_id,
            StoredAssessment.encounter_id.is_not(None),
        )
        pending = (
            session.execute(
                select(Encounter)
                .where(
                    Encounter.clinic_id == actor.clinic_id,
                    Encounter.case.is_not(None),
                    Encounter.id.not_in(assessed),
                )
                .order_by(Encounter.occurred_on, Encounter.id)
            )
            .scalars()
            .all()
        )
        pending = [e for e in pending if e.case]  # a JSON null is not a case
        records = Records(session, actor)
        for encounter in pending:
            records.add(assessment_of(encounter, suggest=suggest))
        return len(pending)


def seed_john(
    db: Database, actor: Actor, *, name: str = "John Example", identifier: str = "JOHN-001"
) -> str:
    """Record John's whole journey in the actor's clinic; returns his patient id."""
    case = _example("john.json")
    series = _example("john-followup.json")
    baseline = date.fromisoformat(case["visit_date"])
    with db.transaction() as session:
        records = Records(session, actor)
        john = records.add_patient(
            name=name,
            identifier=identifier,
            birth_date=date(1967, 3, 1),
            sex="male",
            email="john@example.org",
        )
        pid = john.id
        hip = records.add(
            Episode(
                patient_id=pid, condition="hip_osteoarthritis", side="right", started_on=baseline
            )
        )
        records.add(
            Episode(patient_id=pid, condition="low_back_pain", side=None, started_on=baseline)
        )
        intake = records.add(
            Encounter(
                patient_id=pid,
                episode_id=hip.id,
                kind="intake",
                occurred_on=baseline,
                clinician_id=actor.user_id,
                case=case,
                note="Baseline (first visit)",
            )
        )
        first = records.add(assessment_of(intake))
        # His age alone fires the malignancy screen ("consider"); the first visit's ESR and
        # imaging answer it, so the clinician acknowledges it that day.
        records.add(
            RedFlagAcknowledgement(
                patient_id=pid,
                flag="malignancy_screen",
                assessment_id=first.id,
                note=MALIGNANCY_SCREEN_NOTE,
                created_at=datetime.combine(baseline, time(13), tzinfo=UTC),
            )
        )
        # One record per period of use: 3 days a week before the procedure, fewer after.
        periods = [
            (date(2024, 11, 1), date(2026, 1, 18), 3.0),
            (date(2026, 1, 19), date(2026, 3, 8), 2.0),
            (date(2026, 3, 9), None, 1.0),
        ]
        for started, stopped, days in periods:
            records.add(
                Medication(
                    patient_id=pid,
                    name="ibuprofen",
                    dose="400 mg",
                    pattern="as_needed",
                    days_per_week=days,
                    indication="right hip pain on bad days",
                    started_on=started,
                    stopped_on=stopped,
                )
            )
        records.add(
            Encounter(
                patient_id=pid,
                episode_id=hip.id,
                kind="procedure",
                occurred_on=PROCEDURE_DAY,
                clinician_id=actor.user_id,
                note="Procedure",
            )
        )
        records.add(
            Procedure(
                patient_id=pid,
                episode_id=hip.id,
                type="adipose_derived_cells",
                targets=[
                    {"site": "hip_joint", "side": "right"},
                    {"site": "facet", "side": "bilateral", "level": "L4-L5"},
                    {"site": "facet", "side": "bilateral", "level": "L5-S1"},
                ],
                guidance="ultrasound",
                performed_on=PROCEDURE_DAY,
                operator_id=actor.user_id,
                note="Moderate hip osteoarthritis (Kellgren–Lawrence 3) and facet arthropathy "
                "(Weishaupt 2 at L4-L5 and L5-S1).",
            )
        )
        records.add(
            TherapyRegimen(
                patient_id=pid,
                episode_id=hip.id,
                started_on=PROCEDURE_DAY + timedelta(days=7),
                exercises=REGIMEN,
                adherence_percent=85,
            )
        )
        hike = series["goals"][0]
        goal = records.add(
            Goal(
                patient_id=pid,
                description=hike["description"],
                target_date=date.fromisoformat(hike["target_date"]),
                psfs_activity=hike["psfs_activity"],
                ratings=[
                    {"rated_on": v["date"], "level": v["goal_ratings"]["hike"]}
                    for v in series["visits"]
                    if "hike" in v.get("goal_ratings", {})
                ],
            )
        )
        assert goal.id
        for visit in series["visits"]:
            day = date.fromisoformat(visit["date"])
            encounter = (
                intake
                if day == baseline
                else records.add(
                    Encounter(
                        patient_id=pid,
                        episode_id=hip.id,
                        kind="follow_up",
                        occurred_on=day,
                        clinician_id=actor.user_id,
                        note=visit.get("label"),
                    )
                )
            )
            for rating in visit.get("pain", []):
                records.add(
                    PainRating(
                        patient_id=pid,
                        encounter_id=encounter.id,
                        region=rating["region"],
                        side=rating["side"],
                        intensity=rating["score"],
                        rated_on=day,
                    )
                )
            for form in visit.get("questionnaires", []):
                _response(records, pid, day, form, encounter.id)
            if visit.get("psfs"):
                activities = list(visit["psfs"].items())
                answers = {f"activity_{i}": v for i, (_, v) in enumerate(activities, 1)}
                response = _response(
                    records,
                    pid,
                    day,
                    {"instrument": "psfs", "answers": answers},
                    encounter.id,
                )
                response.context = {
                    **(response.context or {}),
                    "activities": {f"activity_{i}": n for i, (n, _) in enumerate(activities, 1)},
                }
            for test in visit.get("mmt", []):
                records.add(
                    StrengthTest(
                        patient_id=pid,
                        encounter_id=encounter.id,
                        muscle=test["muscle"],
                        side=test.get("side"),
                        mrc=test["mrc"],
                        tested_on=day,
                    )
                )
            for reading in visit.get("dynamometry", []):
                records.add(
                    StrengthTest(
                        patient_id=pid,
                        encounter_id=encounter.id,
                        muscle=reading["muscle"],
                        side=reading["side"],
                        action=reading["action"],
                        position=reading["position"],
                        force=reading["force"],
                        unit=reading["unit"],
                        lever_arm_m=reading.get("lever_arm_m"),
                        tested_on=day,
                    )
                )
            for key, (test, unit) in {
                "six_minute_walk_m": ("six_minute_walk", "m"),
                "chair_stand_30s": ("chair_stand_30s", "stands"),
                "gait_speed_m_s": ("gait_speed", "m/s"),
            }.items():
                value = visit.get("function", {}).get(key)
                if value is not None:
                    records.add(
                        FunctionTest(
                            patient_id=pid,
                            encounter_id=encounter.id,
                            test=test,
                            value=value,
                            unit=unit,
                            tested_on=day,
                        )
                    )
        session.flush()
        return pid


def seed_demo(db: Database, password_hash: str) -> tuple[DemoClinic, str]:
    """The demo clinic and John; returns the clinic and John's patient id."""
    clinic = open_demo_clinic(db, password_hash)
    return clinic, seed_john(db, clinic.actor)


def _refuse_foreign_data(path: Path) -> None:
    """Exit with a one-line error if the SQLite file holds any clinic but the demo's.

    The demo starts from a fresh database; it must never wipe a clinic's real records.
    """
    import sqlite3
    from contextlib import closing

    if not path.exists() or path.stat().st_size == 0:
        return
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as connection:
            names = [row[0] for row in connection.execute("SELECT name FROM clinic")]
    except sqlite3.DatabaseError:
        names = []  # no clinic table: an empty or unmigrated file
    # The demo's clinic and the reproducible synthetic ones (``hipspine synth``) may go.
    others = sorted({n for n in names if n != DEMO_CLINIC and not _SYNTHETIC.fullmatch(n)})
    if others:
        print(
            f"error: {path} holds other clinics' records ({', '.join(others[:3])}"
            f"{', …' if len(others) > 3 else ''}); the demo would replace it. Move it away "
            "or point HIPSPINE_DATA_DIR at another folder.",
            file=sys.stderr,
        )
        raise SystemExit(2)


def demo_command(
    data_dir: Path | None = None,
    host: str = "127.0.0.1",
    port: int = 8000,
    serve: bool = True,
    cohort: int = 300,
) -> None:
    """``hipspine demo``/``make demo``: a fresh SQLite database, John, and the app.

    The database is the one every other command uses (``hipspine report``, ``export``,
    ``cohort``): ``<data folder>/hipspine.sqlite3``, the data folder being ``data_dir`` or
    ``HIPSPINE_DATA_DIR`` (default ``./var``). It is replaced only when it holds nothing
    but a previous demo. Seeds John's whole journey and a synthetic cohort of ``cohort``
    patients in the same clinic (their cases assessed as of their visit), prints the
    address, the demo sign-in and a questionnaire link for John, then serves until
    interrupted (``serve=False`` only seeds and prints).
    """
    import os

    import uvicorn

    from hipspine.config import Settings, load_settings
    from hipspine.store.migrate import upgrade
    from hipspine.web import WebOptions, create_app
    from hipspine.web.api.questionnaires import PortalLinkIn, new_link, portal_url
    from hipspine.web.context import WebContext

    base = load_settings()
    folder = (data_dir or base.data_dir).resolve()
    if data_dir is None and os.environ.get("HIPSPINE_DATABASE_URL"):
        print(
            "error: the demo runs on the embedded SQLite in the data folder; unset "
            "HIPSPINE_DATABASE_URL (or set HIPSPINE_DATA_DIR) to run it.",
            file=sys.stderr,
        )
        raise SystemExit(2)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "hipspine.sqlite3"
    _refuse_foreign_data(path)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    settings = Settings(folder, f"sqlite:///{path}", base.secret_key)
    db = Database(settings.database_url)
    upgrade(db)
    # Plain HTTP on localhost: cookies cannot be "Secure" there.
    options = WebOptions.from_env()
    if "HIPSPINE_SECURE_COOKIES" not in os.environ:
        options = WebOptions(
            secure_cookies=False,
            session_ttl=options.session_ttl,
            token_ttl=options.token_ttl,
            portal_ttl=options.portal_ttl,
        )
    web = WebContext(db, settings, options)
    clinic, john = seed_demo(db, web.passwords.hash(DEMO_PASSWORD))
    if cohort:
        from hipspine.analytics import synth

        synth.write(db, cohort, seed=7, into=[clinic.clinic_id])
        assessed = assess_recorded_cases(db, clinic.actor, suggest=False)
        print(
            f"  + a synthetic cohort of {cohort} patients (hipspine synth, seed 7), "
            f"{assessed} cases assessed"
        )
    with db.transaction() as session:
        records = Records(session, clinic.actor)
        _, raw = new_link(records, web, john, PortalLinkIn(instruments=["odi", "groc"]))
    address = f"http://{host}:{port}"
    print(f"hipspine demo on {address}  (database {path})")
    print(f"  sign in as {DEMO_EMAIL} / {DEMO_PASSWORD}")
    print(f"  John's questionnaire link (single use): {address}{portal_url(raw)}")
    if serve:
        uvicorn.run(create_app(db, settings, options), host=host, port=port, access_log=False)

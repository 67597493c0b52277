"""A small world for API tests: two clinics, each with an administrator, a clinician, a
patient who can sign in (John) and another patient, and one record of every kind each."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from hipspine.store.audit import Actor
from hipspine.store.db import Database
from hipspine.store.models import (
    AuditEvent,
    Clinic,
    Encounter,
    Episode,
    FunctionTest,
    Goal,
    Medication,
    PainRating,
    PortalLink,
    Procedure,
    QuestionnaireResponse,
    RedFlagAcknowledgement,
    StoredAssessment,
    StrengthTest,
    TherapyRegimen,
    TokenKind,
    User,
    now,
)
from hipspine.store.records import Records
from hipspine.web import auth

ROOT = Path(__file__).resolve().parents[2]
JOHN_CASE: dict[str, Any] = json.loads((ROOT / "examples" / "john.json").read_text())
ODI_ANSWERS: dict[str, Any] = json.loads((ROOT / "examples" / "answers" / "odi.json").read_text())
PASSWORD = "correct horse battery staple"
DAY = "2025-11-17"
ROLES = ("admin", "clinician", "patient")


@dataclass
class ClinicWorld:
    id: str
    users: dict[str, str] = field(default_factory=dict)  # role -> user id
    emails: dict[str, str] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)  # role -> bearer token
    patients: dict[str, str] = field(default_factory=dict)  # "own" (John) / "other" -> id
    records: dict[str, dict[str, str]] = field(default_factory=dict)  # patient -> kind -> id


@dataclass
class World:
    db: Database
    clinics: dict[str, ClinicWorld]

    def actor(self, clinic: str, role: str = "clinician") -> Actor:
        c = self.clinics[clinic]
        return Actor(c.users[role], role, c.id)

    def token(self, clinic: str, role: str) -> str:
        return self.clinics[clinic].tokens[role]

    def headers(self, clinic: str, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(clinic, role)}"}

    def new_token(self, clinic: str, role: str, ttl: timedelta = timedelta(hours=1)) -> str:
        with self.db.transaction() as session:
            user = session.get(User, self.clinics[clinic].users[role])
            assert user is not None
            _, raw = auth.issue(session, user, TokenKind.BEARER, ttl)
        return raw

    def add_record(self, clinic: str, patient_id: str, kind: str) -> tuple[str, int | None]:
        """A fresh record of ``kind`` for the patient; returns its id and version."""
        with self.db.transaction() as session:
            records = Records(session, self.actor(clinic))
            record = records.add(make_record(kind, patient_id, self, clinic, session))
            return record.id, getattr(record, "version", None)  # type: ignore[attr-defined]

    def audit_for(self, request_id: str) -> list[AuditEvent]:
        with self.db.transaction() as session:
            return list(
                session.execute(
                    select(AuditEvent).where(AuditEvent.request_id == request_id)
                ).scalars()
            )


def make_record(kind: str, patient_id: str, world: World, clinic: str, session: Any) -> Any:
    day = date(2025, 11, 17)
    clinician = world.clinics[clinic].users["clinician"]
    if kind == "episodes":
        return Episode(
            patient_id=patient_id, condition="hip_osteoarthritis", side="right", started_on=day
        )
    if kind == "encounters":
        return Encounter(patient_id=patient_id, kind="intake", occurred_on=day, case=JOHN_CASE)
    if kind == "pain-ratings":
        return PainRating(
            patient_id=patient_id, region="lumbar", side="midline", intensity=8, rated_on=day
        )
    if kind == "strength-tests":
        return StrengthTest(
            patient_id=patient_id, muscle="gluteus_maximus", side="right", mrc="4-", tested_on=day
        )
    if kind == "function-tests":
        return FunctionTest(
            patient_id=patient_id, test="six_minute_walk", value=420, unit="m", tested_on=day
        )
    if kind == "medications":
        return Medication(
            patient_id=patient_id, name="ibuprofen", pattern="as_needed", days_per_week=3
        )
    if kind == "procedures":
        return Procedure(
            patient_id=patient_id,
            type="adipose_derived_cells",
            targets=[{"site": "hip_joint", "side": "right"}],
            guidance="ultrasound",
            performed_on=day,
            operator_id=clinician,
        )
    if kind == "therapy-regimens":
        return TherapyRegimen(
            patient_id=patient_id,
            started_on=day,
            exercises=[{"name": "bridge", "target_muscles": ["gluteus_maximus"]}],
        )
    if kind == "goals":
        return Goal(
            patient_id=patient_id, description="Hike 6 miles with elevation gain in October"
        )
    if kind == "questionnaire-responses":
        return QuestionnaireResponse(
            patient_id=patient_id,
            instrument="odi",
            instrument_version="2.1a",
            answers=ODI_ANSWERS,
            score=35.56,
            completed_on=day,
        )
    if kind == "assessments":
        return StoredAssessment(
            patient_id=patient_id, engine_version="1.0.0", category="hip_and_spine", result={}
        )
    if kind == "red-flag-acknowledgements":
        return RedFlagAcknowledgement(
            patient_id=patient_id, flag="malignancy_screen", note="ESR 12, imaging unremarkable"
        )
    if kind == "portal-links":
        return PortalLink(
            patient_id=patient_id,
            token_hash=auth.token_hash(auth.new_token()),
            instruments=["odi"],
            completed=[],
            expires_at=now() + timedelta(days=7),
        )
    raise KeyError(kind)


RECORD_KINDS = (
    "episodes", "encounters", "pain-ratings", "strength-tests", "function-tests",
    "medications", "procedures", "therapy-regimens", "goals", "questionnaire-responses",
    "assessments", "portal-links",
)  # fmt: skip


def create_body(kind: str, target: dict[str, str]) -> dict[str, Any]:
    """A valid body creating a record of ``kind`` for the patient whose records are ``target``."""
    bodies: dict[str, dict[str, Any]] = {
        "episodes": {"condition": "hip_osteoarthritis", "side": "right", "started_on": DAY},
        "encounters": {"kind": "intake", "occurred_on": DAY, "case": JOHN_CASE},
        "pain-ratings": {"region": "lumbar", "side": "midline", "intensity": 8, "rated_on": DAY},
        "strength-tests": {
            "muscle": "gluteus_maximus",
            "side": "right",
            "mrc": "4-",
            "tested_on": DAY,
        },
        "function-tests": {"test": "six_minute_walk", "value": 420, "tested_on": DAY},
        "medications": {"name": "ibuprofen", "pattern": "as_needed", "days_per_week": 3},
        "procedures": {
            "type": "adipose_derived_cells",
            "targets": [
                {"site": "hip_joint", "side": "right"},
                {"site": "facet", "level": "L4-L5", "side": "bilateral"},
            ],
            "guidance": "ultrasound",
            "performed_on": DAY,
        },
        "therapy-regimens": {
            "started_on": DAY,
            "exercises": [
                {"name": "bridge", "target_muscles": ["gluteus_maximus"], "sets": 3, "reps": 10}
            ],
        },
        "goals": {
            "description": "Hike 6 miles with elevation gain in October",
            "target_date": "2026-10-15",
        },
        "questionnaire-responses": {
            "instrument": "odi",
            "answers": ODI_ANSWERS,
            "completed_on": DAY,
        },
        "assessments": {"encounter_id": target.get("encounters", "")},
        "portal-links": {"instruments": ["odi", "nprs"]},
    }
    return bodies[kind]


UPDATES: dict[str, dict[str, Any]] = {
    "episodes": {"closed_on": "2026-07-17"},
    "encounters": {"note": "Follow-up booked"},
    "medications": {"pattern": "stopped"},
    "therapy-regimens": {"adherence_percent": 80},
    "goals": {"ratings": [{"rated_on": "2026-07-17", "level": 0}]},
}


def build_world(db: Database, password_hash: str) -> World:
    clinics: dict[str, ClinicWorld] = {}
    with db.transaction() as session:
        for name in ("A", "B"):
            clinic = Clinic(name=f"Clinic {name}")
            session.add(clinic)
            session.flush()
            world = ClinicWorld(clinic.id)
            staff = {}
            for role in ("admin", "clinician"):
                user = User(
                    clinic_id=clinic.id,
                    email=f"{role}@{name.lower()}.example.org",
                    name=f"{role} {name}",
                    role=role,
                    password_hash=password_hash,
                )
                session.add(user)
                session.flush()
                staff[role] = user
            records = Records(session, Actor(staff["clinician"].id, "clinician", clinic.id))
            john = records.add_patient(name=f"John {name}", birth_date=date(1967, 3, 1), sex="male")
            other = records.add_patient(name=f"Jane {name}", sex="female")
            patient_user = User(
                clinic_id=clinic.id,
                email=f"john@{name.lower()}.example.org",
                name=john.name,
                role="patient",
                patient_id=john.id,
                password_hash=password_hash,
            )
            session.add(patient_user)
            session.flush()
            for role, user in (*staff.items(), ("patient", patient_user)):
                world.users[role] = user.id
                world.emails[role] = user.email
                _, world.tokens[role] = auth.issue(
                    session, user, TokenKind.BEARER, timedelta(hours=1)
                )
            world.patients = {"own": john.id, "other": other.id}
            clinics[name] = world
    result = World(db, clinics)
    with db.transaction() as session:
        for name, c in clinics.items():
            records = Records(session, result.actor(name))
            for which, patient_id in c.patients.items():
                c.records[which] = {
                    kind: records.add(make_record(kind, patient_id, result, name, session)).id
                    for kind in RECORD_KINDS
                }
    return result

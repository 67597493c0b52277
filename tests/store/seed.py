"""Test data for the storage suite: two clinics, their people, and one of every record."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa

from hipspine.store.audit import Actor
from hipspine.store.db import Database
from hipspine.store.models import (
    AuthToken,
    Base,
    Clinic,
    Encounter,
    Episode,
    FhirSource,
    FunctionTest,
    Goal,
    LoginThrottle,
    Medication,
    PainRating,
    Patient,
    PortalLink,
    Procedure,
    QuestionnaireResponse,
    RedFlagAcknowledgement,
    StoredAssessment,
    StrengthTest,
    TherapyRegimen,
    User,
    now,
)
from hipspine.store.records import PATIENT_RECORDS, Records

DAY0 = date(2025, 11, 17)


@dataclass(frozen=True)
class World:
    """Clinic A (John, Mary) and clinic B (Bea), with a clinician or admin acting in each."""

    clinic_a: str
    clinic_b: str
    john: str
    mary: str
    bea: str
    clinician_a: Actor
    admin_a: Actor
    clinician_b: Actor
    admin_b: Actor
    john_self: Actor
    mary_self: Actor


def make_world(db: Database) -> World:
    """Two clinics with staff and patients; John and Mary can sign in to the portal."""
    with db.transaction() as s:
        a, b = Clinic(name="Hip and Spine Clinic"), Clinic(name="Other Clinic")
        s.add_all([a, b])
        s.flush()

        def staff(clinic: Clinic, email: str, role: str) -> User:
            user = User(clinic_id=clinic.id, email=email, name=email, role=role)
            s.add(user)
            s.flush()
            return user

        dr_a = staff(a, "dr.a@example.org", "clinician")
        adm_a = staff(a, "admin.a@example.org", "admin")
        dr_b = staff(b, "dr.b@example.org", "clinician")
        adm_b = staff(b, "admin.b@example.org", "admin")
        john = Patient(clinic_id=a.id, name="John", identifier="A-1", sex="male")
        mary = Patient(clinic_id=a.id, name="Mary", identifier="A-2", sex="female")
        bea = Patient(clinic_id=b.id, name="Bea", identifier="B-1", sex="female")
        s.add_all([john, mary, bea])
        s.flush()
        john_user = User(
            clinic_id=a.id,
            email="john@example.org",
            name="John",
            role="patient",
            patient_id=john.id,
        )
        mary_user = User(
            clinic_id=a.id,
            email="mary@example.org",
            name="Mary",
            role="patient",
            patient_id=mary.id,
        )
        s.add_all([john_user, mary_user])
        s.flush()
        return World(
            clinic_a=a.id,
            clinic_b=b.id,
            john=john.id,
            mary=mary.id,
            bea=bea.id,
            clinician_a=Actor(dr_a.id, "clinician", a.id, client="10.0.0.7", request_id="req-a"),
            admin_a=Actor(adm_a.id, "admin", a.id),
            clinician_b=Actor(dr_b.id, "clinician", b.id, client="10.0.9.9", request_id="req-b"),
            admin_b=Actor(adm_b.id, "admin", b.id),
            john_self=Actor(john_user.id, "patient", a.id, patient_id=john.id),
            mary_self=Actor(mary_user.id, "patient", a.id, patient_id=mary.id),
        )


def one_of_each(patient_id: str, day: date = DAY0) -> list[Base]:
    """One record of every patient-record kind, in an order that satisfies foreign keys."""
    episode = Episode(patient_id=patient_id, condition="hip_oa", side="right", started_on=day)
    episode.id = f"ep-{patient_id[:8]}-{day.isoformat()}"
    encounter = Encounter(
        patient_id=patient_id,
        episode_id=episode.id,
        kind="intake",
        occurred_on=day,
        case={"schema": "hipspine.case/1", "findings": {"faber": "positive"}},
        note="ibuprofen on bad days",
    )
    encounter.id = f"en-{patient_id[:8]}-{day.isoformat()}"
    return [
        episode,
        encounter,
        QuestionnaireResponse(
            patient_id=patient_id,
            encounter_id=encounter.id,
            instrument="odi",
            instrument_version="2.1a",
            answers={"q1": 2, "q2": 3},
            score=42.0,
            subscales={},
            band="severe",
            completed_on=day,
            submission_key=f"odi-{day.isoformat()}",
        ),
        PainRating(
            patient_id=patient_id,
            encounter_id=encounter.id,
            region="lumbar",
            side="midline",
            intensity=8,
            rated_on=day,
        ),
        StrengthTest(
            patient_id=patient_id,
            encounter_id=encounter.id,
            muscle="gluteus_maximus",
            side="right",
            mrc="4-",
            force=151.25,
            unit="N",
            tested_on=day,
        ),
        FunctionTest(
            patient_id=patient_id,
            encounter_id=encounter.id,
            test="six_minute_walk",
            value=412.5,
            unit="m",
            tested_on=day,
        ),
        Medication(
            patient_id=patient_id,
            name="ibuprofen",
            dose="400 mg",
            pattern="as_needed",
            days_per_week=3,
            started_on=day - timedelta(days=365),
        ),
        Procedure(
            patient_id=patient_id,
            episode_id=episode.id,
            type="adipose_derived_cells",
            targets=[{"site": "hip_joint", "side": "right"}, {"site": "facet", "level": "L4-L5"}],
            guidance="ultrasound",
            performed_on=day + timedelta(days=14),
        ),
        TherapyRegimen(
            patient_id=patient_id,
            episode_id=episode.id,
            started_on=day,
            exercises=[{"name": "bridge", "sets": 3, "reps": 12, "targets": ["gluteus_maximus"]}],
            adherence_percent=80.0,
        ),
        Goal(
            patient_id=patient_id,
            description="6-mile hike with elevation gain in October",
            target_date=date(2026, 10, 1),
            ratings=[{"rated_on": day.isoformat(), "level": -1}],
        ),
        StoredAssessment(
            patient_id=patient_id,
            encounter_id=encounter.id,
            engine_version="0.1.0",
            category="both",
            result={"category": "both", "because": ["faber", "facet"]},
        ),
        RedFlagAcknowledgement(
            patient_id=patient_id,
            flag="malignancy_screen",
            note="ESR 12, radiograph and MRI unremarkable",
        ),
    ]


def add_records(db: Database, actor: Actor, patient_id: str) -> dict[type[Base], str]:
    """Store one of each record for the patient through Records; ids by model."""
    ids: dict[type[Base], str] = {}
    with db.transaction() as s:
        records = Records(s, actor)
        for record in one_of_each(patient_id):
            records.add(record)
            ids[type(record)] = record.id  # type: ignore[attr-defined]
    assert set(ids) == set(PATIENT_RECORDS.values())
    return ids


def add_non_patient_rows(db: Database, world: World) -> None:
    """Rows of the tables Records does not cover, so backups are tested on every table."""
    with db.transaction() as s:
        s.add(
            PortalLink(
                clinic_id=world.clinic_a,
                patient_id=world.john,
                token_hash="ab" * 32,
                instruments=["odi", "nprs"],
                expires_at=now() + timedelta(days=7),
            )
        )
        s.add(LoginThrottle(key="dr.a@example.org", failures=2))
        s.add(
            FhirSource(
                clinic_id=world.clinic_a,
                patient_id=world.john,
                resource_type="Patient",
                source_system="",
                source_id="synthea-1",
                record_table="patient",
                record_id=world.john,
            )
        )
        s.add(
            AuthToken(
                user_id=world.clinician_a.user_id,
                kind="session",
                token_hash="cd" * 32,
                expires_at=now() + timedelta(hours=8),
            )
        )
        s.execute(
            sa.update(Clinic).where(Clinic.id == world.clinic_a).values(disabled_instruments=None)
        )


def table_rows(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, ordered by primary key; JSON as its stored text."""
    metadata = sa.MetaData()
    with db.engine.connect() as connection:
        metadata.reflect(connection)
        snapshot: dict[str, list[tuple[Any, ...]]] = {}
        for table in metadata.sorted_tables:
            columns = [
                sa.cast(c, sa.Text).label(c.name) if isinstance(c.type, sa.JSON) else c
                for c in table.columns
            ]
            order = list(table.primary_key.columns) or list(table.columns)
            result = connection.execute(sa.select(*columns).order_by(*order))
            snapshot[table.name] = [tuple(row) for row in result]
        connection.rollback()
    return snapshot

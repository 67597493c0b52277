"""Helpers of the FHIR suite: John's record, table counts, Synthea bundles as NDJSON."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from hipspine.clinical import instruments
from hipspine.fhir import bundle
from hipspine.store.audit import Actor
from hipspine.store.db import Database
from hipspine.store.models import (
    Base,
    Episode,
    FhirSource,
    FunctionTest,
    Goal,
    Medication,
    PainRating,
    Procedure,
    QuestionnaireResponse,
    StrengthTest,
    TherapyRegimen,
)
from hipspine.store.records import Records

DAY0 = date(2025, 11, 17)


def pain_rating(
    subject: str, value: int = 4, rid: str | None = None, **more: Any
) -> dict[str, Any]:
    """A FHIR pain-severity Observation (LOINC 72514-3, 0–10) about the patient that
    ``subject`` references, on 2025-11-17; ``more`` elements are added or replaced."""
    return {
        "resourceType": "Observation",
        **({"id": rid} if rid is not None else {}),
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "72514-3"}]},
        "subject": {"reference": subject},
        "effectiveDateTime": "2025-11-17",
        "valueInteger": value,
        **more,
    }


def imported_ids(db: Database, clinic_id: str, table: str, source_ids: list[str]) -> dict[str, str]:
    """Source id → the id of the record of ``table`` (or patient) it became in the clinic.

    An id of a record's form (a UUID) is kept; any other ("ehr-p1") is given a new id, and
    ``fhir_source`` says which.
    """
    with db.engine.connect() as connection:
        rows = connection.execute(
            sa.select(FhirSource.source_id, FhirSource.record_id, FhirSource.patient_id).where(
                FhirSource.clinic_id == clinic_id,
                FhirSource.record_table == table,
                FhirSource.source_id.in_(source_ids),
            )
        )
        return {
            source: (patient if table == "patient" else record) for source, record, patient in rows
        }


ODI = {
    "pain_intensity": 3, "personal_care": 1, "lifting": 3, "walking": 2, "sitting": 2,
    "standing": 2, "sleeping": 1, "sex_life": 1, "social_life": 2, "travelling": 2,
}  # fmt: skip


def johns_record(db: Database, actor: Actor, patient_id: str) -> None:
    """John's journey in records: one of every kind that FHIR export covers."""
    odi = instruments.score("odi", ODI)
    hoos_answers = {item.id: 2 for item in instruments.get("hoos").scored_items}
    hoos = instruments.score("hoos", hoos_answers)
    with db.transaction() as session:
        records = Records(session, actor)
        episode = records.add(
            Episode(
                patient_id=patient_id, condition="hip_osteoarthritis", side="right",
                started_on=DAY0 - timedelta(days=365),
            )
        )  # fmt: skip
        records.add(Episode(patient_id=patient_id, condition="low_back_pain", started_on=DAY0))
        for region, side, value in (("lumbar", "midline", 8), ("groin", "right", 5)):
            records.add(
                PainRating(
                    patient_id=patient_id, region=region, side=side, intensity=value,
                    rated_on=DAY0,
                )
            )  # fmt: skip
        records.add(
            StrengthTest(
                patient_id=patient_id, muscle="gluteus_maximus", side="right", mrc="4-",
                force=151.25, unit="N", position="prone", tested_on=DAY0,
            )
        )  # fmt: skip
        records.add(
            FunctionTest(
                patient_id=patient_id, test="six_minute_walk", value=412.5, unit="m",
                tested_on=DAY0,
            )
        )  # fmt: skip
        records.add(
            QuestionnaireResponse(
                patient_id=patient_id, instrument="odi", instrument_version="2.1a",
                answers=ODI, score=odi.value, subscales={}, band=odi.band.id if odi.band else None,
                completed_on=DAY0, submission_key="odi-baseline",
            )
        )  # fmt: skip
        records.add(
            QuestionnaireResponse(
                patient_id=patient_id, instrument="hoos", instrument_version="LK2.0",
                answers=hoos_answers, score=None,
                subscales={k: s.value for k, s in hoos.subscales.items()}, band=None,
                completed_on=DAY0,
            )
        )  # fmt: skip
        records.add(
            Medication(
                patient_id=patient_id, name="ibuprofen", dose="400 mg", pattern="as_needed",
                days_per_week=3, started_on=DAY0 - timedelta(days=365),
            )
        )  # fmt: skip
        records.add(
            Procedure(
                patient_id=patient_id, episode_id=episode.id, type="adipose_derived_cells",
                targets=[{"site": "hip_joint", "side": "right"},
                         {"site": "facet", "level": "L4-L5", "side": "bilateral"}],
                guidance="ultrasound", performed_on=DAY0 + timedelta(days=14),
            )
        )  # fmt: skip
        records.add(
            TherapyRegimen(
                patient_id=patient_id, started_on=DAY0,
                exercises=[{"name": "bridge", "sets": 3, "reps": 12,
                            "target_muscles": ["gluteus_maximus"]}],
                adherence_percent=80.0,
            )
        )  # fmt: skip
        records.add(
            Goal(
                patient_id=patient_id, description="6-mile hike with elevation gain in October",
                target_date=date(2026, 10, 1), psfs_activity="hiking uphill",
                ratings=[{"rated_on": DAY0.isoformat(), "level": -1}],
            )
        )  # fmt: skip


def counts(db: Database) -> dict[str, int]:
    """Rows per table (every table of the models)."""
    with db.engine.connect() as connection:
        return {
            name: connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
            for name, table in Base.metadata.tables.items()
        }


def bundles_as_ndjson(bundles: list[Path], folder: Path) -> list[Path]:
    """The resources of Bundles as Bulk Data NDJSON files (references made literal)."""
    folder.mkdir(parents=True, exist_ok=True)
    files: dict[str, Any] = {}
    for path in bundles:
        for _, resource, _ in bundle.entries(json.loads(path.read_text())):
            assert resource is not None
            kind = resource["resourceType"]
            if kind not in files:
                files[kind] = (folder / f"{kind}.ndjson").open("w")
            files[kind].write(json.dumps(resource) + "\n")
    for handle in files.values():
        handle.close()
    return sorted(folder.glob("*.ndjson"))

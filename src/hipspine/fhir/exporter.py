"""Export hipspine records as FHIR R4: one patient's Bundle, or the whole clinic as Bulk
Data NDJSON (one file per resource type) streamed with bounded memory.

Records are read in id order, so the same records always give the same output, and a
hipspine export imported into another database exports identically. Every export is
authorised (clinic staff, own clinic only) and audited: one ``export`` entry per patient.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hipspine.clinical import instruments
from hipspine.fhir import (
    bundle,
    careplan,
    condition,
    goal,
    imaging,
    medication,
    ndjson,
    observation,
    patient,
    procedure,
    questionnaire,
)
from hipspine.fhir._common import Resource
from hipspine.fhir.importer import append_audit
from hipspine.store.audit import Actor
from hipspine.store.db import Database
from hipspine.store.models import (
    Base,
    Encounter,
    Episode,
    FunctionTest,
    Goal,
    Medication,
    PainRating,
    Patient,
    Procedure,
    QuestionnaireResponse,
    Role,
    StrengthTest,
    TherapyRegimen,
)
from hipspine.store.records import AccessRefused, Records

ToFhir = Callable[[Mapping[str, Any]], list[Resource]]


def _one(mapper: Callable[[Mapping[str, Any]], Resource]) -> ToFhir:
    return lambda row: [mapper(row)]


def _response(row: Mapping[str, Any]) -> list[Resource]:
    return [questionnaire.to_fhir(row), *observation.scores_to_fhir(row)]


SECTIONS: tuple[tuple[type[Base], ToFhir], ...] = (
    (Episode, _one(condition.to_fhir)),
    (PainRating, _one(observation.pain_to_fhir)),
    (StrengthTest, _one(observation.strength_to_fhir)),
    (FunctionTest, _one(observation.function_to_fhir)),
    (Encounter, imaging.to_fhir),
    (QuestionnaireResponse, _response),
    (Procedure, _one(procedure.to_fhir)),
    (Medication, _one(medication.to_fhir)),
    (TherapyRegimen, _one(careplan.to_fhir)),
    (Goal, _one(goal.to_fhir)),
)
"""What is exported, in Bundle order, and how."""


def _staff(actor: Actor) -> str:
    if actor.role not in (Role.ADMIN.value, Role.CLINICIAN.value) or not actor.clinic_id:
        raise AccessRefused("patient", None, "export")
    return actor.clinic_id


def _rows(session: Session, model: type[Base], **where: str) -> Iterator[Any]:
    table = model.__table__
    query = select(table).where(*(table.c[k] == v for k, v in where.items())).order_by(table.c.id)
    result = session.execute(query.execution_options(yield_per=1000))
    yield from result.mappings()


def patient_resources(session: Session, patient_row: Any) -> Iterator[Resource]:
    """Every resource of one patient's record, Patient first."""
    yield patient.to_fhir(patient_row)
    used: set[str] = set()
    for model, mapper in SECTIONS:
        for row in _rows(session, model, patient_id=patient_row["id"]):
            if model is QuestionnaireResponse:
                used.add(row["instrument"])
            yield from mapper(row)
    yield from _questionnaires(used)


def _questionnaires(used: set[str]) -> Iterator[Resource]:
    """The Questionnaires of the instruments answered in what is exported, and no others
    (not those a clinic never used, or switched off for want of a licence)."""
    for instrument_id in sorted(used):
        try:
            yield questionnaire.questionnaire_to_fhir(instruments.get(instrument_id))
        except KeyError:  # an instrument hipspine no longer ships
            continue


def patient_record(session: Session, actor: Actor, patient_id: str) -> list[Resource]:
    """Every resource of one patient's record, Patient first, if ``actor`` may read it.

    Staff read their clinic's patients, a patient only themselves; anyone else gets
    :class:`AccessRefused` ("not found"). Audited as a read and an ``export``, in
    ``session``.
    """
    Records(session, actor).patient(patient_id)  # authorises (not found otherwise)
    row = (
        session.execute(select(Patient.__table__).where(Patient.__table__.c.id == patient_id))
        .mappings()
        .one()
    )
    resources = list(patient_resources(session, row))
    append_audit(session, actor, "export", [patient_id])
    return resources


def export_patient(db: Database, actor: Actor, patient_id: str) -> Resource:
    """One patient's whole record as a FHIR R4 collection Bundle (audited read)."""
    _staff(actor)
    with db.transaction() as session:
        resources = patient_record(session, actor, patient_id)
    return bundle.build(resources)


def export_all(
    db: Database,
    actor: Actor,
    folder: Path,
    *,
    progress: Callable[[str, int], None] | None = None,
) -> dict[str, int]:
    """The clinic's whole registry as Bulk Data NDJSON files in ``folder``.

    Streams rows (``yield_per``) and writes each resource as it is made, so memory does not
    grow with the database. Returns the number of resources written per type.
    """
    clinic_id = _staff(actor)
    with db.transaction() as session, ndjson.Writer(folder) as writer:
        batch: list[str] = []
        for row in _rows(session, Patient, clinic_id=clinic_id):
            writer.write(patient.to_fhir(row))
            batch.append(row["id"])
            if len(batch) >= 1000:
                append_audit(session, actor, "export", batch)
                batch = []
        append_audit(session, actor, "export", batch)
        if progress:
            progress("Patient", writer.counts.get("Patient", 0))
        used: set[str] = set()
        for model, mapper in SECTIONS:
            for number, row in enumerate(_rows(session, model, clinic_id=clinic_id), start=1):
                if model is QuestionnaireResponse:
                    used.add(row["instrument"])
                for resource in mapper(row):
                    writer.write(resource)
                if progress and number % 10_000 == 0:
                    progress(model.__tablename__, sum(writer.counts.values()))
            if progress:
                progress(model.__tablename__, sum(writer.counts.values()))
        for resource in _questionnaires(used):
            writer.write(resource)
        return dict(writer.counts)

"""Export hipspine records as FHIR R4: one patient's Bundle, or the whole clinic as Bulk
Data NDJSON (one file per resource type) streamed with bounded memory.

Records are read in id order, so the same records always give the same output, and a
hipspine export imported into another database exports identically. Every export is
authorised (clinic staff, own clinic only) and audited: one ``export`` entry per patient.

Not carried: stored assessments and red-flag acknowledgements (a clinic assesses a case
and acknowledges a flag itself: until it does, the receiving clinic's patient list and
report say the case is not yet assessed, so no red flag passes unchecked), staff (see
Encounter), and how a questionnaire arrived (portal or clinic).
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
    encounter,
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


def _visit(row: Mapping[str, Any]) -> list[Resource]:
    return [encounter.to_fhir(row), *imaging.to_fhir(row)]


SECTIONS: tuple[tuple[type[Base], ToFhir], ...] = (
    (Episode, _one(condition.to_fhir)),
    (Encounter, _visit),
    (PainRating, _one(observation.pain_to_fhir)),
    (StrengthTest, _one(observation.strength_to_fhir)),
    (FunctionTest, _one(observation.function_to_fhir)),
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
    progress: Callable[[str, int, int], None] | None = None,
    audit_batch: int = 1000,
) -> dict[str, int]:
    """The clinic's whole registry as Bulk Data NDJSON files in ``folder``, with their
    Bulk Data manifest (``manifest.json``).

    Reads one read-only snapshot of the database (:meth:`Database.snapshot`), so however
    long it runs no writer waits for it, and the files show one moment of the registry.
    Streams rows (``yield_per``) and writes each resource as it is made, so memory does not
    grow with the database. Each patient gets one ``export`` audit entry, written in a short
    transaction per ``audit_batch`` patients *before* any of their data is written out.
    ``progress(stage, rows_done, rows_total)`` follows the rows written (counted first, in
    the same snapshot). Returns the number of resources written per type.
    """
    from datetime import UTC, datetime

    from sqlalchemy import func

    clinic_id = _staff(actor)
    # Bulk Data: resources changed up to this instant are all in the export (the snapshot
    # is taken after it).
    started = datetime.now(UTC)
    with db.snapshot() as session, ndjson.Writer(folder) as writer:
        tables = [Patient.__table__, *(model.__table__ for model, _ in SECTIONS)]
        total = sum(
            session.execute(
                select(func.count()).select_from(table).where(table.c.clinic_id == clinic_id)
            ).scalar_one()
            for table in tables
        )
        done = 0
        batch: list[Any] = []

        def write_patients() -> None:
            nonlocal done, batch
            if batch:
                with db.transaction() as audited:
                    append_audit(audited, actor, "export", [row["id"] for row in batch])
            for row in batch:
                writer.write(patient.to_fhir(row))
            done, batch = done + len(batch), []
            if progress:
                progress("patient", done, total)

        for row in _rows(session, Patient, clinic_id=clinic_id):
            batch.append(row)
            if len(batch) >= audit_batch:
                write_patients()
        write_patients()
        used: set[str] = set()
        for model, mapper in SECTIONS:
            for row in _rows(session, model, clinic_id=clinic_id):
                if model is QuestionnaireResponse:
                    used.add(row["instrument"])
                for resource in mapper(row):
                    writer.write(resource)
                done += 1
                if progress and done % 1000 == 0:
                    progress(model.__tablename__, done, total)
            if progress:
                progress(model.__tablename__, done, total)
        for resource in _questionnaires(used):
            writer.write(resource)
        writer.manifest(started)
        return dict(writer.counts)

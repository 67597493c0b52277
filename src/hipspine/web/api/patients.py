"""Patients of the clinic (a patient sees only themselves)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query

from hipspine.store.models import Patient
from hipspine.web.api.common import (
    Email,
    In,
    Limit,
    Moment,
    Name,
    Offset,
    Out,
    Page,
    PatientId,
    Str40,
    Versioned,
    not_null,
    page_of,
)
from hipspine.web.deps import EVERYONE, STAFF, RecordsDep, allow
from hipspine.web.problems import responses

router = APIRouter(prefix="/api/patients", tags=["patients"])
Sex = Literal["male", "female", "other", "unknown"]


class PatientIn(In):
    name: Name
    identifier: Str40 | None = None
    birth_date: date | None = None
    sex: Sex = "unknown"
    email: Email | None = None


class PatientUpdate(Versioned):
    name: Name | None = None
    identifier: Str40 | None = None
    birth_date: date | None = None
    sex: Sex | None = None
    email: Email | None = None


class PatientOut(Out):
    id: str
    identifier: str | None
    name: str
    birth_date: date | None
    sex: str
    email: str | None
    created_at: Moment
    updated_at: Moment
    version: int


Search = Annotated[
    str | None,
    Query(max_length=100, pattern=r"^[^\x00%_]*$", description="Part of the name"),
]


@router.get(
    "",
    response_model=Page[PatientOut],
    responses=responses(401, 422),
    dependencies=[Depends(allow(*EVERYONE))],
    summary="List the clinic's patients (a patient: only themselves)",
)
def list_patients(
    records: RecordsDep, offset: Offset = 0, limit: Limit = 50, search: Search = None
) -> Any:
    return page_of(PatientOut, records.patients(offset=offset, limit=limit, search=search))


@router.post(
    "",
    status_code=201,
    response_model=PatientOut,
    responses=responses(401, 403, 409, 422),
    dependencies=[Depends(allow(*STAFF, resource="patient", action="create"))],
    summary="Register a patient",
)
def create_patient(body: PatientIn, records: RecordsDep) -> Any:
    return PatientOut.model_validate(records.add_patient(**body.model_dump()))


@router.get(
    "/{patient_id}",
    response_model=PatientOut,
    responses=responses(401, 404, 422),
    dependencies=[Depends(allow(*EVERYONE))],
    summary="Read a patient",
)
def read_patient(patient_id: PatientId, records: RecordsDep) -> Any:
    return PatientOut.model_validate(records.patient(patient_id))


@router.patch(
    "/{patient_id}",
    response_model=PatientOut,
    responses=responses(401, 403, 404, 409, 422),
    dependencies=[Depends(allow(*STAFF, resource="patient", action="update"))],
    summary="Change a patient's details (send the version you read)",
)
def update_patient(patient_id: PatientId, body: PatientUpdate, records: RecordsDep) -> Any:
    changes = body.model_dump(exclude_unset=True, exclude={"version"})
    not_null(Patient, changes)
    return PatientOut.model_validate(records.update(Patient, patient_id, body.version, changes))

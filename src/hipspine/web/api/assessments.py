"""Assessments: the hip–spine engine run on an encounter's case, stored with its version."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from pydantic import Field

from hipspine.clinical.assessment import assess, to_dict
from hipspine.clinical.case import CaseError, parse_case
from hipspine.clinical.vocabulary import Stage
from hipspine.store.models import Encounter, StoredAssessment
from hipspine.web.api.common import Id, In, PatientId, RecordOut, require_owned
from hipspine.web.api.resources import WRITE_ERRORS, Kind, add_routes
from hipspine.web.deps import STAFF, RecordsDep, allow
from hipspine.web.problems import invalid

router = APIRouter(prefix="/api", tags=["assessments"])


class AssessmentIn(In):
    encounter_id: Id = Field(description="The encounter whose case is assessed")
    through: Stage | None = Field(
        default=None, description="Assess the case as it stood after this stage of the visit"
    )


class AssessmentOut(RecordOut):
    encounter_id: str | None
    engine_version: str
    category: str
    result: dict[str, Any]


@router.post(
    "/patients/{patient_id}/assessments",
    status_code=201,
    response_model=AssessmentOut,
    responses=WRITE_ERRORS,
    dependencies=[Depends(allow(*STAFF, resource="assessment", action="create"))],
    summary="Assess an encounter's case and store the result with the engine version",
)
def create_assessment(patient_id: PatientId, body: AssessmentIn, records: RecordsDep) -> Any:
    records.check_patient(StoredAssessment, patient_id, "create")
    require_owned(records.session, Encounter, body.encounter_id, patient_id, "encounter_id")
    encounter = records.get_of(Encounter, patient_id, body.encounter_id)
    if encounter.case is None:
        raise invalid("encounter_id", "this encounter has no case to assess")
    try:
        case = parse_case(encounter.case)
    except CaseError:
        # Stored cases were validated on write; one that no longer parses predates a
        # vocabulary change and must be corrected before it is assessed.
        raise invalid("encounter_id", "this encounter's case no longer validates") from None
    result = to_dict(assess(case, through=body.through))
    record = records.add(
        StoredAssessment(
            patient_id=patient_id,
            encounter_id=encounter.id,
            engine_version=result["engine_version"],
            category=result["conclusion"]["category"],
            result=result,
        )
    )
    return AssessmentOut.model_validate(record)


add_routes(router, Kind("assessments", "assessment", StoredAssessment, AssessmentOut))

"""Episodes, encounters and the measurements and plans recorded for a patient.

Names of regions, muscles, conditions, MRC grades and spinal levels are checked against the
clinical vocabulary (one source of truth); a case document is checked by
:func:`hipspine.clinical.case.parse_case`, and every refusal names the field at fault.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal, get_args

import annotated_types
from fastapi import APIRouter, Depends
from pydantic import Field, ValidationError, ValidationInfo, field_validator

from hipspine.clinical.case import CaseError, UsePattern, condition_ids, parse_case
from hipspine.clinical.mmt import MRC_GRADES, MRCGrade
from hipspine.clinical.series import FunctionTests
from hipspine.clinical.vocabulary import SPINAL_LEVELS, Side, muscles, regions
from hipspine.reports.progress import FUNCTION_FIELDS
from hipspine.store.models import (
    Encounter,
    EncounterKind,
    Episode,
    FunctionTest,
    Goal,
    Guidance,
    Medication,
    PainRating,
    Procedure,
    ProcedureType,
    Role,
    StrengthTest,
    TherapyRegimen,
)
from hipspine.store.records import Records
from hipspine.web.api.common import (
    Id,
    In,
    Label40,
    Label120,
    Note,
    PathId,
    PatientId,
    RecordOut,
    Str40,
    Str60,
    Str200,
    Str500,
    Text2000,
    Versioned,
    not_null,
    require_owned,
    require_staff_user,
)
from hipspine.web.api.resources import WRITE_ERRORS, Kind, add_routes
from hipspine.web.deps import STAFF, RecordsDep, allow
from hipspine.web.problems import FieldError, Invalid, invalid

router = APIRouter(prefix="/api", tags=["clinical records"])


def _one_of(kind: str, value: str, allowed: list[str] | tuple[str, ...]) -> str:
    if value not in allowed:
        raise ValueError(f"unknown {kind}; allowed: {', '.join(allowed)}")
    return value


def _enum(values: list[str] | tuple[str, ...], description: str) -> Any:
    return Field(description=description, json_schema_extra={"enum": list(values)})


# -- episodes -------------------------------------------------------------------------


class EpisodeIn(In):
    condition: str = _enum(condition_ids(), "The condition treated (case vocabulary)")
    side: Side | None = None
    started_on: date
    closed_on: date | None = None

    @field_validator("condition")
    @classmethod
    def _condition(cls, value: str) -> str:
        return _one_of("condition", value, condition_ids())


class EpisodeUpdate(Versioned):
    condition: str | None = Field(default=None, json_schema_extra={"enum": list(condition_ids())})
    side: Side | None = None
    started_on: date | None = None
    closed_on: date | None = None

    @field_validator("condition")
    @classmethod
    def _condition(cls, value: str | None) -> str | None:
        return None if value is None else _one_of("condition", value, condition_ids())


class EpisodeOut(RecordOut):
    condition: str
    side: str | None
    started_on: date
    closed_on: date | None
    version: int


def _episode(body: EpisodeIn, records: Records, patient_id: str) -> dict[str, Any]:
    return body.model_dump()


# -- encounters -----------------------------------------------------------------------


def _case_errors(error: CaseError) -> Invalid:
    fields = []
    for problem in error.problems:
        where, _, message = problem.partition(": ")
        fields.append(FieldError(field=f"case.{where}", location="body", message=message))
    return Invalid(fields, "The case document does not follow hipspine.case/1.")


class EncounterIn(In):
    kind: EncounterKind
    occurred_on: date
    episode_id: Id | None = None
    clinician_id: Id | None = Field(default=None, description="Defaults to the signed-in clinician")
    case: dict[str, Any] | None = Field(
        default=None, description="A hipspine.case/1 document (see `hipspine schema case`)"
    )
    note: Note | None = None


class EncounterUpdate(Versioned):
    kind: EncounterKind | None = None
    occurred_on: date | None = None
    episode_id: Id | None = None
    clinician_id: Id | None = None
    case: dict[str, Any] | None = None
    note: Note | None = None


class EncounterOut(RecordOut):
    kind: str
    occurred_on: date
    episode_id: str | None
    clinician_id: str | None
    case: dict[str, Any] | None
    note: str | None
    version: int


def _check_encounter(body: Any, records: Records, patient_id: str) -> dict[str, Any]:
    fields: dict[str, Any] = body.model_dump(exclude_unset=True, exclude={"version"})
    if fields.get("case") is not None:
        try:
            parse_case(fields["case"])
        except CaseError as error:
            raise _case_errors(error) from None
    require_owned(records.session, Episode, fields.get("episode_id"), patient_id, "episode_id")
    require_staff_user(
        records.session, fields.get("clinician_id"), records.actor.clinic_id, "clinician_id"
    )
    return fields


def _encounter(body: EncounterIn, records: Records, patient_id: str) -> dict[str, Any]:
    fields = _check_encounter(body, records, patient_id)
    if fields.get("clinician_id") is None and records.actor.role != Role.PATIENT.value:
        fields["clinician_id"] = records.actor.user_id
    return fields


# -- pain ratings ---------------------------------------------------------------------


class PainRatingIn(In):
    region: str = _enum(tuple(regions()), "Body region (pain map vocabulary)")
    side: Side
    intensity: int = Field(ge=0, le=10, description="0 no pain … 10 worst imaginable")
    recall: Label40 = "past week"
    rated_on: date
    encounter_id: Id | None = None

    @field_validator("region")
    @classmethod
    def _region(cls, value: str) -> str:
        return _one_of("region", value, tuple(regions()))


class PainRatingOut(RecordOut):
    region: str
    side: str
    intensity: int
    recall: str
    rated_on: date
    encounter_id: str | None


def _pain_rating(body: PainRatingIn, records: Records, patient_id: str) -> dict[str, Any]:
    allowed = regions()[body.region].sides
    if body.side not in allowed:
        raise invalid(
            "side",
            f"not used for region {body.region!r}; allowed: {', '.join(s.value for s in allowed)}",
        )
    require_owned(records.session, Encounter, body.encounter_id, patient_id, "encounter_id")
    return body.model_dump()


# -- strength -------------------------------------------------------------------------


class StrengthTestIn(In):
    muscle: str = _enum(tuple(muscles()), "Muscle (vocabulary)")
    side: Side | None = None
    mrc: str | None = Field(
        default=None,
        description="Manual muscle test, MRC 0–5 with optional +/−",
        json_schema_extra={"enum": [*MRC_GRADES, None]},
    )
    action: Str40 | None = None
    position: Str40 | None = None
    force: float | None = Field(default=None, gt=0, le=5000, description="Dynamometer reading")
    unit: Literal["N", "kg", "lbf", "Nm"] | None = None
    lever_arm_m: float | None = Field(default=None, gt=0, le=2)
    tested_on: date
    encounter_id: Id | None = None

    @field_validator("muscle")
    @classmethod
    def _muscle(cls, value: str) -> str:
        return _one_of("muscle", value, tuple(muscles()))

    @field_validator("mrc")
    @classmethod
    def _mrc(cls, value: str | None) -> str | None:
        return None if value is None else str(MRCGrade.parse(value))


class StrengthTestOut(RecordOut):
    muscle: str
    side: str | None
    mrc: str | None
    action: str | None
    position: str | None
    force: float | None
    unit: str | None
    lever_arm_m: float | None
    tested_on: date
    encounter_id: str | None


def _strength(body: StrengthTestIn, records: Records, patient_id: str) -> dict[str, Any]:
    if body.mrc is None and body.force is None:
        raise invalid("mrc", "give an MRC grade, a dynamometer force, or both")
    if body.force is not None and body.unit is None:
        raise invalid("unit", "a force needs its unit; allowed: N, kg, lbf, Nm")
    if muscles()[body.muscle].lateral and body.side not in (Side.LEFT, Side.RIGHT):
        raise invalid("side", f"{body.muscle} is tested on one side; allowed: left, right")
    require_owned(records.session, Encounter, body.encounter_id, patient_id, "encounter_id")
    return body.model_dump()


# -- function -------------------------------------------------------------------------

FUNCTION_UNITS = {"six_minute_walk": "m", "chair_stand_30s": "stands", "gait_speed": "m/s"}


def function_limits(test: str) -> tuple[float, float, bool]:
    """(lowest, highest, whole numbers only) for a function test, read from the clinical
    core's series model, which refuses anything else when it computes the trajectory."""
    field = FunctionTests.model_fields[FUNCTION_FIELDS[test]]
    low: Any = next(m.ge for m in field.metadata if isinstance(m, annotated_types.Ge))
    high: Any = next(m.le for m in field.metadata if isinstance(m, annotated_types.Le))
    return float(low), float(high), int in get_args(field.annotation)


def function_value_problem(test: str, value: float) -> str | None:
    """Why the clinical core would refuse ``value`` for ``test``, or None if it accepts it."""
    try:
        FunctionTests.model_validate({FUNCTION_FIELDS[test]: value})
    except ValidationError:
        low, high, whole = function_limits(test)
        kind = "a whole number" if whole else "a number"
        return f"{test} must be {kind} from {low:g} to {high:g} {FUNCTION_UNITS[test]}"
    return None


class FunctionTestIn(In):
    test: Literal["six_minute_walk", "chair_stand_30s", "gait_speed"]
    value: float = Field(
        ge=0,
        le=max(function_limits(t)[1] for t in FUNCTION_UNITS),
        description="; ".join(
            f"{t}: {function_limits(t)[0]:g}–{function_limits(t)[1]:g} {u}"
            for t, u in FUNCTION_UNITS.items()
        ),
    )
    unit: str | None = Field(
        default=None,
        description="m (six-minute walk), stands (30-second chair stand), m/s (gait speed)",
        json_schema_extra={"enum": ["m", "stands", "m/s", None]},
    )
    tested_on: date
    encounter_id: Id | None = None


class FunctionTestOut(RecordOut):
    test: str
    value: float
    unit: str
    tested_on: date
    encounter_id: str | None


def _function(body: FunctionTestIn, records: Records, patient_id: str) -> dict[str, Any]:
    unit = FUNCTION_UNITS[body.test]
    if body.unit is not None and body.unit != unit:
        raise invalid("unit", f"{body.test} is recorded in {unit}")
    if problem := function_value_problem(body.test, body.value):
        raise invalid("value", problem)
    require_owned(records.session, Encounter, body.encounter_id, patient_id, "encounter_id")
    return {**body.model_dump(), "unit": unit}


# -- medications ----------------------------------------------------------------------


class MedicationIn(In):
    name: Label120
    dose: Str60 | None = None
    pattern: UsePattern = Field(description="regular, as_needed (e.g. on bad days) or stopped")
    days_per_week: float | None = Field(default=None, ge=0, le=7)
    indication: Str200 | None = None
    started_on: date | None = None
    stopped_on: date | None = None


class MedicationUpdate(Versioned):
    name: Label120 | None = None
    dose: Str60 | None = None
    pattern: UsePattern | None = None
    days_per_week: float | None = Field(default=None, ge=0, le=7)
    indication: Str200 | None = None
    started_on: date | None = None
    stopped_on: date | None = None


class MedicationOut(RecordOut):
    name: str
    dose: str | None
    pattern: str
    days_per_week: float | None
    indication: str | None
    started_on: date | None
    stopped_on: date | None
    version: int


def _medication(body: MedicationIn, records: Records, patient_id: str) -> dict[str, Any]:
    return body.model_dump()


# -- procedures -----------------------------------------------------------------------

TARGET_SITES = (
    "hip_joint", "facet", "sacroiliac_joint", "epidural", "greater_trochanter",
    "iliopsoas_bursa", "muscle", "tendon", "other",
)  # fmt: skip


class Target(In):
    site: str = _enum(TARGET_SITES, "Where the injection went")
    side: Side | None = None
    level: str | None = Field(
        default=None,
        description="Spinal level for facet and epidural targets",
        json_schema_extra={"enum": [*SPINAL_LEVELS, None]},
    )
    detail: Str200 | None = None

    @field_validator("site")
    @classmethod
    def _site(cls, value: str) -> str:
        return _one_of("site", value, TARGET_SITES)

    @field_validator("level")
    @classmethod
    def _level(cls, value: str | None) -> str | None:
        return None if value is None else _one_of("spinal level", value, SPINAL_LEVELS)


class ProcedureIn(In):
    type: ProcedureType
    targets: list[Target] = Field(min_length=1, max_length=20)
    guidance: Guidance
    performed_on: date
    operator_id: Id | None = Field(default=None, description="Defaults to the signed-in clinician")
    episode_id: Id | None = None
    note: Note | None = None


class ProcedureOut(RecordOut):
    type: str
    targets: list[dict[str, Any]]
    guidance: str
    performed_on: date
    operator_id: str | None
    episode_id: str | None
    note: str | None


def _procedure(body: ProcedureIn, records: Records, patient_id: str) -> dict[str, Any]:
    require_owned(records.session, Episode, body.episode_id, patient_id, "episode_id")
    operator = body.operator_id or records.actor.user_id
    require_staff_user(records.session, operator, records.actor.clinic_id, "operator_id")
    fields = body.model_dump(mode="json", exclude={"targets"})
    fields["performed_on"] = body.performed_on
    fields["operator_id"] = operator
    fields["targets"] = [t.model_dump(mode="json", exclude_none=True) for t in body.targets]
    return fields


# -- therapy --------------------------------------------------------------------------


class Exercise(In):
    name: Label120
    target_muscles: list[Annotated[str, Field(json_schema_extra={"enum": list(muscles())})]] = (
        Field(default_factory=list, max_length=10)
    )
    sets: int | None = Field(default=None, ge=1, le=20)
    reps: int | None = Field(default=None, ge=1, le=500)
    hold_seconds: int | None = Field(default=None, ge=0, le=3600)
    per_week: float | None = Field(default=None, ge=0, le=21)
    notes: Str500 | None = None

    @field_validator("target_muscles")
    @classmethod
    def _muscles(cls, value: list[str]) -> list[str]:
        for name in value:
            _one_of("muscle", name, tuple(muscles()))
        return value


_STOPPED_ON = (
    "The regimen's last day; empty (null) while it runs. Not before `started_on`: a regimen "
    "stopped on the day it started lasted that one day."
)


def _stop_problem(started: date, stopped: date | None) -> str | None:
    if stopped is not None and stopped < started:
        return f"must not be before started_on ({started.isoformat()})"
    return None


class TherapyRegimenIn(In):
    started_on: date
    stopped_on: date | None = Field(default=None, description=_STOPPED_ON)
    exercises: list[Exercise] = Field(min_length=1, max_length=50)
    adherence_percent: float | None = Field(default=None, ge=0, le=100)
    episode_id: Id | None = None

    @field_validator("stopped_on")
    @classmethod
    def _stopped(cls, value: date | None, info: ValidationInfo) -> date | None:
        started = info.data.get("started_on")
        if started is not None and (problem := _stop_problem(started, value)):
            raise ValueError(problem)
        return value


class TherapyRegimenUpdate(Versioned):
    started_on: date | None = None
    stopped_on: date | None = Field(default=None, description=_STOPPED_ON)
    exercises: list[Exercise] | None = Field(default=None, min_length=1, max_length=50)
    adherence_percent: float | None = Field(default=None, ge=0, le=100)
    episode_id: Id | None = None


class TherapyRegimenOut(RecordOut):
    started_on: date
    stopped_on: date | None
    exercises: list[dict[str, Any]]
    adherence_percent: float | None
    episode_id: str | None
    version: int


def _check_regimen(body: Any, records: Records, patient_id: str) -> dict[str, Any]:
    fields: dict[str, Any] = body.model_dump(exclude_unset=True, exclude={"version"})
    require_owned(records.session, Episode, fields.get("episode_id"), patient_id, "episode_id")
    if "exercises" in fields and body.exercises is not None:
        fields["exercises"] = [e.model_dump(mode="json", exclude_none=True) for e in body.exercises]
    return fields


def update_therapy_regimens(
    patient_id: PatientId, record_id: PathId, body: TherapyRegimenUpdate, records: RecordsDep
) -> Any:
    """The shared change route (``resources.add_routes``) with one more check: the dates
    as they will be stored, the body's over the record's, keep ``stopped_on`` on or after
    ``started_on`` (a change of either may break it)."""
    not_null(TherapyRegimen, body.model_dump(exclude_unset=True, exclude={"version"}))
    records.check_patient(TherapyRegimen, patient_id, "update")
    changes = _check_regimen(body, records, patient_id)
    current = records.session.get(TherapyRegimen, record_id)
    if current is not None and current.patient_id == patient_id:
        started = changes.get("started_on", current.started_on)
        problem = _stop_problem(started, changes.get("stopped_on", current.stopped_on))
        if problem:
            if "stopped_on" in changes:
                raise invalid("stopped_on", problem)
            raise invalid("started_on", f"must not be after stopped_on ({current.stopped_on})")
    record = records.update_of(TherapyRegimen, patient_id, record_id, body.version, changes)
    return TherapyRegimenOut.model_validate(record)


# -- goals ----------------------------------------------------------------------------


class GoalRating(In):
    rated_on: date
    level: int = Field(ge=-2, le=2, description="Goal attainment scaling −2 … +2")


class GoalIn(In):
    description: Text2000
    target_date: date | None = None
    psfs_activity: Str200 | None = None
    ratings: list[GoalRating] = Field(default_factory=list, max_length=200)


class GoalUpdate(Versioned):
    description: Text2000 | None = None
    target_date: date | None = None
    psfs_activity: Str200 | None = None
    ratings: list[GoalRating] | None = Field(default=None, max_length=200)


class GoalOut(RecordOut):
    description: str
    target_date: date | None
    psfs_activity: str | None
    ratings: list[dict[str, Any]]
    version: int


def _check_goal(body: Any, records: Records, patient_id: str) -> dict[str, Any]:
    fields: dict[str, Any] = body.model_dump(exclude_unset=True, exclude={"version"})
    if body.ratings is not None and "ratings" in fields:
        fields["ratings"] = [r.model_dump(mode="json") for r in body.ratings]
    return fields


KINDS = (
    Kind("episodes", "episode of care", Episode, EpisodeOut, EpisodeIn, _episode, EpisodeUpdate),
    Kind(
        "encounters",
        "encounter",
        Encounter,
        EncounterOut,
        EncounterIn,
        _encounter,
        EncounterUpdate,
        _check_encounter,
    ),
    Kind(
        "pain-ratings",
        "pain rating",
        PainRating,
        PainRatingOut,
        PainRatingIn,
        _pain_rating,
        patient_may_create=True,
    ),
    Kind(
        "strength-tests", "strength test", StrengthTest, StrengthTestOut, StrengthTestIn, _strength
    ),
    Kind(
        "function-tests", "function test", FunctionTest, FunctionTestOut, FunctionTestIn, _function
    ),
    Kind(
        "medications",
        "medication",
        Medication,
        MedicationOut,
        MedicationIn,
        _medication,
        MedicationUpdate,
    ),
    Kind("procedures", "procedure", Procedure, ProcedureOut, ProcedureIn, _procedure),
    # Changed through update_therapy_regimens (below), which also checks the dates.
    Kind(
        "therapy-regimens",
        "therapy regimen",
        TherapyRegimen,
        TherapyRegimenOut,
        TherapyRegimenIn,
        _check_regimen,
    ),
    Kind("goals", "goal", Goal, GoalOut, GoalIn, _check_goal, GoalUpdate, _check_goal),
)

for _kind in KINDS:
    add_routes(router, _kind)

router.add_api_route(
    "/patients/{patient_id}/therapy-regimens/{record_id}",
    update_therapy_regimens,
    methods=["PATCH"],
    name="update_therapy_regimens",
    summary="Change a therapy regimen (send the version you read)",
    description="Stop a running regimen by setting `stopped_on` (its last day, not before "
    "`started_on`); clear it with null to resume.",
    response_model=TherapyRegimenOut,
    responses=WRITE_ERRORS,
    dependencies=[Depends(allow(*STAFF, resource=TherapyRegimen.__tablename__, action="update"))],
)

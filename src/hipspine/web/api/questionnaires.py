"""Questionnaire responses (scored by the clinical core at save time), the instruments a
clinic offers, and the portal links by which patients fill them in."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response
from pydantic import Field, StringConstraints, field_validator
from sqlalchemy.orm import Session

from hipspine.clinical import instruments
from hipspine.store.models import Clinic, Encounter, PortalLink, QuestionnaireResponse, Role, now
from hipspine.store.records import Records
from hipspine.web import auth
from hipspine.web.api.common import (
    Id,
    In,
    Limit,
    Moment,
    Offset,
    Out,
    Page,
    PathId,
    PatientId,
    RecordOut,
    page_of,
    require_owned,
)
from hipspine.web.api.resources import (
    READ_ERRORS,
    STAFF_READ_ERRORS,
    WRITE_ERRORS,
    Kind,
    add_routes,
)
from hipspine.web.context import WebContext
from hipspine.web.deps import EVERYONE, STAFF, ActorDep, RecordsDep, SessionDep, WebDep, allow
from hipspine.web.problems import FieldError, Invalid, ProblemError, invalid

router = APIRouter(prefix="/api", tags=["questionnaires"])

AnswerValue = int | Annotated[str, StringConstraints(max_length=200)]
AnswerMap = dict[
    Annotated[str, StringConstraints(max_length=80)],
    AnswerValue | list[AnswerValue] | None,
]
SubmissionKey = Annotated[
    str, StringConstraints(min_length=1, max_length=80, pattern=r"^[\x21-\x7e]+$")
]
InstrumentId = Annotated[
    str,
    Field(
        description="Instrument id", json_schema_extra={"enum": list(instruments.INSTRUMENT_IDS)}
    ),
]


def _known(value: str) -> str:
    if value not in instruments.INSTRUMENT_IDS:
        raise ValueError(f"unknown instrument; allowed: {', '.join(instruments.INSTRUMENT_IDS)}")
    return value


def disabled_instruments(session: Session, clinic_id: str | None) -> set[str]:
    """The instruments the clinic switched off."""
    clinic = session.get(Clinic, clinic_id) if clinic_id else None
    return set(clinic.disabled_instruments or ()) if clinic else set()


def scored(
    session: Session, clinic_id: str | None, instrument_id: str, answers: Mapping[str, Any]
) -> dict[str, Any]:
    """The stored fields of a response: scored by the instrument's own scorer, once."""
    if instrument_id in disabled_instruments(session, clinic_id):
        raise invalid("instrument", "this clinic has switched this instrument off")
    try:
        result = instruments.score(instrument_id, answers)
    except instruments.InvalidAnswers as error:
        raise Invalid(
            [
                FieldError(
                    field=f"answers.{error.item}",
                    location="body",
                    message=str(error).split(": ", 1)[-1],
                )
            ]
        ) from None
    return {
        "instrument": instrument_id,
        "instrument_version": result.version,
        "answers": dict(answers),
        "context": dict(result.context),
        "score": result.value,
        "subscales": {key: sub.as_record() for key, sub in result.subscales.items()},
        "band": result.band.id if result.band else None,
    }


class ResponseIn(In):
    instrument: InstrumentId
    answers: AnswerMap = Field(max_length=100, description="Item id → option value or label")
    completed_on: date
    encounter_id: Id | None = None
    submission_key: SubmissionKey | None = Field(
        default=None,
        description="Your key for this submission: sending it again returns the stored "
        "response instead of storing a duplicate",
    )

    @field_validator("instrument")
    @classmethod
    def _instrument(cls, value: str) -> str:
        return _known(value)


class ResponseOut(RecordOut):
    instrument: str
    instrument_version: str
    answers: dict[str, Any]
    context: dict[str, Any]
    score: float | None
    subscales: dict[str, Any]
    band: str | None
    completed_on: date
    source: str
    submission_key: str | None
    encounter_id: str | None


def _duplicate(records: Records, patient_id: str, key: str | None, instrument: str) -> Any:
    if key is None:
        return None
    existing = records.response_by_submission_key(patient_id, key)
    if existing is not None and existing.instrument != instrument:
        raise ProblemError(
            409,
            "This submission_key was already used for another questionnaire.",
            errors=[FieldError(field="submission_key", location="body", message="already used")],
        )
    return existing


@router.post(
    "/patients/{patient_id}/questionnaire-responses",
    status_code=201,
    response_model=ResponseOut,
    responses={200: {"description": "Already stored under this submission_key"}, **WRITE_ERRORS},
    dependencies=[
        Depends(
            allow(*EVERYONE, resource="questionnaire_response", action="create"),
        )
    ],
    summary="Record a completed questionnaire (scored on save)",
)
def create_response(
    patient_id: PatientId, body: ResponseIn, records: RecordsDep, response: Response
) -> Any:
    records.check_patient(QuestionnaireResponse, patient_id, "create")
    existing = _duplicate(records, patient_id, body.submission_key, body.instrument)
    if existing is not None:
        response.status_code = 200
        return ResponseOut.model_validate(existing)
    require_owned(records.session, Encounter, body.encounter_id, patient_id, "encounter_id")
    fields = scored(records.session, records.actor.clinic_id, body.instrument, body.answers)
    source = "portal" if records.actor.role == Role.PATIENT.value else "clinic"
    record = records.add(
        QuestionnaireResponse(
            patient_id=patient_id,
            encounter_id=body.encounter_id,
            completed_on=body.completed_on,
            submission_key=body.submission_key,
            source=source,
            **fields,
        )
    )
    return ResponseOut.model_validate(record)


# -- instruments ----------------------------------------------------------------------


class OptionOut(Out):
    value: int
    label: str


class ItemOut(Out):
    id: str
    text: str
    kind: str
    section: str | None
    options: list[OptionOut]
    allowed_text: list[str]


class InstrumentOut(Out):
    id: str
    name: str
    short_name: str
    version: str
    recall_period: str
    instructions: str
    licence_notice: str
    items: list[ItemOut]


def instrument_forms(ids: Iterable[str]) -> list[InstrumentOut]:
    """The forms (items with their text and answer options) of these instruments."""
    forms = []
    for instrument_id in ids:
        i = instruments.get(instrument_id)
        forms.append(
            InstrumentOut(
                id=i.id,
                name=i.name,
                short_name=i.short_name,
                version=i.version,
                recall_period=i.recall_period,
                instructions=i.instructions,
                licence_notice=i.licence.notice,
                items=[
                    ItemOut(
                        id=item.id,
                        text=item.text,
                        kind=item.kind,
                        section=item.section,
                        options=[OptionOut(value=o.value, label=o.label) for o in item.options],
                        allowed_text=list(item.allowed_text),
                    )
                    for item in i.items
                ],
            )
        )
    return forms


@router.get(
    "/instruments",
    response_model=list[InstrumentOut],
    responses=READ_ERRORS,
    dependencies=[Depends(allow(*EVERYONE))],
    tags=["questionnaires"],
    summary="The questionnaires this clinic uses, with item text and answer options",
)
def list_instruments(session: SessionDep, actor: ActorDep) -> Any:
    off = disabled_instruments(session, actor.clinic_id)
    return instrument_forms(i for i in instruments.INSTRUMENT_IDS if i not in off)


# -- portal links ---------------------------------------------------------------------


class PortalLinkIn(In):
    instruments: list[InstrumentId] = Field(
        min_length=1, max_length=len(instruments.INSTRUMENT_IDS)
    )
    expires_in_days: float | None = Field(
        default=None, gt=0, le=30, description="Default: the clinic's setting (7 days)"
    )

    @field_validator("instruments")
    @classmethod
    def _instruments(cls, value: list[str]) -> list[str]:
        for item in value:
            _known(item)
        if len(set(value)) != len(value):
            raise ValueError("lists an instrument twice")
        return value


class PortalLinkOut(Out):
    id: str
    patient_id: str
    instruments: list[str]
    completed: list[str]
    expires_at: Moment
    used_at: Moment | None
    created_at: Moment


class NewPortalLink(PortalLinkOut):
    token: str = Field(description="Shown once: only its hash is stored")
    url: str = Field(description="Link to send to the patient (the token stays in the fragment)")


def portal_url(raw: str) -> str:
    """The patient's link; the token is in the fragment, so it never reaches server logs."""
    return f"/portal#{raw}"


def new_link(
    records: Records, web: WebContext, patient_id: str, body: PortalLinkIn
) -> tuple[PortalLink, str]:
    """Create a portal link for ``patient_id``; returns it with its raw token."""
    off = disabled_instruments(records.session, records.actor.clinic_id)
    for index, instrument_id in enumerate(body.instruments):
        if instrument_id in off:
            raise invalid(f"instruments.{index}", "this clinic has switched this instrument off")
    ttl = timedelta(days=body.expires_in_days) if body.expires_in_days else web.options.portal_ttl
    raw = auth.new_token()
    link = records.add(
        PortalLink(
            patient_id=patient_id,
            token_hash=auth.token_hash(raw),
            instruments=list(body.instruments),
            completed=[],
            expires_at=now() + ttl,
        )
    )
    return link, raw


@router.post(
    "/patients/{patient_id}/portal-links",
    status_code=201,
    response_model=NewPortalLink,
    responses=WRITE_ERRORS,
    dependencies=[Depends(allow(*STAFF, resource="portal_link", action="create"))],
    tags=["portal"],
    summary="Create a single-use, expiring questionnaire link for a patient",
)
def create_portal_link(
    patient_id: PatientId, body: PortalLinkIn, records: RecordsDep, web: WebDep
) -> Any:
    records.check_patient(PortalLink, patient_id, "create")
    link, raw = new_link(records, web, patient_id, body)
    return NewPortalLink.model_validate(
        {**PortalLinkOut.model_validate(link).model_dump(), "token": raw, "url": portal_url(raw)}
    )


@router.get(
    "/patients/{patient_id}/portal-links",
    response_model=Page[PortalLinkOut],
    responses=STAFF_READ_ERRORS,
    dependencies=[Depends(allow(*STAFF, resource="portal_link", action="list"))],
    tags=["portal"],
    summary="A patient's portal links and what was completed through each",
)
def list_portal_links(
    patient_id: PatientId, records: RecordsDep, offset: Offset = 0, limit: Limit = 50
) -> Any:
    return page_of(PortalLinkOut, records.list(PortalLink, patient_id, offset=offset, limit=limit))


@router.delete(
    "/patients/{patient_id}/portal-links/{record_id}",
    status_code=204,
    response_class=Response,
    responses=WRITE_ERRORS,
    dependencies=[Depends(allow(*STAFF, resource="portal_link", action="delete"))],
    tags=["portal"],
    summary="Withdraw a portal link",
)
def delete_portal_link(patient_id: PatientId, record_id: PathId, records: RecordsDep) -> Response:
    records.delete_of(PortalLink, patient_id, record_id)
    return Response(status_code=204)


# Listing, reading and deleting responses share the generic routes.
add_routes(
    router,
    Kind("questionnaire-responses", "questionnaire response", QuestionnaireResponse, ResponseOut),
)

"""The patient portal: due questionnaires reached by a single-use, expiring link.

The link's token travels in the ``X-Portal-Token`` header (the page reads it from the URL
fragment), so it never appears in a request line or a server log. The token is looked up
by its SHA-256; the patient acts as themselves, with no password, and may only list and
submit the questionnaires the link names. Each submission carries a ``submission_key``: a
repeated key returns the stored response instead of adding another. The link is spent
when every named questionnaire is in; an expired or spent link answers 410.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.security import APIKeyHeader
from pydantic import Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from hipspine.clinical.vocabulary import Side, regions
from hipspine.store.audit import Actor
from hipspine.store.models import PainRating, PortalLink, QuestionnaireResponse, Role, now
from hipspine.store.records import Records
from hipspine.web import auth
from hipspine.web.api.common import In, Moment, Out
from hipspine.web.api.questionnaires import (
    AnswerMap,
    InstrumentId,
    InstrumentOut,
    SubmissionKey,
    instrument_forms,
    scored,
)
from hipspine.web.deps import SessionDep, client_address
from hipspine.web.problems import ProblemError, invalid, responses

router = APIRouter(prefix="/api/portal", tags=["portal"])
portal_scheme = APIKeyHeader(
    name="X-Portal-Token",
    auto_error=False,
    scheme_name="portal",
    description="The token from the patient's portal link",
)
PortalToken = Annotated[str | None, Depends(portal_scheme)]


class DueOut(Out):
    expires_at: Moment
    due: list[InstrumentOut]
    completed: list[str]
    pain_map_done: bool = False


class PortalAnswerIn(In):
    instrument: InstrumentId
    answers: AnswerMap = Field(max_length=100)
    submission_key: SubmissionKey = Field(
        description="Your key for this form: sending it again never stores a duplicate"
    )
    completed_on: date | None = None


class PainEntryIn(In):
    region: str = Field(json_schema_extra={"enum": list(regions())})
    side: Side
    intensity: int = Field(ge=0, le=10, description="0 no pain … 10 worst imaginable")


class PainMapIn(In):
    entries: list[PainEntryIn] = Field(max_length=40, description="Marked regions; none = no pain")
    submission_key: SubmissionKey
    rated_on: date | None = None


class PainMapReceiptOut(Out):
    stored: int
    spent: bool


PAIN_MAP = "pain_map"


class ReceiptOut(Out):
    id: str
    instrument: str
    remaining: list[str]
    spent: bool


def _open(
    session: Session, request: Request, token: str | None, *, lock: bool = False
) -> tuple[PortalLink, Records]:
    if not token or len(token) > 200:
        raise ProblemError(401, "Open the link you were sent: it carries the access key.")
    query = select(PortalLink).where(PortalLink.token_hash == auth.token_hash(token))
    if lock:
        # Two forms sent at once must both land in ``completed`` (SQLite already serialises).
        query = query.with_for_update()
    link = session.execute(query).scalar_one_or_none()
    if link is None:
        raise ProblemError(404, "This link is not valid. Ask your clinic for a new one.")
    actor = Actor(
        user_id=None,
        role=Role.PATIENT.value,
        clinic_id=link.clinic_id,
        patient_id=link.patient_id,
        client=client_address(request),
        request_id=getattr(request.state, "request_id", None),
    )
    request.state.actor = actor
    return link, Records(session, actor)


def _usable(link: PortalLink) -> None:
    if link.used_at is not None:
        raise ProblemError(
            410,
            "All questionnaires of this link are already in; it cannot be used again.",
            slug="portal-link-spent",
            title="Link already used",
        )
    if auth.aware(link.expires_at) <= now():
        raise ProblemError(
            410,
            "This link has expired. Ask your clinic for a new one.",
            slug="portal-link-expired",
            title="Link expired",
        )


def _remaining(link: PortalLink) -> list[str]:
    done = set(link.completed or ())
    return [i for i in link.instruments if i not in done]


@router.get(
    "",
    response_model=DueOut,
    responses=responses(401, 404, 410),
    summary="The questionnaires due through this link, with item text",
)
def due(request: Request, session: SessionDep, token: PortalToken) -> Any:
    link, records = _open(session, request, token)
    _usable(link)
    records.note("read", "portal_link", record_id=link.id, patient_id=link.patient_id)
    return DueOut(
        expires_at=link.expires_at,
        due=instrument_forms(_remaining(link)),
        completed=[c for c in link.completed or () if c != PAIN_MAP],
        pain_map_done=PAIN_MAP in (link.completed or ()),
    )


@router.post(
    "/responses",
    status_code=201,
    response_model=ReceiptOut,
    responses={
        200: {"description": "Already received under this submission_key"},
        **responses(401, 404, 409, 410, 422),
    },
    summary="Submit one questionnaire",
)
def submit(
    body: PortalAnswerIn,
    request: Request,
    response: Response,
    session: SessionDep,
    token: PortalToken,
) -> Any:
    link, records = _open(session, request, token, lock=True)
    existing = records.response_by_submission_key(link.patient_id, body.submission_key)
    if existing is not None:
        if existing.instrument != body.instrument or existing.source != "portal":
            raise ProblemError(409, "This submission_key was already used for another form.")
        # A retry of a form already received: answer as before, even once the link is spent.
        response.status_code = 200
        return ReceiptOut(
            id=existing.id,
            instrument=existing.instrument,
            remaining=_remaining(link),
            spent=link.used_at is not None,
        )
    _usable(link)
    remaining = _remaining(link)
    if body.instrument not in remaining:
        due_now = ", ".join(remaining)
        raise invalid("instrument", f"not due through this link; due: {due_now}")
    fields = scored(session, link.clinic_id, body.instrument, body.answers)
    stored = records.add(
        QuestionnaireResponse(
            patient_id=link.patient_id,
            completed_on=body.completed_on or date.today(),
            submission_key=body.submission_key,
            source="portal",
            **fields,
        )
    )
    link.completed = [*(link.completed or ()), body.instrument]
    remaining = _remaining(link)
    if not remaining:
        link.used_at = now()
    session.flush()
    records.note("update", "portal_link", record_id=link.id, patient_id=link.patient_id)
    return ReceiptOut(
        id=stored.id, instrument=body.instrument, remaining=remaining, spent=not remaining
    )


@router.post(
    "/pain-map",
    status_code=201,
    response_model=PainMapReceiptOut,
    responses={
        200: {"description": "A pain map was already received through this link"},
        **responses(401, 404, 410, 422),
    },
    summary="Submit the pain map (one per link; sending it again stores nothing new)",
)
def submit_pain_map(
    body: PainMapIn,
    request: Request,
    response: Response,
    session: SessionDep,
    token: PortalToken,
) -> Any:
    link, records = _open(session, request, token, lock=True)
    if PAIN_MAP in (link.completed or ()):
        # A retry (or a second map) through the same link: the first one stands.
        response.status_code = 200
        return PainMapReceiptOut(stored=0, spent=link.used_at is not None)
    _usable(link)
    seen = set()
    for index, entry in enumerate(body.entries):
        known = regions().get(entry.region)
        if known is None:
            raise invalid(f"entries.{index}.region", f"unknown; allowed: {', '.join(regions())}")
        if entry.side not in known.sides:
            allowed = ", ".join(s.value for s in known.sides)
            raise invalid(f"entries.{index}.side", f"not used for this region; allowed: {allowed}")
        if (entry.region, entry.side) in seen:
            raise invalid(f"entries.{index}", "this region and side is marked twice")
        seen.add((entry.region, entry.side))
    day = body.rated_on or date.today()
    for entry in body.entries:
        records.add(
            PainRating(
                patient_id=link.patient_id,
                region=entry.region,
                side=entry.side.value,
                intensity=entry.intensity,
                rated_on=day,
            )
        )
    link.completed = [*(link.completed or ()), PAIN_MAP]
    session.flush()
    records.note("update", "portal_link", record_id=link.id, patient_id=link.patient_id)
    return PainMapReceiptOut(stored=len(body.entries), spent=False)

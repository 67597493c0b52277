"""FHIR R4 over the API for EHR integration: a patient's whole record, and Bundle upload.

* ``GET /api/fhir/Patient/{id}/$everything`` — the patient's record as a searchset Bundle
  (``application/fhir+json``): staff of the patient's clinic, or the patient themselves.
* ``POST /api/fhir`` — a transaction or collection Bundle imported into the signed-in
  user's clinic by :class:`hipspine.fhir.importer.Importer`, idempotent (sending it again
  changes nothing). A transaction is all or nothing, as FHIR R4 requires
  (https://hl7.org/fhir/R4/http.html#transaction): if any entry is rejected, nothing is
  stored and the answer is 422; a collection is stored a patient at a time, all or nothing
  per patient. A transaction taken is answered with a transaction-response Bundle (a status
  per entry); otherwise the answer is an OperationOutcome listing what was stored, already
  present, unused (with the reason) and rejected (with the entry and the reason). Staff
  only.

Both are authorised by the records rules (another clinic's patient is "not found") and
audited per patient with the request id.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Request, Response

from hipspine.fhir import bundle
from hipspine.fhir._common import CS, EXT
from hipspine.fhir.exporter import patient_record
from hipspine.fhir.importer import ALREADY, UNUSED, Importer, Report
from hipspine.web.api.common import PatientId
from hipspine.web.deps import EVERYONE, STAFF, ActorDep, SessionDep, WebDep, allow
from hipspine.web.problems import FHIR_MEDIA_TYPE, FHIR_PREFIX, ProblemError, invalid, responses

MEDIA_TYPE = FHIR_MEDIA_TYPE
ACCEPTED = ("application/fhir+json", "application/json", "application/json+fhir")
_FORMATS = {"json", *ACCEPTED}
"""``_format`` values asking for JSON (FHIR R4 §3.1.0.1.10: json, or a JSON media type)."""


def json_acceptable(request: Request) -> None:
    """406 for a client that takes no FHIR JSON — it asks for XML (``Accept:
    application/fhir+xml`` or ``_format=xml``), say — instead of an answer it cannot read
    (FHIR R4 §3.1.0.1.10: a server answers 406 for a format it does not support)."""
    asked = request.query_params.get("_format")
    if asked is not None and asked.split(";", 1)[0].strip().lower() not in _FORMATS:
        raise ProblemError(406, f"Only FHIR JSON is served: _format=json ({MEDIA_TYPE}).")
    accept = request.headers.get("accept")
    if accept and not any(_takes_json(media) for media in accept.split(",")):
        raise ProblemError(406, f"Only FHIR JSON is served: accept {MEDIA_TYPE}.")


def _takes_json(media_range: str) -> bool:
    """Whether one range of an Accept header takes FHIR JSON (a quality of 0 refuses)."""
    media, *parameters = (part.strip().lower() for part in media_range.split(";"))
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        if name.strip() == "q" and value.strip().rstrip("0").rstrip(".") in ("0", ""):
            return False
    return media in ("*/*", "application/*", *ACCEPTED)


router = APIRouter(prefix=FHIR_PREFIX, tags=["fhir"], dependencies=[Depends(json_acceptable)])
MAX_UPLOAD = 32 * 1024 * 1024
BUNDLE_TYPES = ("transaction", "collection")
OUTCOME_CS = f"{CS}/import-outcome"
COUNT_EXT = f"{EXT}/import-count"

_BUNDLE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "A FHIR R4 Bundle",
    "required": ["resourceType", "type"],
    "properties": {
        "resourceType": {"type": "string", "enum": ["Bundle"]},
        "type": {"type": "string"},
        "total": {"type": "integer"},
        "entry": {"type": "array", "items": {"type": "object"}},
    },
}
_OUTCOME_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "A FHIR R4 OperationOutcome: one issue per outcome of the import",
    "required": ["resourceType", "issue"],
    "properties": {
        "resourceType": {"type": "string", "enum": ["OperationOutcome"]},
        "issue": {"type": "array", "items": {"type": "object"}},
    },
}


_ERROR_SCHEMA: dict[str, Any] = {
    **_OUTCOME_SCHEMA,
    "description": "A FHIR R4 OperationOutcome: one issue per bad field, or one for the whole",
}


class FhirResponse(Response):
    """A FHIR JSON answer."""

    media_type = MEDIA_TYPE

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


async def bundle_body(request: Request) -> dict[str, Any]:
    """The uploaded Bundle, parsed: 415 for another media type, 413 over the size limit."""
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media not in ACCEPTED:
        raise ProblemError(415, f"Send the Bundle as {MEDIA_TYPE} (or application/json).")
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > MAX_UPLOAD:
        raise _too_large()
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > MAX_UPLOAD:
            raise _too_large()
    try:
        data = orjson.loads(bytes(body))
    except orjson.JSONDecodeError:
        raise invalid("body", "not valid JSON") from None
    if not isinstance(data, dict) or data.get("resourceType") != "Bundle":
        raise invalid("resourceType", "must be Bundle")
    if data.get("type") not in BUNDLE_TYPES:
        raise invalid("type", f"allowed: {', '.join(BUNDLE_TYPES)}")
    if not isinstance(data.get("entry", []), list):
        raise invalid("entry", "must be a list of entries")
    return data


def _too_large() -> ProblemError:
    return ProblemError(
        413,
        f"A Bundle may be at most {MAX_UPLOAD // (1024 * 1024)} MiB; split it per patient or "
        "use `hipspine import` with Bulk Data NDJSON.",
    )


def _problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries of these error statuses: an OperationOutcome, as FHIR clients read
    (see :mod:`hipspine.web.problems`)."""
    return {
        status: {
            "description": answer["description"],
            "content": {MEDIA_TYPE: {"schema": _ERROR_SCHEMA}},
        }
        for status, answer in responses(*statuses).items()
    }


BundleDep = Annotated[dict[str, Any], Depends(bundle_body)]


@router.get(
    "/Patient/{patient_id}/$everything",
    response_class=FhirResponse,
    responses={
        200: {
            "description": "The patient's whole record as a FHIR R4 searchset Bundle",
            "content": {MEDIA_TYPE: {"schema": _BUNDLE_SCHEMA}},
        },
        **_problems(401, 404, 406, 422),
    },
    dependencies=[Depends(allow(*EVERYONE))],
    summary="A patient's whole record as a FHIR R4 Bundle (Patient/$everything)",
)
def everything(patient_id: PatientId, session: SessionDep, actor: ActorDep) -> Any:
    return FhirResponse(bundle.searchset(patient_record(session, actor, patient_id)))


@router.post(
    "",
    response_class=FhirResponse,
    responses={
        200: {
            "description": "A transaction: a transaction-response Bundle, one entry per entry "
            "sent (201 Created stored; 200 OK already present or not kept, with an outcome). "
            "A collection: an OperationOutcome of what was stored, already present, unused "
            "and rejected",
            "content": {MEDIA_TYPE: {"schema": {"oneOf": [_BUNDLE_SCHEMA, _OUTCOME_SCHEMA]}}},
        },
        **_problems(401, 403, 406, 413, 415, 422),
        422: {
            "description": "Not a Bundle to import (one issue per element at fault), or a "
            "transaction with a rejected entry, of which nothing was stored: the import's "
            "OperationOutcome, the first error naming the Bundle",
            "content": {MEDIA_TYPE: {"schema": _OUTCOME_SCHEMA}},
        },
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {MEDIA_TYPE: {"schema": _BUNDLE_SCHEMA}},
        }
    },
    dependencies=[Depends(allow(*STAFF, resource="patient", action="import"))],
    summary="Import a transaction (all or nothing) or collection Bundle into the clinic "
    "(idempotent)",
)
def upload(data: BundleDep, session: SessionDep, actor: ActorDep, web: WebDep) -> Any:
    transaction = data.get("type") == "transaction"
    importer = Importer(web.db, actor, session=session)
    report = importer.import_bundle(data, "Bundle", per_entry=transaction)
    if not transaction:
        return FhirResponse(outcome(report))
    if report.problem_count:  # rolled back whole by the importer
        return FhirResponse(outcome(report), status_code=422)
    return FhirResponse(transaction_response(data, report))


def transaction_response(data: dict[str, Any], report: Report) -> dict[str, Any]:
    """The answer to a transaction all of whose entries were taken: a transaction-response
    Bundle with one entry per entry sent, in their order (FHIR R4 http.html#transaction-
    response): ``201 Created`` for a resource stored; ``200 OK`` for one already present
    (an informational outcome) or one hipspine does not keep (a warning with the reason).

    No ``location``: hipspine serves a patient's record whole (``$everything``), not its
    resources one by one, so there is no address to give.
    """
    entries: list[dict[str, Any]] = []
    for index in range(len(data.get("entry") or ())):
        what = (report.entries or {}).get(f"entry {index}")
        if what is None:
            entries.append({"response": {"status": "201 Created"}})
            continue
        # The importer's words for it are the import-outcome codes (already-present, unused).
        kind, detail = what
        issue = (
            _issue("information", "duplicate", kind, ALREADY_TEXT, 1)
            if kind == ALREADY
            else _issue("warning", "not-supported", kind, detail, 1)
        )
        answer = {"resourceType": "OperationOutcome", "issue": [issue]}
        entries.append({"response": {"status": "200 OK", "outcome": answer}})
    return {"resourceType": "Bundle", "type": "transaction-response", "entry": entries}


_ENTRY = re.compile(r"^entry (\d+)$")
ALREADY_TEXT = "already imported or already a record of this clinic"


def outcome(report: Report) -> dict[str, Any]:
    """The import report as an OperationOutcome.

    The first issue summarises; then one issue per stored table, one for resources already
    present, one per unused (type, reason) and one per rejected entry, each coded in the
    hipspine import-outcome CodeSystem with its count as an extension.
    """
    issues: list[dict[str, Any]] = [
        _issue("information", "informational", "summary", report.summary(), report.read)
    ]
    for table, n in sorted((t, n) for t, n in report.stored.items() if n):
        issues.append(_issue("information", "informational", "stored", f"{table}: stored", n))
    if report.already:
        issues.append(_issue("information", "duplicate", ALREADY, ALREADY_TEXT, report.already))
    for (kind, reason), n in sorted(report.unused.items()):
        issues.append(_issue("warning", "not-supported", UNUSED, f"{kind}: {reason}", n))
    for problem in report.in_order():
        issue = _issue("error", "invalid", "rejected", problem.reason, 1)
        found = _ENTRY.match(problem.where)
        if found:
            issue["expression"] = [f"Bundle.entry[{found.group(1)}]"]
        issues.append(issue)
    if report.unlisted:
        rest = report.unlisted
        issues.append(_issue("error", "too-costly", "rejected", f"{rest} more rejected", rest))
    return {"resourceType": "OperationOutcome", "issue": issues}


def _issue(severity: str, code: str, outcome: str, text: str, count: int) -> dict[str, Any]:
    return {
        "extension": [{"url": COUNT_EXT, "valueInteger": count}],
        "severity": severity,
        "code": code,
        "details": {"coding": [{"system": OUTCOME_CS, "code": outcome}], "text": text},
    }

"""Errors as ``application/problem+json`` (RFC 9457), each naming the fields at fault.

Every error the API returns has ``type``, ``title``, ``status`` and ``detail``; validation
errors add ``errors``, one entry per bad field with its location and what is allowed.
Messages never echo patient data: they name fields and allowed values, not what was sent.

Under ``/api/fhir`` the same error is a FHIR R4 OperationOutcome (``application/fhir+json``),
which FHIR clients read on any failure (https://hl7.org/fhir/R4/http.html#summary): one
issue per bad field (or one for the whole), its ``code`` from the R4 issue-type value set,
the request id in ``diagnostics``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException

from hipspine.store.records import AccessRefused, StaleVersion, record_refusal

MEDIA_TYPE = "application/problem+json"
TYPE_BASE = "https://hipspine.org/problems/"
FHIR_PREFIX = "/api/fhir"
"""Where the API speaks FHIR: its errors are OperationOutcomes."""
FHIR_MEDIA_TYPE = "application/fhir+json"
_ISSUE_CODES = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    406: "not-supported",
    409: "conflict",
    410: "deleted",
    413: "too-long",
    415: "not-supported",
    422: "invalid",
    429: "throttled",
    500: "exception",
}
"""HTTP status → FHIR R4 issue type (https://hl7.org/fhir/R4/valueset-issue-type.html)."""
log = logging.getLogger("hipspine.web")

_TITLES = {
    400: "Bad request",
    401: "Not signed in",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    406: "Not acceptable",
    409: "Conflict",
    410: "Gone",
    413: "Request too large",
    415: "Unsupported media type",
    422: "Invalid request",
    429: "Too many requests",
    500: "Server error",
}
_SLUGS = {
    400: "bad-request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    406: "not-acceptable",
    409: "conflict",
    410: "gone",
    413: "too-large",
    415: "unsupported-media-type",
    422: "invalid",
    429: "rate-limited",
    500: "server-error",
}


class FieldError(BaseModel):
    """One bad field: where it is, what is wrong, and (when known) what is allowed."""

    field: str = Field(description="Dotted path of the field, e.g. `case.pain_map.0.side`")
    location: str = Field(description="body, query, path, header or cookie")
    message: str


class Problem(BaseModel):
    """An error response (RFC 9457 problem details)."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    request_id: str | None = None
    errors: list[FieldError] = Field(default_factory=list)


class ProblemError(Exception):
    """Raise to answer with a problem response."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        slug: str | None = None,
        title: str | None = None,
        errors: Sequence[FieldError] = (),
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status, self.detail, self.errors = status, detail, list(errors)
        self.slug = slug or _SLUGS.get(status, "error")
        self.title = title or _TITLES.get(status, "Error")
        self.headers = headers or {}


class Invalid(ProblemError):
    """422 naming each bad field."""

    def __init__(self, errors: Sequence[FieldError], detail: str | None = None) -> None:
        super().__init__(
            422,
            detail or "; ".join(f"{e.field}: {e.message}" for e in errors),
            errors=errors,
        )


def invalid(field: str, message: str, location: str = "body") -> Invalid:
    """A 422 problem for one bad field."""
    return Invalid([FieldError(field=field, location=location, message=message)])


class Forbidden(ProblemError):
    """403: this role may not do this at all (audited as a refusal when it touches patients)."""

    def __init__(self, detail: str, *, resource: str | None = None, action: str = "") -> None:
        super().__init__(403, detail)
        self.resource, self.action = resource, action


def problem_response(request: Request | None, error: ProblemError) -> JSONResponse:
    """The problem document for ``error`` (an OperationOutcome under :data:`FHIR_PREFIX`)."""
    request_id = getattr(request.state, "request_id", None) if request else None
    if request is not None and is_fhir(request.url.path):
        return _outcome_response(error, request_id)
    body = Problem(
        type=TYPE_BASE + error.slug,
        title=error.title,
        status=error.status,
        detail=error.detail,
        instance=request.url.path if request else None,
        request_id=request_id,
        errors=error.errors,
    )
    return JSONResponse(
        body.model_dump(exclude_none=True),
        status_code=error.status,
        media_type=MEDIA_TYPE,
        headers=error.headers,
    )


def is_fhir(path: str) -> bool:
    """Whether ``path`` is of the FHIR API (:data:`FHIR_PREFIX`)."""
    return path == FHIR_PREFIX or path.startswith(FHIR_PREFIX + "/")


def _outcome_response(error: ProblemError, request_id: str | None) -> JSONResponse:
    """``error`` as a FHIR R4 OperationOutcome."""
    code = _ISSUE_CODES.get(error.status, "processing")
    severity = "fatal" if error.status >= 500 else "error"
    base: dict[str, Any] = {"severity": severity, "code": code}
    if request_id:
        base["diagnostics"] = f"request id {request_id}"
    issues = [
        {**base, "details": {"text": e.message}, "expression": [e.field]} for e in error.errors
    ] or [{**base, "details": {"text": error.detail}}]
    return JSONResponse(
        {"resourceType": "OperationOutcome", "issue": issues},
        status_code=error.status,
        media_type=FHIR_MEDIA_TYPE,
        headers=error.headers,
    )


def _validation_errors(raw: Sequence[Any]) -> list[FieldError]:
    errors = []
    for item in raw:
        loc = [str(part) for part in item.get("loc", ())]
        location = loc[0] if loc and loc[0] in ("body", "query", "path", "header", "cookie") else ""
        path = loc[1:] if location else loc
        message = str(item.get("msg", "invalid")).removeprefix("Value error, ")
        expected = (item.get("ctx") or {}).get("expected")
        if expected and "expected" not in message.lower():
            message = f"{message} (expected {expected})"
        errors.append(
            FieldError(
                field=".".join(path) or location or "body", location=location, message=message
            )
        )
    return errors


_SQLITE_UNIQUE = re.compile(r"UNIQUE constraint failed: ([\w., ]+)")
_POSTGRES_KEY = re.compile(r"Key \(([\w, ]+)\)=")
_SCOPE_COLUMNS = frozenset({"clinic_id", "patient_id"})


def unique_fields(error: IntegrityError) -> list[str]:
    """The fields whose values are already taken, when ``error`` is a uniqueness conflict.

    Only column names are read from the database's message (SQLite's text, PostgreSQL's
    detail); the values it may quote are never kept. Columns that only scope the rule
    (the clinic, the patient) are left out: the client did not choose them.
    """
    original = error.orig
    columns: list[str] = []
    sqlite = _SQLITE_UNIQUE.search(str(original))
    if sqlite:
        columns = [part.strip().rsplit(".", 1)[-1] for part in sqlite.group(1).split(",")]
    elif getattr(original, "sqlstate", None) == "23505":  # PostgreSQL unique_violation
        detail = getattr(getattr(original, "diag", None), "message_detail", None) or ""
        key = _POSTGRES_KEY.search(detail)
        if key:
            columns = [part.strip() for part in key.group(1).split(",")]
    return [c for c in columns if c not in _SCOPE_COLUMNS]


def _refusal(request: Request, error: AccessRefused) -> None:
    actor = getattr(request.state, "actor", None)
    if actor is not None:
        record_refusal(request.app.state.web.db, actor, error)


def install(app: FastAPI) -> None:
    """Answer every error of ``app`` with a problem document."""

    @app.exception_handler(ProblemError)
    def _problem(request: Request, error: ProblemError) -> JSONResponse:
        if isinstance(error, Forbidden) and error.resource:
            addressed = request.path_params.get("patient_id")
            _refusal(request, AccessRefused(error.resource, None, error.action, addressed))
        return problem_response(request, error)

    @app.exception_handler(AccessRefused)
    def _refused(request: Request, error: AccessRefused) -> JSONResponse:
        _refusal(request, error)
        return problem_response(request, ProblemError(404, f"No such {error.resource}."))

    @app.exception_handler(StaleVersion)
    def _stale(request: Request, error: StaleVersion) -> JSONResponse:
        return problem_response(
            request,
            ProblemError(
                409,
                f"This {error.resource} was changed by someone else (now at version "
                f"{error.actual}, you read {error.expected}): reload it and apply your "
                "change again.",
                slug="stale-version",
                title="Changed since read",
                errors=[
                    FieldError(
                        field="version",
                        location="body",
                        message=f"current version is {error.actual}",
                    )
                ],
            ),
        )

    @app.exception_handler(IntegrityError)
    def _integrity(request: Request, error: IntegrityError) -> JSONResponse:
        # The database message can quote the values sent: never log or return it.
        log.info("integrity conflict request_id=%s", getattr(request.state, "request_id", "-"))
        fields = unique_fields(error)
        return problem_response(
            request,
            ProblemError(
                409,
                "This conflicts with a record that already exists"
                + (f" (same {', '.join(fields)})." if fields else "."),
                errors=[
                    FieldError(
                        field=name,
                        location="body",
                        message="already used by another record; choose another value",
                    )
                    for name in fields
                ],
            ),
        )

    @app.exception_handler(RequestValidationError)
    def _validation(request: Request, error: RequestValidationError) -> JSONResponse:
        return problem_response(request, Invalid(_validation_errors(error.errors())))

    @app.exception_handler(StarletteHTTPException)
    def _http(request: Request, error: StarletteHTTPException) -> JSONResponse:
        detail = (
            error.detail if isinstance(error.detail, str) else _TITLES.get(error.status_code, "")
        )
        return problem_response(
            request,
            ProblemError(error.status_code, detail, headers=dict(error.headers or {})),
        )

    @app.exception_handler(Exception)
    def _crash(request: Request, error: Exception) -> JSONResponse:
        # Type and request id only: exception text may carry patient data.
        log.error(
            "unhandled %s request_id=%s",
            type(error).__name__,
            getattr(request.state, "request_id", "-"),
        )
        return problem_response(request, ProblemError(500, "Something went wrong on our side."))


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries documenting these problem statuses."""
    return {
        status: {
            "model": Problem,
            "description": _TITLES.get(status, "Error"),
            "content": {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status in statuses
    }

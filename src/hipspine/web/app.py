"""The hipspine web application: the JSON API, the HTML pages and the patient portal.

``create_app(db, settings)`` builds it; ``hipspine serve`` runs it under uvicorn. Every
request gets an ``X-Request-ID`` (the caller's, if it is a short token, else a new one),
echoed in the response and written to every audit entry the request makes.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from starlette.datastructures import MutableHeaders
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hipspine import __version__
from hipspine.config import Settings
from hipspine.store.db import Database
from hipspine.web import pages, portal, problems
from hipspine.web.api import assessments, auth, clinical, fhir, patients, questionnaires, users
from hipspine.web.context import WebContext, WebOptions

log = logging.getLogger("hipspine.web")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")

DESCRIPTION = """\
The hipspine clinical records API: patients, episodes of care, encounters with their case
documents, questionnaires scored by the clinical core, pain, strength and function tests,
medications, procedures, therapy regimens, goals and stored assessments.

**Sign-in.** `POST /api/auth/token` gives a bearer token for the API; `POST /api/auth/session`
sets a session cookie for the web, and every cookie-authenticated POST, PATCH or DELETE must
echo the CSRF token in `X-CSRF-Token`. Patients fill questionnaires through a portal link
(`X-Portal-Token`), without a password.

**Errors** are `application/problem+json` (RFC 9457) with an `errors` list naming each bad
field; under `/api/fhir` they are FHIR OperationOutcomes, one issue per bad element. Another
clinic's records, and for a patient anyone else's, are *not found* (404).

**Changes** send the `version` that was read; if someone changed the record since, the
answer is 409 and nothing is written. Every read and write of patient data is audited.
"""


class RequestContext:
    """Request id, security headers and a data-free access log line for every request.

    It is also the last line against a crash: an exception that no handler answered is
    answered here (a 500 problem, or the HTML error page, naming the request id) and logged
    by type and request id only. It is never re-raised: Starlette and uvicorn would log its
    traceback, whose text can carry patient data (a failed statement's values, say).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        status = 500
        started = time.perf_counter()
        response_started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                headers = MutableHeaders(scope=message)
                headers["X-Request-ID"] = request_id
                headers.setdefault("Cache-Control", "no-store")
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("Referrer-Policy", "no-referrer")
                headers.setdefault("X-Frame-Options", "DENY")
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception as error:
            status = 500
            if response_started:
                # Too late for an error page: the client sees a cut-short response.
                log.error("unhandled %s request_id=%s", type(error).__name__, request_id)
            else:
                response = _crash_response(scope, error)
                await response(scope, receive, send_with_headers)
        finally:
            route = scope.get("route")
            # The route template, never the path: paths and queries can carry identifiers
            # and search terms.
            log.info(
                "%s %s %s %.1fms request_id=%s",
                scope.get("method"),
                getattr(route, "path", "-"),
                status,
                (time.perf_counter() - started) * 1000,
                request_id,
            )


def _crash_response(scope: Scope, error: Exception) -> Response:
    """The application's own answer to an unhandled exception (API problem or HTML page)."""
    app = scope.get("app")
    handler = getattr(app, "exception_handlers", {}).get(Exception)
    if handler is not None:
        try:
            answer = handler(Request(scope), error)
            if isinstance(answer, Response):
                return answer
        except Exception as failure:  # the error page itself failed: answer plainly
            log.error("error page failed: %s", type(failure).__name__)
    request = Request(scope)
    log.error(
        "unhandled %s request_id=%s",
        type(error).__name__,
        getattr(request.state, "request_id", "-"),
    )
    return problems.problem_response(
        request, problems.ProblemError(500, "Something went wrong on our side.")
    )


def _openapi(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
        tags=app.openapi_tags,
    )
    for route, path in schema.get("paths", {}).items():
        # The FHIR API documents its errors as OperationOutcomes itself (see web.problems).
        fhir = problems.is_fhir(route)
        for operation in path.values():
            for status, answer in operation.get("responses", {}).items():
                content = answer.get("content", {})
                if problems.MEDIA_TYPE in content or fhir:
                    content.pop("application/json", None)
                # FastAPI documents its own validation error shape; ours is a Problem.
                if status == "422" and not fhir:
                    answer["content"] = {
                        problems.MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}
                    }
                    answer["description"] = "Invalid request"
    components = schema.get("components", {}).get("schemas", {})
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    app.openapi_schema = schema
    return schema


def create_app(db: Database, settings: Settings, options: WebOptions | None = None) -> FastAPI:
    """The web application over ``db``; ``options`` default to :meth:`WebOptions.from_env`."""
    app = FastAPI(
        # No Swagger/ReDoc pages: they load scripts from a third-party CDN into a page that
        # handles health data. The OpenAPI description is served at /openapi.json.
        docs_url=None,
        redoc_url=None,
        title="hipspine",
        version=__version__,
        description=DESCRIPTION,
        openapi_tags=[
            {"name": "sign-in", "description": "Passwords, tokens, sessions"},
            {"name": "patients"},
            {"name": "clinical records"},
            {"name": "questionnaires"},
            {"name": "assessments"},
            {"name": "portal", "description": "Questionnaires by link, for patients"},
            {"name": "administration"},
            {"name": "audit"},
        ],
    )
    app.state.web = WebContext(db, settings, options or WebOptions.from_env())
    problems.install(app)
    for module in (auth, patients, clinical, questionnaires, assessments, users, fhir):
        app.include_router(module.router)
    app.include_router(portal.router)
    pages.install(app)
    app.add_middleware(RequestContext)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app

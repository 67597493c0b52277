"""Server-rendered HTML pages: the clinician app and the patient portal.

``install(app)`` adds the pages, their static files (own CSS and small scripts; no
third-party code) and HTML error pages for every path outside ``/api``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from hipspine.store.records import AccessRefused, StaleVersion
from hipspine.web.pages import clinic, dashboard, portal
from hipspine.web.pages._common import TEMPLATES, SignInRequired, sign_in_url
from hipspine.web.problems import ProblemError

STATIC = Path(__file__).resolve().parents[1] / "static"
_JSON_PREFIXES = ("/api", "/openapi.json")


def _wants_html(request: Request) -> bool:
    return not request.url.path.startswith(_JSON_PREFIXES)


def _html_error(request: Request, status: int, title: str, detail: str) -> Response:
    return TEMPLATES.TemplateResponse(
        request,
        "error.html",
        {"status": status, "title": title, "detail": detail},
        status_code=status,
    )


def install(app: FastAPI) -> None:
    """Add the pages to ``app`` (after the API's error handlers are installed)."""
    app.include_router(clinic.router)
    app.include_router(dashboard.router)
    app.include_router(portal.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.exception_handler(SignInRequired)
    def _sign_in(request: Request, error: SignInRequired) -> Response:
        return RedirectResponse(sign_in_url(error.next_path), status_code=303)

    originals: dict[Any, Any] = dict(app.exception_handlers)

    def wrap(kind: Any, describe: Any) -> None:
        original = originals.get(kind)
        if original is None:
            return

        def handler(request: Request, error: Exception) -> Response:
            if not _wants_html(request):
                response: Response = original(request, error)
                return response
            if isinstance(error, AccessRefused) or kind is Exception:
                # Audited as a refusal, or logged as a crash, exactly as for the API.
                original(request, error)
            status, title, detail = describe(error)
            return _html_error(request, status, title, detail)

        app.add_exception_handler(kind, handler)

    wrap(
        ProblemError,
        lambda e: (e.status, e.title, e.detail),
    )
    wrap(
        AccessRefused,
        lambda e: (404, "Not found", "There is no such record, or it is not yours to see."),
    )
    wrap(
        StaleVersion,
        lambda e: (
            409,
            "Changed by someone else",
            "Someone saved this record while you were editing. Go back, reload, and apply "
            "your change again.",
        ),
    )
    wrap(
        RequestValidationError,
        lambda e: (422, "Invalid request", "This address or form is not valid."),
    )
    wrap(
        StarletteHTTPException,
        lambda e: (e.status_code, "Not found" if e.status_code == 404 else "Error", str(e.detail)),
    )
    wrap(
        Exception,
        lambda e: (500, "Something went wrong", "Something went wrong on our side."),
    )

"""What every HTML page shares: templates, the signed-in clinician, CSRF for forms.

Pages use the same web session as the JSON API (the signed, HttpOnly cookie). A page that
needs a signed-in user redirects to the sign-in page instead of answering 401. Forms POST
with the session's CSRF token in a hidden ``csrf_token`` field (or the ``X-CSRF-Token``
header, as the API requires); a missing or wrong token, or a form sent from another site, is
refused with 403.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session

from hipspine.reports.progress import procedure_text
from hipspine.store.audit import Actor
from hipspine.store.models import Role, TokenKind, User
from hipspine.store.records import Records
from hipspine.web import auth
from hipspine.web.api.common import UUID_PATTERN
from hipspine.web.context import WebContext
from hipspine.web.deps import client_address, get_web
from hipspine.web.problems import ProblemError

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).resolve().parents[1] / "templates"))
CSRF_FIELD = "csrf_token"
_UUID = re.compile(UUID_PATTERN)


def _date(value: Any, style: str = "short") -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        value = dt.date.fromisoformat(value[:10])
    if style == "long":
        return f"{value.day} {value:%B %Y}"
    return f"{value.day} {value:%b %Y}"


def _words(value: Any) -> str:
    return "" if value is None else str(value).replace("_", " ")


def _percent(value: float | None) -> str:
    if value is None:
        return "—"
    pct = value * 100
    if pct < 1:
        return "<1%"
    if pct > 99:
        return ">99%"
    return f"{pct:.0f}%"


TEMPLATES.env.filters["date"] = _date
TEMPLATES.env.filters["words"] = _words
TEMPLATES.env.filters["percent"] = _percent
TEMPLATES.env.globals["CSRF_FIELD"] = CSRF_FIELD
TEMPLATES.env.globals["procedure_text"] = procedure_text


class SignInRequired(Exception):
    """Raised by a page that needs a signed-in clinician; answered with a redirect."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


def sign_in_url(next_path: str) -> str:
    """The sign-in page, coming back to ``next_path`` afterwards."""
    return f"/sign-in?next={quote(next_path, safe='/')}"


@dataclass
class PageContext:
    """A signed-in staff member on a page, with their records in this request's transaction."""

    request: Request
    web: WebContext
    session: Session
    user: User
    actor: Actor
    records: Records
    csrf: str

    def render(self, template: str, status: int = 200, **values: Any) -> HTMLResponse:
        """The template rendered with the user, the CSRF token and ``values``."""
        return TEMPLATES.TemplateResponse(
            self.request,
            template,
            {"user": self.user, "csrf": self.csrf, **values},
            status_code=status,
        )


def _session(web: Annotated[WebContext, Depends(get_web)]) -> Iterator[Session]:
    with web.db.transaction() as session:
        yield session


PageSession = Annotated[Session, Depends(_session, scope="function")]


async def _csrf_presented(request: Request) -> str | None:
    header = request.headers.get(auth.CSRF_HEADER)
    if header:
        return header
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        return value if isinstance(value, str) else None
    return None


async def page_context(
    request: Request,
    session: PageSession,
    web: Annotated[WebContext, Depends(get_web)],
) -> PageContext:
    """The signed-in clinician or administrator; redirects to sign-in otherwise."""
    next_path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    cookie = request.cookies.get(auth.SESSION_COOKIE)
    raw = auth.unsign_cookie(web.settings.secret_key, cookie) if cookie else None
    if raw is None:
        raise SignInRequired(next_path)
    try:
        sign_in = auth.resolve(session, raw, TokenKind.SESSION, via_cookie=True)
    except ProblemError:
        raise SignInRequired(next_path) from None
    if request.method not in auth.SAFE_METHODS and not (
        auth.same_origin(request)
        and auth.csrf_ok(web.settings.secret_key, raw, await _csrf_presented(request))
    ):
        raise ProblemError(
            403,
            "This form has expired or did not come from hipspine. Reload the page and try again.",
            slug="csrf",
            title="CSRF check failed",
        )
    user = sign_in.user
    if user.role == Role.PATIENT.value:
        raise ProblemError(403, "These pages are for clinic staff; patients use their link.")
    for name, value in request.path_params.items():
        if name.endswith("_id") and not _UUID.match(str(value)):
            raise ProblemError(404, "There is no such record: this address is not valid.")
    actor = Actor(
        user_id=user.id,
        role=user.role,
        clinic_id=user.clinic_id,
        patient_id=user.patient_id,
        client=client_address(request),
        request_id=getattr(request.state, "request_id", None),
    )
    request.state.actor = actor
    return PageContext(
        request,
        web,
        session,
        user,
        actor,
        Records(session, actor),
        auth.csrf_token(web.settings.secret_key, raw),
    )


Page = Annotated[PageContext, Depends(page_context)]


def form_text(form: Any, name: str) -> str | None:
    """A trimmed form field, or None when empty or missing."""
    value = form.get(name)
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value or None


def today() -> dt.date:
    """Today's date in the clinic (the server's date)."""
    return dt.date.today()

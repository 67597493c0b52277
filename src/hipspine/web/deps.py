"""Typed dependencies: the transaction, the signed-in user, the actor and their records.

``SessionDep`` is one database transaction per request, committed after the handler
returns and before the response is sent (``scope="function"``), rolled back on any error.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from hipspine.store.audit import Actor
from hipspine.store.models import Role, TokenKind
from hipspine.store.records import Records
from hipspine.web import auth
from hipspine.web.context import WebContext
from hipspine.web.problems import Forbidden, ProblemError

bearer_scheme = HTTPBearer(
    auto_error=False, scheme_name="bearer", description="API token from POST /api/auth/token"
)
cookie_scheme = APIKeyCookie(
    name=auth.SESSION_COOKIE,
    auto_error=False,
    scheme_name="session",
    description="Web session from POST /api/auth/session; unsafe methods also need the "
    "X-CSRF-Token header",
)


def get_web(request: Request) -> WebContext:
    """The application's shared state."""
    web: WebContext = request.app.state.web
    return web


WebDep = Annotated[WebContext, Depends(get_web)]


def get_session(web: WebDep) -> Iterator[Session]:
    """One transaction for the whole request."""
    with web.db.transaction() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def client_address(request: Request) -> str | None:
    """The client's address as the server sees it (behind a proxy: the proxy's)."""
    return request.client.host if request.client else None


def get_sign_in(
    request: Request,
    session: SessionDep,
    web: WebDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
    cookie: Annotated[str | None, Depends(cookie_scheme)],
) -> auth.SignIn:
    """The signed-in user (bearer token first, then the session cookie); 401 otherwise.

    A cookie-authenticated POST, PUT, PATCH or DELETE without the session's CSRF token is
    refused with 403.
    """
    if credentials is not None and credentials.scheme.lower() == "bearer":
        sign_in = auth.resolve(session, credentials.credentials, TokenKind.BEARER, via_cookie=False)
    elif cookie:
        raw = auth.unsign_cookie(web.settings.secret_key, cookie)
        if raw is None:
            raise auth.unauthenticated("Sign in again: the session cookie is not valid.")
        sign_in = auth.resolve(session, raw, TokenKind.SESSION, via_cookie=True)
        if request.method not in auth.SAFE_METHODS and not auth.csrf_ok(
            web.settings.secret_key, raw, request.headers.get(auth.CSRF_HEADER)
        ):
            raise ProblemError(
                403,
                f"The {auth.CSRF_HEADER} header is missing or does not match this session.",
                slug="csrf",
                title="CSRF check failed",
            )
    else:
        raise auth.unauthenticated("Sign in first.")
    user = sign_in.user
    request.state.actor = Actor(
        user_id=user.id,
        role=user.role,
        clinic_id=user.clinic_id,
        patient_id=user.patient_id,
        client=client_address(request),
        request_id=getattr(request.state, "request_id", None),
    )
    return sign_in


SignInDep = Annotated[auth.SignIn, Depends(get_sign_in)]


def get_actor(request: Request, sign_in: SignInDep) -> Actor:
    """The signed-in user as an audit actor."""
    actor: Actor = request.state.actor
    return actor


ActorDep = Annotated[Actor, Depends(get_actor)]


def get_records(session: SessionDep, actor: ActorDep) -> Records:
    """The patient records this actor may reach, in this request's transaction."""
    return Records(session, actor)


RecordsDep = Annotated[Records, Depends(get_records)]

STAFF = (Role.ADMIN, Role.CLINICIAN)
EVERYONE = (Role.ADMIN, Role.CLINICIAN, Role.PATIENT)


def allow(*roles: Role, resource: str | None = None, action: str = "") -> Callable[..., Actor]:
    """A dependency that lets only ``roles`` through (403, audited for patient data)."""
    allowed = {r.value for r in roles}

    def check(actor: ActorDep) -> Actor:
        if actor.role not in allowed:
            raise Forbidden(
                f"A {actor.role} may not {action or 'do'} this "
                f"(allowed: {', '.join(sorted(allowed))}).",
                resource=resource,
                action=action,
            )
        return actor

    return check

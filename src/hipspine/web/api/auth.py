"""Sign-in and sign-out: API bearer tokens and web sessions."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request, Response
from pydantic import StringConstraints

from hipspine.store.models import TokenKind, User
from hipspine.web import auth
from hipspine.web.api.common import In, Moment, Out
from hipspine.web.api.users import UserOut
from hipspine.web.deps import SessionDep, SignInDep, WebDep, client_address
from hipspine.web.problems import responses

router = APIRouter(prefix="/api/auth", tags=["sign-in"])


class Credentials(In):
    email: Annotated[str, StringConstraints(min_length=1, max_length=254)]
    password: Annotated[str, StringConstraints(min_length=1, max_length=1024)]


class TokenOut(Out):
    access_token: str
    token_type: str = "bearer"
    expires_at: Moment


class SessionOut(Out):
    csrf_token: str
    expires_at: Moment
    user: UserOut


@router.post(
    "/token",
    response_model=TokenOut,
    responses=responses(401, 422, 429),
    summary="Sign in for the API: a bearer token",
)
def sign_in_token(body: Credentials, request: Request, web: WebDep) -> Any:
    user_id = auth.authenticate(web, body.email, body.password, client_address(request))
    with web.db.transaction() as session:
        user = session.get(User, user_id)
        assert user is not None
        token, raw = auth.issue(session, user, TokenKind.BEARER, web.options.token_ttl)
    return TokenOut(access_token=raw, expires_at=token.expires_at)


@router.post(
    "/session",
    response_model=SessionOut,
    responses=responses(401, 422, 429),
    summary="Sign in for the web: a session cookie and its CSRF token",
)
def sign_in_session(body: Credentials, request: Request, response: Response, web: WebDep) -> Any:
    user_id = auth.authenticate(web, body.email, body.password, client_address(request))
    with web.db.transaction() as session:
        user = session.get(User, user_id)
        assert user is not None
        token, raw = auth.issue(session, user, TokenKind.SESSION, web.options.session_ttl)
        out = UserOut.model_validate(user)
    csrf = auth.set_session_cookies(response, web, raw)
    return SessionOut(csrf_token=csrf, expires_at=token.expires_at, user=out)


@router.post(
    "/sign-out",
    status_code=204,
    response_class=Response,
    responses=responses(401, 403),
    summary="Sign out: the session or token stops working at once",
)
def sign_out(sign_in: SignInDep, session: SessionDep) -> Response:
    token = session.merge(sign_in.token)
    auth.revoke(session, token)
    response = Response(status_code=204)
    if sign_in.via_cookie:
        response.delete_cookie(auth.SESSION_COOKIE, path="/")
        response.delete_cookie(auth.CSRF_COOKIE)
    return response


@router.get(
    "/me",
    response_model=UserOut,
    responses=responses(401),
    summary="Who is signed in",
)
def me(sign_in: SignInDep) -> Any:
    return UserOut.model_validate(sign_in.user)

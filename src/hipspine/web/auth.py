"""Sign-in: Argon2 passwords, throttling, web sessions, API tokens and CSRF.

* Passwords are hashed with Argon2id (pwdlib). An unknown, inactive or password-less
  account is checked against a dummy hash, so the answer takes as long as for a real one.
* Sign-in attempts are counted per account and per client address in ``login_throttle``
  (shared by every process), atomically and before the password is checked; a success
  forgets its attempt. Past the limit the answer is 429 with ``Retry-After``.
* A sign-in is an :class:`~hipspine.store.models.AuthToken`: 32 random bytes, of which only
  the SHA-256 is stored. The web gets it in a signed, HttpOnly, SameSite=Lax cookie; the
  API gets it as a bearer token. Both expire; signing out revokes.
* Cookie-authenticated unsafe requests must carry ``X-CSRF-Token`` (double submit): the
  token is an HMAC of the session token, also given in a readable ``hipspine_csrf`` cookie.
* The sign-in form, before any session exists, carries an HMAC of a nonce held in an
  HttpOnly, SameSite=Strict cookie (signed double submit), and every form POST from another
  site (``Sec-Fetch-Site``, else ``Origin``) is refused: no login CSRF.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import case, delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response

from hipspine.store.models import AuthToken, LoginThrottle, TokenKind, User, now
from hipspine.web.context import WebContext
from hipspine.web.problems import ProblemError

SESSION_COOKIE = "hipspine_session"
CSRF_COOKIE = "hipspine_csrf"
CSRF_HEADER = "X-CSRF-Token"
SIGN_IN_COOKIE = "hipspine_sign_in"
SIGN_IN_TTL = timedelta(hours=12)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_NONCE = re.compile(r"^[A-Za-z0-9_-]{32,64}$")
SIGN_IN_FAILED = "The e-mail address or password is wrong."


def aware(moment: datetime) -> datetime:
    """``moment`` as an aware UTC time (SQLite returns naive UTC values)."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def token_hash(raw: str) -> str:
    """The stored form of a random token: its SHA-256, hex."""
    return hashlib.sha256(raw.encode()).hexdigest()


def new_token() -> str:
    """A fresh random token (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)


def _mac(secret: str, purpose: str, value: str) -> str:
    return hmac.new(secret.encode(), f"{purpose}|{value}".encode(), hashlib.sha256).hexdigest()


def sign_cookie(secret: str, raw: str) -> str:
    """The session cookie value: the token and its HMAC."""
    return f"{raw}.{_mac(secret, 'session', raw)}"


def unsign_cookie(secret: str, value: str) -> str | None:
    """The token inside a session cookie, or None if the signature does not match."""
    raw, _, mac = value.rpartition(".")
    if not raw or not hmac.compare_digest(mac, _mac(secret, "session", raw)):
        return None
    return raw


def csrf_token(secret: str, raw: str) -> str:
    """The CSRF token bound to a web session."""
    return _mac(secret, "csrf", raw)


def csrf_ok(secret: str, raw: str, presented: str | None) -> bool:
    """True when the presented CSRF token belongs to this session."""
    return presented is not None and hmac.compare_digest(presented, csrf_token(secret, raw))


def same_origin(request: Request) -> bool:
    """False when the browser says this request comes from another site.

    Browsers send ``Sec-Fetch-Site`` (computed by the browser, not the page): only
    ``same-origin`` and ``none`` (typed or bookmarked) are ours. Older browsers send only
    ``Origin``, which must then name this host. A client that sends neither is not a browser
    being driven by another site; the CSRF token still guards it.
    """
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        return site.lower() in ("same-origin", "none")
    origin = request.headers.get("origin")
    if origin is None:
        return True
    host = request.headers.get("host", "")
    return bool(host) and urlsplit(origin).netloc.lower() == host.lower()


def sign_in_nonce(request: Request) -> str:
    """The pre-session CSRF nonce of this browser (from its cookie), or a fresh one."""
    nonce = request.cookies.get(SIGN_IN_COOKIE, "")
    return nonce if _NONCE.match(nonce) else new_token()


def sign_in_form_token(secret: str, nonce: str) -> str:
    """The token the sign-in form carries for this nonce (signed double submit)."""
    return _mac(secret, "sign-in", nonce)


def sign_in_form_ok(secret: str, request: Request, presented: str | None) -> bool:
    """True when the sign-in form's token matches this browser's pre-session cookie."""
    nonce = request.cookies.get(SIGN_IN_COOKIE, "")
    return (
        bool(_NONCE.match(nonce))
        and presented is not None
        and hmac.compare_digest(presented, sign_in_form_token(secret, nonce))
    )


def set_sign_in_cookie(response: Response, ctx: WebContext, nonce: str) -> None:
    """Give the browser its pre-session nonce: HttpOnly, SameSite=Strict, for the sign-in
    form only, so another site's form cannot post a sign-in in this browser's name."""
    response.set_cookie(
        SIGN_IN_COOKIE,
        nonce,
        max_age=int(SIGN_IN_TTL.total_seconds()),
        httponly=True,
        samesite="strict",
        secure=ctx.options.secure_cookies,
        path="/sign-in",
    )


def set_session_cookies(response: Response, ctx: WebContext, raw: str) -> str:
    """Set the web session cookie (signed, HttpOnly) and the readable CSRF cookie on
    ``response``; returns the CSRF token."""
    secret = ctx.settings.secret_key
    max_age = int(ctx.options.session_ttl.total_seconds())
    secure = ctx.options.secure_cookies
    response.set_cookie(
        SESSION_COOKIE,
        sign_cookie(secret, raw),
        max_age=max_age,
        httponly=True,
        samesite="lax",
        secure=secure,
        path="/",
    )
    csrf = csrf_token(secret, raw)
    # Readable by the page's script, so it can echo it in the X-CSRF-Token header.
    response.set_cookie(
        CSRF_COOKIE, csrf, max_age=max_age, httponly=False, samesite="lax", secure=secure
    )
    return csrf


def issue(session: Session, user: User, kind: TokenKind, ttl: timedelta) -> tuple[AuthToken, str]:
    """A new sign-in for ``user`` and its raw token (shown once, never stored)."""
    raw = new_token()
    token = AuthToken(
        user_id=user.id, kind=kind.value, token_hash=token_hash(raw), expires_at=now() + ttl
    )
    session.add(token)
    session.flush()
    return token, raw


@dataclass(frozen=True)
class SignIn:
    """The user a token belongs to, and how it was presented."""

    user: User
    token: AuthToken
    raw: str
    via_cookie: bool


def resolve(session: Session, raw: str, kind: TokenKind, *, via_cookie: bool) -> SignIn:
    """The live sign-in for ``raw``; 401 if unknown, expired, revoked or the user is inactive."""
    token = session.execute(
        select(AuthToken).where(
            AuthToken.token_hash == token_hash(raw), AuthToken.kind == kind.value
        )
    ).scalar_one_or_none()
    if token is None or token.revoked_at is not None:
        raise unauthenticated("Sign in again: this session or token is not valid.")
    if aware(token.expires_at) <= now():
        raise unauthenticated("Sign in again: this session or token has expired.")
    user = session.get(User, token.user_id)
    if user is None or not user.active:
        raise unauthenticated("Sign in again: this account is not active.")
    return SignIn(user, token, raw, via_cookie)


def revoke(session: Session, token: AuthToken) -> None:
    """End a sign-in now."""
    token.revoked_at = now()
    session.flush()


def revoke_all(session: Session, user_id: str) -> None:
    """End every sign-in of a user (deactivated, or password changed)."""
    for token in session.execute(
        select(AuthToken).where(AuthToken.user_id == user_id, AuthToken.revoked_at.is_(None))
    ).scalars():
        token.revoked_at = now()
    session.flush()


def unauthenticated(detail: str) -> ProblemError:
    """A 401 problem asking for sign-in."""
    return ProblemError(401, detail, headers={"WWW-Authenticate": 'Bearer realm="hipspine"'})


# -- throttling -----------------------------------------------------------------------


def _throttle_keys(email: str, client: str | None) -> list[tuple[str, str]]:
    keys = [("account", f"account:{email.strip().lower()}"[:300])]
    if client:
        keys.append(("client", f"client:{client}"[:300]))
    return keys


def _upsert(session: Session, key: str, moment: datetime, window: timedelta) -> Any:
    expired = LoginThrottle.window_start < moment - window
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = insert(LoginThrottle).values(key=key, failures=1, window_start=moment)
    return statement.on_conflict_do_update(
        index_elements=[LoginThrottle.key],
        set_={
            "failures": case((expired, 1), else_=LoginThrottle.failures + 1),
            "window_start": case((expired, moment), else_=LoginThrottle.window_start),
        },
    ).returning(LoginThrottle.failures, LoginThrottle.window_start)


def _count_attempt(ctx: WebContext, email: str, client: str | None) -> int | None:
    """Count this attempt against every key *before* the password is checked; the seconds
    to wait if any key is past its limit, else None.

    Each key is one atomic insert-or-increment that returns the new count, so parallel
    attempts each see a different count: no more than the limit ever reach the password
    check, however many arrive at once.
    """
    options = ctx.options
    limits = {"account": options.failures_per_account, "client": options.failures_per_client}
    moment = now()
    wait = 0.0
    with ctx.db.transaction() as session:
        for kind, key in _throttle_keys(email, client):
            failures, started = session.execute(
                _upsert(session, key, moment, options.failure_window)
            ).one()
            if failures > limits[kind]:
                ends = aware(started) + options.failure_window
                wait = max(wait, (ends - moment).total_seconds(), 1.0)
    return math.ceil(wait) if wait > 0 else None


def _succeeded(session: Session, email: str, client: str | None) -> None:
    # The account starts afresh; the client's counter forgets this attempt only, so a
    # clinic behind one address is not locked out by its own successful sign-ins.
    keys = _throttle_keys(email, client)
    session.execute(delete(LoginThrottle).where(LoginThrottle.key == keys[0][1]))
    if len(keys) > 1:
        session.execute(
            update(LoginThrottle)
            .where(LoginThrottle.key == keys[1][1], LoginThrottle.failures > 0)
            .values(failures=LoginThrottle.failures - 1)
        )


def authenticate(ctx: WebContext, email: str, password: str, client: str | None) -> str:
    """The id of the user with these credentials; 401 if wrong, 429 when throttled.

    The attempt is counted before the password is checked (and forgotten on success), so
    parallel guesses cannot slip past the limit. Every attempt that is not throttled
    verifies one Argon2 hash, so timing does not tell whether the account exists.
    """
    wait = _count_attempt(ctx, email, client)
    if wait is not None:
        raise ProblemError(
            429,
            f"Too many failed sign-ins. Try again in {wait} seconds.",
            headers={"Retry-After": str(wait)},
        )
    with ctx.db.transaction() as session:
        user = session.execute(
            select(User).where(func.lower(User.email) == email.strip().lower())
        ).scalar_one_or_none()
        stored = user.password_hash if user is not None and user.active else None
        user_id = user.id if user is not None else None
    # Verified outside any transaction: Argon2 is slow on purpose, writers must not wait.
    if stored is None:
        ctx.passwords.verify(password, ctx.dummy_hash)
        ok, rehashed = False, None
    else:
        ok, rehashed = ctx.passwords.verify_and_update(password, stored)
    if not ok or user_id is None:
        raise unauthenticated(SIGN_IN_FAILED)
    with ctx.db.transaction() as session:
        _succeeded(session, email, client)
        if rehashed is not None:
            account = session.get(User, user_id)
            if account is not None:
                account.password_hash = rehashed
    return user_id


def open_clinic(
    ctx: WebContext, clinic_name: str, email: str, name: str, password: str
) -> tuple[str, str]:
    """Create a clinic and its first administrator; returns (clinic id, user id).

    For ``hipspine`` command-line bootstrap: the API can only add users to an existing
    clinic, by an administrator of it.
    """
    from hipspine.store.models import Clinic, Role

    if len(password) < 10:
        raise ValueError("the password must be at least 10 characters long")
    with ctx.db.transaction() as session:
        if session.execute(
            select(User.id).where(func.lower(User.email) == email.strip().lower())
        ).first():
            raise ValueError("a user with this e-mail address already exists")
        clinic = Clinic(name=clinic_name)
        session.add(clinic)
        session.flush()
        user = User(
            clinic_id=clinic.id,
            email=email.strip(),
            name=name,
            role=Role.ADMIN.value,
            password_hash=ctx.passwords.hash(password),
        )
        session.add(user)
        session.flush()
        return clinic.id, user.id

"""What every request handler shares: the database, settings, sign-in policy, hasher."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from datetime import timedelta

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from hipspine.config import Settings
from hipspine.store.db import Database


@dataclass(frozen=True)
class WebOptions:
    """Sign-in and session policy. ``from_env`` reads the ``HIPSPINE_*`` overrides."""

    secure_cookies: bool = True
    session_ttl: timedelta = timedelta(hours=12)
    token_ttl: timedelta = timedelta(hours=24)
    portal_ttl: timedelta = timedelta(days=7)
    failures_per_account: int = 5
    failures_per_client: int = 30
    failure_window: timedelta = timedelta(minutes=15)
    # Argon2id with the OWASP-recommended defaults of pwdlib; tests pass a cheaper one.
    hasher: Argon2Hasher = field(default_factory=Argon2Hasher)

    @classmethod
    def from_env(cls) -> WebOptions:
        """Options from ``HIPSPINE_SECURE_COOKIES`` (1/0), ``HIPSPINE_SESSION_HOURS``,
        ``HIPSPINE_TOKEN_HOURS`` and ``HIPSPINE_PORTAL_DAYS``."""
        env = os.environ
        return cls(
            secure_cookies=env.get("HIPSPINE_SECURE_COOKIES", "1").lower()
            not in ("0", "false", "no"),
            session_ttl=timedelta(hours=float(env.get("HIPSPINE_SESSION_HOURS", "12"))),
            token_ttl=timedelta(hours=float(env.get("HIPSPINE_TOKEN_HOURS", "24"))),
            portal_ttl=timedelta(days=float(env.get("HIPSPINE_PORTAL_DAYS", "7"))),
        )


class WebContext:
    """The application's shared state (``app.state.web``)."""

    def __init__(self, db: Database, settings: Settings, options: WebOptions) -> None:
        self.db = db
        self.settings = settings
        self.options = options
        self.passwords = PasswordHash((options.hasher,))
        # Verified in place of a real hash when the account does not exist, so a wrong
        # e-mail costs the same time as a wrong password.
        self.dummy_hash = self.passwords.hash(secrets.token_urlsafe(16))

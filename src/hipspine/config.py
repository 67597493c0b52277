"""Runtime settings, from the environment, with safe local defaults.

``HIPSPINE_DATABASE_URL``  SQLAlchemy URL; default: SQLite in the data folder
``HIPSPINE_DATA_DIR``      local data folder; default ``./var``
``HIPSPINE_SECRET_KEY``    signing key; default: read from (or created in) ``<data>/secret.key``

Secrets never come from the repository: the key file is created on first run with
owner-only permissions and the data folder is ignored by git.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    database_url: str
    secret_key: str


def _secret(data_dir: Path) -> str:
    if key := os.environ.get("HIPSPINE_SECRET_KEY"):
        return key
    path = data_dir / "secret.key"
    if not path.exists():
        data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


def _data_dir() -> Path:
    return Path(os.environ.get("HIPSPINE_DATA_DIR", "var")).resolve()


def database_url() -> str:
    """The database's URL, without creating anything (:func:`load_settings` creates the
    data folder and its key)."""
    return (
        os.environ.get("HIPSPINE_DATABASE_URL") or f"sqlite:///{_data_dir() / 'hipspine.sqlite3'}"
    )


def load_settings() -> Settings:
    """Settings for this process."""
    data_dir = _data_dir()
    return Settings(data_dir, database_url(), _secret(data_dir))

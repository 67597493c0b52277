"""Fixtures shared by every suite: real databases (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hipspine.store.db import Database
from hipspine.store.migrate import upgrade
from tests.support.postgres import fresh_database, postgres_server


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """URL of the session's PostgreSQL server (fails under CI=true when missing)."""
    with postgres_server() as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database of each kind, unmigrated."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'hipspine.sqlite3'}"
    return fresh_database(request.getfixturevalue("postgres_url"))


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    """A migrated database of each kind (SQLite, PostgreSQL)."""
    database = Database(database_url)
    upgrade(database)
    yield database
    database.dispose()

"""Fixtures shared by every suite: real databases (SQLite and PostgreSQL)."""

from __future__ import annotations

import shutil
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


@pytest.fixture(scope="session")
def postgres_template(postgres_url: str) -> str:
    """Name of a migrated database that fresh test databases are copied from."""
    url = fresh_database(postgres_url)
    database = Database(url)
    upgrade(database)
    database.dispose()
    return url.rsplit("/", 1)[1]


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file that test databases are copied from."""
    path = tmp_path_factory.mktemp("template") / "hipspine.sqlite3"
    database = Database(f"sqlite:///{path}")
    upgrade(database)
    database.dispose()
    return path


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database of each kind, unmigrated."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'hipspine.sqlite3'}"
    return fresh_database(request.getfixturevalue("postgres_url"))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A migrated database of each kind (SQLite, PostgreSQL), copied from a template."""
    if request.param == "sqlite":
        path = tmp_path / "hipspine.sqlite3"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        url = f"sqlite:///{path}"
    else:
        template = request.getfixturevalue("postgres_template")
        url = fresh_database(request.getfixturevalue("postgres_url"), template=template)
    database = Database(url)
    yield database
    database.dispose()

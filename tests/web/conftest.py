"""Fixtures for the web tests: the app over each database, a seeded world, clients."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pwdlib.hashers.argon2 import Argon2Hasher

from hipspine.config import Settings
from hipspine.store.db import Database
from hipspine.web import WebOptions, create_app
from hipspine.web.context import WebContext
from tests.web.world import PASSWORD, World, build_world

# Argon2id still, but cheap: the suite hashes and verifies many passwords.
CHEAP = Argon2Hasher(time_cost=1, memory_cost=1024, parallelism=1)


@pytest.fixture
def options() -> WebOptions:
    return WebOptions(secure_cookies=False, hasher=CHEAP)


@pytest.fixture
def app(db: Database, tmp_path: Path, options: WebOptions) -> FastAPI:
    settings = Settings(tmp_path, str(db.url), "test-secret-key-not-for-production")
    return create_app(db, settings, options)


@pytest.fixture
def web(app: FastAPI) -> WebContext:
    context: WebContext = app.state.web
    return context


@pytest.fixture
def world(db: Database, web: WebContext) -> World:
    return build_world(db, web.passwords.hash(PASSWORD))


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client

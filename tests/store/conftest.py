"""Fixtures of the storage suite (every test runs on SQLite and on PostgreSQL)."""

from __future__ import annotations

import pytest

from hipspine.store.db import Database
from tests.store.seed import World, make_world


@pytest.fixture
def world(db: Database) -> World:
    """Two clinics with their staff and patients, in the migrated database ``db``."""
    return make_world(db)

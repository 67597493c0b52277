"""Fixtures of the FHIR suite: Synthea output made once per session, a world of clinics."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hipspine.store.db import Database
from tests.store.seed import World, make_world


@pytest.fixture(scope="session")
def synthea_bundles(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Two Synthea patients (FHIR R4 transaction Bundles), generated once per session."""
    out = tmp_path_factory.mktemp("synthea")
    synthea = Path(sys.executable).with_name("synthea")
    subprocess.run(
        [str(synthea), "-p", "2", "-s", "7", "-a", "40-80", "--threads", "2", "-o", str(out)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    bundles = sorted((out / "fhir").glob("*.json"))
    assert len(bundles) == 2
    return bundles


@pytest.fixture
def world(db: Database) -> World:
    """Clinic A (John, Mary) and clinic B (Bea), with staff acting in each."""
    return make_world(db)

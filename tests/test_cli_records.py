"""The database commands end to end: upgrade, status, backup, restore, audit verification."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from hipspine.cli import app
from hipspine.store.audit import Actor
from hipspine.store.db import Database
from hipspine.store.models import Clinic, User
from hipspine.store.records import Records

runner = CliRunner()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HIPSPINE_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("HIPSPINE_DATABASE_URL", raising=False)
    return tmp_path / "var"


def _add_patient(data_dir: Path, name: str) -> None:
    db = Database(f"sqlite:///{data_dir / 'hipspine.sqlite3'}")
    with db.transaction() as session:
        clinic = Clinic(name="Clinic")
        session.add(clinic)
        session.flush()
        user = User(clinic_id=clinic.id, email=f"{name}@example.org", name="Dr", role="clinician")
        session.add(user)
        session.flush()
        Records(session, Actor(user.id, "clinician", clinic.id)).add_patient(name=name)
    db.dispose()


def test_upgrade_status_backup_restore_and_verify(data_dir: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert "revision" in result.output
    assert (data_dir / "secret.key").stat().st_mode & 0o077 == 0  # the key is owner-only

    _add_patient(data_dir, "John")
    dump = tmp_path / "clinic.dump"
    result = runner.invoke(app, ["backup", str(dump), "--format", "dump"])
    assert result.exit_code == 0, result.output
    assert dump.exists()

    # A second backup to the same file is refused rather than overwritten.
    again = runner.invoke(app, ["backup", str(dump), "--format", "dump"])
    assert again.exit_code == 2

    # Restoring over a database that holds data needs --replace.
    refused = runner.invoke(app, ["restore", str(dump)])
    assert refused.exit_code == 2
    _add_patient(data_dir, "Mary")
    replaced = runner.invoke(app, ["restore", str(dump), "--replace"])
    assert replaced.exit_code == 0, replaced.output

    db = Database(f"sqlite:///{data_dir / 'hipspine.sqlite3'}")
    with db.engine.connect() as connection:
        names = [row[0] for row in connection.exec_driver_sql("SELECT name FROM patient")]
    db.dispose()
    assert names == ["John"]  # Mary, added after the backup, is gone

    verified = runner.invoke(app, ["db", "verify-audit"])
    assert verified.exit_code == 0 and "intact: 1 entries" in verified.output


def test_verify_audit_reports_a_broken_chain(data_dir: Path) -> None:
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    _add_patient(data_dir, "John")
    _add_patient(data_dir, "Mary")
    db = Database(f"sqlite:///{data_dir / 'hipspine.sqlite3'}")
    with db.engine.begin() as connection:
        # A malicious administrator drops the append-only trigger and edits history.
        triggers = connection.exec_driver_sql(
            "SELECT name FROM sqlite_master WHERE type='trigger' AND tbl_name='audit_event'"
        ).all()
        for (name,) in triggers:
            connection.exec_driver_sql(f'DROP TRIGGER "{name}"')
        connection.exec_driver_sql("UPDATE audit_event SET action='read' WHERE seq=1")
    db.dispose()
    result = runner.invoke(app, ["db", "verify-audit"])
    assert result.exit_code == 2
    assert "broken at entry 1" in result.output

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
    db = Database(f"sqlite:///{data_dir / 'hipspine.sqlite3'}")
    with db.engine.connect() as connection:
        last = connection.exec_driver_sql(
            "SELECT action, resource, client FROM audit_event ORDER BY seq DESC LIMIT 1"
        ).one()
    db.dispose()
    assert tuple(last) == ("backup", "database", "hipspine backup")  # the backup is audited

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
        log = connection.exec_driver_sql(
            "SELECT action, resource, client FROM audit_event ORDER BY seq"
        ).all()
    db.dispose()
    assert names == ["John"]  # Mary, added after the backup, is gone
    # The restored chain (John's creation; the backup came after its snapshot) notes the
    # restore itself.
    assert [tuple(row) for row in log] == [
        ("create", "patient", None),
        ("restore", "database", "hipspine restore"),
    ]

    verified = runner.invoke(app, ["db", "verify-audit"])
    assert verified.exit_code == 0 and "intact: 2 entries" in verified.output


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


def test_open_clinic_then_serve_and_sign_in(data_dir: Path, tmp_path: Path) -> None:
    """A clinic is opened from the command line and its administrator signs in over HTTP."""
    import os
    import socket
    import subprocess
    import sys
    import time

    import httpx

    opened = runner.invoke(
        app,
        ["open-clinic", "--clinic", "Hip and Spine Clinic", "--email", "admin@example.org", "--name", "Dr A", "--password", "correct horse battery"],
    )  # fmt: skip
    assert opened.exit_code == 0, opened.output
    short = runner.invoke(
        app,
        [
            "open-clinic",
            "--clinic",
            "B",
            "--email",
            "b@example.org",
            "--name",
            "B",
            "--password",
            "short",
        ],
    )
    assert short.exit_code == 2 and "at least 10 characters" in short.output

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "HIPSPINE_DATA_DIR": str(data_dir)}
    server = subprocess.Popen(
        [sys.executable, "-m", "hipspine.cli", "serve", "--port", str(port)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                httpx.get(f"{base}/openapi.json", timeout=0.5)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        refused = httpx.get(f"{base}/api/patients")
        assert refused.status_code == 401
        assert refused.headers["content-type"].startswith("application/problem+json")
        token = httpx.post(
            f"{base}/api/auth/token",
            json={"email": "admin@example.org", "password": "correct horse battery"},
        ).json()["access_token"]
        patients = httpx.get(f"{base}/api/patients", headers={"Authorization": f"Bearer {token}"})
        assert patients.status_code == 200 and patients.json()["total"] == 0
    finally:
        server.terminate()
        output = server.communicate(timeout=10)[0].decode()
    assert "correct horse battery" not in output and token not in output  # no secrets in logs


def test_report_after_the_demo_as_the_readme_says(data_dir: Path, tmp_path: Path) -> None:
    """`make demo`, then the README's `hipspine report "John Example" --out john.pdf`."""
    missing = runner.invoke(app, ["report", "John Example", "--out", str(tmp_path / "a.pdf")])
    assert missing.exit_code == 2
    assert "no database at" in missing.output and "make demo" in missing.output
    assert missing.output.startswith("error:") and "Traceback" not in missing.output
    assert not (data_dir / "hipspine.sqlite3").exists()  # and no empty database left behind

    demo = runner.invoke(app, ["demo", "--no-serve", "--cohort", "0"])
    assert demo.exit_code == 0, demo.output
    assert str(data_dir / "hipspine.sqlite3") in demo.output

    out = tmp_path / "john.pdf"
    written = runner.invoke(app, ["report", "John Example", "--out", str(out)])
    assert written.exit_code == 0, written.output
    assert out.read_bytes().startswith(b"%PDF")

    unknown = runner.invoke(app, ["report", "Nobody Here", "--out", str(out)])
    assert unknown.exit_code == 2
    assert "no patient" in unknown.output and "Traceback" not in unknown.output

    # Running the demo again replaces its own database, never a clinic's.
    assert runner.invoke(app, ["demo", "--no-serve", "--cohort", "0"]).exit_code == 0
    _add_patient(data_dir, "Mary")
    refused = runner.invoke(app, ["demo", "--no-serve", "--cohort", "0"])
    assert refused.exit_code == 2
    db = Database(f"sqlite:///{data_dir / 'hipspine.sqlite3'}")
    with db.engine.connect() as connection:
        names = {row[0] for row in connection.exec_driver_sql("SELECT name FROM patient")}
    db.dispose()
    assert {"Mary", "John Example"} <= names

"""``hipspine export`` from the command line: finding the patient, refusing a bad ``--out``
before anything is audited, replacing an export whole, never leaving a partial one, reading
from a snapshot that blocks no writer, and progress that behaves in a log."""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest
from rich.console import Console
from sqlalchemy import func, select, text
from typer.testing import CliRunner

from hipspine.cli import app
from hipspine.fhir import commands, ndjson
from hipspine.fhir.exporter import export_all
from hipspine.fhir.importer import Importer
from hipspine.store import audit
from hipspine.store.db import Database
from hipspine.store.models import AuditEvent, Clinic, Patient
from tests.fhir.support import johns_record
from tests.store.seed import make_world

CLINIC_A = "Hip and Spine Clinic"


@pytest.fixture
def clinic(tmp_path, sqlite_template, monkeypatch):
    """Clinic A (John with his whole record, Mary) and clinic B (Bea) in a SQLite file the
    CLI uses; ``out`` is an empty folder for exports."""
    path = tmp_path / "data" / "hipspine.sqlite3"
    path.parent.mkdir()
    shutil.copyfile(sqlite_template, path)
    url = f"sqlite:///{path}"
    db = Database(url)
    world = make_world(db)
    johns_record(db, world.clinician_a, world.john)
    db.dispose()
    monkeypatch.setenv("HIPSPINE_DATABASE_URL", url)
    monkeypatch.setenv("HIPSPINE_DATA_DIR", str(path.parent))
    monkeypatch.setenv("CI", "true")
    out = tmp_path / "out"
    out.mkdir()
    return SimpleNamespace(url=url, world=world, out=out)


def _cli(*args: str):
    return CliRunner().invoke(app, list(args))


def _audit_entries(url: str) -> int:
    db = Database(url)
    try:
        with db.transaction() as session:
            return session.execute(select(func.count()).select_from(AuditEvent)).scalar_one()
    finally:
        db.dispose()


def _listing(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() if p.is_file() else b""
        for p in sorted(folder.rglob("*"))
    }


# -- which patient -------------------------------------------------------------------------


def test_the_patient_is_found_by_id_record_number_or_name(clinic):
    john = clinic.world.john
    for named in (john, "A-1", "John"):
        target = clinic.out / f"{named}.json"
        result = _cli("export", named, "--out", str(target))
        assert result.exit_code == 0, result.output
        first = json.loads(target.read_text())["entry"][0]["resource"]
        assert (first["resourceType"], first["id"]) == ("Patient", john)


def test_an_ambiguous_name_is_refused_with_how_to_choose(clinic):
    db = Database(clinic.url)
    with db.transaction() as session:
        other = session.execute(select(Clinic.id).where(Clinic.name == "Other Clinic")).scalar()
        session.add(Patient(clinic_id=other, name="John", identifier="B-7"))
    db.dispose()
    result = _cli("export", "John", "--out", str(clinic.out / "j.json"))
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "2 patients match 'John'" in lines[0]
    assert clinic.world.john in lines[0] and "B-7" in lines[0] and "--clinic" in lines[0]
    assert not (clinic.out / "j.json").exists()
    # Naming the clinic settles it.
    chosen = _cli("export", "John", "--clinic", CLINIC_A, "--out", str(clinic.out / "j.json"))
    assert chosen.exit_code == 0, chosen.output


# -- a bad --out ------------------------------------------------------------------------


def _bad_outs(clinic) -> dict[str, list[str]]:
    out, john = clinic.out, clinic.world.john
    (out / "john.json").write_text("an earlier Bundle\n")
    (out / "earlier").mkdir()
    (out / "earlier" / "Patient.ndjson").write_text("{}\n")
    (out / "mixed").mkdir()
    (out / "mixed" / "notes.txt").write_text("not an export\n")
    every = ["export", "--all", "--clinic", CLINIC_A, "--out"]
    return {
        "missing folder": ["export", john, "--out", str(out / "nowhere" / "x.json")],
        "all into a file": [*every, str(out / "john.json")],
        "all into a missing folder": [*every, str(out / "nowhere" / "bulk")],
        "existing Bundle": ["export", john, "--out", str(out / "john.json")],
        "Bundle onto a folder": ["export", john, "--out", str(out / "earlier"), "--replace"],
        "all into an earlier export": [*every, str(out / "earlier")],
        "replace what is no export": [*every, str(out / "mixed"), "--replace"],
    }


def test_a_bad_out_is_refused_before_anything_is_read_audited_or_written(clinic):
    for case, args in _bad_outs(clinic).items():
        before, files = _audit_entries(clinic.url), _listing(clinic.out)
        result = _cli(*args)
        assert result.exit_code == 2, (case, result.output)
        assert result.exception is None or isinstance(result.exception, SystemExit), case
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: --out"), (case, lines)
        assert _audit_entries(clinic.url) == before, case
        assert _listing(clinic.out) == files, case


def test_a_bad_out_from_the_installed_command(clinic):
    hipspine = Path(sys.executable).with_name("hipspine")
    result = subprocess.run(
        [str(hipspine), "export", clinic.world.john, "--out", "/nonexistent/x.json"],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "40"},
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "error: --out /nonexistent/x.json: /nonexistent does not exist"
    ]
    assert "Traceback" not in result.stderr


# -- written whole or not at all -------------------------------------------------------------


def test_replace_swaps_in_a_whole_new_export(clinic):
    target = clinic.out / "bulk"
    target.mkdir()
    (target / "Patient.ndjson").write_text('{"resourceType": "Patient"}\n' * 500)
    (target / "Basic.ndjson").write_text('{"resourceType": "Basic"}\n')  # no longer exported
    refused = _cli("export", "--all", "--clinic", CLINIC_A, "--out", str(target))
    assert refused.exit_code == 2 and "--replace" in refused.stderr
    result = _cli("export", "--all", "--clinic", CLINIC_A, "--out", str(target), "--replace")
    assert result.exit_code == 0, result.output
    manifest = json.loads((target / ndjson.MANIFEST).read_text())
    listed = {item["url"]: item["count"] for item in manifest["output"]}
    assert {p.name for p in target.iterdir()} == {*listed, ndjson.MANIFEST}
    for name, count in listed.items():
        assert len((target / name).read_text().splitlines()) == count
    assert listed["Patient.ndjson"] == 2 and manifest["transactionTime"]
    assert [p.name for p in clinic.out.iterdir()] == ["bulk"]  # nothing left beside it
    # The export imports elsewhere as it is, manifest and all.
    again = _cli("import", str(target), "--clinic", "Other Clinic")
    assert again.exit_code == 0, again.output


@pytest.mark.parametrize("stop", ["error", "interrupt", "terminate"])
def test_an_export_that_stops_midway_leaves_nothing_partial(clinic, monkeypatch, stop):
    bundle = clinic.out / "john.json"
    bundle.write_text("the earlier Bundle\n")
    bulk = clinic.out / "bulk"
    bulk.mkdir()
    for kind in ("Patient", "Condition", "Observation"):
        (bulk / f"{kind}.ndjson").write_text(f'{{"resourceType": "{kind}", "id": "earlier"}}\n')
    before = _listing(clinic.out)
    write, written = ndjson.Writer.write, []

    def stopping(self, resource):
        written.append(resource)
        if len(written) == 5:
            if stop == "error":
                raise RuntimeError("disk full")
            if stop == "interrupt":
                raise KeyboardInterrupt
            # `kill`: (without a handler of the export's own, it would end the test run)
            assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
            os.kill(os.getpid(), signal.SIGTERM)
        write(self, resource)

    monkeypatch.setattr(ndjson.Writer, "write", stopping)
    result = _cli("export", "--all", "--clinic", CLINIC_A, "--out", str(bulk), "--replace")
    assert result.exit_code != 0 and len(written) >= 5
    assert _listing(clinic.out) == before  # the earlier export as it was, no partial beside it
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL

    real = commands._bundle

    def failing(*args):
        real(*args)  # audited and made, then the write fails
        raise KeyboardInterrupt

    monkeypatch.setattr(commands, "_bundle", failing)
    result = _cli("export", clinic.world.john, "--out", str(bundle), "--replace")
    assert result.exit_code != 0
    assert _listing(clinic.out) == before


# -- a snapshot that blocks no writer ---------------------------------------------------------


def _write_meanwhile(db: Database, name: str) -> None:
    """Write from another connection and thread; fail if it has to wait for the reader."""
    done = threading.Event()

    def write() -> None:
        with db.transaction() as session:
            session.add(Clinic(name=name))
            audit.record(session, audit.Actor(None, "admin", None), "test", "database")
        done.set()

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    thread.join(timeout=10)
    assert done.is_set(), "a writer waited for the export's snapshot"


def test_a_snapshot_blocks_no_writer_and_writes_nothing(db):
    with db.snapshot() as session:
        seen = session.execute(select(func.count()).select_from(Clinic)).scalar_one()
        _write_meanwhile(db, "Opened meanwhile")
        # One moment of the database: what was committed since is not seen.
        assert session.execute(select(func.count()).select_from(Clinic)).scalar_one() == seen
        with pytest.raises(Exception, match=r"(?i)read.?only"):
            session.execute(text("DELETE FROM clinic"))
    with db.transaction() as session:
        assert session.execute(select(func.count()).select_from(Clinic)).scalar_one() == seen + 1
        session.add(Clinic(name="Still writable"))  # the pooled connection is writable again


def test_export_all_audits_each_patient_before_writing_and_lets_others_write(
    db, world, tmp_path, monkeypatch
):
    johns_record(db, world.clinician_a, world.john)
    write, checked = ndjson.Writer.write, []

    def audited_first(self, resource):
        subject = resource.get("subject", {}).get("reference", "")
        patient = resource["id"] if resource["resourceType"] == "Patient" else subject[8:]
        if patient:
            with db.engine.connect() as connection:  # committed entries, taking no lock
                entries = connection.execute(
                    select(func.count())
                    .select_from(AuditEvent)
                    .where(AuditEvent.action == "export", AuditEvent.patient_id == patient)
                ).scalar_one()
            assert entries == 1, resource["resourceType"]
            checked.append(patient)
        write(self, resource)

    monkeypatch.setattr(ndjson.Writer, "write", audited_first)
    stages = []

    def progress(stage: str, done: int, total: int) -> None:
        if not stages:
            _write_meanwhile(db, "Opened during the export")
        stages.append((stage, done, total))

    counts = export_all(db, world.clinician_a, tmp_path / "bulk", progress=progress, audit_batch=1)
    assert counts["Patient"] == 2 and {world.john, world.mary} <= set(checked)
    assert stages[0] == ("patient", 1, stages[0][2])  # one patient per audit batch here
    assert stages[-1][1] == stages[-1][2]  # every row counted up front was written
    with db.transaction() as session:
        assert audit.verify(session).intact
        exported = session.execute(
            select(AuditEvent.patient_id).where(AuditEvent.action == "export")
        ).scalars()
        assert sorted(exported) == sorted([world.john, world.mary])


# -- progress ----------------------------------------------------------------------------


def test_progress_lines_in_a_log_are_never_wrapped(monkeypatch, capsys):
    monkeypatch.setenv("CI", "true")
    monkeypatch.setenv("COLUMNS", "40")
    status = "storing · " + " · ".join(f"unused Observation{i}: 8,024" for i in range(8))
    with commands.Meter("import", every=0) as meter:
        meter.update(0, None, "counting")
        meter.update(250, 1000, status)
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "import · counting"
    assert lines[1].startswith("import 25% · storing · ") and lines[1].endswith("8,024")
    assert len(lines) == 2


def test_progress_on_a_terminal_is_a_bar_with_percentage():
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=100, color_system=None)
    with commands.Meter("export", console=console) as meter:
        meter.update(42, 100, "episode · 42 of 100 rows")
    shown = screen.getvalue()
    assert "42%" in shown and "━" in shown and "episode · 42 of 100 rows" in shown


def test_import_progress_moves_forward_to_the_end(db, world, tmp_path):
    johns_record(db, world.clinician_a, world.john)
    export_all(db, world.clinician_a, tmp_path)
    files = sorted(tmp_path.glob("*.ndjson"))
    seen: list[tuple[float, float, str]] = []
    meter = SimpleNamespace(update=lambda done, total, status: seen.append((done, total, status)))
    gauge = commands._ImportGauge(meter, [], files)  # type: ignore[arg-type]
    importer = Importer(db, world.admin_b, progress=gauge, batch_size=5)
    gauge.bulk_started(importer.report)
    importer.import_files(files)
    total = sum(p.stat().st_size for p in files)
    assert seen.pop(0) == (0, None, "counting lines")
    dones = [done for done, _, _ in seen]
    assert all(t == total for _, t, _ in seen) and dones == sorted(dones)
    assert any(s.startswith("reading") for *_, s in seen)
    assert any(s.startswith("storing") for *_, s in seen)
    assert dones[-1] == pytest.approx(total)


def test_a_summary_line_in_a_log_is_never_wrapped(clinic):
    target = clinic.out / "bulk"
    hipspine = Path(sys.executable).with_name("hipspine")
    result = subprocess.run(
        [str(hipspine), "export", "--all", "--clinic", CLINIC_A, "--out", str(target)],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "40"},
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"exported to {target}: ")
    assert lines[0].endswith(f"QuestionnaireResponse {_count(target, 'QuestionnaireResponse')}")


def _count(folder: Path, kind: str) -> int:
    return len((folder / f"{kind}.ndjson").read_text().splitlines())

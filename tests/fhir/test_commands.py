"""``hipspine import`` and ``hipspine export`` as the CLI registers them."""

from __future__ import annotations

import csv
import json
import shutil

import typer
from typer.testing import CliRunner

from hipspine.fhir.commands import export_command, import_command
from hipspine.store.db import Database
from hipspine.store.models import Clinic

app = typer.Typer()
app.command("export")(export_command)
app.command("import")(import_command)


def _clinic_database(tmp_path, sqlite_template, monkeypatch) -> None:
    """A database with one clinic, which the commands use (as an operator's environment)."""
    path = tmp_path / "hipspine.sqlite3"
    shutil.copyfile(sqlite_template, path)
    db = Database(f"sqlite:///{path}")
    with db.transaction() as session:
        session.add(Clinic(name="Hip and Spine Clinic"))
    db.dispose()
    monkeypatch.setenv("HIPSPINE_DATABASE_URL", f"sqlite:///{path}")
    monkeypatch.setenv("HIPSPINE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CI", "true")


def test_import_then_export(tmp_path, sqlite_template, synthea_bundles, monkeypatch):
    _clinic_database(tmp_path, sqlite_template, monkeypatch)
    runner = CliRunner()

    first = runner.invoke(app, ["import", *map(str, synthea_bundles)])
    assert first.exit_code == 0, first.output
    assert "stored pain_rating" in first.output and "unused Claim" in first.output
    again = runner.invoke(app, ["import", *map(str, synthea_bundles)])
    assert "stored 0 " in again.output and "  stored " not in again.output

    out = tmp_path / "bulk"
    bulk = runner.invoke(app, ["export", "--all", "--out", str(out)])
    assert bulk.exit_code == 0, bulk.output
    patient_id = json.loads((out / "Patient.ndjson").read_text().splitlines()[0])["id"]
    one = runner.invoke(app, ["export", patient_id, "--out", str(tmp_path / "p.json")])
    assert one.exit_code == 0, one.output
    assert json.loads((tmp_path / "p.json").read_text())["resourceType"] == "Bundle"
    missing = runner.invoke(app, ["export", "nobody"])
    assert missing.exit_code == 2 and "no patient with id" in missing.output


def test_a_folder_is_read_for_its_fhir_files_and_says_what_it_did_not_read(
    tmp_path, sqlite_template, synthea_bundles, monkeypatch
):
    """Its Bundles and NDJSON are imported; a note, the system's hidden files and the
    manifest are not read as FHIR; a file that cannot be read is named, and the rest is
    imported all the same."""
    _clinic_database(tmp_path, sqlite_template, monkeypatch)
    folder = tmp_path / "from-the-ehr"
    (folder / ".partial").mkdir(parents=True)
    shutil.copy(synthea_bundles[0], folder / "patient.json")
    (folder / "README.txt").write_text("Exported for the registry.\n")
    (folder / ".DS_Store").write_bytes(b"")
    (folder / ".partial" / "Patient.ndjson").write_text("{not json\n")
    (folder / "manifest.json").write_text("{}")
    (folder / "Observation.ndjson").symlink_to(tmp_path / "moved-away")  # cannot be read

    result = CliRunner().invoke(app, ["import", str(folder)])
    assert result.exit_code == 1, result.output
    assert "not read (not .json or .ndjson): " in result.output and "README.txt" in result.output
    assert "stored pain_rating" in result.output  # the Bundle beside them was imported
    [rejected] = [line for line in result.output.splitlines() if line.startswith("  rejected")]
    assert "Observation.ndjson:file: not readable" in rejected
    assert ".DS_Store" not in result.output and ".partial" not in result.output


def test_a_database_that_cannot_be_reached_is_said_in_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("HIPSPINE_DATABASE_URL", "postgresql+psycopg://admin:S3cret@127.0.0.1:1/x")
    monkeypatch.setenv("HIPSPINE_DATA_DIR", str(tmp_path))
    result = CliRunner().invoke(app, ["import", str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: cannot open the database: ")
    assert "Connection refused" in result.output and "S3cret" not in result.output
    assert "Traceback" not in result.output and len(result.output.splitlines()) <= 2


def test_an_interrupted_import_says_how_to_resume(
    tmp_path, sqlite_template, synthea_bundles, monkeypatch
):
    """Ctrl-C during an import: what was stored is said, with how to finish (run it again),
    not a traceback; running it again imports the rest and nothing twice."""
    from hipspine.fhir.importer import Importer

    _clinic_database(tmp_path, sqlite_template, monkeypatch)
    files = [str(f) for f in synthea_bundles[:2]]
    real = Importer.import_files

    def interrupted_at_the_second_file(self, paths):
        if str(next(iter(paths))) == files[1]:
            raise KeyboardInterrupt
        return real(self, paths)

    monkeypatch.setattr(Importer, "import_files", interrupted_at_the_second_file)
    stopped = CliRunner().invoke(app, ["import", *files])
    assert stopped.exit_code == 130, stopped.output
    assert (
        "interrupted after storing" in stopped.output
        and "run the same command again" in stopped.output
    )
    assert "Traceback" not in stopped.output
    monkeypatch.setattr(Importer, "import_files", real)

    rest = CliRunner().invoke(app, ["import", *files])
    assert rest.exit_code == 0, rest.output
    summary = rest.output.splitlines()[0]
    assert "(1 new patient)" in summary and "already present 0" not in summary


def test_a_mistyped_data_folder_is_named_and_nothing_is_created(tmp_path, monkeypatch):
    """Import and export work on a clinic's existing records: a data folder with no
    database in it is named, and no empty database (or key) is left behind in it."""
    mistyped = tmp_path / "hipspnie"
    monkeypatch.delenv("HIPSPINE_DATABASE_URL", raising=False)
    monkeypatch.setenv("HIPSPINE_DATA_DIR", str(mistyped))
    (tmp_path / "Patient.ndjson").write_text('{"resourceType": "Patient", "id": "p1"}\n')
    export = ["export", "--all", "--out", str(tmp_path / "out")]
    for command in (["import", str(tmp_path / "Patient.ndjson")], export):
        result = CliRunner().invoke(app, command)
        assert result.exit_code == 2, result.output
        assert result.output.startswith(f"error: no database at {mistyped / 'hipspine.sqlite3'}")
        assert "HIPSPINE_DATA_DIR" in result.output and "Traceback" not in result.output
    assert not mistyped.exists() and not (tmp_path / "out").exists()


def test_a_bulk_folder_short_of_its_manifest_says_which_file(
    tmp_path, sqlite_template, monkeypatch
):
    """A transfer cut short (a file missing, one with fewer lines than listed) is named,
    and what did arrive is imported: an export is checked against its own manifest."""
    _clinic_database(tmp_path, sqlite_template, monkeypatch)
    patients = [
        {"resourceType": "Patient", "id": f"5d6e7f80-91a2-4b3c-8d4e-5f6a7b8c9d0{n}",
         "name": [{"text": f"Pat {n}"}]}
        for n in range(3)
    ]  # fmt: skip
    folder = tmp_path / "bulk"
    folder.mkdir()
    (folder / "Patient.ndjson").write_text("".join(json.dumps(p) + "\n" for p in patients[:2]))
    manifest = {
        "transactionTime": "2026-12-01T00:00:00Z", "request": "export", "requiresAccessToken": False,
        "output": [
            {"type": "Patient", "url": "Patient.ndjson", "count": 3},
            {"type": "Observation", "url": "Observation.ndjson", "count": 115},
            {"type": "Condition", "url": "https://ehr.example.org/bulk/9f2.ndjson", "count": 4},
        ],
        "error": [],
    }  # fmt: skip
    (folder / "manifest.json").write_text(json.dumps(manifest))
    result = CliRunner().invoke(app, ["import", str(folder)])
    assert result.exit_code == 1, result.output
    rejected = [
        line.strip() for line in result.output.splitlines() if line.startswith("  rejected")
    ]
    assert rejected == [  # in the order of the files
        f"rejected {folder / 'Observation.ndjson'}:file: missing; manifest.json lists 115 "
        "resources in it",
        f"rejected {folder / 'Patient.ndjson'}:file: 2 lines; manifest.json lists 3 resources",
    ]
    assert "stored patient: 2" in result.output


def test_the_report_file_lists_every_rejected_resource(tmp_path, sqlite_template, monkeypatch):
    """The screen lists the first 1,000 rejected resources; ``--report`` writes every one
    (file, where, reason) to an owner-only CSV once the import ends, with worker processes
    too: those rejected while reading (a rating of 12) and while storing (no such patient)."""
    from hipspine.fhir import importer
    from tests.fhir.support import pain_rating

    _clinic_database(tmp_path, sqlite_template, monkeypatch)
    monkeypatch.setattr(importer, "_workers", lambda paths: 2)
    sent = tmp_path / "Observation.ndjson"
    # More than 1,000 of each: neither the worker's report of its lines nor the batch's
    # report of its patients stops at the screen's 1,000.
    lines = [pain_rating("Patient/nobody", 3, f"orphan-{n}") for n in range(1100)]
    lines += [pain_rating("Patient/nobody", 12, f"too-high-{n}") for n in range(1100)]
    sent.write_text("".join(json.dumps(line) + "\n" for line in lines))
    listed = tmp_path / "rejected.csv"
    listed.write_text("an earlier report\n")

    result = CliRunner().invoke(app, ["import", str(sent), "--report", str(listed)])
    assert result.exit_code == 1, result.output
    assert "… and 1,200 more rejected" in result.output
    assert f"every rejected resource (2,200): {listed}" in result.output
    with listed.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["file", "where", "reason"] and len(rows) == 1 + 2200
    where = {row[1] for row in rows[1:]}
    assert where == {f"line {n}" for n in range(1, 2201)}
    reasons = {row[2].split(":")[0] for row in rows[1:]}
    assert reasons == {"Observation", "Observation.subject"}, reasons
    assert listed.stat().st_mode & 0o077 == 0
    assert list(tmp_path.glob(".rejected.csv.*")) == []  # no partial file left

    folder = CliRunner().invoke(app, ["import", str(sent), "--report", str(tmp_path)])
    assert folder.exit_code == 2 and "is a folder" in folder.output


def test_a_refused_transaction_says_what_it_held_back(tmp_path, sqlite_template, monkeypatch):
    """One bad entry of a transaction: nothing stored, the Bundle named and not counted as a
    rejected resource, its good entries counted as held back; the report file lists both."""
    from hipspine.fhir import bundle
    from tests.fhir.support import pain_rating

    _clinic_database(tmp_path, sqlite_template, monkeypatch)
    ann = {"resourceType": "Patient", "id": "ann", "name": [{"text": "Ann"}]}
    sent = tmp_path / "tx.json"
    entries = [ann, pain_rating("Patient/ann", 3, "ann-1"), pain_rating("Patient/ann", 12, "ann-2"),
               {"resourceType": "Claim", "id": "c1"}]  # fmt: skip
    sent.write_text(json.dumps(bundle.build(entries, kind="transaction")))
    listed = tmp_path / "rejected.csv"

    result = CliRunner().invoke(app, ["import", str(sent), "--report", str(listed)])
    assert result.exit_code == 1, result.output
    assert "stored 0 " in result.output
    assert "unused 1 · rejected 1 · held back 2 (transaction refused)" in result.output
    assert "1 rejected (listed), 2 held back" in result.output
    assert f"every rejected resource (1) and refused transaction (1): {listed}" in result.output
    with listed.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert sorted(row[1] for row in rows[1:]) == ["Bundle", "entry 2"]

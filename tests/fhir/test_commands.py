"""``hipspine import`` and ``hipspine export`` as the CLI registers them."""

from __future__ import annotations

import json

import typer
from typer.testing import CliRunner

from hipspine.fhir.commands import export_command, import_command
from hipspine.store.db import Database
from hipspine.store.models import Clinic

app = typer.Typer()
app.command("export")(export_command)
app.command("import")(import_command)


def test_import_then_export(tmp_path, sqlite_template, synthea_bundles, monkeypatch):
    import shutil

    path = tmp_path / "hipspine.sqlite3"
    shutil.copyfile(sqlite_template, path)
    db = Database(f"sqlite:///{path}")
    with db.transaction() as session:
        session.add(Clinic(name="Hip and Spine Clinic"))
    db.dispose()
    monkeypatch.setenv("HIPSPINE_DATABASE_URL", f"sqlite:///{path}")
    monkeypatch.setenv("HIPSPINE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CI", "true")
    runner = CliRunner()

    first = runner.invoke(app, ["import", *map(str, synthea_bundles)])
    assert first.exit_code == 0, first.output
    assert "stored pain_rating" in first.output and "unused Claim" in first.output
    again = runner.invoke(app, ["import", *map(str, synthea_bundles)])
    assert "stored 0 " in again.output

    out = tmp_path / "bulk"
    bulk = runner.invoke(app, ["export", "--all", "--out", str(out)])
    assert bulk.exit_code == 0, bulk.output
    patient_id = json.loads((out / "Patient.ndjson").read_text().splitlines()[0])["id"]
    one = runner.invoke(app, ["export", patient_id, "--out", str(tmp_path / "p.json")])
    assert one.exit_code == 0, one.output
    assert json.loads((tmp_path / "p.json").read_text())["resourceType"] == "Bundle"
    missing = runner.invoke(app, ["export", "nobody"])
    assert missing.exit_code == 2 and "no patient with id" in missing.output

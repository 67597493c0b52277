"""Synthea output (transaction Bundles and the same as NDJSON) on SQLite and PostgreSQL:
what hipspine keeps lands as records, the rest is counted, and nothing is imported twice."""

from __future__ import annotations

from hipspine.fhir.importer import Importer
from hipspine.store import audit
from tests.fhir.support import bundles_as_ndjson, counts


def test_synthea_bundles_land_and_reimport_changes_nothing(db, world, synthea_bundles):
    before = counts(db)
    report = Importer(db, world.admin_a).import_files(synthea_bundles)
    assert report.problem_count == 0, report.problems[:5]
    assert report.patients_created == 2
    assert report.stored["pain_rating"] > 20
    unused_kinds = {kind for kind, _ in report.unused}
    assert {"Claim", "Encounter", "Immunization"} <= unused_kinds
    assert report.read == report.stored_total + sum(report.unused.values())
    landed = counts(db)
    assert landed["patient"] == before["patient"] + 2
    assert landed["audit_event"] == before["audit_event"] + 2  # one "import" per patient

    again = Importer(db, world.admin_a).import_files(synthea_bundles)
    assert again.stored_total == 0 and again.already == report.stored_total
    assert counts(db) == landed
    with db.transaction() as session:
        assert audit.verify(session).intact


def test_ndjson_gives_the_same_records_as_bundles(db, world, synthea_bundles, tmp_path):
    files = bundles_as_ndjson(synthea_bundles, tmp_path / "bulk")
    report = Importer(db, world.admin_a, batch_size=250).import_files(files)
    assert report.problem_count == 0, report.problems[:5]
    assert report.patients_created == 2
    # Clinic B gets the same files from Bundles: the same records, in its own clinic.
    other = Importer(db, world.admin_b).import_files(synthea_bundles)
    assert other.stored == report.stored
    assert Importer(db, world.admin_a).import_files(files).stored_total == 0

"""Bad resources are reported with file, line and reason without stopping the rest; a
killed import resumes without duplicates; a clinic never reaches another's patients."""

from __future__ import annotations

import json

import pytest

from hipspine.fhir.importer import Importer
from tests.fhir.support import bundles_as_ndjson, counts


def test_bad_lines_are_reported_and_the_rest_imported(db, world, synthea_bundles, tmp_path):
    files = bundles_as_ndjson(synthea_bundles, tmp_path / "bulk")
    observations = tmp_path / "bulk" / "Observation.ndjson"
    lines = observations.read_text().splitlines()
    pain = next(i for i, line in enumerate(lines) if "72514-3" in line)
    broken = json.loads(lines[pain])
    broken["effectiveDateTime"] = "2020-13-45"
    lines[pain] = json.dumps(broken)
    lines.insert(3, "{not json")
    observations.write_text("\n".join(lines) + "\n")

    report = Importer(db, world.admin_a).import_files(files)
    where = {(p.file, p.where) for p in report.problems}
    assert (str(observations), "line 4") in where
    assert (str(observations), f"line {pain + 2}") in where  # shifted by the inserted line
    assert report.problem_count == 2
    assert report.patients_created == 2 and report.stored["pain_rating"] > 20


class Killed(BaseException):
    pass


def test_a_killed_import_resumes_without_duplicates(db, world, synthea_bundles, tmp_path):
    files = bundles_as_ndjson(synthea_bundles, tmp_path / "bulk")
    units = 0

    def die_after_three(_report):
        nonlocal units
        units += 1
        if units == 3:
            raise Killed

    with pytest.raises(Killed):
        Importer(db, world.admin_a, batch_size=100, progress=die_after_three).import_files(files)
    Importer(db, world.admin_a, batch_size=100).import_files(files)
    resumed = counts(db)

    clean = Importer(db, world.admin_b, batch_size=100).import_files(files)
    assert resumed["pain_rating"] == clean.stored["pain_rating"] > 0
    assert resumed["fhir_source"] == clean.stored_total
    assert resumed["patient"] == 3 + 2


def test_another_clinics_patient_is_not_found(db, world):
    rating = {
        "resourceType": "Observation", "id": "obs-1", "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "72514-3"}]},
        "subject": {"reference": f"Patient/{world.bea}"},
        "effectiveDateTime": "2025-11-17", "valueInteger": 4,
    }  # fmt: skip
    before = counts(db)
    report = Importer(db, world.admin_a).import_bundle(
        {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": rating}]}
    )
    assert report.problem_count == 1 and "not found" in report.problems[0].reason
    assert counts(db) == before


def test_patients_cannot_import(db, world):
    from hipspine.store.records import AccessRefused

    with pytest.raises(AccessRefused):
        Importer(db, world.john_self)

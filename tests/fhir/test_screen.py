"""The bulk importer passes over NDJSON lines without parsing them only when the mappings
would certainly not keep them: never a resource hipspine keeps, whatever its spelling."""

from __future__ import annotations

import json
from collections import Counter

import orjson
import pytest

from hipspine.fhir import importer, ndjson
from hipspine.fhir._common import Invalid, Unused
from hipspine.fhir.exporter import export_all
from hipspine.fhir.importer import MAPPERS, Importer
from tests.fhir.support import bundles_as_ndjson, johns_record, pain_rating
from tests.fhir.test_imaging import _imaging_patient


def _kept(resource: dict) -> bool:
    """Whether the mappings keep ``resource`` (the truth the screen must never contradict)."""
    try:
        MAPPERS[resource["resourceType"]](resource)
    except Unused:
        return False
    except (Invalid, KeyError, TypeError, ValueError, AttributeError):
        return True  # reported as a problem: it must reach the mapping to be reported
    return True


def test_every_line_passed_over_is_one_the_mappings_would_not_keep(synthea_bundles, tmp_path):
    screen = importer._Screen()
    passed_over = parsed = 0
    for path in bundles_as_ndjson(synthea_bundles, tmp_path / "bulk"):
        for _, raw in ndjson.lines(path):
            resource = orjson.loads(raw)
            verdict = screen.unused(raw)
            if verdict is None:
                parsed += 1
                continue
            passed_over += 1
            kind, reason = verdict
            assert kind == resource["resourceType"]
            if reason == importer.UNMARKED:
                assert not _kept(resource), raw[:200]
            else:
                assert kind not in importer.KEPT
    # Most of an EHR's export is passed over, and what hipspine keeps still arrives.
    assert passed_over > 10 * parsed > 0


def test_every_record_of_a_hipspine_export_is_parsed(db, world, tmp_path):
    johns_record(db, world.clinician_a, world.john)
    _imaging_patient(db, world.clinician_a)
    export_all(db, world.clinician_a, tmp_path)
    screen = importer._Screen()
    kept = Counter()
    for path in tmp_path.glob("*.ndjson"):
        for _, raw in ndjson.lines(path):
            resource = orjson.loads(raw)
            if resource["resourceType"] in MAPPERS and _kept(resource):
                assert screen.unused(raw) is None, raw[:200]
                kept[resource["resourceType"]] += 1
    # Medications are exported as statements; an imaging report names its Encounter, which
    # brings the whole case (the report is parsed, then counted as unused).
    assert set(kept) == set(MAPPERS) - {"MedicationRequest", "DiagnosticReport"}


PAIN = pain_rating("Patient/p1", 6, "pain-1")


@pytest.mark.parametrize(
    "spell",
    [
        lambda text: text.replace('"72514-3"', '"\\u0037\\u0032514-3"'),  # escaped digits
        lambda text: text.replace("http://loinc.org", "http:\\/\\/loinc.org"),  # escaped slash
        lambda text: text.replace('"final"', '"final", "note": [{"text": "Schmerz ü"}]'),
    ],
    ids=["unicode-escape", "escaped-slash", "non-ascii"],
)
def test_a_pain_rating_spelled_unusually_is_still_imported(db, world, tmp_path, spell):
    folder = tmp_path / "bulk"
    folder.mkdir()
    patient = {"resourceType": "Patient", "id": "p1", "name": [{"text": "Jo Doe"}]}
    (folder / "Patient.ndjson").write_text(json.dumps(patient) + "\n")
    line = spell(json.dumps(PAIN))
    assert orjson.loads(line)["code"]["coding"][0]["code"] == "72514-3"
    (folder / "Observation.ndjson").write_text(line + "\n")

    report = Importer(db, world.admin_a).import_files(sorted(folder.glob("*.ndjson")))
    assert report.problem_count == 0, report.problems
    assert report.stored["pain_rating"] == 1


def test_an_analgesic_named_only_in_text_is_kept():
    line = json.dumps(
        {
            "resourceType": "MedicationRequest",
            "id": "m1",
            "medicationCodeableConcept": {"text": "Naproxen sodium 220 MG Oral Tablet"},
        }
    ).encode()
    other = line.replace(b"Naproxen sodium", b"Amlodipine")
    screen = importer._Screen()
    assert screen.unused(line) is None
    assert screen.unused(other) == ("MedicationRequest", importer.UNMARKED)


def _per_line(screen: importer._Screen, path) -> tuple[list[int], Counter]:
    kept, unused = [], Counter()
    for number, raw in ndjson.lines(path):
        verdict = screen.unused(raw.rstrip(b"\r\n"))
        if verdict is None:
            kept.append(number)
        else:
            unused[verdict] += 1
    return kept, unused


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)  # the database plays no part
@pytest.mark.parametrize("block_bytes", [1, 700, 1 << 20])
def test_a_block_is_sifted_as_its_lines_would_be_one_by_one(
    db, world, synthea_bundles, tmp_path, monkeypatch, block_bytes
):
    """Judging a block of lines at once keeps exactly the lines judged one by one would,
    and counts the rest alike: Synthea's files, a hipspine export, a file of mixed types
    and unusual spellings (escapes, non-ASCII, a blank line)."""
    files = bundles_as_ndjson(synthea_bundles, tmp_path / "synthea")
    johns_record(db, world.clinician_a, world.john)
    export_all(db, world.clinician_a, tmp_path / "export")
    files += sorted((tmp_path / "export").glob("*.ndjson"))
    mixed = tmp_path / "mixed.ndjson"
    pain = json.dumps(PAIN)
    with mixed.open("w") as handle:
        for path in files[:6]:
            handle.writelines(path.read_text().splitlines(keepends=True)[:20])
        handle.write(pain.replace('"72514-3"', '"\\u0037\\u0032514-3"') + "\n\n")
    odd = tmp_path / "Observation.ndjson"
    odd.write_text(
        "\n".join([pain.replace("72514-3", "8867-4"), pain, pain.replace('"final"', '"ü"')])
    )
    monkeypatch.setattr(importer, "BLOCK_BYTES", block_bytes)
    screen = importer._Screen()
    for path in [*files, mixed, odd]:
        kept, passed = [], importer.Report()
        for block in importer._blocks(path):
            with path.open("rb") as handle:
                handle.seek(block.offset)
                data = handle.read(block.size)
            lines, report = screen.sift(data, block.first_line)
            kept += [number for number, _ in lines]
            passed.add(report)
        expected_kept, expected_unused = _per_line(screen, path)
        assert kept == expected_kept, path
        assert passed.unused == expected_unused and passed.read == expected_unused.total(), path


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
@pytest.mark.parametrize("cut", ["last", "middle"])
def test_a_line_cut_off_is_rejected_never_passed_over(db, world, tmp_path, cut):
    """A line cut off (a file truncated, a copy interrupted) is not a resource hipspine
    would not keep: it is parsed and rejected with its line, whatever marks it lacks."""
    vital = {**PAIN, "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]}}
    lines = [json.dumps({**vital, "id": f"hr-{i}"}) for i in range(4)]
    lines.append(json.dumps({**PAIN, "id": "pain-cut"}))
    at = len(lines) - 1 if cut == "last" else 1
    lines[at] = lines[at][:60]  # no pain code left in it: the screen alone would pass it over
    path = tmp_path / "Observation.ndjson"
    path.write_text("\n".join(lines) + "\n")
    report = Importer(db, world.admin_a).import_files([path])
    rejected = {p.where: p.reason.split(":")[0] for p in report.problems}
    assert rejected[f"line {at + 1}"] == "not valid JSON"
    assert report.unused[("Observation", importer.UNMARKED)] == 4 - (cut == "middle")

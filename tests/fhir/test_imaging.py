"""Imaging grades out and in, on SQLite and PostgreSQL: the encounter case's imaging
findings become one DiagnosticReport (LOINC 18748-4) with an Observation per grade or angle,
valid R4 (fhir.resources R4B), naming its Encounter; a hipspine export imports back to the
same export (the Encounter brings the case), and a report from an EHR still becomes an
imaging encounter."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.diagnosticreport import DiagnosticReport

from hipspine.fhir.exporter import export_patient
from hipspine.fhir.imaging import CARRIED
from hipspine.fhir.importer import Importer
from hipspine.fhir.validate import problem
from hipspine.store.models import Encounter, Patient
from hipspine.store.records import Records
from tests.fhir.support import counts, imported_ids

JOHN_CASE = json.loads((Path(__file__).parents[2] / "examples" / "john.json").read_text())


def _imaging_patient(db, actor) -> str:
    with db.transaction() as session:
        records = Records(session, actor)
        jo = records.add_patient(name="Jo Imaging", sex="male", birth_date=date(1968, 5, 2))
        records.add(
            Encounter(
                patient_id=jo.id, kind="imaging", occurred_on=date(2025, 11, 20), case=JOHN_CASE
            )
        )
        records.add(Encounter(patient_id=jo.id, kind="follow_up", occurred_on=date(2026, 1, 5)))
    return jo.id


def _report(data) -> dict:
    [report] = [
        e["resource"] for e in data["entry"] if e["resource"]["resourceType"] == "DiagnosticReport"
    ]
    return report


def test_imaging_report_is_valid_r4_with_codes_sides_levels_and_units(db, world):
    jo = _imaging_patient(db, world.clinician_a)
    report = _report(export_patient(db, world.clinician_a, jo))
    DiagnosticReport.model_validate(report)
    assert problem(report) is None
    assert report["encounter"] == {"reference": f"Encounter/{report['id']}"}
    assert report["code"]["coding"][0] == {
        "system": "http://loinc.org", "code": "18748-4", "display": "Diagnostic imaging study"
    }  # fmt: skip
    observations = {o["id"]: o for o in report["contained"]}
    for observation in observations.values():
        get_fhir_model_class("Observation").model_validate(observation)
    assert [r["reference"][1:] for r in report["result"]] == list(observations)
    kl = observations["kellgren-lawrence-hip-right"]
    assert kl["valueInteger"] == 3
    side = kl["bodySite"]["extension"][0]["valueCodeableConcept"]["coding"]
    assert {"system": "http://snomed.info/sct", "code": "24028007", "display": "Right"} in side
    assert observations["tonnis-hip-right"]["valueInteger"] == 2
    facet = observations["weishaupt-facet-bilateral-L4-L5"]
    assert facet["valueInteger"] == 2
    assert facet["bodySite"]["coding"] == [
        {"system": "https://hipspine.org/fhir/CodeSystem/spinal-level", "code": "L4-L5"}
    ]
    assert observations["lee-foraminal-right-L4-L5"]["valueInteger"] == 1
    assert observations["disc-herniation-root-compression-right-L4-L5"]["valueBoolean"] is False
    assert observations["pelvic-incidence"]["valueQuantity"] == {
        "value": 52, "unit": "deg", "system": "http://unitsofmeasure.org", "code": "deg"
    }  # fmt: skip
    assert {"sacral-slope-standing", "sacral-slope-sitting", "lumbar-lordosis-standing"} <= set(
        observations
    )


def test_imaging_export_import_export_is_identical_and_idempotent(db, world):
    jo = _imaging_patient(db, world.clinician_a)
    first = export_patient(db, world.clinician_a, jo)
    assert sum(e["resource"]["resourceType"] == "DiagnosticReport" for e in first["entry"]) == 1
    with db.transaction() as session:
        session.delete(session.get(Patient, jo))

    report = Importer(db, world.clinician_a).import_bundle(first, "jo.json")
    assert report.problem_count == 0, report.problems
    assert report.stored["encounter"] == 2  # from the Encounters: the report adds none
    assert report.unused[("DiagnosticReport", CARRIED)] == 1
    assert export_patient(db, world.clinician_a, jo) == first
    with db.transaction() as session:
        encounter = session.get(Encounter, _report(first)["id"])
        assert encounter is not None and encounter.kind == "imaging"
        assert {f["finding"] for f in encounter.case["findings"]} >= {
            "kellgren_lawrence_hip", "weishaupt_facet", "pelvic_incidence"
        }  # fmt: skip

    after = counts(db)
    again = Importer(db, world.clinician_a).import_bundle(first, "jo.json")
    assert again.stored_total == 0 and counts(db) == after


def test_a_bad_grade_is_rejected_naming_the_finding(db, world):
    jo = _imaging_patient(db, world.clinician_a)
    data = export_patient(db, world.clinician_a, jo)
    with db.transaction() as session:
        session.delete(session.get(Patient, jo))
    report = _report(data)
    del report["encounter"]  # as an EHR sends it: the report alone brings the findings
    for observation in report["contained"]:
        if observation["id"] == "kellgren-lawrence-hip-right":
            observation["valueInteger"] = 7
    result = Importer(db, world.clinician_a).import_bundle(data, "jo.json")
    [bad] = result.problems
    assert "kellgren_lawrence_hip" in bad.reason and "0–4" in bad.reason


def _ehr_report(db, world, **changes) -> tuple[str, dict]:
    """Jo's exported Patient and imaging report alone, changed as an EHR would send it;
    Jo deleted, so the import has to create him again."""
    jo = _imaging_patient(db, world.clinician_a)
    data = export_patient(db, world.clinician_a, jo)
    with db.transaction() as session:
        session.delete(session.get(Patient, jo))
    report = {**_report(data), **changes}
    report = {k: v for k, v in report.items() if v is not None}
    return jo, {**data, "entry": [data["entry"][0], {"resource": report}]}


def _encounters(db, patient_id: str) -> list[Encounter]:
    with db.transaction() as session:
        found = session.query(Encounter).filter_by(patient_id=patient_id).all()
        session.expunge_all()
    return found


def test_a_report_from_an_ehr_without_an_encounter_becomes_an_imaging_encounter(db, world):
    jo, data = _ehr_report(db, world, encounter=None, extension=None)
    report = Importer(db, world.clinician_a).import_bundle(data, "ehr.json")
    assert report.problem_count == 0, report.problems
    [encounter] = _encounters(db, jo)
    assert encounter.id == _report(data)["id"] and encounter.kind == "imaging"
    assert {f["finding"] for f in encounter.case["findings"]} >= {
        "kellgren_lawrence_hip", "weishaupt_facet", "pelvic_incidence"
    }  # fmt: skip


def test_a_report_naming_an_ehrs_own_encounter_still_brings_its_findings(db, world):
    # Without hipspine's encounter-kind extension the report was not written by hipspine:
    # the Encounter it names is the EHR's, which carries no case, so the report is kept.
    jo, data = _ehr_report(
        db, world, encounter={"reference": "Encounter/ehr-visit-7"}, extension=None
    )
    report = Importer(db, world.clinician_a).import_bundle(data, "ehr.json")
    assert report.problem_count == 0 and not report.unused, (report.problems, report.unused)
    [encounter] = _encounters(db, jo)
    assert encounter.kind == "imaging" and encounter.case["findings"]


def test_every_imaging_finding_of_the_vocabulary_travels():
    """No imaging finding a clinician can record is left out of the DiagnosticReport."""
    from hipspine.clinical import vocabulary
    from hipspine.fhir._common import table

    imaging = {f.id for f in vocabulary.findings().values() if f.stage == "imaging"}
    assert imaging <= set(table("imaging")["finding"]), imaging - set(table("imaging")["finding"])


def test_a_report_entered_in_error_cancelled_or_without_results_is_not_stored(db, world):
    """The report's status is honoured as an Observation's is: findings read are kept (also
    preliminary or partial ones); a report registered, cancelled, entered in error or of
    unknown status is counted as unused with why, and one without a status is rejected."""
    jo, data = _ehr_report(db, world, encounter=None, extension=None)
    base = _report(data)
    kept = ["final", "amended", "corrected", "appended", "preliminary", "partial"]
    dropped = ["registered", "cancelled", "entered-in-error", "unknown"]
    reports = [{**base, "id": f"report-{s}", "status": s} for s in kept + dropped]
    reports.append({k: v for k, v in {**base, "id": "report-none"}.items() if k != "status"})
    data["entry"] = [data["entry"][0], *({"resource": r} for r in reports)]
    result = Importer(db, world.clinician_a).import_bundle(data, "ehr.json")
    became = imported_ids(db, world.clinic_a, "encounter", [r["id"] for r in reports])
    assert {e.id for e in _encounters(db, jo)} == {became[f"report-{s}"] for s in kept}
    assert set(became) == {f"report-{s}" for s in kept}
    assert {reason for (kind, reason) in result.unused if kind == "DiagnosticReport"} == {
        "DiagnosticReport with status 'registered': no result yet",
        "DiagnosticReport with status 'cancelled': not made",
        "DiagnosticReport with status 'entered-in-error': entered in error",
        "DiagnosticReport with status 'unknown': it may have been cancelled or entered in error",
    }
    [missing] = result.problems
    assert missing.where == f"entry {len(reports)}"
    assert missing.reason.startswith(
        "DiagnosticReport: status: required in FHIR R4 "
        "(https://hl7.org/fhir/R4/valueset-diagnostic-report-status.html); allowed: final,"
    )


def test_a_hipspine_report_entered_in_error_is_counted_as_such(db, world):
    """Its status is read before whether its Encounter carries the findings."""
    jo = _imaging_patient(db, world.clinician_a)
    data = export_patient(db, world.clinician_a, jo)
    _report(data)["status"] = "entered-in-error"
    result = Importer(db, world.clinician_a).import_bundle(data, "jo.json")
    assert result.problem_count == 0, result.problems
    reason = "DiagnosticReport with status 'entered-in-error': entered in error"
    assert result.unused[("DiagnosticReport", reason)] == 1
    assert result.unused[("DiagnosticReport", CARRIED)] == 0

"""Export → validate → import → export on SQLite and PostgreSQL: every resource is valid
R4 (fhir.resources R4B), the second export is identical, and a second import is a no-op."""

from __future__ import annotations

from datetime import date

from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle

from hipspine.analytics import synth
from hipspine.fhir.exporter import export_all, export_patient
from hipspine.fhir.importer import Importer
from hipspine.fhir.ndjson import read
from hipspine.fhir.validate import problem
from hipspine.store import audit
from hipspine.store.models import Patient
from hipspine.store.records import Records
from tests.fhir.support import counts, johns_record


def test_every_exported_resource_is_valid_r4(db, world):
    johns_record(db, world.clinician_a, world.john)
    data = export_patient(db, world.clinician_a, world.john)
    Bundle.model_validate(data)
    kinds = set()
    for entry in data["entry"]:
        resource = entry["resource"]
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)
        assert problem(resource) is None
        kinds.add(resource["resourceType"])
    assert kinds == {
        "Patient", "Condition", "Observation", "QuestionnaireResponse", "Questionnaire",
        "Procedure", "MedicationStatement", "CarePlan", "Goal",
    }  # fmt: skip


def test_codes_laterality_and_units(db, world):
    johns_record(db, world.clinician_a, world.john)
    resources = [e["resource"] for e in export_patient(db, world.clinician_a, world.john)["entry"]]
    hip = next(
        r for r in resources
        if r["resourceType"] == "Condition" and r["code"]["coding"][0]["code"] == "hip_osteoarthritis"
    )  # fmt: skip
    codes = {(c["system"], c["code"]) for c in hip["code"]["coding"]}
    assert ("http://snomed.info/sct", "239872002") in codes
    assert ("http://hl7.org/fhir/sid/icd-10-cm", "M16.11") in codes  # right hip
    side = hip["bodySite"][0]["extension"][0]["valueCodeableConcept"]["coding"]
    assert {"system": "http://snomed.info/sct", "code": "24028007", "display": "Right"} in side
    observations = [r for r in resources if r["resourceType"] == "Observation"]
    pain = [r for r in observations if r["code"]["coding"][0]["code"] == "72514-3"]
    assert sorted(r["valueInteger"] for r in pain) == [5, 8]
    odi = next(r for r in observations if r["code"]["coding"][0]["code"] == "97909-6")
    assert odi["valueQuantity"]["code"] == "%" and odi["derivedFrom"]
    meds = next(r for r in resources if r["resourceType"] == "MedicationStatement")
    assert meds["medicationCodeableConcept"]["coding"][0]["code"] == "5640"
    assert meds["dosage"][0]["asNeededBoolean"] is True
    plan = next(r for r in resources if r["resourceType"] == "CarePlan")
    assert plan["activity"][0]["detail"]["reasonCode"] == [{"text": "gluteus_maximus"}]
    force = next(r for r in observations if "component" in r)["component"][1]["valueQuantity"]
    assert force == {
        "value": 151.25, "unit": "N", "system": "http://unitsofmeasure.org", "code": "N"
    }  # fmt: skip


def test_export_import_export_is_identical_and_idempotent(db, world):
    with db.transaction() as session:
        jo = (
            Records(session, world.clinician_a)
            .add_patient(
                name="Jo Hipspine", identifier="A-9", sex="male", birth_date=date(1968, 5, 2)
            )
            .id
        )
    johns_record(db, world.clinician_a, jo)
    first = export_patient(db, world.clinician_a, jo)
    with db.transaction() as session:
        session.delete(session.get(Patient, jo))
    before = counts(db)

    report = Importer(db, world.clinician_a).import_bundle(first, "john.json")
    assert report.problem_count == 0, report.problems
    assert report.stored["patient"] == 1
    assert export_patient(db, world.clinician_a, jo) == first

    after = counts(db)
    again = Importer(db, world.clinician_a).import_bundle(first, "john.json")
    assert again.stored_total == 0 and again.already == report.stored_total
    assert counts(db) == after and after != before
    with db.transaction() as session:
        assert audit.verify(session).intact


def test_bulk_export_streams_ndjson_per_type(db, world, tmp_path):
    johns_record(db, world.clinician_a, world.john)
    written = export_all(db, world.clinician_a, tmp_path)
    assert written["Patient"] == 2  # John and Mary; never Bea of clinic B
    for path in tmp_path.glob("*.ndjson"):
        for line in read(path):
            assert line.resource is not None and problem(line.resource) is None
            assert line.resource["resourceType"] == path.stem
    patients = [line.resource for line in read(tmp_path / "Patient.ndjson")]
    assert world.bea not in {p["id"] for p in patients if p}
    # only the Questionnaires of instruments this clinic's patients answered
    answered = {
        line.resource["questionnaire"].split("|")[0].rsplit("/", 1)[1]
        for line in read(tmp_path / "QuestionnaireResponse.ndjson")
        if line.resource
    }
    shipped = {
        line.resource["id"] for line in read(tmp_path / "Questionnaire.ndjson") if line.resource
    }
    assert answered and shipped == answered


def test_a_synthetic_clinic_exports_valid_r4_and_imports_whole_elsewhere(db, world, tmp_path):
    # The synthetic cohort answers the ODI, HOOS and LEFS; the LEFS version ("Binkley 1999")
    # has a space, which a canonical (a URI) cannot carry unencoded.
    synth.write(db, 30, seed=21, into=[world.clinician_a.clinic_id])
    export_all(db, world.clinician_a, tmp_path)
    instruments_seen = set()
    for path in tmp_path.glob("*.ndjson"):
        for line in read(path):
            assert line.resource is not None and problem(line.resource) is None, line.number
            if path.stem == "QuestionnaireResponse":
                instruments_seen.add(line.resource["questionnaire"].split("|")[0])
    assert "lefs" in {url.rsplit("/", 1)[1] for url in instruments_seen}
    report = Importer(db, world.admin_b).import_files(sorted(tmp_path.glob("*.ndjson")))
    assert report.problem_count == 0, report.problems[:3]
    assert report.patients_created == 32  # the synthetic 30, John and Mary

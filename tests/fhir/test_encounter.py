"""Visits out and in, on SQLite and PostgreSQL: every encounter is an Encounter, valid R4
(fhir.resources R4B), carrying its case document and note whole; records name their visit
and episode; John's whole record moves to another clinic and exports the same again."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
import sqlalchemy as sa
from fhir.resources.R4B import get_fhir_model_class

from hipspine.fhir import condition
from hipspine.fhir import encounter as encounter_mapping
from hipspine.fhir._common import Invalid, Unused
from hipspine.fhir.exporter import export_all, export_patient
from hipspine.fhir.importer import Importer
from hipspine.fhir.validate import problem
from hipspine.store.db import Database
from hipspine.store.models import (
    Encounter,
    Episode,
    FhirSource,
    FunctionTest,
    PainRating,
    Patient,
    Procedure,
    QuestionnaireResponse,
    StrengthTest,
    TherapyRegimen,
)
from hipspine.web.demo import seed_john
from tests.fhir.support import counts, imported_ids, pain_rating

LINKED = {  # record → its link column
    Encounter: "episode_id",
    PainRating: "encounter_id",
    StrengthTest: "encounter_id",
    FunctionTest: "encounter_id",
    QuestionnaireResponse: "encounter_id",
    Procedure: "episode_id",
    TherapyRegimen: "episode_id",
}


def _resources(data: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in data["entry"] if e["resource"]["resourceType"] == kind]


def _rows(db: Database, model: Any, patient_id: str) -> list[dict[str, Any]]:
    table = model.__table__
    with db.engine.connect() as connection:
        query = sa.select(table).where(table.c.patient_id == patient_id).order_by(table.c.id)
        return [dict(row) for row in connection.execute(query).mappings()]


def test_every_encounter_is_valid_r4_with_its_case_note_and_links(db, world):
    john = seed_john(db, world.clinician_a)
    data = export_patient(db, world.clinician_a, john)
    for entry in data["entry"]:
        resource = entry["resource"]
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)
        assert problem(resource) is None
    visits = {r["id"]: r for r in _resources(data, "Encounter")}
    stored = {row["id"]: row for row in _rows(db, Encounter, john)}
    assert visits.keys() == stored.keys() and len(visits) == 6
    episodes = {r["id"] for r in _resources(data, "Condition")}
    for record_id, visit in visits.items():
        row = stored[record_id]
        assert visit["status"] == "finished" and visit["class"]["code"] == "AMB"
        assert visit["type"][0]["coding"][0] == {
            "system": encounter_mapping.KIND_CS,
            "code": row["kind"],
        }
        assert visit["period"] == {"start": row["occurred_on"].isoformat()}
        assert "participant" not in visit  # staff are accounts of one installation
        assert visit["reasonReference"] == [{"reference": f"Condition/{row['episode_id']}"}]
        assert row["episode_id"] in episodes
        extensions = {e["url"]: e for e in visit["extension"]}
        assert extensions[encounter_mapping.NOTE_EXT]["valueAnnotation"] == {"text": row["note"]}
        if row["case"] is None:
            assert encounter_mapping.CASE_EXT not in extensions
            continue
        attachment = extensions[encounter_mapping.CASE_EXT]["valueAttachment"]
        assert attachment["contentType"] == "application/json"
        assert json.loads(base64.b64decode(attachment["data"])) == row["case"]
    assert sorted(v["type"][0]["coding"][0]["code"] for v in visits.values()) == [
        "follow_up", "follow_up", "follow_up", "follow_up", "intake", "procedure"
    ]  # fmt: skip
    # The intake's imaging grades also travel as a report naming its Encounter.
    [report] = _resources(data, "DiagnosticReport")
    assert report["encounter"] == {"reference": f"Encounter/{report['id']}"}
    assert report["id"] in visits
    for observation in _resources(data, "Observation"):
        assert observation["encounter"]["reference"].split("/")[1] in visits
    for response in _resources(data, "QuestionnaireResponse"):
        assert response["encounter"]["reference"].split("/")[1] in visits
    [procedure] = _resources(data, "Procedure")
    assert "performer" not in procedure
    assert procedure["reasonReference"][0]["reference"].split("/")[1] in episodes
    [plan] = _resources(data, "CarePlan")
    assert plan["addresses"][0]["reference"].split("/")[1] in episodes


def test_johns_whole_record_moves_to_another_clinic_and_exports_the_same(db, world):
    john = seed_john(db, world.clinician_a)
    first = export_patient(db, world.clinician_a, john)
    source = {model: _rows(db, model, john) for model in LINKED}
    with db.transaction() as session:
        session.delete(session.get(Patient, john))

    report = Importer(db, world.admin_b).import_bundle(first, "john.json")
    assert report.problem_count == 0, report.problems
    assert report.stored["encounter"] == 6
    again = export_patient(db, world.clinician_b, john)
    assert again == first

    moved = {model: _rows(db, model, john) for model in LINKED}
    for model, rows in source.items():  # every record, still linked to the same records
        link = LINKED[model]
        assert [(r["id"], r[link]) for r in moved[model]] == [(r["id"], r[link]) for r in rows]
        assert rows and all(r[link] for r in rows), model.__tablename__
    local = ("clinic_id", "created_at", "created_by", "clinician_id")
    assert [{k: v for k, v in r.items() if k not in local} for r in moved[Encounter]] == [
        {k: v for k, v in r.items() if k not in local} for r in source[Encounter]
    ]  # the case document and note whole; no clinician: user ids are local
    assert all(r["clinician_id"] is None for r in moved[Encounter])
    assert sum(r["case"] is not None for r in moved[Encounter]) == 1

    before = counts(db)
    for _ in range(2):
        repeat = Importer(db, world.admin_b).import_bundle(first, "john.json")
        assert repeat.stored_total == 0 and repeat.problem_count == 0
        assert counts(db) == before


def _visit_of(db: Database, model: Any, patient_id: str) -> list[tuple[Any, ...]]:
    """Each record of ``model`` with the visit it names (kind, day, note)."""
    table, visits = model.__table__, Encounter.__table__
    query = (
        sa.select(table.c.id, visits.c.kind, visits.c.occurred_on, visits.c.note)
        .join(visits, visits.c.id == table.c.encounter_id)
        .where(table.c.patient_id == patient_id)
    )
    with db.engine.connect() as connection:
        return sorted(tuple(row)[1:] for row in connection.execute(query))


@pytest.mark.parametrize("bulk", [False, True], ids=["bundle", "ndjson"])
def test_links_follow_records_given_new_ids(db, world, tmp_path, bulk):
    """Imported into clinic B while clinic A still holds John, every record gets a new id,
    and each link names the new id of the same visit or episode."""
    john = seed_john(db, world.clinician_a)
    if bulk:
        written = export_all(db, world.clinician_a, tmp_path)
        assert written["Encounter"] == 6
        report = Importer(db, world.admin_b).import_files(sorted(tmp_path.glob("*.ndjson")))
    else:
        report = Importer(db, world.admin_b).import_bundle(
            export_patient(db, world.clinician_a, john), "john.json"
        )
    assert report.problem_count == 0, report.problems
    with db.transaction() as session:
        [copy_id] = session.scalars(
            sa.select(FhirSource.patient_id).where(
                FhirSource.clinic_id == world.clinic_b,
                FhirSource.resource_type == "Patient",
                FhirSource.source_id == john,
            )
        ).all()
    assert copy_id != john
    new_ids = {r["id"] for r in _rows(db, Encounter, copy_id)}
    assert len(new_ids) == 6 and not new_ids & {r["id"] for r in _rows(db, Encounter, john)}
    for model in (PainRating, StrengthTest, FunctionTest, QuestionnaireResponse):
        source, moved = _visit_of(db, model, john), _visit_of(db, model, copy_id)
        assert moved == source and len(moved) == len(_rows(db, model, john)), model
    episodes = {r["id"] for r in _rows(db, Episode, copy_id)}
    for model in (Encounter, Procedure, TherapyRegimen):
        linked = [r["episode_id"] for r in _rows(db, model, copy_id)]
        assert linked and set(linked) <= episodes, model


PATIENT = {"resourceType": "Patient", "id": "ehr-p1", "name": [{"text": "Pat Ehr"}]}


def _pain(encounter_ref: str) -> dict[str, Any]:
    return pain_rating("Patient/ehr-p1", 6, "ehr-pain-1", encounter={"reference": encounter_ref})


def _imported(db: Database, world: Any, table: str, source_id: str) -> str:
    """The id a resource of another system ("ehr-p1": not a UUID) was given in clinic A."""
    return imported_ids(db, world.admin_a.clinic_id, table, [source_id])[source_id]


def _bundle(*resources: dict[str, Any]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": r} for r in resources],
    }


def test_a_link_to_an_encounter_never_imported_is_left_out(db, world):
    report = Importer(db, world.admin_a).import_bundle(
        _bundle(PATIENT, _pain("Encounter/never-sent")), "ehr.json"
    )
    assert report.problem_count == 0 and report.stored["pain_rating"] == 1
    [rating] = _rows(db, PainRating, _imported(db, world, "patient", "ehr-p1"))
    assert rating["encounter_id"] is None and rating["intensity"] == 6


def test_a_link_to_another_patients_encounter_is_left_out(db, world):
    john = seed_john(db, world.clinician_a)
    [visit] = [r["id"] for r in _rows(db, Encounter, john) if r["kind"] == "procedure"]
    report = Importer(db, world.admin_a).import_bundle(
        _bundle(PATIENT, _pain(f"Encounter/{visit}")), "ehr.json"
    )
    assert report.problem_count == 0 and report.stored["pain_rating"] == 1
    [rating] = _rows(db, PainRating, _imported(db, world, "patient", "ehr-p1"))
    assert rating["encounter_id"] is None


def test_a_link_to_a_visit_imported_before_is_kept(db, world):
    """The visit arrives in one import, the rating naming it in a later one."""
    visit = encounter_mapping.to_fhir(
        {
            "id": "ehr-visit-1",
            "patient_id": "ehr-p1",
            "kind": "follow_up",
            "occurred_on": "2025-11-17",
        }
    )
    first = Importer(db, world.admin_a).import_bundle(_bundle(PATIENT, visit), "visit.json")
    assert first.stored["encounter"] == 1, first.problems
    later = Importer(db, world.admin_a).import_bundle(
        _bundle(PATIENT, _pain("https://ehr.example.org/fhir/Encounter/ehr-visit-1/_history/2")),
        "pain.json",
    )
    assert later.problem_count == 0, later.problems
    [rating] = _rows(db, PainRating, _imported(db, world, "patient", "ehr-p1"))
    assert rating["encounter_id"] == _imported(db, world, "encounter", "ehr-visit-1")


def test_a_rating_listed_before_its_visit_is_linked(db, world):
    episode = condition.to_fhir(
        {"id": "ehr-ep-1", "patient_id": "ehr-p1", "condition": "low_back_pain",
         "started_on": "2025-11-01"}
    )  # fmt: skip
    visit = encounter_mapping.to_fhir(
        {"id": "ehr-visit-1", "patient_id": "ehr-p1", "kind": "follow_up",
         "occurred_on": "2025-11-17", "episode_id": "ehr-ep-1"}
    )  # fmt: skip
    report = Importer(db, world.admin_a).import_bundle(
        _bundle(PATIENT, episode, _pain("Encounter/ehr-visit-1"), visit), "ehr.json"
    )
    assert report.problem_count == 0, report.problems
    [rating] = _rows(db, PainRating, _imported(db, world, "patient", "ehr-p1"))
    assert rating["encounter_id"] == _imported(db, world, "encounter", "ehr-visit-1")


def _visit(**changes: Any) -> dict[str, Any]:
    row = {
        "id": "v1",
        "patient_id": "p1",
        "kind": "exam",
        "occurred_on": "2025-11-17",
        "case": {
            "format": "hipspine.case/1",
            "findings": [{"finding": "faber", "side": "right", "result": "present"}],
        },
        "note": "Exam",
    }
    resource = encounter_mapping.to_fhir(row)
    resource.update(changes)
    return resource


def test_the_case_note_and_kind_come_back_whole():
    row = encounter_mapping.from_fhir(_visit())
    assert row["kind"] == "exam" and row["note"] == "Exam" and row["clinician_id"] is None
    assert row["case"]["findings"] == [{"finding": "faber", "side": "right", "result": "present"}]
    get_fhir_model_class("Encounter").model_validate(_visit())


def test_an_invalid_case_is_rejected_naming_the_field():
    bad = {"format": "hipspine.case/1", "findings": [{"finding": "fever", "result": "positive"}]}
    resource = _visit()
    resource["extension"][0]["valueAttachment"]["data"] = encounter_mapping.case_data(bad)
    with pytest.raises(Invalid, match=r"case-document.*findings\.0.*allowed: present, absent"):
        encounter_mapping.from_fhir(resource)
    resource["extension"][0]["valueAttachment"]["data"] = "not base64!"
    with pytest.raises(Invalid, match="not base64 of a JSON document"):
        encounter_mapping.from_fhir(resource)
    with pytest.raises(Invalid, match="encounter kind 'ward-round'; allowed: intake"):
        encounter_mapping.from_fhir(
            _visit(type=[{"coding": [{"system": encounter_mapping.KIND_CS, "code": "ward-round"}]}])
        )


def test_an_ehrs_visits_and_visits_that_did_not_happen_are_unused():
    with pytest.raises(Unused, match="without a hipspine encounter kind"):
        encounter_mapping.from_fhir(_visit(type=[{"text": "Wellness visit"}]))
    with pytest.raises(Unused, match="'cancelled'"):
        encounter_mapping.from_fhir(_visit(status="cancelled"))
    with pytest.raises(Unused, match="'unknown': it may have been cancelled or entered in error"):
        encounter_mapping.from_fhir(_visit(status="unknown"))

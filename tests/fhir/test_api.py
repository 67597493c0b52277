"""FHIR over the API on SQLite and PostgreSQL: Patient/$everything and Bundle upload, under
the records rules (staff; a patient only themselves; another clinic is "not found"),
audited with the request id, idempotent, with what was not imported reported."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import orjson
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.operationoutcome import OperationOutcome

from hipspine.config import Settings
from hipspine.fhir import bundle
from hipspine.store import audit
from hipspine.store.db import Database
from hipspine.store.models import Patient, is_record_id
from hipspine.store.records import Records
from hipspine.web import WebOptions, create_app
from tests.fhir.support import counts, imported_ids, johns_record, pain_rating
from tests.web.conftest import CHEAP
from tests.web.world import PASSWORD, World, build_world

FHIR_JSON = "application/fhir+json"


@pytest.fixture
def web_app(db: Database, tmp_path: Path) -> FastAPI:
    settings = Settings(tmp_path, str(db.url), "test-secret-key-not-for-production")
    return create_app(db, settings, WebOptions(secure_cookies=False, hasher=CHEAP))


@pytest.fixture
def http(web_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(web_app) as test_client:
        yield test_client


@pytest.fixture
def people(db: Database, web_app: FastAPI) -> World:
    """The web suite's world: clinics A and B with admin, clinician, John (signs in), Jane."""
    return build_world(db, web_app.state.web.passwords.hash(PASSWORD))


def _jo(people: World) -> str:
    """A patient of clinic A with John's whole journey recorded."""
    actor = people.actor("A")
    with people.db.transaction() as session:
        jo = Records(session, actor).add_patient(
            name="Jo Hipspine", identifier="A-9", sex="male", birth_date=date(1968, 5, 2)
        )
    johns_record(people.db, actor, jo.id)
    return jo.id


def _everything(http, people: World, patient_id: str, role: str = "clinician", clinic="A"):
    return http.get(
        f"/api/fhir/Patient/{patient_id}/$everything", headers=people.headers(clinic, role)
    )


def _upload(http, people: World, data, role: str = "clinician", clinic: str = "A", **kw):
    headers = {**people.headers(clinic, role), "Content-Type": kw.pop("media", FHIR_JSON)}
    return http.post("/api/fhir", content=orjson.dumps(data), headers=headers)


def test_everything_is_a_valid_searchset_bundle_and_audited(http, people):
    jo = _jo(people)
    response = _everything(http, people, jo)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(FHIR_JSON)
    data = response.json()
    Bundle.model_validate(data)
    modes = {e["resource"]["resourceType"]: e["search"]["mode"] for e in data["entry"]}
    assert modes.pop("Questionnaire") == "include"  # answered, not of the patient
    assert set(modes.values()) == {"match"}
    matches = [e for e in data["entry"] if e["search"]["mode"] == "match"]
    assert data["type"] == "searchset" and data["total"] == len(matches) < len(data["entry"])
    assert data["entry"][0]["resource"] == {**data["entry"][0]["resource"], "id": jo}
    kinds = set()
    for entry in data["entry"]:
        get_fhir_model_class(entry["resource"]["resourceType"]).model_validate(entry["resource"])
        kinds.add(entry["resource"]["resourceType"])
    assert {"Patient", "Condition", "Observation", "Procedure", "CarePlan", "Goal"} <= kinds
    events = people.audit_for(response.headers["X-Request-ID"])
    assert {(e.action, e.outcome, e.patient_id) for e in events} >= {
        ("read", "ok", jo),
        ("export", "ok", jo),
    }


def test_everything_for_the_patient_themselves_only(http, people):
    a, b = people.clinics["A"], people.clinics["B"]
    own = _everything(http, people, a.patients["own"], role="patient")
    assert own.status_code == 200
    assert own.json()["entry"][0]["resource"]["id"] == a.patients["own"]
    Bundle.model_validate(own.json())  # John's imaging encounter: a DiagnosticReport too
    assert "DiagnosticReport" in {e["resource"]["resourceType"] for e in own.json()["entry"]}
    for patient_id, role in (
        (a.patients["other"], "patient"),  # another patient of the same clinic
        (b.patients["own"], "patient"),
        (b.patients["own"], "clinician"),  # another clinic's patient
        (b.patients["own"], "admin"),
        ("00000000-0000-4000-8000-000000000000", "clinician"),
    ):
        refused = _everything(http, people, patient_id, role=role)
        assert refused.status_code == 404, (patient_id, role)
        assert refused.headers["content-type"].startswith(FHIR_JSON)
        [issue] = OperationOutcome.model_validate(refused.json()).issue
        assert (issue.severity, issue.code, issue.details.text) == (
            "error",
            "not-found",
            "No such patient.",
        )
        events = people.audit_for(refused.headers["X-Request-ID"])
        assert [e.outcome for e in events] == ["refused"]


def test_upload_round_trip_is_identical_and_idempotent(http, people):
    jo = _jo(people)
    first = _everything(http, people, jo).json()
    transaction = bundle.build([e["resource"] for e in first["entry"]], kind="transaction")
    with people.db.transaction() as session:
        session.delete(session.get(Patient, jo))
    before = counts(people.db)

    response = _upload(http, people, transaction)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(FHIR_JSON)
    # A transaction-response: a status per entry sent, in order (FHIR R4 transaction).
    statuses = _statuses(response.json(), transaction)
    created = [kind for kind, status in statuses if status == "201 Created"]
    assert created.count("Patient") == 1 and len(created) > 10
    # Not kept: the Questionnaires its responses answer, and the scores that come with the
    # responses themselves.
    unused = {kind for kind, status in statuses if status == "200 OK unused"}
    assert unused == {"Questionnaire", "Observation"}
    assert len(created) + sum(status == "200 OK unused" for _, status in statuses) == len(statuses)
    assert _everything(http, people, jo).json() == first
    events = people.audit_for(response.headers["X-Request-ID"])
    assert ("import", jo) in {(e.action, e.patient_id) for e in events}

    after = counts(people.db)
    again = _statuses(_upload(http, people, transaction).json(), transaction)
    assert again == [
        (kind, "200 OK already-present" if status == "201 Created" else status)
        for kind, status in statuses
    ]
    assert counts(people.db) == after and after != before
    with people.db.transaction() as session:
        assert audit.verify(session).intact


def test_upload_reports_unused_and_rejected_entries_and_keeps_the_rest(http, people):
    patient_id = "0b5e3a52-57c1-4d0e-9a44-3a6f5d1c2e01"
    subject = {"reference": f"urn:uuid:{patient_id}"}

    def pain(value: int) -> dict:
        return pain_rating(subject["reference"], value)

    data = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {
                "fullUrl": f"urn:uuid:{patient_id}",
                "resource": {
                    "resourceType": "Patient",
                    "id": patient_id,
                    "name": [{"family": "Imported", "given": ["Ian"]}],
                    "gender": "male",
                },
            },
            {"fullUrl": "urn:uuid:1f7c", "resource": {**pain(7), "id": "pain-ok"}},
            {"fullUrl": "urn:uuid:2f7c", "resource": {**pain(11), "id": "pain-bad"}},
            {
                "fullUrl": "urn:uuid:3f7c",
                "resource": {
                    "resourceType": "Immunization",
                    "id": "imm",
                    "status": "completed",
                    "patient": subject,
                },
            },
        ],
    }
    response = _upload(http, people, data, role="admin", media="application/json")
    assert response.status_code == 200, response.text
    outcome = response.json()
    OperationOutcome.model_validate(outcome)
    assert _counted(outcome, "stored") == {"patient: stored": 1, "pain_rating: stored": 1}, outcome
    assert _counted(outcome, "unused") == {"Immunization: resource type not kept by hipspine": 1}
    [rejected] = [i for i in outcome["issue"] if i["severity"] == "error"]
    assert rejected["expression"] == ["Bundle.entry[2]"]
    assert "0–10" in rejected["details"]["text"]


def test_records_of_another_systems_ids_are_reachable_through_the_api(http, people):
    """An EHR's ids ("pat-123") are not of a record id's form (a UUID), which every API path
    takes: such records are given new ids, and the import's ledger finds them again."""
    data = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {
                "resource": {
                    "resourceType": "Patient",
                    "id": "pat-123",
                    "name": [{"family": "Ehr", "given": ["Pat"]}],
                }
            },
            {"resource": pain_rating("Patient/pat-123", 5, "obs-1")},
        ],
    }
    uploaded = _upload(http, people, data)
    assert uploaded.status_code == 200 and _counted(uploaded.json(), "stored") == {
        "patient: stored": 1,
        "pain_rating: stored": 1,
    }, uploaded.text
    clinic = people.actor("A").clinic_id
    patient_id = imported_ids(people.db, clinic, "patient", ["pat-123"])["pat-123"]
    rating_id = imported_ids(people.db, clinic, "pain_rating", ["obs-1"])["obs-1"]
    assert is_record_id(patient_id) and is_record_id(rating_id)

    everything = _everything(http, people, patient_id)
    assert everything.status_code == 200, everything.text
    found = {
        (e["resource"]["resourceType"], e["resource"]["id"]) for e in everything.json()["entry"]
    }
    assert {("Patient", patient_id), ("Observation", rating_id)} <= found
    rating = http.get(
        f"/api/patients/{patient_id}/pain-ratings/{rating_id}",
        headers=people.headers("A", "clinician"),
    )
    assert rating.status_code == 200 and rating.json()["intensity"] == 5

    before = counts(people.db)
    assert _upload(http, people, data).status_code == 200
    assert counts(people.db) == before  # sent again: nothing new


@pytest.mark.parametrize("depth", [130, 500])
def test_a_resource_nested_absurdly_deep_is_rejected_and_the_rest_kept(http, people, depth):
    """Hundreds of levels of nesting (no FHIR resource has them) name the entry and reason,
    as any bad resource does, instead of failing the whole upload (a collection: stored a
    patient at a time)."""
    patient_id = "7d1f6c2a-3b4e-4f5a-8b9c-0d1e2f3a4b5c"
    data = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {
                "fullUrl": f"urn:uuid:{patient_id}",
                "resource": {
                    "resourceType": "Patient",
                    "id": patient_id,
                    "name": [{"family": "Deep", "given": ["Dee"]}],
                },
            },
            {
                "fullUrl": "urn:uuid:0e1f2a3b-4c5d-4e6f-8a7b-9c0d1e2f3a4b",
                "resource": pain_rating(
                    f"urn:uuid:{patient_id}",
                    extension=[{"url": "https://example.org/x", "valueString": "x",
                                "nest": "NEST"}],
                ),
            },
        ],
    }  # fmt: skip
    # Written out by hand: JSON encoders refuse to nest this deep, a parser need not.
    nested = b'{"a":[' * depth + b"{}" + b"]}" * depth
    body = orjson.dumps(data).replace(b'"NEST"', nested)
    headers = {**people.headers("A", "clinician"), "Content-Type": FHIR_JSON}
    response = http.post("/api/fhir", content=body, headers=headers)
    assert response.status_code == 200, response.text
    outcome = response.json()
    assert _counted(outcome, "stored") == {"patient: stored": 1}, outcome
    [rejected] = [i for i in outcome["issue"] if i["severity"] == "error"]
    assert rejected["expression"] == ["Bundle.entry[1]"]


@pytest.mark.parametrize(
    ("body", "media", "status", "field"),
    [
        ({"resourceType": "Bundle", "type": "collection"}, "text/plain", 415, None),
        ({"resourceType": "Patient", "id": "x"}, FHIR_JSON, 422, "resourceType"),
        ({"resourceType": "Bundle", "type": "searchset"}, FHIR_JSON, 422, "type"),
        ({"resourceType": "Bundle", "type": "collection", "entry": {}}, FHIR_JSON, 422, "entry"),
    ],
)
def test_upload_refuses_what_is_not_a_bundle_to_import(http, people, body, media, status, field):
    """Refused as a FHIR client reads a failure: an OperationOutcome naming the element,
    with the request id to find its audit entry by."""
    response = _upload(http, people, body, media=media)
    assert response.status_code == status
    assert response.headers["content-type"].startswith(FHIR_JSON)
    [issue] = OperationOutcome.model_validate(response.json()).issue
    assert issue.code == ("not-supported" if status == 415 else "invalid")
    assert issue.diagnostics == f"request id {response.headers['X-Request-ID']}"
    if field:
        assert issue.expression == [field]


def test_upload_is_for_staff_only_and_into_their_own_clinic(http, people):
    data = {"resourceType": "Bundle", "type": "collection", "entry": []}
    refused = _upload(http, people, data, role="patient")
    assert refused.status_code == 403
    assert [e.outcome for e in people.audit_for(refused.headers["X-Request-ID"])] == ["refused"]
    # A record pointing at another clinic's patient is "not found", never written there.
    bea = people.clinics["B"].patients["own"]
    pain = pain_rating(f"Patient/{bea}", rid="pain-x")
    data = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": pain}]}
    before = counts(people.db)
    response = _upload(http, people, data)
    outcome = response.json()
    errors = [i for i in outcome["issue"] if i["severity"] == "error"]
    [rejected] = errors
    assert "not found in this clinic" in rejected["details"]["text"]
    assert counts(people.db)["pain_rating"] == before["pain_rating"]
    # ...and the attempt is audited as refused, under the id it addressed.
    [entry] = people.audit_for(response.headers["X-Request-ID"])
    assert (entry.action, entry.outcome, entry.patient_id) == ("import", "refused", bea)


def _statuses(answer: dict, sent: dict) -> list[tuple[str, str]]:
    """(type sent, status and outcome code) of each entry of a transaction-response."""
    response = Bundle.model_validate(answer)
    assert response.type == "transaction-response"
    assert len(response.entry) == len(sent["entry"])
    found = []
    for entry, request in zip(response.entry, sent["entry"], strict=True):
        status = entry.response.status
        if entry.response.outcome is not None:
            [issue] = entry.response.outcome.issue
            status += " " + issue.details.coding[0].code
        found.append((request["resource"]["resourceType"], status))
    return found


def _counted(outcome: dict, code: str) -> dict[str, int]:
    return {
        issue["details"]["text"]: issue["extension"][0]["valueInteger"]
        for issue in outcome["issue"]
        if issue["details"]["coding"][0]["code"] == code
    }


def test_a_client_that_takes_no_fhir_json_is_answered_406(http, people):
    """Only FHIR JSON is served: a client asking for XML (by Accept or ``_format``) gets a
    406 OperationOutcome saying so, never JSON it did not ask for; any Accept that takes
    JSON (or anything) is served."""
    jo = _jo(people)
    url = f"/api/fhir/Patient/{jo}/$everything"
    headers = people.headers("A", "clinician")
    for asked in (
        {"Accept": "application/fhir+xml"},
        {"Accept": "application/xml, text/html"},
        {"Accept": "application/fhir+json;q=0, application/fhir+xml"},
    ):
        refused = http.get(url, headers={**headers, **asked})
        assert refused.status_code == 406, asked
        assert refused.headers["content-type"].startswith(FHIR_JSON)
        [issue] = OperationOutcome.model_validate(refused.json()).issue
        assert issue.code == "not-supported" and "FHIR JSON" in issue.details.text
    assert http.get(url, params={"_format": "xml"}, headers=headers).status_code == 406
    for taken in ("application/fhir+json", "application/json", "*/*", "text/html, */*;q=0.8"):
        assert http.get(url, headers={**headers, "Accept": taken}).status_code == 200, taken
    assert http.get(url, params={"_format": "json"}, headers=headers).status_code == 200


def test_a_transaction_with_a_rejected_entry_stores_nothing(http, people):
    """A FHIR transaction is all or nothing: one bad entry (a pain rating of 12 on a 0-10
    scale) and nothing of the Bundle is stored or audited; the answer is 422 with the
    OperationOutcome naming the Bundle first, then the entry. Put right, it is stored and
    answered with a transaction-response."""
    patient_id = "5b8e0c1d-2f3a-4b4c-9d5e-6f7a8b9c0d1e"
    patient = {"resourceType": "Patient", "id": patient_id, "name": [{"text": "Tran Saction"}]}
    ratings = [
        pain_rating(f"urn:uuid:{patient_id}", value=v, rid=rid)
        for v, rid in ((4, "7c9d1e2f-3a4b-4c5d-8e6f-7a8b9c0d1e2f"),
                       (12, "8d0e2f3a-4b5c-4d6e-9f7a-8b9c0d1e2f3a"))
    ]  # fmt: skip
    data = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"fullUrl": f"urn:uuid:{r['id']}", "resource": r,
             "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}}
            for r in (patient, *ratings)
        ],
    }  # fmt: skip
    before = counts(people.db)

    refused = _upload(http, people, data)
    assert refused.status_code == 422, refused.text
    outcome = OperationOutcome.model_validate(refused.json())
    errors = [i for i in outcome.issue if i.severity == "error"]
    assert errors[0].details.text.startswith("transaction not imported, nothing of it stored")
    assert errors[1].expression == ["Bundle.entry[2]"] and len(errors) == 2
    assert _counted(refused.json(), "stored") == {}
    assert counts(people.db) == before
    assert people.audit_for(refused.headers["X-Request-ID"]) == []

    data["entry"].pop()
    stored = _upload(http, people, data)
    assert stored.status_code == 200, stored.text
    assert _statuses(stored.json(), data) == [
        ("Patient", "201 Created"),
        ("Observation", "201 Created"),
    ]

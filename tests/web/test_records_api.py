"""Records through the API: validation by the clinical core, problems naming fields,
optimistic concurrency, pagination, scoring, assessments, request ids and audit."""

from __future__ import annotations

import copy
from datetime import date

from hipspine.clinical.assessment import ENGINE_VERSION
from tests.web.world import JOHN_CASE, ODI_ANSWERS

PROBLEM = "application/problem+json"
DAY_AFTER = date(2026, 1, 1)


def _fields(response):
    assert response.headers["content-type"].startswith(PROBLEM), response.text
    body = response.json()
    assert {"type", "title", "status", "detail"} <= body.keys()
    assert body["status"] == response.status_code
    return [e["field"] for e in body.get("errors", [])]


def _url(world, kind="", which="own"):
    patient = world.clinics["A"].patients[which]
    return f"/api/patients/{patient}" + (f"/{kind}" if kind else "")


def test_framework_validation_errors_are_problems_naming_fields(client, world):
    headers = world.headers("A", "clinician")
    response = client.post(
        _url(world, "pain-ratings"),
        json={"region": "lumbar", "side": "up", "intensity": 11, "colour": "red"},
        headers=headers,
    )
    assert response.status_code == 422
    fields = _fields(response)
    assert {"side", "intensity", "rated_on", "colour"} <= set(fields)
    assert all(e["location"] == "body" for e in response.json()["errors"])
    query = client.get(_url(world, "pain-ratings") + "?limit=0", headers=headers)
    assert query.status_code == 422 and _fields(query) == ["limit"]
    assert query.json()["errors"][0]["location"] == "query"


def test_vocabulary_checks_name_the_field_and_allowed_values(client, world):
    headers = world.headers("A", "clinician")
    bad_region = client.post(
        _url(world, "pain-ratings"),
        json={"region": "elbow", "side": "left", "intensity": 3, "rated_on": "2026-01-05"},
        headers=headers,
    )
    assert _fields(bad_region) == ["region"] and "lumbar" in bad_region.json()["detail"]
    bad_side = client.post(
        _url(world, "pain-ratings"),
        json={"region": "groin", "side": "midline", "intensity": 3, "rated_on": "2026-01-05"},
        headers=headers,
    )
    assert _fields(bad_side) == ["side"] and "allowed" in bad_side.json()["detail"]
    bad_mrc = client.post(
        _url(world, "strength-tests"),
        json={"muscle": "iliopsoas", "side": "right", "mrc": "6", "tested_on": "2026-01-05"},
        headers=headers,
    )
    assert _fields(bad_mrc) == ["mrc"]
    no_side = client.post(
        _url(world, "strength-tests"),
        json={"muscle": "iliopsoas", "mrc": "4", "tested_on": "2026-01-05"},
        headers=headers,
    )
    assert _fields(no_side) == ["side"]
    good = client.post(
        _url(world, "strength-tests"),
        json={"muscle": "iliopsoas", "side": "right", "mrc": " 4 + ", "tested_on": "2026-01-05"},
        headers=headers,
    )
    assert good.status_code == 201 and good.json()["mrc"] == "4+"
    bad_level = client.post(
        _url(world, "procedures"),
        json={
            "type": "prp",
            "targets": [{"site": "facet", "level": "L9-L10"}],
            "guidance": "ultrasound",
            "performed_on": "2026-01-05",
        },
        headers=headers,
    )
    assert _fields(bad_level) == ["targets.0.level"]


def test_case_documents_are_validated_by_the_core(client, world):
    case = copy.deepcopy(JOHN_CASE)
    case["pain_map"][0]["region"] = "elbow"
    response = client.post(
        _url(world, "encounters"),
        json={"kind": "exam", "occurred_on": "2025-11-17", "case": case},
        headers=world.headers("A", "clinician"),
    )
    assert response.status_code == 422
    assert _fields(response)[0].startswith("case.pain_map.0")


def test_questionnaires_are_scored_on_save_with_instrument_version(client, world):
    headers = world.headers("A", "clinician")
    response = client.post(
        _url(world, "questionnaire-responses"),
        json={
            "instrument": "odi",
            "answers": ODI_ANSWERS,
            "completed_on": "2025-11-17",
            "submission_key": "s1",
        },
        headers=headers,
    )
    assert response.status_code == 201
    body = response.json()
    assert round(body["score"], 2) == 35.56 and body["band"] == "moderate"
    assert body["instrument_version"]
    again = client.post(
        _url(world, "questionnaire-responses"),
        json={
            "instrument": "odi",
            "answers": ODI_ANSWERS,
            "completed_on": "2025-11-17",
            "submission_key": "s1",
        },
        headers=headers,
    )
    assert again.status_code == 200 and again.json()["id"] == body["id"]
    bad = client.post(
        _url(world, "questionnaire-responses"),
        json={"instrument": "odi", "answers": {"lifting": 7}, "completed_on": "2025-11-17"},
        headers=headers,
    )
    assert _fields(bad) == ["answers.lifting"]


def test_assessment_runs_the_engine_and_stores_its_version(client, world):
    headers = world.headers("A", "clinician")
    encounter = world.clinics["A"].records["own"]["encounters"]
    response = client.post(
        _url(world, "assessments"), json={"encounter_id": encounter}, headers=headers
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["engine_version"] == ENGINE_VERSION == body["result"]["engine_version"]
    assert body["category"] == body["result"]["conclusion"]["category"]
    foreign = world.clinics["A"].records["other"]["encounters"]
    refused = client.post(
        _url(world, "assessments"), json={"encounter_id": foreign}, headers=headers
    )
    assert refused.status_code == 422 and _fields(refused) == ["encounter_id"]


def test_updates_need_the_version_read(client, world):
    headers = world.headers("A", "clinician")
    created = client.post(
        _url(world, "medications"),
        json={"name": "ibuprofen", "pattern": "as_needed", "days_per_week": 3},
        headers=headers,
    ).json()
    url = _url(world, "medications") + f"/{created['id']}"
    first = client.patch(url, json={"version": 1, "days_per_week": 1}, headers=headers)
    assert first.status_code == 200 and first.json()["version"] == 2
    stale = client.patch(url, json={"version": 1, "pattern": "stopped"}, headers=headers)
    assert stale.status_code == 409 and _fields(stale) == ["version"]
    assert client.get(url, headers=headers).json()["pattern"] == "as_needed"
    missing = client.patch(url, json={"pattern": "stopped"}, headers=headers)
    assert missing.status_code == 422 and _fields(missing) == ["version"]
    null = client.patch(url, json={"version": 2, "name": None}, headers=headers)
    assert null.status_code == 422 and _fields(null) == ["name"]


def test_patient_update_conflict(client, world):
    headers = world.headers("A", "clinician")
    url = _url(world)
    version = client.get(url, headers=headers).json()["version"]
    assert (
        client.patch(
            url, json={"version": version, "identifier": "MRN-1"}, headers=headers
        ).status_code
        == 200
    )
    stale = client.patch(url, json={"version": version, "identifier": "MRN-2"}, headers=headers)
    assert stale.status_code == 409


def test_pagination(client, world):
    headers = world.headers("A", "clinician")
    for intensity in range(5):
        client.post(
            _url(world, "pain-ratings"),
            json={
                "region": "lumbar",
                "side": "midline",
                "intensity": intensity,
                "rated_on": "2026-01-05",
            },
            headers=headers,
        )
    page = client.get(_url(world, "pain-ratings") + "?offset=2&limit=2", headers=headers).json()
    assert page["total"] == 6 and page["offset"] == 2 and page["limit"] == 2
    assert len(page["items"]) == 2


def test_request_id_is_echoed_or_generated_and_audited(client, world):
    headers = {**world.headers("A", "clinician"), "X-Request-ID": "trace-1234567"}
    response = client.get(_url(world), headers=headers)
    assert response.headers["X-Request-ID"] == "trace-1234567"
    events = world.audit_for("trace-1234567")
    assert [(e.action, e.resource, e.outcome) for e in events] == [("read", "patient", "ok")]
    event = events[0]
    assert event.actor_id == world.clinics["A"].users["clinician"]
    assert event.actor_role == "clinician" and event.client == "testclient"
    assert event.patient_id == world.clinics["A"].patients["own"]
    generated = client.get(_url(world), headers={**headers, "X-Request-ID": "bad id!"})
    assert generated.headers["X-Request-ID"] != "bad id!"
    assert len(generated.headers["X-Request-ID"]) == 32


def test_refusals_are_audited(client, world):
    foreign = world.clinics["B"].patients["own"]
    response = client.get(f"/api/patients/{foreign}", headers=world.headers("A", "clinician"))
    assert response.status_code == 404
    events = world.audit_for(response.headers["X-Request-ID"])
    assert [(e.resource, e.outcome, e.resource_id) for e in events] == [
        ("patient", "refused", foreign)
    ]


def test_unknown_routes_and_methods_are_problems(client, world):
    missing = client.get("/api/nothing-here", headers=world.headers("A", "clinician"))
    assert missing.status_code == 404 and _fields(missing) == []
    wrong = client.put(_url(world), headers=world.headers("A", "clinician"))
    assert wrong.status_code == 405 and _fields(wrong) == []


def test_audit_chain_verifies(client, world):
    response = client.get("/api/audit/verify", headers=world.headers("A", "admin"))
    assert response.status_code == 200
    body = response.json()
    assert body["intact"] is True and body["checked"] > 0


def test_admin_manages_users(client, world):
    headers = world.headers("A", "admin")
    patient = world.clinics["A"].patients["other"]
    created = client.post(
        "/api/users",
        json={
            "email": "jane@a.example.org",
            "name": "Jane",
            "role": "patient",
            "patient_id": patient,
        },
        headers=headers,
    )
    assert created.status_code == 201 and created.json()["patient_id"] == patient
    duplicate = client.post(
        "/api/users",
        json={
            "email": "JANE@a.example.org",
            "name": "Jane",
            "role": "clinician",
            "password": "long enough pw",
        },
        headers=headers,
    )
    assert duplicate.status_code == 409
    foreign = client.post(
        "/api/users",
        json={
            "email": "x@a.example.org",
            "name": "X",
            "role": "patient",
            "patient_id": world.clinics["B"].patients["own"],
        },
        headers=headers,
    )
    assert foreign.status_code == 404
    no_patient = client.post(
        "/api/users",
        json={"email": "y@a.example.org", "name": "Y", "role": "patient"},
        headers=headers,
    )
    assert _fields(no_patient) == ["patient_id"]
    me = world.clinics["A"].users["admin"]
    demote = client.patch(
        f"/api/users/{me}", json={"role": "clinician", "version": 1}, headers=headers
    )
    assert demote.status_code == 422


def test_logs_carry_no_patient_data_or_secrets(client, world, caplog):
    caplog.set_level("DEBUG")
    token = world.token("A", "clinician")
    headers = world.headers("A", "clinician")
    client.get("/api/patients?search=John", headers=headers)
    client.post(
        "/api/patients", json={"name": "Zebediah Quux", "email": "zq@example.org"}, headers=headers
    )
    client.post(
        "/api/auth/token", json={"email": "nobody@example.org", "password": "hunter2-secret"}
    )
    # Only the application's own log lines (the test client logs its URLs, as uvicorn's
    # access log would: `hipspine serve` must run uvicorn with access_log=False).
    text = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("hipspine"))
    assert "request_id=" in text and "/api/patients" in text  # the route template is logged
    for secret in (
        "John",
        "Zebediah",
        "zq@example.org",
        token,
        "hunter2-secret",
        "nobody@example.org",
    ):
        assert secret not in text


def _core_limits():
    """The function tests' limits as the clinical core's series model states them."""
    import annotated_types

    from hipspine.clinical.series import FunctionTests
    from hipspine.reports.progress import FUNCTION_FIELDS

    limits = {}
    for test, field in FUNCTION_FIELDS.items():
        info = FunctionTests.model_fields[field]
        high = next(m.le for m in info.metadata if isinstance(m, annotated_types.Le))
        whole = "int" in str(info.annotation)
        limits[test] = (high, whole)
    return limits


def test_function_tests_are_checked_against_the_cores_limits(client, world):
    """One source of truth: whatever the API stores, the core accepts when it builds the
    patient's series, and what the core refuses, the API refuses naming the field."""
    headers = world.headers("A", "clinician")
    url = _url(world, "function-tests")
    for test, (high, whole) in _core_limits().items():
        body = {"test": test, "value": high, "tested_on": "2025-12-01"}
        assert client.post(url, json=body, headers=headers).status_code == 201, test
        over = client.post(url, json={**body, "value": high + 0.5}, headers=headers)
        assert over.status_code == 422 and _fields(over) == ["value"], test
        assert f"{high:g}" in over.json()["errors"][0]["message"]
        if whole:
            half = client.post(url, json={**body, "value": 12.5}, headers=headers)
            assert half.status_code == 422 and "whole number" in half.text
    patient = world.clinics["A"].patients["own"]
    from hipspine.reports.progress import progress, read_patient_file
    from hipspine.store.records import Records

    with world.db.transaction() as session:
        progress(read_patient_file(Records(session, world.actor("A")), patient), DAY_AFTER)


def test_a_stored_value_the_core_refuses_gives_a_clear_report_answer(client, world):
    """A value stored before the limits were shared (or by another route) does not crash
    the report: the clinician is told which measurement to correct."""
    from hipspine.store.models import FunctionTest
    from hipspine.store.records import Records
    from tests.web.pages.test_pages import signed_in

    patient = world.clinics["A"].patients["own"]
    high, _ = _core_limits()["gait_speed"]
    with world.db.transaction() as session:
        Records(session, world.actor("A")).add(
            FunctionTest(
                patient_id=patient,
                test="gait_speed",
                value=high + 1.5,
                unit="m/s",
                tested_on=DAY_AFTER,
            )
        )
    signed_in(client, world)
    report = client.get(f"/patients/{patient}/report.pdf")
    assert report.status_code == 422, report.text[:300]
    assert "text/html" in report.headers["content-type"]
    assert "gait_speed" in report.text and "corrected" in report.text
    assert client.get(f"/patients/{patient}").status_code == 200


def test_two_administrators_changing_one_clinic_or_user(client, world):
    """The second change made from the same read is refused (409), not silently lost."""
    headers = world.headers("A", "admin")
    read = client.get("/api/clinic", headers=headers).json()
    first = {"disabled_instruments": ["hoos"], "version": read["version"]}
    second = {"disabled_instruments": ["odi"], "version": read["version"]}
    assert client.patch("/api/clinic", json=first, headers=headers).status_code == 200
    lost = client.patch("/api/clinic", json=second, headers=headers)
    assert lost.status_code == 409
    assert client.get("/api/clinic", headers=headers).json()["disabled_instruments"] == ["hoos"]

    user = world.clinics["A"].users["clinician"]
    version = client.get(f"/api/users/{user}", headers=headers).json()["version"]
    renamed = client.patch(
        f"/api/users/{user}", json={"name": "Dr One", "version": version}, headers=headers
    )
    assert renamed.status_code == 200 and renamed.json()["version"] == version + 1
    stale = client.patch(
        f"/api/users/{user}", json={"name": "Dr Two", "version": version}, headers=headers
    )
    assert stale.status_code == 409
    missing = client.patch(f"/api/users/{user}", json={"name": "Dr Three"}, headers=headers)
    assert missing.status_code == 422

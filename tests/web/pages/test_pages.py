"""The HTML pages without a browser: sign-in, CSRF on forms, isolation, every route."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from hipspine.store.models import Encounter, Medication, PainRating, StoredAssessment
from hipspine.web.auth import CSRF_COOKIE
from tests.web.world import PASSWORD, World


def sign_in_form(client: TestClient, **fields: str) -> Any:
    """Sign in as a browser does: open the sign-in page, then post its form."""
    page = client.get("/sign-in")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None, "the sign-in form carries no CSRF token"
    return client.post(
        "/sign-in", data={"csrf_token": token.group(1), **fields}, follow_redirects=False
    )


def signed_in(client: TestClient, world: World, clinic: str = "A", role: str = "clinician") -> str:
    response = sign_in_form(
        client, email=world.clinics[clinic].emails[role], password=PASSWORD, next="/patients"
    )
    assert response.status_code == 303, response.text
    return str(client.cookies.get(CSRF_COOKIE))


def count(world: World, model: Any, patient_id: str) -> int:
    with world.db.transaction() as session:
        return int(
            session.execute(
                select(func.count()).select_from(model).where(model.patient_id == patient_id)
            ).scalar_one()
        )


def test_pages_need_sign_in_and_come_back(client: TestClient, world: World) -> None:
    john = world.clinics["A"].patients["own"]
    response = client.get(f"/patients/{john}", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == f"/sign-in?next=/patients/{john}"
    page = client.get(response.headers["location"])
    assert page.status_code == 200 and 'name="next"' in page.text
    wrong = sign_in_form(client, email="admin@a.example.org", password="nope")
    assert wrong.status_code == 401
    assert "wrong" in wrong.text and "text/html" in wrong.headers["content-type"]
    response = sign_in_form(
        client, email="clinician@a.example.org", password=PASSWORD, next=f"/patients/{john}"
    )
    assert response.headers["location"] == f"/patients/{john}"
    assert client.get(f"/patients/{john}").status_code == 200


def test_no_open_redirect_after_sign_in(client: TestClient, world: World) -> None:
    response = sign_in_form(
        client, email="clinician@a.example.org", password=PASSWORD, next="//evil.example"
    )
    assert response.headers["location"] == "/patients"


def test_list_and_patient_pages_respect_clinic_isolation(client: TestClient, world: World) -> None:
    signed_in(client, world, "A")
    listing = client.get("/patients")
    assert "John A" in listing.text and "John B" not in listing.text
    other = world.clinics["B"].patients["own"]
    for path in (f"/patients/{other}", f"/patients/{other}/plan", f"/patients/{other}/report.pdf"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert "text/html" in response.headers["content-type"]
        assert "John B" not in response.text
    assert (
        client.get("/api/patients/" + other)
        .headers["content-type"]
        .startswith("application/problem+json")
    )


def test_patients_use_the_portal_not_the_clinic_pages(client: TestClient, world: World) -> None:
    signed_in(client, world, "A", "patient")
    assert client.get("/patients").status_code == 403


def test_another_site_cannot_sign_a_browser_in(client: TestClient, world: World) -> None:
    """Login CSRF: a form on another site posting the attacker's credentials must not
    leave this browser signed in to the attacker's account."""
    email = world.clinics["A"].emails["clinician"]
    credentials = {"email": email, "password": PASSWORD}

    def session_set(response: Any) -> bool:
        return any(
            h.startswith("hipspine_session=") for h in response.headers.get_list("set-cookie")
        )

    # The attacker's page has no token and the browser holds no pre-session cookie.
    bare = client.post("/sign-in", data=credentials, follow_redirects=False)
    assert bare.status_code == 403 and not session_set(bare)
    assert 'name="csrf_token"' in bare.text  # shown again, ready for a real sign-in
    # A token the attacker got from their own visit does not match this browser's cookie.
    attacker = TestClient(client.app)
    stolen = re.search(r'name="csrf_token" value="([^"]+)"', attacker.get("/sign-in").text)
    assert stolen is not None
    client.get("/sign-in")
    forged = client.post(
        "/sign-in", data={**credentials, "csrf_token": stolen.group(1)}, follow_redirects=False
    )
    assert forged.status_code == 403 and not session_set(forged)
    # The browser says where the form came from: another site is refused, even with a token.
    for headers in (
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
    ):
        page = client.get("/sign-in")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token is not None
        refused = client.post(
            "/sign-in",
            data={**credentials, "csrf_token": token.group(1)},
            headers=headers,
            follow_redirects=False,
        )
        assert refused.status_code == 403 and not session_set(refused), headers
    # The same form from hipspine's own page, as a browser sends it, signs in.
    ok = sign_in_form(client, **credentials)
    assert ok.status_code == 303 and session_set(ok)
    page = client.get("/sign-in")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    same = client.post(
        "/sign-in",
        data={**credentials, "csrf_token": token.group(1)},
        headers={"Sec-Fetch-Site": "same-origin", "Origin": "http://testserver"},
        follow_redirects=False,
    )
    assert same.status_code == 303


def test_forms_from_another_site_are_refused(client: TestClient, world: World) -> None:
    csrf = signed_in(client, world)
    john = world.clinics["A"].patients["own"]
    body = {"name": "naproxen", "pattern": "as_needed", "csrf_token": csrf}
    before = count(world, Medication, john)
    for headers in ({"Sec-Fetch-Site": "cross-site"}, {"Origin": "https://evil.example"}):
        refused = client.post(f"/patients/{john}/plan/medication", data=body, headers=headers)
        assert refused.status_code == 403, headers
    assert count(world, Medication, john) == before
    ok = client.post(
        f"/patients/{john}/plan/medication", data=body,
        headers={"Sec-Fetch-Site": "same-origin"}, follow_redirects=False,
    )  # fmt: skip
    assert ok.status_code == 303 and count(world, Medication, john) == before + 1


def test_forms_need_the_csrf_token(client: TestClient, world: World) -> None:
    csrf = signed_in(client, world)
    john = world.clinics["A"].patients["own"]
    body = {"name": "naproxen", "pattern": "as_needed", "days_per_week": "2"}
    refused = client.post(f"/patients/{john}/plan/medication", data=body)
    assert refused.status_code == 403 and "expired" in refused.text
    before = count(world, Medication, john)
    ok = client.post(
        f"/patients/{john}/plan/medication",
        data={**body, "csrf_token": csrf},
        follow_redirects=False,
    )
    assert ok.status_code == 303
    assert count(world, Medication, john) == before + 1
    # The header the API uses works for pages too.
    ok = client.post(
        f"/patients/{john}/plan/medication", data=body, headers={"X-CSRF-Token": csrf},
        follow_redirects=False,
    )  # fmt: skip
    assert ok.status_code == 303


def test_intake_refuses_bad_input_and_keeps_it(client: TestClient, world: World) -> None:
    csrf = signed_in(client, world)
    response = client.post(
        "/patients/new",
        data={"csrf_token": csrf, "birth_date": "1967-03-01", "pain.lumbar.midline": "11"},
    )
    assert response.status_code == 422
    assert "0 to 10" in response.text and 'value="1967-03-01"' in response.text
    assert "name" in response.text


def test_intake_exam_assessment_plan_and_visit(client: TestClient, world: World) -> None:
    csrf = signed_in(client, world)
    response = client.post(
        "/patients/new",
        data={
            "csrf_token": csrf,
            "name": "Jim Intake",
            "birth_date": "1960-01-01",
            "sex": "male",
            "visit_date": "2025-11-17",
            "complaint_side": "right",
            "dx.0.condition": "hip_osteoarthritis",
            "dx.0.side": "right",
            "pain.groin.right": "6",
            "pain.lumbar.midline": "8",
            "med.0.name": "ibuprofen",
            "med.0.pattern": "as_needed",
            "med.0.days_per_week": "3",
            "goal.0.description": "Hike 6 miles",
            "goal.0.target_date": "2026-10-31",
        },
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    patient_id = location.split("/")[2]
    assert count(world, PainRating, patient_id) == 2
    for stage in ("history", "exam", "imaging", "block"):
        page = client.get(location.replace("history", stage))
        assert page.status_code == 200
        assert 'value="unknown" checked' in page.text or stage in ("imaging", "block")
    exam = client.post(
        location.replace("history", "exam"),
        data={
            "csrf_token": csrf,
            "fadir.right.-.result": "present",
            "hip_internal_rotation.right.-.value": "10",
            "mmt.iliopsoas.right": "4-",
            "mmt.gluteus_maximus.right": "4-",
            "then": "assess",
        },
        follow_redirects=False,
    )
    assert exam.status_code == 303, exam.text
    assessment = client.get(exam.headers["location"])
    assert assessment.status_code == 200
    assert assessment.text.index("Red flags") < assessment.text.index("Conclusion")
    assert count(world, StoredAssessment, patient_id) == 1
    with world.db.transaction() as session:
        case = session.execute(
            select(Encounter.case).where(Encounter.patient_id == patient_id)
        ).scalar_one()
    assert {"finding": "fadir", "side": "right", "result": "present"} in case["findings"]
    # A bad value is refused by field, and nothing is saved.
    bad = client.post(
        location.replace("history", "exam"),
        data={"csrf_token": csrf, "hip_internal_rotation.right.-.value": "500"},
    )
    assert bad.status_code == 422 and "outside" in bad.text
    plan = client.get(f"/patients/{patient_id}/plan")
    assert 'value="iliopsoas" selected' in plan.text  # the regimen starts from weak muscles
    procedure = client.post(
        f"/patients/{patient_id}/plan/procedure",
        data={
            "csrf_token": csrf,
            "type": "adipose_derived_cells",
            "guidance": "ultrasound",
            "performed_on": "2025-12-08",
            "target.0.site": "hip_joint",
            "target.0.side": "right",
        },
        follow_redirects=False,
    )
    assert procedure.status_code == 303
    visit = client.post(
        f"/patients/{patient_id}/visits/new",
        data={
            "csrf_token": csrf,
            "date": "2026-01-19",
            "pain.lumbar.midline": "4",
            "pain.groin.right": "6",
            "mmt.iliopsoas.right": "4",
            "function.six_minute_walk": "430",
        },
        follow_redirects=False,
    )
    assert visit.status_code == 303
    overview = client.get(f"/patients/{patient_id}")
    assert overview.status_code == 200
    assert 'id="chart-pain"' in overview.text and "<svg" in overview.text
    assert "low back pain eased first" in overview.text
    future = client.post(
        f"/patients/{patient_id}/visits/new", data={"csrf_token": csrf, "date": "2999-01-01"}
    )
    assert future.status_code == 422 and "future" in future.text


def test_portal_page_carries_no_patient_data(client: TestClient, world: World) -> None:
    page = client.get("/portal")
    assert page.status_code == 200
    assert "John" not in page.text and "/static/portal.js" in page.text


def test_portal_pain_map_is_stored_once(client: TestClient, world: World) -> None:
    john = world.clinics["A"].patients["own"]
    link = client.post(
        f"/api/patients/{john}/portal-links",
        json={"instruments": ["groc"]},
        headers=world.headers("A", "clinician"),
    ).json()
    headers = {"X-Portal-Token": link["token"]}
    before = count(world, PainRating, john)
    body = {
        "entries": [{"region": "groin", "side": "right", "intensity": 3}],
        "submission_key": "k1",
    }
    assert client.post("/api/portal/pain-map", json=body, headers=headers).status_code == 201
    assert client.post("/api/portal/pain-map", json=body, headers=headers).status_code == 200
    assert count(world, PainRating, john) == before + 1
    due = client.get("/api/portal", headers=headers).json()
    assert due["pain_map_done"] is True and due["due"][0]["licence_notice"]
    bad = client.post(
        "/api/portal/pain-map",
        json={**body, "entries": [{"region": "lumbar", "side": "right", "intensity": 11}]},
        headers={"X-Portal-Token": "nope"},
    )
    assert bad.status_code in (404, 422)


def test_progress_report_pdf(client: TestClient, world: World, db: Any) -> None:
    import shutil
    import subprocess

    from tests.support.postgres import unavailable

    signed_in(client, world)
    john = world.clinics["A"].patients["own"]
    response = client.get(f"/patients/{john}/report.pdf")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")
    if shutil.which("pdftotext") is None:
        unavailable("poppler-utils (pdftotext) is not installed")
    text = subprocess.run(
        ["pdftotext", "-layout", "-", "-"], input=response.content, capture_output=True, check=True
    ).stdout.decode()
    assert "For the referring doctor" in text  # the second audience has its own part


def test_demo_seeding_composes(db: Any, web: Any, client: TestClient) -> None:
    from hipspine.web.demo import DEMO_EMAIL, DEMO_PASSWORD, open_demo_clinic, seed_john

    clinic = open_demo_clinic(db, web.passwords.hash(DEMO_PASSWORD))
    assert open_demo_clinic(db, "unused") == clinic  # idempotent: returns the same clinic
    john = seed_john(db, clinic.actor)
    second = seed_john(db, clinic.actor, name="John Again", identifier="JOHN-002")
    assert john != second
    sign_in_form(client, email=DEMO_EMAIL, password=DEMO_PASSWORD)
    listing = client.get("/patients")
    assert "John Example" in listing.text and "Red flag (consider)" in listing.text
    page = client.get(f"/patients/{john}")
    assert "Your low back pain eased first" in page.text
    assert re.search(r"ODI 42 → 12", page.text)


def test_demo_command_without_serving(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from hipspine.web.demo import demo_command

    monkeypatch.setenv("HIPSPINE_SECRET_KEY", "test-secret-key-for-demo")
    demo_command(tmp_path, port=8123, serve=False)
    out = capsys.readouterr().out
    assert "http://127.0.0.1:8123" in out and "demo@hipspine.example" in out
    assert "/portal#" in out
    assert (tmp_path / "hipspine.sqlite3").exists()  # the database every command uses
    assert "cases assessed" in out
    assert date.today()  # the demo's "today" is the real date: schedules are judged on it

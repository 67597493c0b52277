"""Stopping a physical-therapy regimen: its last day (``stopped_on``), never before it
started, through the API (create and change, with a problem naming the field) and the
plan pages (Stop on the plan, the last day on the regimen's edit page)."""

from __future__ import annotations

import re
from datetime import date, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select

from hipspine.store.db import Database
from hipspine.store.models import AuditEvent, TherapyRegimen
from hipspine.web.context import WebContext
from tests.web.pages.test_pages import signed_in
from tests.web.pages.test_pages_workflow import demo_signed_in
from tests.web.world import World

PROBLEM = "application/problem+json"
EXERCISES = [{"name": "Glute bridge", "target_muscles": ["gluteus_maximus"], "sets": 3}]


def _url(world: World, record: str = "") -> str:
    patient = world.clinics["A"].patients["own"]
    return f"/api/patients/{patient}/therapy-regimens" + (f"/{record}" if record else "")


def _problem(response: object) -> list[tuple[str, str]]:
    assert response.headers["content-type"].startswith(PROBLEM), response.text  # type: ignore[attr-defined]
    return [(e["field"], e["message"]) for e in response.json()["errors"]]  # type: ignore[attr-defined]


def test_the_api_stores_a_stop_date_and_refuses_one_before_the_start(
    client: TestClient, world: World
) -> None:
    headers = world.headers("A", "clinician")
    before = client.post(
        _url(world),
        json={"started_on": "2025-12-15", "stopped_on": "2025-12-14", "exercises": EXERCISES},
        headers=headers,
    )
    assert before.status_code == 422
    assert _problem(before) == [("stopped_on", "must not be before started_on (2025-12-15)")]

    created = client.post(
        _url(world), json={"started_on": "2025-12-15", "exercises": EXERCISES}, headers=headers
    )
    assert created.status_code == 201 and created.json()["stopped_on"] is None
    url = _url(world, created.json()["id"])

    # A change of either date is checked against the other as stored.
    early = client.patch(url, json={"version": 1, "stopped_on": "2025-12-01"}, headers=headers)
    assert early.status_code == 422
    assert _problem(early) == [("stopped_on", "must not be before started_on (2025-12-15)")]
    both = client.patch(
        url,
        json={"version": 1, "started_on": "2026-01-10", "stopped_on": "2026-01-09"},
        headers=headers,
    )
    assert both.status_code == 422 and [f for f, _ in _problem(both)] == ["stopped_on"]
    same_day = client.patch(url, json={"version": 1, "stopped_on": "2025-12-15"}, headers=headers)
    assert same_day.status_code == 200, same_day.text  # one day of therapy
    stopped = client.patch(url, json={"version": 2, "stopped_on": "2026-06-30"}, headers=headers)
    assert stopped.status_code == 200
    assert (stopped.json()["stopped_on"], stopped.json()["version"]) == ("2026-06-30", 3)
    late_start = client.patch(url, json={"version": 3, "started_on": "2026-07-01"}, headers=headers)
    assert late_start.status_code == 422
    assert _problem(late_start) == [("started_on", "must not be after stopped_on (2026-06-30)")]
    assert client.get(url, headers=headers).json()["started_on"] == "2025-12-15"
    resumed = client.patch(url, json={"version": 3, "stopped_on": None}, headers=headers)
    assert resumed.status_code == 200 and resumed.json()["stopped_on"] is None
    # Still the shared route's rules: the version read, staff only, other clinics refused.
    stale = client.patch(url, json={"version": 1, "stopped_on": "2026-06-30"}, headers=headers)
    assert stale.status_code == 409
    patient = client.patch(
        url, json={"version": 4, "stopped_on": "2026-06-30"}, headers=world.headers("A", "patient")
    )
    assert patient.status_code == 403
    other = client.patch(
        url,
        json={"version": 4, "stopped_on": "2026-06-30"},
        headers=world.headers("B", "clinician"),
    )
    assert other.status_code == 404
    assert client.get(url, headers=headers).json()["version"] == 4


def test_the_openapi_document_describes_the_stop_date(client: TestClient) -> None:
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    for model in ("TherapyRegimenIn", "TherapyRegimenUpdate", "TherapyRegimenOut"):
        assert "stopped_on" in schemas[model]["properties"], model
    assert (
        "Not before `started_on`"
        in schemas["TherapyRegimenIn"]["properties"]["stopped_on"]["description"]
    )


def _regimen(world: World) -> tuple[str, str, int]:
    patient = world.clinics["A"].patients["own"]
    regimen = world.clinics["A"].records["own"]["therapy-regimens"]
    with world.db.transaction() as session:
        stored = session.get(TherapyRegimen, regimen)
        assert stored is not None
        return patient, regimen, stored.version


def test_a_regimen_is_stopped_from_the_plan(client: TestClient, world: World) -> None:
    patient, regimen, version = _regimen(world)  # started 17 Nov 2025, running
    csrf = signed_in(client, world, "A")
    plan = client.get(f"/patients/{patient}/plan").text
    action = f"/patients/{patient}/plan/regimens/{regimen}/stop"
    assert f'action="{action}"' in plan and 'min="2025-11-17"' in plan
    for day, message in (
        ("2025-11-16", "must not be before the regimen started (17 Nov 2025)"),
        ((date.today() + timedelta(days=1)).isoformat(), "cannot be in the future"),
        ("", "give the regimen&#39;s last day"),
        ("16/11/2025", "must be a date (YYYY-MM-DD)"),
    ):
        refused = client.post(
            action, data={"csrf_token": csrf, "version": str(version), "stopped_on": day}
        )
        assert refused.status_code == 422, day
        assert "stopping the regimen: stopped on" in refused.text and message in refused.text
    stopped = client.post(
        action,
        data={"csrf_token": csrf, "version": str(version), "stopped_on": "2026-06-30"},
        follow_redirects=False,
    )
    assert stopped.status_code == 303
    assert stopped.headers["location"].endswith("/plan?saved=regimen-stopped")
    with world.db.transaction() as session:
        stored = session.get(TherapyRegimen, regimen)
        assert stored is not None and stored.stopped_on == date(2026, 6, 30)
        updates = session.execute(
            select(AuditEvent).where(
                AuditEvent.resource == "therapy_regimen",
                AuditEvent.resource_id == regimen,
                AuditEvent.action == "update",
            )
        ).scalars()
        assert [e.outcome for e in updates] == ["ok"]
    plan = client.get(f"/patients/{patient}/plan?saved=regimen-stopped").text
    assert "The regimen is stopped" in plan
    assert f'action="{action}"' not in plan  # no Stop for a stopped regimen
    assert re.search(
        r"From 17 Nov 2025 to 30 Jun 2026 <span class=\"badge badge-muted\">stopped", plan
    )
    again = client.post(
        action, data={"csrf_token": csrf, "version": str(version + 1), "stopped_on": "2026-07-01"}
    )
    assert again.status_code == 422 and "already stopped on 30 Jun 2026" in again.text


def test_the_regimen_edit_page_sets_and_clears_the_last_day(
    client: TestClient, world: World
) -> None:
    patient, regimen, version = _regimen(world)
    csrf = signed_in(client, world, "A")
    url = f"/patients/{patient}/plan/regimens/{regimen}"
    page = client.get(url).text
    assert 'name="stopped_on"' in page and "empty while it runs" in page
    form = {
        "csrf_token": csrf,
        "version": str(version),
        "started_on": "2025-11-17",
        "ex.0.name": "bridge",
        "ex.0.muscle": "gluteus_maximus",
    }
    before = client.post(url, data={**form, "stopped_on": "2025-11-01"})
    assert before.status_code == 422
    assert "must not be before started_on (2025-11-17)" in before.text
    saved = client.post(url, data={**form, "stopped_on": "2026-03-01"}, follow_redirects=False)
    assert saved.status_code == 303
    assert 'value="2026-03-01"' in client.get(url).text
    cleared = client.post(
        url, data={**form, "version": str(version + 1), "stopped_on": ""}, follow_redirects=False
    )
    assert cleared.status_code == 303
    with world.db.transaction() as session:
        stored = session.get(TherapyRegimen, regimen)
        assert stored is not None and stored.stopped_on is None


def test_the_charts_mark_the_day_a_regimen_stopped(
    client: TestClient, db: Database, web: WebContext
) -> None:
    from hipspine.web.demo import DEMO_PASSWORD, open_demo_clinic, seed_john

    clinic = open_demo_clinic(db, web.passwords.hash(DEMO_PASSWORD))
    john = seed_john(db, clinic.actor)
    csrf = demo_signed_in(client)
    with db.transaction() as session:
        regimen = session.execute(
            select(TherapyRegimen).where(TherapyRegimen.patient_id == john)
        ).scalar_one()
        url = f"/patients/{john}/plan/regimens/{regimen.id}/stop"
        version = regimen.version
    assert "Therapy stopped" not in client.get(f"/patients/{john}").text
    stopped = client.post(
        url,
        data={"csrf_token": csrf, "version": str(version), "stopped_on": "2026-06-30"},
        follow_redirects=False,
    )
    assert stopped.status_code == 303
    page = client.get(f"/patients/{john}").text
    assert "Therapy stopped 30 Jun 2026" in page
    assert "From 15 Dec 2025 to 30 Jun 2026" in page  # the plan summary

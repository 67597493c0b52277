"""The clinic dashboard and a patient's pain on the clinic's reference bands (both databases)."""

from __future__ import annotations

import re
import time
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from hipspine.analytics import synth
from hipspine.store.models import AuditEvent
from hipspine.store.records import Records
from tests.web.pages.test_pages import signed_in
from tests.web.world import World


def _patients_shown(text: str) -> int:
    found = re.search(r"<strong>([\d,]+)</strong> patients", text)
    assert found, text[:2000]
    return int(found.group(1).replace(",", ""))


def _registry_reads(world: World, clinic_id: str) -> int:
    with world.db.transaction() as session:
        rows = session.execute(
            select(AuditEvent).where(AuditEvent.resource == "registry", AuditEvent.action == "read")
        ).scalars()
        return sum(1 for r in rows if r.clinic_id == clinic_id and r.resource_id == clinic_id)


def test_dashboard_shows_only_the_clinics_own_registry_and_is_audited(
    client: TestClient, world: World
) -> None:
    a, b = world.clinics["A"], world.clinics["B"]
    synth.write(world.db, 40, seed=11, into=[b.id])
    signed_in(client, world, "A")
    page = client.get("/dashboard")
    assert page.status_code == 200
    assert 'href="/dashboard"' in page.text  # in the navigation
    assert _patients_shown(page.text) == len(a.patients)  # none of clinic B's 40
    assert "Clinic outcomes" in page.text
    assert _registry_reads(world, a.id) == 1
    client.get("/dashboard")
    assert _registry_reads(world, a.id) == 2  # every view is audited, cached or not
    assert _registry_reads(world, b.id) == 0

    other = TestClient(client.app)
    signed_in(other, world, "B")
    assert _patients_shown(other.get("/dashboard").text) == len(b.patients) + 40


def test_dashboard_is_not_for_patients_or_strangers(client: TestClient, world: World) -> None:
    response = client.get("/dashboard", follow_redirects=False)
    assert response.status_code == 303 and "next=/dashboard" in response.headers["location"]
    signed_in(client, world, "A", role="patient")
    assert client.get("/dashboard").status_code == 403


def test_dashboard_with_a_cohort_draws_every_chart_and_filters(
    client: TestClient, world: World
) -> None:
    a = world.clinics["A"]
    synth.write(world.db, 200, seed=12, into=[a.id])
    signed_in(client, world, "A")
    everyone = client.get("/dashboard")
    assert everyone.status_code == 200
    total = _patients_shown(everyone.text)
    assert total == 200 + len(a.patients)
    for anchor in (
        "cr-responders",
        "cr-improvement_lumbar",
        "cr-improvement_groin",
        "cr-mean_pain",
        "cr-bands_nprs-lumbar",
    ):
        assert f'id="{anchor}"' in everyone.text and "<svg" in everyone.text
    assert "Time to first clinically important improvement" in everyone.text
    assert "week_6" not in everyone.text  # time points in words

    filtered = client.get(
        "/dashboard",
        params={"condition": "hip_oa", "side": "left", "age_min": "40", "age_max": "80"},
    )
    assert filtered.status_code == 200
    assert 0 < _patients_shown(filtered.text) < total
    assert "condition hip osteoarthritis; side left; age ≥ 40; age ≤ 80" in filtered.text
    assert 'value="hip_oa" selected' in filtered.text

    wrong = client.get("/dashboard", params={"side": "up", "age_min": "90", "age_max": "30"})
    assert wrong.status_code == 422
    assert "Choose one of the listed values." in wrong.text
    assert "The upper age must not be below the lower age." in wrong.text
    assert _patients_shown(wrong.text) == total  # the whole clinic, said so
    nobody = client.get("/dashboard", params={"age_min": "119"})
    assert "No patients match these filters." in nobody.text


def test_dashboard_is_cached_until_the_next_write(client: TestClient, world: World) -> None:
    a = world.clinics["A"]
    synth.write(world.db, 300, seed=13, into=[a.id])
    signed_in(client, world, "A")
    first = _patients_shown(client.get("/dashboard").text)
    start = time.perf_counter()
    again = client.get("/dashboard")
    elapsed = time.perf_counter() - start
    assert _patients_shown(again.text) == first
    assert elapsed < 1.0, f"a cached dashboard took {elapsed:.2f} s"
    actor = world_actor(world, "A")
    with world.db.transaction() as session:
        Records(session, actor).add_patient(name="New Person", sex="female")
    assert _patients_shown(client.get("/dashboard").text) == first + 1


def world_actor(world: World, clinic: str) -> Any:
    from hipspine.store.audit import Actor

    c = world.clinics[clinic]
    return Actor(user_id=c.users["clinician"], role="clinician", clinic_id=c.id)


def test_patient_page_places_the_patient_on_the_clinics_bands(
    client: TestClient, world: World
) -> None:
    a = world.clinics["A"]
    john = a.patients["own"]
    signed_in(client, world, "A")
    small = client.get(f"/patients/{john}")
    assert small.status_code == 200
    assert "Pain against this clinic's patients" in small.text
    assert "too small to draw reference bands" in small.text
    assert 'id="reference-nprs-lumbar"' in small.text

    synth.write(world.db, 250, seed=14, into=[a.id])
    page = client.get(f"/patients/{john}")
    assert "too small to draw reference bands" not in page.text
    figure = page.text.split('id="reference-nprs-lumbar"', 1)[1].split("</figure>", 1)[0]
    assert "<svg" in figure
    assert _registry_reads(world, a.id) >= 2

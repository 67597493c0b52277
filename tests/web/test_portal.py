"""Patients fill due questionnaires through a single-use, expiring link."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from hipspine.store.models import PortalLink, QuestionnaireResponse
from hipspine.web import auth
from tests.web.world import ODI_ANSWERS

NPRS = {"region": "lumbar", "recall": "past_week", "pain": 3}


def _link(client, world, instruments=("odi", "nprs"), **extra):
    patient = world.clinics["A"].patients["own"]
    response = client.post(
        f"/api/patients/{patient}/portal-links",
        json={"instruments": list(instruments), **extra},
        headers=world.headers("A", "clinician"),
    )
    assert response.status_code == 201, response.text
    return response.json()


def _portal(token):
    return {"X-Portal-Token": token}


def test_link_token_is_shown_once_and_only_its_hash_is_stored(client, world, db):
    link = _link(client, world)
    assert link["url"] == f"/portal#{link['token']}"
    with db.transaction() as session:
        stored = session.get(PortalLink, link["id"])
        assert stored.token_hash == auth.token_hash(link["token"])
    listed = client.get(
        f"/api/patients/{world.clinics['A'].patients['own']}/portal-links",
        headers=world.headers("A", "clinician"),
    ).json()
    assert all("token" not in item for item in listed["items"])


def test_due_questionnaires_list_item_text(client, world):
    link = _link(client, world)
    due = client.get("/api/portal", headers=_portal(link["token"]))
    assert due.status_code == 200
    forms = {form["id"]: form for form in due.json()["due"]}
    assert set(forms) == {"odi", "nprs"}
    assert forms["odi"]["items"][0]["text"] and forms["odi"]["items"][0]["options"]


def test_submission_is_scored_idempotent_and_spends_the_link(client, world, db):
    link = _link(client, world)
    token = link["token"]
    first = client.post(
        "/api/portal/responses",
        json={"instrument": "odi", "answers": ODI_ANSWERS, "submission_key": "odi-1"},
        headers=_portal(token),
    )
    assert first.status_code == 201 and first.json()["remaining"] == ["nprs"]
    again = client.post(
        "/api/portal/responses",
        json={"instrument": "odi", "answers": ODI_ANSWERS, "submission_key": "odi-1"},
        headers=_portal(token),
    )
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    last = client.post(
        "/api/portal/responses",
        json={"instrument": "nprs", "answers": NPRS, "submission_key": "nprs-1"},
        headers=_portal(token),
    )
    assert last.status_code == 201 and last.json()["spent"] is True
    with db.transaction() as session:
        responses = (
            session.execute(
                select(QuestionnaireResponse).where(QuestionnaireResponse.source == "portal")
            )
            .scalars()
            .all()
        )
        assert sorted(r.instrument for r in responses) == ["nprs", "odi"]
        odi = next(r for r in responses if r.instrument == "odi")
        assert round(odi.score, 2) == 35.56 and odi.instrument_version
    spent = client.get("/api/portal", headers=_portal(token))
    assert spent.status_code == 410 and spent.json()["type"].endswith("portal-link-spent")
    # A retry of the last form after the link is spent still does not duplicate.
    retry = client.post(
        "/api/portal/responses",
        json={"instrument": "nprs", "answers": NPRS, "submission_key": "nprs-1"},
        headers=_portal(token),
    )
    assert retry.status_code == 200
    new_form = client.post(
        "/api/portal/responses",
        json={"instrument": "nprs", "answers": NPRS, "submission_key": "nprs-2"},
        headers=_portal(token),
    )
    assert new_form.status_code == 410
    with db.transaction() as session:
        count = session.execute(select(func.count()).select_from(QuestionnaireResponse)).scalar()
        assert count == 2 + 4  # two portal responses + one seeded per patient


def test_expired_link(client, world, db):
    link = _link(client, world)
    with db.transaction() as session:
        stored = session.get(PortalLink, link["id"])
        stored.expires_at = stored.expires_at - timedelta(days=30)
    response = client.get("/api/portal", headers=_portal(link["token"]))
    assert response.status_code == 410
    assert response.json()["type"].endswith("portal-link-expired")
    assert "expired" in response.json()["detail"]


def test_unknown_or_missing_token(client):
    assert client.get("/api/portal", headers=_portal("nope")).status_code == 404
    assert client.get("/api/portal").status_code == 401


def test_only_due_instruments_and_valid_answers(client, world):
    link = _link(client, world, instruments=("odi",))
    token = link["token"]
    not_due = client.post(
        "/api/portal/responses",
        json={"instrument": "lefs", "answers": {}, "submission_key": "x"},
        headers=_portal(token),
    )
    assert not_due.status_code == 422 and not_due.json()["errors"][0]["field"] == "instrument"
    bad = client.post(
        "/api/portal/responses",
        json={"instrument": "odi", "answers": {"walking": 9}, "submission_key": "y"},
        headers=_portal(token),
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "answers.walking"


def test_disabled_instruments_are_refused(client, world):
    response = client.patch(
        "/api/clinic",
        json={"disabled_instruments": ["hoos"], "version": 1},
        headers=world.headers("A", "admin"),
    )
    assert response.status_code == 200
    patient = world.clinics["A"].patients["own"]
    refused = client.post(
        f"/api/patients/{patient}/portal-links",
        json={"instruments": ["odi", "hoos"]},
        headers=world.headers("A", "clinician"),
    )
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "instruments.1"
    direct = client.post(
        f"/api/patients/{patient}/questionnaire-responses",
        json={"instrument": "hoos", "answers": {}, "completed_on": "2026-01-05"},
        headers=world.headers("A", "clinician"),
    )
    assert direct.status_code == 422 and direct.json()["errors"][0]["field"] == "instrument"
    offered = client.get("/api/instruments", headers=world.headers("A", "clinician")).json()
    assert "hoos" not in {i["id"] for i in offered}


def test_portal_access_is_audited(client, world):
    link = _link(client, world, instruments=("nprs",))
    response = client.get("/api/portal", headers=_portal(link["token"]))
    events = world.audit_for(response.headers["X-Request-ID"])
    assert [(e.action, e.resource, e.actor_role) for e in events] == [
        ("read", "portal_link", "patient")
    ]
    assert events[0].patient_id == world.clinics["A"].patients["own"]

"""Audit entries that say whose data was touched: listings per patient, patient accounts,
refusals with the patient addressed, and refused plan forms under their real resource."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.web.pages.test_pages import signed_in
from tests.web.world import World


def _entries(world: World, response) -> list[tuple[str, str, str | None, str | None, str]]:
    return [
        (e.action, e.resource, e.resource_id, e.patient_id, e.outcome)
        for e in world.audit_for(response.headers["X-Request-ID"])
    ]


def test_the_patient_list_is_audited_once_per_patient_returned(client: TestClient, world: World):
    a = world.clinics["A"]
    listing = client.get("/api/patients", headers=world.headers("A", "clinician"))
    returned = [p["id"] for p in listing.json()["items"]]
    assert sorted(returned) == sorted(a.patients.values())
    assert sorted(_entries(world, listing)) == sorted(
        ("list", "patient", p, p, "ok") for p in returned
    )
    # A patient's own listing names them.
    mine = client.get("/api/patients", headers=world.headers("A", "patient"))
    assert _entries(world, mine) == [
        ("list", "patient", a.patients["own"], a.patients["own"], "ok")
    ]


def test_reading_patient_accounts_is_audited(client: TestClient, world: World):
    a = world.clinics["A"]
    headers = world.headers("A", "admin")
    users = client.get("/api/users", headers=headers)
    assert users.status_code == 200
    accounts = [u for u in users.json()["items"] if u["role"] == "patient"]
    assert accounts, "the listing includes a patient's account"
    assert _entries(world, users) == [
        ("list", "user", u["id"], u["patient_id"], "ok") for u in accounts
    ]
    one = client.get(f"/api/users/{a.users['patient']}", headers=headers)
    assert _entries(world, one) == [("read", "user", a.users["patient"], a.patients["own"], "ok")]
    staff = client.get(f"/api/users/{a.users['clinician']}", headers=headers)
    assert staff.status_code == 200 and _entries(world, staff) == []  # not patient data


def test_refusals_name_the_patient_addressed(client: TestClient, world: World):
    a, b = world.clinics["A"], world.clinics["B"]
    foreign = b.patients["own"]
    other_clinic = client.get(
        f"/api/patients/{foreign}/goals", headers=world.headers("A", "clinician")
    )
    assert other_clinic.status_code == 404
    assert _entries(world, other_clinic) == [("list", "goal", None, foreign, "refused")]
    # A role refusal (403) too: a patient may not add goals, even to their own record.
    own = a.patients["own"]
    forbidden = client.post(
        f"/api/patients/{own}/goals",
        json={"description": "Walk"},
        headers=world.headers("A", "patient"),
    )
    assert forbidden.status_code == 403
    assert _entries(world, forbidden) == [("create", "goal", None, own, "refused")]
    # Another patient's record, addressed under its own patient.
    jane = a.patients["other"]
    goal = a.records["other"]["goals"]
    nosy = client.get(f"/api/patients/{jane}/goals/{goal}", headers=world.headers("A", "patient"))
    assert nosy.status_code == 404
    assert _entries(world, nosy) == [("read", "goal", goal, jane, "refused")]


def test_refused_plan_forms_are_audited_as_what_they_would_add(
    client: TestClient, world: World
) -> None:
    csrf = signed_in(client, world, "B", "clinician")
    john = world.clinics["A"].patients["own"]
    for part, resource in (
        ("procedure", "procedure"),
        ("medication", "medication"),
        ("regimen", "therapy_regimen"),
        ("goal", "goal"),
    ):
        refused = client.post(f"/patients/{john}/plan/{part}", data={"csrf_token": csrf})
        assert refused.status_code == 404, part
        assert _entries(world, refused) == [("create", resource, None, john, "refused")], part


def test_audit_check_counts_only_the_clinics_entries_and_gives_an_anchor(
    client: TestClient, world: World
) -> None:
    """The check walks the whole shared chain but tells an administrator only about their
    own clinic, and gives the newest entry to keep outside the database: deleting the
    newest entries leaves a chain that still verifies, but the kept anchor is then gone."""
    from sqlalchemy import delete, func, select

    from hipspine.store.models import AuditEvent
    from tests.store.test_audit import _drop_triggers

    a, b = world.clinics["A"], world.clinics["B"]
    for _ in range(5):
        client.get(f"/api/patients/{b.patients['own']}", headers=world.headers("B", "clinician"))
    first = client.get("/api/audit/verify", headers=world.headers("A", "admin")).json()
    with world.db.transaction() as session:
        own = session.execute(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.clinic_id == a.id)
        ).scalar_one()
        total = session.execute(select(func.count()).select_from(AuditEvent)).scalar_one()
        newest = (
            session.execute(
                select(AuditEvent)
                .where(AuditEvent.clinic_id == a.id)
                .order_by(AuditEvent.seq.desc())
            )
            .scalars()
            .first()
        )
    assert first["intact"] and first["checked"] == own < total  # clinic B's are not counted
    assert newest is not None and newest.action == "verify"
    assert (first["last_seq"], first["last_hash"]) == (newest.seq, newest.hash)
    assert first["anchor_found"] is None

    kept = first["last_hash"]
    again = client.get(
        "/api/audit/verify", params={"anchor": kept}, headers=world.headers("A", "admin")
    ).json()
    assert again["intact"] and again["anchor_found"] is True
    _drop_triggers(world.db)
    with world.db.transaction() as session:
        session.execute(delete(AuditEvent).where(AuditEvent.seq >= first["last_seq"]))
    after = client.get(
        "/api/audit/verify", params={"anchor": kept}, headers=world.headers("A", "admin")
    ).json()
    assert after["intact"] is True  # the shortened chain is consistent in itself ...
    assert after["anchor_found"] is False  # ... but the kept newest entry is missing
    bad = client.get(
        "/api/audit/verify", params={"anchor": "not-a-hash"}, headers=world.headers("A", "admin")
    )
    assert bad.status_code == 422

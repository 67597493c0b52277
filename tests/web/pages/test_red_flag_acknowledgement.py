"""Acknowledging a "consider" red flag from the assessment page: it stays on the assessment,
marked as acknowledged with who, when and why, and leaves the patient list's attention
until it is withdrawn. Urgent and emergency flags can never be acknowledged; another
clinic's clinician is refused as if the patient did not exist, and the refusal is audited.
"""

from __future__ import annotations

import copy
import re
from datetime import date
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from hipspine.store.models import AuditEvent, Encounter, RedFlagAcknowledgement
from hipspine.store.records import Records
from tests.web.pages.test_pages import count, signed_in
from tests.web.world import JOHN_CASE, World

NOTE = "ESR 12 mm/h; radiographs and MRI without signs of malignancy."


def _case(**changes: Any) -> dict[str, Any]:
    """John's first-visit case with every red-flag question answered (so nothing is left
    unscreened), changed by ``changes`` (finding id → result)."""
    case = copy.deepcopy(JOHN_CASE)
    answers = {"failure_of_conservative_care": "absent", **changes}
    case["findings"] = [f for f in case["findings"] if f["finding"] not in answers]
    case["findings"] += [{"finding": k, "result": v} for k, v in answers.items()]
    return case


def _patient_with_case(world: World, name: str, case: dict[str, Any]) -> tuple[str, str]:
    """A patient of clinic A whose first visit (today) holds ``case``; (patient, encounter)."""
    with world.db.transaction() as session:
        records = Records(session, world.actor("A"))
        patient = records.add_patient(name=name, birth_date=date(1967, 3, 1), sex="male")
        encounter = records.add(
            Encounter(patient_id=patient.id, kind="intake", occurred_on=date.today(), case=case)
        )
        return patient.id, encounter.id


def _assess(client: TestClient, csrf: str, patient: str, encounter: str) -> str:
    """Assess the case through the page's button; the assessment page's path."""
    response = client.post(
        f"/patients/{patient}/encounters/{encounter}/assess",
        data={"csrf_token": csrf},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return str(response.headers["location"])


def _assessment_id(path: str) -> str:
    return path.rsplit("/", 1)[1]


def _listed(client: TestClient, name: str, attention_only: bool) -> str | None:
    """The patient's row of the list (searched by name), or None when not listed."""
    query = f"/patients?search={name.replace(' ', '+')}" + (
        "&attention=true" if attention_only else ""
    )
    page = client.get(query).text
    body = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return next((row for row in body.split("<tr>")[1:] if f"<strong>{name}</strong>" in row), None)


def _events(world: World, resource: str) -> list[AuditEvent]:
    with world.db.transaction() as session:
        return list(
            session.execute(select(AuditEvent).where(AuditEvent.resource == resource)).scalars()
        )


def test_acknowledging_takes_the_flag_off_the_attention_list_and_withdrawing_brings_it_back(
    client: TestClient, world: World
) -> None:
    name = "Alan Screen"
    patient, encounter = _patient_with_case(world, name, _case())
    csrf = signed_in(client, world, "A")
    path = _assess(client, csrf, patient, encounter)
    page = client.get(path).text
    # The one thing needing attention is the malignancy screen (consider), with its form.
    row = _listed(client, name, attention_only=True)
    assert row is not None and "Red flag (consider): Malignancy not excluded by history" in row
    assert f'action="/patients/{patient}/red-flags/malignancy_screen/acknowledge"' in page
    assert f'name="assessment_id" value="{_assessment_id(path)}"' in page

    acknowledged = client.post(
        f"/patients/{patient}/red-flags/malignancy_screen/acknowledge",
        data={"csrf_token": csrf, "assessment_id": _assessment_id(path), "note": f"  {NOTE} "},
        follow_redirects=False,
    )
    assert acknowledged.status_code == 303
    assert acknowledged.headers["location"] == f"{path}#flag-malignancy_screen"
    with world.db.transaction() as session:
        stored = session.execute(
            select(RedFlagAcknowledgement).where(RedFlagAcknowledgement.patient_id == patient)
        ).scalar_one()
        assert (stored.flag, stored.note, stored.assessment_id) == (
            "malignancy_screen",
            NOTE,
            _assessment_id(path),
        )
        assert stored.created_by == world.clinics["A"].users["clinician"]
        ack_id = stored.id

    # The flag stays on the assessment, marked, with who, when and why, and a Withdraw.
    page = client.get(path).text
    assert "Malignancy not excluded by history" in page and "ACKNOWLEDGED" in page
    today = date.today()
    when = f"{today.day} {today:%b %Y}"
    assert f"Acknowledged by <strong>clinician A</strong> on {when}: {NOTE}" in page
    assert f"/red-flags/acknowledgements/{ack_id}/withdraw" in page
    assert "/red-flags/malignancy_screen/acknowledge" not in page  # no second form
    # Off the attention list (nothing else needs attention), but still shown, in grey.
    assert _listed(client, name, attention_only=True) is None
    row = _listed(client, name, attention_only=False)
    assert row is not None
    assert "Red flag (consider) acknowledged: Malignancy not excluded by history" in row
    assert "badge-muted" in row and "badge-warning" not in row
    overview = client.get(f"/patients/{patient}").text
    assert "Red flag: consider, acknowledged" in overview
    assert "Red flag (consider): Malignancy" not in overview
    created = [e for e in _events(world, "red_flag_acknowledgement") if e.action == "create"]
    assert [(e.resource_id, e.patient_id, e.outcome) for e in created] == [(ack_id, patient, "ok")]

    # A second acknowledgement of the same flag is refused; nothing more is stored.
    again = client.post(
        f"/patients/{patient}/red-flags/malignancy_screen/acknowledge",
        data={"csrf_token": csrf, "assessment_id": _assessment_id(path), "note": "again"},
    )
    assert again.status_code == 422 and "already acknowledged" in again.text
    assert count(world, RedFlagAcknowledgement, patient) == 1

    # Withdrawn: deleted (audited), back on the attention list, the form offered again.
    withdrawn = client.post(
        f"/patients/{patient}/red-flags/acknowledgements/{ack_id}/withdraw",
        data={"csrf_token": csrf},
        follow_redirects=False,
    )
    assert withdrawn.status_code == 303
    assert withdrawn.headers["location"] == f"{path}#flag-malignancy_screen"
    assert count(world, RedFlagAcknowledgement, patient) == 0
    deleted = [e for e in _events(world, "red_flag_acknowledgement") if e.action == "delete"]
    assert [(e.resource_id, e.patient_id, e.outcome) for e in deleted] == [(ack_id, patient, "ok")]
    row = _listed(client, name, attention_only=True)
    assert row is not None and "Red flag (consider): Malignancy not excluded by history" in row
    assert "/red-flags/malignancy_screen/acknowledge" in client.get(path).text


def test_a_note_is_required_and_at_most_2000_characters(client: TestClient, world: World) -> None:
    patient, encounter = _patient_with_case(world, "Nora Note", _case())
    csrf = signed_in(client, world, "A")
    path = _assess(client, csrf, patient, encounter)
    url = f"/patients/{patient}/red-flags/malignancy_screen/acknowledge"
    for note, message in (
        ("   ", "say why this flag needs no further action now"),
        ("x" * 2001, "at most 2000 characters (this note has 2001)"),
    ):
        refused = client.post(
            url, data={"csrf_token": csrf, "assessment_id": _assessment_id(path), "note": note}
        )
        assert refused.status_code == 422
        assert message in refused.text and 'aria-invalid="true"' in refused.text
        assert count(world, RedFlagAcknowledgement, patient) == 0
    # The form's own limit, and the CSRF check like every other form.
    assert 'maxlength="2000"' in client.get(path).text
    forged = client.post(
        url, data={"assessment_id": _assessment_id(path), "note": NOTE}, follow_redirects=False
    )
    assert forged.status_code == 403
    ok = client.post(
        url,
        data={"csrf_token": csrf, "assessment_id": _assessment_id(path), "note": "y" * 2000},
        follow_redirects=False,
    )
    assert ok.status_code == 303 and count(world, RedFlagAcknowledgement, patient) == 1


def test_urgent_and_emergency_flags_cannot_be_acknowledged(
    client: TestClient, world: World
) -> None:
    # Fever fires the urgent infection flag, next to the malignancy screen (consider).
    patient, encounter = _patient_with_case(world, "Fern Fever", _case(fever="present"))
    csrf = signed_in(client, world, "A")
    path = _assess(client, csrf, patient, encounter)
    page = client.get(path).text
    assert "Spinal or hip joint infection" in page
    forms = re.findall(r'action="/patients/[^"]+/red-flags/(\w+)/acknowledge"', page)
    assert forms == ["malignancy_screen"]  # a form for the consider flag only
    assert "An urgent red flag cannot be acknowledged away: act on it." in page
    for flag in ("infection", "cauda_equina", "malignancy_history"):
        refused = client.post(
            f"/patients/{patient}/red-flags/{flag}/acknowledge",
            data={"csrf_token": csrf, "assessment_id": _assessment_id(path), "note": NOTE},
        )
        assert refused.status_code == 400, flag
        assert "cannot be acknowledged" in refused.text
    # A consider flag that did not fire on this assessment, and a flag that does not exist.
    absent = client.post(
        f"/patients/{patient}/red-flags/infection_risk/acknowledge",
        data={"csrf_token": csrf, "assessment_id": _assessment_id(path), "note": NOTE},
    )
    assert absent.status_code == 400 and "did not fire on this assessment" in absent.text
    unknown = client.post(
        f"/patients/{patient}/red-flags/no_such_flag/acknowledge",
        data={"csrf_token": csrf, "assessment_id": _assessment_id(path), "note": NOTE},
    )
    assert unknown.status_code == 404
    assert count(world, RedFlagAcknowledgement, patient) == 0
    # Acknowledging the consider flag leaves the urgent one in the list's attention.
    client.post(
        f"/patients/{patient}/red-flags/malignancy_screen/acknowledge",
        data={"csrf_token": csrf, "assessment_id": _assessment_id(path), "note": NOTE},
    )
    row = _listed(client, "Fern Fever", attention_only=True)
    assert row is not None and "Red flag (urgent): Spinal or hip joint infection" in row
    assert "Red flag (consider) acknowledged" in row


def test_another_clinics_clinician_is_refused_and_audited(
    app: Any, client: TestClient, world: World
) -> None:
    patient, encounter = _patient_with_case(world, "Ida Isolated", _case())
    csrf = signed_in(client, world, "A")
    path = _assess(client, csrf, patient, encounter)
    client.post(
        f"/patients/{patient}/red-flags/malignancy_screen/acknowledge",
        data={"csrf_token": csrf, "assessment_id": _assessment_id(path), "note": NOTE},
    )
    with world.db.transaction() as session:
        ack_id = session.execute(
            select(RedFlagAcknowledgement.id).where(RedFlagAcknowledgement.patient_id == patient)
        ).scalar_one()

    other = TestClient(app)
    other_csrf = signed_in(other, world, "B")
    b = world.clinics["B"].users["clinician"]
    for url in (
        f"/patients/{patient}/red-flags/malignancy_screen/acknowledge",
        f"/patients/{patient}/red-flags/acknowledgements/{ack_id}/withdraw",
    ):
        answer = other.post(
            url,
            data={"csrf_token": other_csrf, "assessment_id": _assessment_id(path), "note": "x"},
        )
        assert answer.status_code == 404, url
        assert "Ida Isolated" not in answer.text and NOTE not in answer.text
        events = world.audit_for(answer.headers["X-Request-ID"])
        assert any(
            e.outcome == "refused" and e.actor_id == b and e.resource == "red_flag_acknowledgement"
            for e in events
        ), url
        assert not any(e.outcome == "ok" for e in events), url
    assert count(world, RedFlagAcknowledgement, patient) == 1  # still there, unchanged


def test_a_new_reason_brings_an_acknowledged_flag_back(client: TestClient, world: World) -> None:
    """Acknowledged for age alone; at the next visit the ESR is 30 (≥ 20, Deyo 1988): the
    flag fires for a reason the clinician never saw, so it needs attention again, and can
    be acknowledged anew."""
    name = "Ada Again"
    patient, first = _patient_with_case(world, name, _case())
    csrf = signed_in(client, world, "A")
    path = _assess(client, csrf, patient, first)
    client.post(
        f"/patients/{patient}/red-flags/malignancy_screen/acknowledge",
        data={"csrf_token": csrf, "assessment_id": _assessment_id(path), "note": NOTE},
    )
    assert _listed(client, name, attention_only=True) is None

    raised = _case()
    raised["findings"] = [f for f in raised["findings"] if f["finding"] != "esr"]
    raised["findings"].append({"finding": "esr", "value": 30})
    with world.db.transaction() as session:
        second = (
            Records(session, world.actor("A"))
            .add(
                Encounter(
                    patient_id=patient, kind="follow_up", occurred_on=date.today(), case=raised
                )
            )
            .id
        )
    later = _assess(client, csrf, patient, second)
    row = _listed(client, name, attention_only=True)
    assert row is not None and "Red flag (consider): Malignancy not excluded by history" in row
    page = client.get(later).text
    assert "ACKNOWLEDGED" not in page
    assert "/red-flags/malignancy_screen/acknowledge" in page  # offered again
    again = client.post(
        f"/patients/{patient}/red-flags/malignancy_screen/acknowledge",
        data={"csrf_token": csrf, "assessment_id": _assessment_id(later), "note": "ESR repeated"},
        follow_redirects=False,
    )
    assert again.status_code == 303
    assert _listed(client, name, attention_only=True) is None


def test_an_acknowledgement_covers_the_reasons_it_was_made_for_whatever_their_values() -> None:
    from hipspine.reports.progress import covers

    then = {"red_flags": [{"id": "m", "urgency": "consider", "because": ["age 58 (≥50)"]}]}
    a_year_on = {"id": "m", "urgency": "consider", "because": ["age 59 (≥50)"]}
    with_esr = {"id": "m", "urgency": "consider", "because": ["age 59 (≥50)", "ESR 30 mm/h"]}
    assert covers(then, a_year_on)
    assert not covers(then, with_esr)
    assert not covers(None, a_year_on)  # the assessment it was made on is gone
    assert not covers(then, {**a_year_on, "urgency": "urgent"})

"""The clinician's workflow through the pages, without a browser: the patient list sorted
by what needs attention, medication changes, visits on the intake day with questionnaires
and dynamometry, bilateral strength grades on the exam form, visit dates on assessments
and the schedule, the plan form."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient

from hipspine.store.db import Database
from hipspine.web.auth import CSRF_COOKIE
from hipspine.web.context import WebContext
from hipspine.web.demo import (
    DEMO_EMAIL,
    DEMO_PASSWORD,
    DemoClinic,
    assess_recorded_cases,
    open_demo_clinic,
    seed_john,
)
from tests.web.pages.test_pages import sign_in_form

# The first attention badge of a row, in the order the list promises.
RANKS = (
    ("Red flag (", 0),
    ("follow-up overdue", 1),
    ("Non-responder", 2),
    ("follow-up due", 3),
    ("not screened", 4),
    ("not yet assessed", 5),
)


def demo_signed_in(client: TestClient) -> str:
    """Sign in as the demo clinician; the CSRF token for forms."""
    response = sign_in_form(client, email=DEMO_EMAIL, password=DEMO_PASSWORD, next="/patients")
    assert response.status_code == 303, response.text
    return str(client.cookies.get(CSRF_COOKIE))


@pytest.fixture
def demo(db: Database, web: WebContext) -> tuple[DemoClinic, str]:
    clinic = open_demo_clinic(db, web.passwords.hash(DEMO_PASSWORD))
    return clinic, seed_john(db, clinic.actor)


def _rows(html: str) -> list[tuple[str, list[str]]]:
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    rows = []
    for row in body.split("<tr>")[1:]:
        name = re.search(r"<strong>([^<]+)</strong>", row)
        badges = re.findall(r'class="badge badge-\w+">([^<]+)<', row)
        rows.append((name.group(1) if name else "", badges))
    return rows


def _rank(badges: list[str]) -> int:
    if not badges:
        return len(RANKS)
    return next(rank for text, rank in RANKS if text in badges[0])


def test_patient_list_is_sorted_by_urgency_and_filtered_before_paging(
    client: TestClient, db: Database, demo: tuple[DemoClinic, str], monkeypatch: Any
) -> None:
    from hipspine.analytics import synth
    from hipspine.reports import progress

    clinic, _ = demo
    synth.write(db, 300, seed=7, into=[clinic.clinic_id])
    assert assess_recorded_cases(db, clinic.actor, suggest=False) > 100
    demo_signed_in(client)

    first = client.get("/patients")
    assert first.status_code == 200
    rows = _rows(first.text)
    assert len(rows) == 25
    # John's one red flag (consider) is acknowledged in the demo: still shown, in grey, but
    # not counted, so he is not first any more.
    johns = _rows(client.get("/patients?search=John+Example").text)
    assert [name for name, _ in johns] == ["John Example"]
    assert "Red flag (consider) acknowledged: Malignancy not excluded by history" in johns[0][1]
    assert not any(b.startswith("Red flag (consider):") for b in johns[0][1])
    assert rows[0][1] and rows[0][0] != "John Example"
    assert "Case recorded, not yet assessed" not in first.text  # the cases are assessed

    # Every page, most urgent first; the attention filter is applied before paging.
    total = int(re.search(r"of (\d+)</span>", first.text).group(1))  # type: ignore[union-attr]
    assert total == 301
    seen: list[int] = []
    flagged = client.get("/patients?attention=true")
    needing = int(re.search(r"of (\d+)</span>", flagged.text).group(1))  # type: ignore[union-attr]
    assert 0 < needing <= total
    assert "attention=true&offset=25" in flagged.text  # the pager keeps the filter
    for offset in range(0, needing, 25):
        page = client.get(f"/patients?attention=true&offset={offset}")
        rows = _rows(page.text)
        assert rows and all(badges for _, badges in rows), offset
        seen += [_rank(badges) for _, badges in rows]
    assert len(seen) == needing and seen == sorted(seen)

    # Fast: the whole clinic's attention is kept per patient until their records change.
    started = time.perf_counter()
    assert client.get("/patients?offset=50").status_code == 200
    assert time.perf_counter() - started < 0.3
    computed: list[str] = []
    original = progress._overview

    def counting(file: Any, today: Any) -> Any:
        computed.append(file.patient.id)
        return original(file, today)

    monkeypatch.setattr(progress, "_overview", counting)
    most_urgent = re.search(r'href="/patients/([0-9a-f-]{36})"', first.text).group(1)  # type: ignore[union-attr]
    added = client.post(
        f"/patients/{most_urgent}/plan/medication",
        data={"name": "paracetamol", "pattern": "as_needed", "days_per_week": "1"},
        headers={"X-CSRF-Token": str(client.cookies.get(CSRF_COOKIE))},
        follow_redirects=False,
    )
    assert added.status_code == 303
    assert client.get("/patients").status_code == 200
    assert computed == [most_urgent]  # one patient changed: one patient recomputed


def _john_ids(db: Database, john: str) -> dict[str, Any]:
    from sqlalchemy import select

    from hipspine.store.models import Encounter, Medication

    with db.transaction() as session:
        intake = session.execute(
            select(Encounter).where(Encounter.patient_id == john, Encounter.kind == "intake")
        ).scalar_one()
        open_med = session.execute(
            select(Medication).where(Medication.patient_id == john, Medication.stopped_on.is_(None))
        ).scalar_one()
        return {"intake": intake.id, "medication": open_med.id, "version": open_med.version}


def test_a_medication_is_changed_or_stopped_from_the_plan(
    client: TestClient, db: Database, demo: tuple[DemoClinic, str]
) -> None:
    from datetime import date

    from sqlalchemy import select

    from hipspine.store.models import Medication

    _, john = demo
    csrf = demo_signed_in(client)
    ids = _john_ids(db, john)
    plan = client.get(f"/patients/{john}/plan")
    assert "Medications in use" in plan.text and "Change ibuprofen" in plan.text
    url = f"/patients/{john}/plan/medications/{ids['medication']}"

    # A change must come after the current use started (9 Mar 2026), and not be a stop.
    early = client.post(
        url,
        data={"csrf_token": csrf, "action": "change", "from": "2026-03-01", "days_per_week": "0.5"},
    )
    assert early.status_code == 422 and "after the medication started" in early.text
    bad = client.post(
        url,
        data={"csrf_token": csrf, "action": "change", "from": "2026-09-01", "days_per_week": "9"},
    )
    assert bad.status_code == 422 and "less than or equal to 7" in bad.text

    changed = client.post(
        url,
        data={
            "csrf_token": csrf,
            "action": "change",
            "from": "2026-09-01",
            "days_per_week": "0.5",
            "version": str(ids["version"]),
        },
        follow_redirects=False,
    )
    assert changed.status_code == 303
    with db.transaction() as session:
        rows = session.execute(
            select(Medication.days_per_week, Medication.started_on, Medication.stopped_on)
            .where(Medication.patient_id == john)
            .order_by(Medication.started_on)
        ).all()
    assert rows[-2:] == [
        (1.0, date(2026, 3, 9), date(2026, 8, 31)),  # ends the day before the change
        (0.5, date(2026, 9, 1), None),
    ]
    # The old period can no longer be changed; the new one can be stopped.
    again = client.post(url, data={"csrf_token": csrf, "action": "stop", "from": "2026-10-01"})
    assert again.status_code == 422 and "already stopped" in again.text
    newest = _john_ids(db, john)["medication"]
    stopped = client.post(
        f"/patients/{john}/plan/medications/{newest}",
        data={"csrf_token": csrf, "action": "stop", "from": "2026-10-01"},
        follow_redirects=False,
    )
    assert stopped.status_code == 303
    with db.transaction() as session:
        last = session.get(Medication, newest)
        assert last is not None and last.stopped_on == date(2026, 9, 30)
    assert "Medications in use" not in client.get(f"/patients/{john}/plan").text


def test_a_visit_on_the_first_visit_day_joins_it_with_questionnaires_and_dynamometry(
    client: TestClient, db: Database, world: Any
) -> None:
    from sqlalchemy import func, select

    from hipspine.clinical import instruments
    from hipspine.store.models import Encounter, QuestionnaireResponse, StrengthTest
    from tests.web.pages.test_pages import signed_in

    csrf = signed_in(client, world)
    response = client.post(
        "/patients/new",
        data={"csrf_token": csrf, "name": "Jo Baseline", "visit_date": "2025-11-17",
              "pain.lumbar.midline": "8"},
        follow_redirects=False,
    )  # fmt: skip
    assert response.status_code == 303, response.text
    patient = response.headers["location"].split("/")[2]
    page = client.get(f"/patients/{patient}/visits/new")
    assert 'name="q.odi.pain_intensity"' in page.text and 'name="dyn.0.force"' in page.text
    odi = {"pain_intensity": "3", "personal_care": "1", "lifting": "3", "walking": "2",
           "sitting": "3", "standing": "3", "sleeping": "1", "sex_life": "2",
           "social_life": "2", "travelling": "1"}  # fmt: skip
    visit = {
        "csrf_token": csrf,
        "date": "2025-11-17",
        "label": "Baseline tests",
        **{f"q.odi.{k}": v for k, v in odi.items()},
        "dyn.0.muscle": "gluteus_maximus",
        "dyn.0.side": "right",
        "dyn.0.action": "hip_extension",
        "dyn.0.position": "prone_standing",
        "dyn.0.force": "180",
        "dyn.0.unit": "N",
        "dyn.0.lever_arm_m": "0.4",
        "function.six_minute_walk": "410",
    }

    def counts() -> tuple[int, int, int]:
        with db.transaction() as session:
            return tuple(  # type: ignore[return-value]
                session.execute(
                    select(func.count()).select_from(model).where(model.patient_id == patient)
                ).scalar_one()
                for model in (Encounter, QuestionnaireResponse, StrengthTest)
            )

    before = counts()
    # Refused by field, nothing saved: an answer the item does not have, a muscle that
    # does not perform the action.
    wrong = client.post(
        f"/patients/{patient}/visits/new",
        data={**visit, "q.odi.lifting": "9", "dyn.0.action": "hip_flexion"},
    )
    assert wrong.status_code == 422
    assert "does not perform hip_flexion" in wrong.text and "lifting" in wrong.text
    assert counts() == before

    saved = client.post(f"/patients/{patient}/visits/new", data=visit, follow_redirects=False)
    assert saved.status_code == 303
    assert counts() == (before[0], before[1] + 1, before[2] + 1)  # no second encounter
    with db.transaction() as session:
        response_row = session.execute(
            select(QuestionnaireResponse).where(QuestionnaireResponse.patient_id == patient)
        ).scalar_one()
        reading = session.execute(
            select(StrengthTest).where(StrengthTest.patient_id == patient)
        ).scalar_one()
        encounters = (
            session.execute(select(Encounter).where(Encounter.patient_id == patient))
            .scalars()
            .all()
        )
    assert response_row.score == instruments.score("odi", odi).value  # the core's score
    assert response_row.context["entered_as"] == "paper form, by the clinician"
    assert (reading.force, reading.unit, reading.lever_arm_m) == (180.0, "N", 0.4)
    assert [e.kind for e in encounters] == ["intake"]
    overview = client.get(f"/patients/{patient}")
    assert overview.text.count("17 Nov 2025</strong>") == 1  # one visit in the timeline
    assert 'id="chart-questionnaires"' in overview.text
    # The next visit repeats the same dynamometry set-up.
    follow_up = client.get(f"/patients/{patient}/visits/new")
    assert re.search(
        r'name="dyn.0.position".*?value="prone_standing" selected', follow_up.text, re.S
    )


def test_exam_form_shows_a_both_sides_grade_on_each_side_and_replaces_it(
    client: TestClient, db: Database, demo: tuple[DemoClinic, str]
) -> None:
    from hipspine.store.models import Encounter

    _, john = demo
    csrf = demo_signed_in(client)
    intake = _john_ids(db, john)["intake"]
    url = f"/patients/{john}/encounters/{intake}/findings/exam"

    def grade(html: str, side: str) -> str | None:
        select_ = re.search(rf'name="mmt.lumbar_paraspinals.{side}".*?</select>', html, re.S)
        assert select_ is not None
        chosen = re.search(r'value="([^"]+)" selected', select_.group(0))
        return chosen.group(1) if chosen else None

    def strength() -> list[dict[str, Any]]:
        with db.transaction() as session:
            encounter = session.get(Encounter, intake)
            assert encounter is not None and encounter.case is not None
            return [t for t in encounter.case["strength"] if t["muscle"] == "lumbar_paraspinals"]

    assert strength() == [{"muscle": "lumbar_paraspinals", "side": "bilateral", "mrc": "4"}]
    page = client.get(url)
    assert grade(page.text, "right") == "4" and grade(page.text, "left") == "4"

    form = {
        k: v for k, v in re.findall(r'name="(mmt\.[^"]+)".*?value="([^"]+)" selected', page.text)
    }
    # Saved unchanged, it stays one grade for both sides.
    saved = client.post(url, data={"csrf_token": csrf, **form}, follow_redirects=False)
    assert saved.status_code == 303
    assert strength() == [{"muscle": "lumbar_paraspinals", "side": "bilateral", "mrc": "4"}]
    # One side changed: the both-sides grade is replaced by one grade per side.
    form["mmt.lumbar_paraspinals.right"] = "5"
    saved = client.post(url, data={"csrf_token": csrf, **form}, follow_redirects=False)
    assert saved.status_code == 303
    assert sorted(strength(), key=lambda t: t["side"]) == [
        {"muscle": "lumbar_paraspinals", "mrc": "4", "side": "left"},
        {"muscle": "lumbar_paraspinals", "mrc": "5", "side": "right"},
    ]
    page = client.get(url)
    assert grade(page.text, "right") == "5" and grade(page.text, "left") == "4"


def test_assessments_and_the_schedule_are_dated_by_the_visit(
    client: TestClient, db: Database, demo: tuple[DemoClinic, str]
) -> None:
    import shutil
    import subprocess
    from datetime import date

    from tests.support.postgres import unavailable

    _, john = demo
    csrf = demo_signed_in(client)
    intake = _john_ids(db, john)["intake"]
    # Assessed again today: still the assessment of the 17 Nov 2025 visit.
    again = client.post(
        f"/patients/{john}/encounters/{intake}/assess",
        data={"csrf_token": csrf},
        follow_redirects=False,
    )
    assert again.status_code == 303
    assessment = client.get(again.headers["location"])
    today = date.today()
    assert f"Visit of 17 Nov 2025 (assessed {today.day} {today:%b %Y})" in assessment.text
    overview = client.get(f"/patients/{john}")
    assert "Visit of 17 Nov 2025" in overview.text
    # The baseline is the first visit, not the procedure of 8 Dec 2025.
    schedule = overview.text.split('class="schedule"', 1)[1].split("</ul>", 1)[0]
    assert re.search(r"Baseline · 17 Nov 2025", schedule), schedule
    report = client.get(f"/patients/{john}/report.pdf")
    assert report.status_code == 200
    if shutil.which("pdftotext") is None:
        unavailable("poppler-utils (pdftotext) is not installed")
    text = subprocess.run(
        ["pdftotext", "-", "-"], input=report.content, capture_output=True, check=True
    ).stdout.decode()
    assert "Assessment (visit of 17 November 2025)" in " ".join(text.split())


def test_plan_form_procedure_type_regimen_suggestions_and_editing(
    client: TestClient, db: Database, demo: tuple[DemoClinic, str]
) -> None:
    from sqlalchemy import select

    from hipspine.store.models import TherapyRegimen

    _, john = demo
    csrf = demo_signed_in(client)
    plan = client.get(f"/patients/{john}/plan")
    # No procedure type is chosen for the clinician, and none may be left out.
    assert '<select id="p-type" name="type" required><option value="">' in plan.text
    missing = client.post(
        f"/patients/{john}/plan/procedure",
        data={"csrf_token": csrf, "guidance": "ultrasound", "performed_on": "2025-12-08",
              "target.0.site": "hip_joint", "target.0.side": "right"},
    )  # fmt: skip
    assert missing.status_code == 422 and "choose the type of procedure" in missing.text
    # Muscles by their vocabulary labels; suggestions with their studies.
    assert "Gluteus medius and minimus" in plan.text
    assert "gluteus medius minimus" not in plan.text
    ideas = re.search(r'<datalist id="ideas-gluteus_medius_minimus">(.*?)</datalist>', plan.text)
    assert ideas is not None and "Side-lying hip abduction" in ideas.group(1)
    assert "Distefano" in plan.text and "10.2519/jospt.2007.2471" in plan.text
    assert 'id="ideas-hamstrings"' not in plan.text  # no study behind it: no suggestion

    with db.transaction() as session:
        regimen = session.execute(
            select(TherapyRegimen).where(TherapyRegimen.patient_id == john)
        ).scalar_one()
        regimen_id, version = regimen.id, regimen.version
    url = f"/patients/{john}/plan/regimens/{regimen_id}"
    assert f'href="{url}"' in plan.text
    edit = client.get(url)
    form = dict(
        re.findall(
            r'name="((?:ex\.\d+\.\w+)|started_on|adherence_percent)" [^>]*?value="([^"]*)"',
            edit.text,
        )
    )
    form.update(
        re.findall(
            r'name="(ex\.\d+\.muscle2?)"[^>]*>(?:(?!</select>).)*?value="([^"]+)" selected',
            edit.text,
            re.S,
        )
    )
    assert form["ex.0.name"] == "Glute bridge" and form["ex.0.muscle2"] == "hamstrings"
    assert form["ex.5.hold_seconds"] == "5" and form["ex.0.notes"].startswith("Squeeze")
    form.update({"ex.0.sets": "4", "ex.1.name": "", "csrf_token": csrf, "version": str(version)})
    saved = client.post(url, data=form, follow_redirects=False)
    assert saved.status_code == 303, saved.text
    with db.transaction() as session:
        stored = session.get(TherapyRegimen, regimen_id)
        assert stored is not None
        names = [e["name"] for e in stored.exercises]
        first, bird_dog = stored.exercises[0], stored.exercises[-1]
    assert "Prone hip extension" not in names and len(names) == 5  # the cleared row is gone
    assert first["sets"] == 4 and first["target_muscles"] == ["gluteus_maximus", "hamstrings"]
    assert first["notes"].startswith("Squeeze") and bird_dog["hold_seconds"] == 5
    # A second save from the same (now stale) form is refused rather than overwriting.
    stale = client.post(url, data=form)
    assert stale.status_code == 409


def test_a_synthetic_assessment_without_the_next_test_search_says_so(
    client: TestClient, db: Database, demo: tuple[DemoClinic, str]
) -> None:
    from sqlalchemy import select

    from hipspine.analytics import synth
    from hipspine.store.models import StoredAssessment

    clinic, _ = demo
    synth.write(db, 3, seed=11, into=[clinic.clinic_id])
    assert assess_recorded_cases(db, clinic.actor, suggest=False) >= 1
    with db.transaction() as session:
        stored = (
            session.execute(
                select(StoredAssessment).where(StoredAssessment.engine_version.is_not(None))
            )
            .scalars()
            .all()
        )
        synthetic = next(s for s in stored if s.result["next_tests"] is None)
        patient, assessment = synthetic.patient_id, synthetic.id
    demo_signed_in(client)
    page = client.get(f"/patients/{patient}/assessments/{assessment}")
    assert page.status_code == 200
    assert "was not run" in page.text and "Assess the case again" in page.text
    assert "No single test would change the conclusion" not in page.text

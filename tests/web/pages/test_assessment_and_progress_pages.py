"""What the assessment engine and the trajectory produce, on the pages: the hip–spine type
(possibly secondary), superseded rules greyed with why, a rule's caveat, the named rules,
the chain's premises and observations, the spinopelvic reading with its basis and the
standing-to-sitting changes; the exam and imaging forms built from the vocabulary (range of
motion "painful", the sitting radiograph); left/right dynamometry with normalised values,
the goal's PSFS activity against its MDC, the trajectory's cautions; the visit form's
function-test limits from the core; John's acknowledged malignancy screen in the demo."""

from __future__ import annotations

import copy
import html
import re
from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient

from hipspine.clinical.vocabulary import findings
from hipspine.store.db import Database
from hipspine.store.models import Encounter, PainRating
from hipspine.store.records import Records
from hipspine.web.api.clinical import FUNCTION_UNITS, function_limits
from hipspine.web.context import WebContext
from hipspine.web.demo import (
    DEMO_PASSWORD,
    MALIGNANCY_SCREEN_NOTE,
    DemoClinic,
    open_demo_clinic,
    seed_john,
)
from tests.web.pages.test_pages import signed_in
from tests.web.pages.test_pages_workflow import demo_signed_in
from tests.web.world import JOHN_CASE, World

POSTURE = ("lumbar_hyperlordosis", "anterior_pelvic_tilt")
RADIOGRAPH = (
    "pelvic_incidence", "pelvic_tilt_standing", "sacral_slope_standing",
    "lumbar_lordosis_standing", "sacral_slope_sitting",
)  # fmt: skip


def _case(drop: tuple[str, ...] = (), add: tuple[dict[str, Any], ...] = ()) -> dict[str, Any]:
    case = copy.deepcopy(JOHN_CASE)
    case["findings"] = [f for f in case["findings"] if f["finding"] not in drop] + list(add)
    return case


def _assessed(client: TestClient, world: World, csrf: str, name: str, case: dict[str, Any]) -> str:
    """A patient of clinic A with ``case`` assessed through the page; the assessment page."""
    with world.db.transaction() as session:
        records = Records(session, world.actor("A"))
        patient = records.add_patient(name=name, birth_date=date(1967, 3, 1), sex="male")
        encounter = records.add(
            Encounter(
                patient_id=patient.id, kind="intake", occurred_on=date(2025, 11, 17), case=case
            )
        )
        url = f"/patients/{patient.id}/encounters/{encounter.id}/assess"
    response = client.post(url, data={"csrf_token": csrf}, follow_redirects=False)
    assert response.status_code == 303, response.text
    page = client.get(response.headers["location"])
    assert page.status_code == 200
    return html.unescape(page.text)


def _text(page: str) -> str:
    """The page's words, tags removed and white space collapsed."""
    return " ".join(re.sub(r"<[^>]+>", " ", page).split()).replace(" :", ":")


def test_the_assessment_page_shows_what_the_engine_now_explains(
    client: TestClient, world: World
) -> None:
    csrf = signed_in(client, world, "A")

    # Weak hip muscles, but neither posture nor a lateral radiograph examined.
    possibly = _text(_assessed(client, world, csrf, "Pat Possibly", _case(POSTURE + RADIOGRAPH)))
    assert "possibly secondary hip–spine syndrome" in possibly
    assert "possibly secondary: not confirmed Why this type:" in possibly
    assert "pelvic tilt and hyperlordosis were not examined" in possibly
    # Each chain link by name, with its premise and what was (not yet) observed.
    assert "Pelvic tilt and hyperlordosis from weak hip muscles:" in possibly
    assert "Premise Iliopsoas (right) MRC 4-; Gluteus maximus (right) MRC 4-" in possibly
    assert "Observed not yet looked for" in possibly

    # Posture normal and lordosis matching the pelvic incidence on the standing radiograph:
    # the consequence was looked for and not seen.
    looked = (
        *({"finding": f, "result": "absent"} for f in POSTURE),
        {"finding": "lumbar_lordosis_standing", "value": 50},
    )
    normal = _assessed(
        client, world, csrf, "Nat Normal", _case((*POSTURE, "lumbar_lordosis_standing"), looked)
    )
    link = re.search(r'<li class="link-not_observed">(.*?)</li>', normal, re.S)
    assert link is not None
    assert 'badge-muted">not observed<' in link.group(1)
    assert "Observed</dt><dd>looked for and not seen" in link.group(1)

    # John with a sitting radiograph too: balance with its basis, both changes on sitting.
    sitting = (
        {"finding": "pelvic_tilt_sitting", "value": 20},
        {"finding": "lumbar_lordosis_sitting", "value": 40},
    )
    page = _assessed(client, world, csrf, "Sid Sitting", _case(add=sitting))
    words = _text(page)
    assert "PI−LL −14°: hyperlordotic expert default: the cited review defines only" in words
    assert "Pelvic tilt, sitting − standing 12° (posterior tilt on sitting is positive)" in words
    assert (
        "Lumbar lordosis, standing − sitting 26° (loss of lordosis on sitting is positive)" in words
    )
    assert "14°: normal mobility (cut-offs not verified against the primary source)" in words
    # Rules a radiograph supersedes: greyed, with why, never counted.
    superseded = re.findall(r'<tr class="status-superseded ">(.*?)</tr>', page, re.S)
    assert len(superseded) >= 5
    sutlive = next(r for r in superseded if "Sutlive 2008" in r)
    assert "not counted: a hip radiograph is recorded on this side" in _text(sutlive)
    assert "(its own result: at least 4)" in _text(sutlive) and "counted</span>" not in sutlive
    # The named rule, its statement, how it is applied and each part's facts.
    named = _text(page.split('id="named"', 1)[1].split("</section>", 1)[0])
    assert "Guggino pain-location rule" in named
    assert "Pain in the front of the hip indicates hip osteoarthritis" in named
    assert "How hipspine applies it" in named and "Grimaldi 2017" in named
    assert "fired, present · LR 1.5 pain map: groin (right): yes" in named
    assert "pain in or just above the buttock (right): yes" in named

    # Complaint side unknown: a test examined on one side only is not counted, and says so.
    one_side = _case()
    one_side["complaint"].pop("side")
    one_side["pain_map"] = [p for p in one_side["pain_map"] if p.get("side") == "midline"]
    caveats = re.findall(
        r'<p class="caveat"><strong>Not counted yet:</strong> (.*?)</p>',
        _assessed(client, world, csrf, "Cal Caveat", one_side),
    )
    assert (
        "Straight leg raise: recorded on the right side only, none positive; with the left "
        "side unknown it is not counted until that side is examined." in caveats
    )


def _form(page: str) -> dict[str, str]:
    """The values a browser would send from the page's findings form."""
    body = page.split('class="stack findings"', 1)[1].split("</form>", 1)[0]
    values: dict[str, str] = {}
    for tag in re.findall(r"<input[^>]*>", body):
        name = re.search(r'name="([^"]+)"', tag)
        value = re.search(r'value="([^"]*)"', tag)
        if not name or not value or ('type="radio"' in tag and "checked" not in tag):
            continue
        values[html.unescape(name.group(1))] = html.unescape(value.group(1))
    for name, options in re.findall(r'<select name="([^"]+)"[^>]*>(.*?)</select>', body, re.S):
        chosen = re.search(r'<option value="([^"]*)" selected', options)
        if chosen:
            values[name] = chosen.group(1)
    return values


def test_the_exam_and_imaging_forms_come_from_the_vocabulary(
    client: TestClient, world: World
) -> None:
    csrf = signed_in(client, world, "A")
    a = world.clinics["A"]
    base = f"/patients/{a.patients['own']}/encounters/{a.records['own']['encounters']}/findings"
    exam = client.get(f"{base}/exam").text
    # Range of motion recorded without degrees: every result the vocabulary allows.
    select = re.search(
        r'<select name="hip_external_rotation\.right\.-\.result"[^>]*>(.*?)</select>', exam, re.S
    )
    assert select is not None
    assert re.findall(r'<option value="(\w+)"', select.group(1)) == [
        "unknown", "reduced", "normal", "painful",
    ]  # fmt: skip
    assert findings()["hip_external_rotation"].results == (
        "reduced",
        "normal",
        "painful",
        "unknown",
    )
    form = {**_form(exam), "hip_external_rotation.right.-.result": "painful", "csrf_token": csrf}
    assert client.post(f"{base}/exam", data=form, follow_redirects=False).status_code == 303

    imaging = client.get(f"{base}/imaging").text
    for finding in ("pelvic_tilt_sitting", "lumbar_lordosis_sitting"):
        label = findings()[finding].label
        unit = findings()[finding].unit
        assert f'aria-label="{label} ({unit})"' in html.unescape(imaging), finding
    form = {
        **_form(imaging),
        "pelvic_tilt_sitting.-.-.value": "20",
        "lumbar_lordosis_sitting.-.-.value": "40",
        "then": "assess",
        "csrf_token": csrf,
    }
    assessed = client.post(f"{base}/imaging", data=form, follow_redirects=False)
    assert assessed.status_code == 303, assessed.text
    with world.db.transaction() as session:
        case = session.get(Encounter, a.records["own"]["encounters"]).case
    recorded = {(o["finding"], o.get("side")): o for o in case["findings"]}
    assert recorded[("hip_external_rotation", "right")]["result"] == "painful"
    assert recorded[("pelvic_tilt_sitting", None)]["value"] == 20
    assert recorded[("hip_internal_rotation", "right")]["value"] == 10  # kept from the form
    words = _text(html.unescape(client.get(assessed.headers["location"]).text))
    assert "Pelvic tilt, sitting − standing 12°" in words
    assert "Lumbar lordosis, standing − sitting 26°" in words


@pytest.fixture
def demo(db: Database, web: WebContext) -> tuple[DemoClinic, str]:
    clinic = open_demo_clinic(db, web.passwords.hash(DEMO_PASSWORD))
    return clinic, seed_john(db, clinic.actor)


def test_johns_page_shows_left_right_strength_his_goal_activity_and_cautions(
    client: TestClient, db: Database, demo: tuple[DemoClinic, str]
) -> None:
    clinic, john = demo
    demo_signed_in(client)
    page = html.unescape(client.get(f"/patients/{john}").text)
    # Left and right dynamometry next to the strength chart, normalised to body mass.
    assert page.index('id="chart-strength"') < page.index('id="side-to-side"')
    table = page.split('id="side-to-side"', 1)[1].split("</section>", 1)[0]
    rows = [_text(r) for r in re.findall(r"<tr>(.*?)</tr>", table, re.S)]
    assert (
        "17 Nov 2025 3 wk before treatment 104 N·m 1.24 N·m/kg 72 N·m 0.86 N·m/kg 69% "
        "possible deficit, right" in rows
    )
    assert (
        "10 Aug 2026 week 35 106 N·m 1.26 N·m/kg 92 N·m 1.10 N·m/kg 87% within measurement error"
        in rows
    )
    assert (
        "17 Nov 2025 3 wk before treatment 220 N 27% body weight 150 N 18% body weight 68% possible deficit, right"
        in rows
    )
    assert "an asymmetry of at least 27%" in _text(table)
    # The goal's PSFS activity against the single-activity MDC.
    goals = _text(page.split('id="goal-detail"', 1)[1].split("</section>", 1)[0])
    assert "Hike with elevation gain: 2 → 7 (+5 points, 10 Aug 2026)" in goals
    assert "beyond measurement error a change of at least 3 points is needed" in goals
    assert "Stratford" in goals and "−1, somewhat less than expected" in goals
    assert "alert-warning caution" not in page  # one recall period throughout

    # A rating of pain "now" among the weekly ones: the trajectory cautions, the page shows it.
    with db.transaction() as session:
        Records(session, clinic.actor).add(
            PainRating(
                patient_id=john,
                region="lumbar",
                side="midline",
                intensity=1,
                recall="now",
                rated_on=date(2026, 9, 1),
            )
        )
    caution = html.unescape(client.get(f"/patients/{john}").text)
    box = re.search(
        r'<div class="alert alert-warning caution" role="note">(.*?)</div>', caution, re.S
    )
    assert box is not None
    assert "Low back (lumbar): NPRS recall periods differ between visits" in _text(box.group(1))
    assert "now on 2026-09-01" in _text(box.group(1))


def test_john_in_the_demo_has_his_malignancy_screen_acknowledged(
    client: TestClient, demo: tuple[DemoClinic, str]
) -> None:
    _, john = demo
    demo_signed_in(client)
    listing = html.unescape(client.get("/patients").text)
    assert "Red flag (consider) acknowledged: Malignancy not excluded by history" in listing
    assert "Red flag (consider): Malignancy" not in listing
    overview = html.unescape(client.get(f"/patients/{john}").text)
    href = re.search(r'href="(/patients/[^"]+/assessments/[^"]+)"', overview)
    assert href is not None
    assessment = html.unescape(client.get(href.group(1)).text)
    assert (
        f"Acknowledged by <strong>Dr Demo (clinician)</strong> on 17 Nov 2025: {MALIGNANCY_SCREEN_NOTE}"
        in assessment
    )
    # The note is worded from his first visit's record: ESR and imaging.
    case = JOHN_CASE["findings"]
    esr = next(f["value"] for f in case if f["finding"] == "esr")
    kl = next(f["value"] for f in case if f["finding"] == "kellgren_lawrence_hip")
    assert f"ESR {esr} mm/h" in MALIGNANCY_SCREEN_NOTE
    assert f"Kellgren–Lawrence {kl}" in MALIGNANCY_SCREEN_NOTE and "MRI" in MALIGNANCY_SCREEN_NOTE


def test_the_visit_form_takes_the_function_test_limits_from_the_core(
    client: TestClient, world: World
) -> None:
    signed_in(client, world, "A")
    page = client.get(f"/patients/{world.clinics['A'].patients['own']}/visits/new").text
    for test in FUNCTION_UNITS:
        low, high, whole = function_limits(test)
        field = re.search(rf'<input [^>]*name="function\.{test}"[^>]*>', page)
        assert field is not None, test
        assert f'min="{low:g}"' in field.group(0) and f'max="{high:g}"' in field.group(0), test
        assert f'step="{"1" if whole else "any"}"' in field.group(0), test
    assert 'max="60"' not in page and 'max="5" ' not in page

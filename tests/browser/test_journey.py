"""John's whole journey through the pages, in Chromium: intake with the body pain map,
history, examination and imaging, the assessment, the plan (procedure and a regimen for
the weak muscles), four follow-up visits, the timeline and the PDF progress report."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from hipspine.clinical.vocabulary import Kind, Stage, findings
from tests.browser.conftest import ROOT, Server, sign_in

pytestmark = pytest.mark.browser
CASE = json.loads((ROOT / "examples" / "john.json").read_text())
SERIES = json.loads((ROOT / "examples" / "john-followup.json").read_text())
STAGE_PAGE = {
    Stage.HISTORY: "history",
    Stage.EXAM: "exam",
    Stage.LABS: "imaging",
    Stage.IMAGING: "imaging",
}
EXERCISES = [
    "Supine marching (hip flexion, neutral spine)",
    "Glute bridge",
    "Side-lying hip abduction",
    "Bird dog",
    "Dead bug",
    "Bird dog with multifidus focus",
]


def _fill_observation(page: Any, obs: dict[str, Any]) -> None:
    finding = findings()[obs["finding"]]
    if obs.get("level"):
        key = f"{obs['finding']}.*.{obs['level']}"
        if finding.lateral:
            page.locator(f'select[name="{key}.side"]').select_option(obs["side"])
    else:
        key = f"{obs['finding']}.{obs.get('side') or '-'}.-"
    if "value" in obs:
        page.locator(f'input[name="{key}.value"]').fill(f"{obs['value']:g}")
        if "of" in obs:
            page.locator(f'input[name="{key}.of"]').fill(str(obs["of"]))
    if "result" in obs:
        if finding.kind is Kind.PRESENCE:
            page.locator(f'input[name="{key}.result"][value="{obs["result"]}"]').check()
        else:
            page.locator(f'select[name="{key}.result"]').select_option(obs["result"])


def _shot(page: Any, artifacts: Path, name: str) -> None:
    # The sticky save bar goes back into the flow, so it covers nothing in a full-page shot.
    page.screenshot(
        path=str(artifacts / f"{name}.png"),
        full_page=True,
        style=".actions.sticky, .map-picker { position: static !important; }",
    )


def test_johns_journey_from_intake_to_eight_months(
    server: Server, laptop: Any, artifacts: Path
) -> None:
    page = laptop
    sign_in(page, server.url)
    page.get_by_role("link", name="New patient").first.click()

    # Intake: who, complaint, history, the pain map (clicked on the body), medication, goal.
    page.get_by_label("Full name").fill("John Journey")
    page.get_by_label("Record number").fill("JJ-1")
    page.get_by_label("Date of birth").fill("1967-03-01")
    page.get_by_label("Sex").select_option("male")
    page.get_by_label("Height (cm)").fill("180")
    page.get_by_label("Weight (kg)").fill("84")
    page.get_by_label("Visit date").fill(CASE["visit_date"])
    page.get_by_label("What brings the patient").fill(CASE["complaint"]["description"])
    page.get_by_label("Side assessed").select_option("right")
    page.get_by_label("Onset").fill(CASE["complaint"]["onset"])
    page.locator("#dx-0-condition").select_option("hip_osteoarthritis")
    page.locator("#dx-0-side").select_option("right")
    page.locator("#dx-0-since").fill("2024-11-01")
    for entry in CASE["pain_map"]:
        field = f"pain.{entry['region']}.{entry['side']}"
        page.locator(f'.region[data-field="{field}"]').first.click()
        box = page.locator(f'input[name="{field}"]')
        assert box.input_value() == "5"  # a tap marks the region at a middle intensity
        box.fill(str(entry["intensity"]))
    assert page.locator(".region.marked").count() >= 3
    med = CASE["medications"][0]
    page.locator("#med-0-name").fill(med["name"])
    page.locator("#med-0-dose").fill(med["dose"])
    page.locator("#med-0-pattern").select_option("as_needed")
    page.locator("#med-0-days").fill("3")
    page.locator("#med-0-indication").fill(med["indication"])
    page.locator("#med-0-since").fill(med["since"])
    page.locator("#goal-0-description").fill(CASE["goals"][0]["description"])
    page.locator("#goal-0-target").fill(CASE["goals"][0]["target_date"])
    page.locator("#goal-0-activity").fill("Hike with elevation gain")
    _shot(page, artifacts, "01-intake")
    page.get_by_role("button", name="Save and continue to history").click()
    page.wait_for_url("**/findings/history")

    # History and red flags, examination (with manual muscle testing), labs and imaging.
    for stage_page in ("history", "exam", "imaging"):
        for obs in CASE["findings"]:
            stage = findings()[obs["finding"]].stage
            if STAGE_PAGE.get(stage) == stage_page:
                _fill_observation(page, obs)
        if stage_page == "exam":
            for test in CASE["strength"]:
                sides = ["right", "left"] if test.get("side") == "bilateral" else [test.get("side")]
                for side in sides:
                    page.locator(
                        f'select[name="mmt.{test["muscle"]}.{side or "-"}"]'
                    ).select_option(test["mrc"])
            _shot(page, artifacts, "02-exam-form")
        if stage_page == "imaging":
            page.get_by_role("button", name="Save and assess").click()
        else:
            page.get_by_role("button", name="Save and continue").click()
            page.wait_for_url("**/findings/*")

    # The assessment: red flags first, the conclusion, evidence, next test, chain.
    page.wait_for_url("**/assessments/*")
    sections = page.locator("main section h2").all_inner_texts()
    assert sections[0] == "Red flags"
    assert "Hip and lumbar spine" in page.locator(".conclusion .headline").inner_text()
    assert "Offierski" in page.locator(".conclusion").inner_text()
    assert page.locator("#chain ~ ol li").count() >= 3
    assert "Iliopsoas" in page.locator("main").inner_text()
    assert page.locator("table.evidence").first.is_visible()
    _shot(page, artifacts, "03-assessment")

    # His age fires the malignancy screen (consider); his ESR and imaging answer it, so the
    # clinician acknowledges it with why. It stays on the assessment, marked, withdrawable.
    flag = page.locator("#flag-malignancy_screen")
    flag.get_by_label("Acknowledge: why this flag needs no further action now").fill(
        "ESR 12 mm/h; radiographs and MRI without signs of malignancy."
    )
    flag.get_by_role("button", name="Acknowledge").click()
    page.wait_for_url("**/assessments/*#flag-malignancy_screen")
    acknowledged = page.locator("#flag-malignancy_screen").inner_text()
    assert "Acknowledged by Dr Demo (clinician)" in acknowledged
    assert "without signs of malignancy" in acknowledged
    assert (
        page.locator("#flag-malignancy_screen").get_by_role("button", name="Withdraw").is_visible()
    )

    # The plan: the procedure of 8 December 2025 and a regimen for the weak muscles.
    page.get_by_role("link", name="Plan treatment").click()
    page.locator("#p-type").select_option("adipose_derived_cells")
    page.locator("#p-guidance").select_option("ultrasound")
    page.locator("#p-date").fill("2025-12-08")
    for i, (site, side, level) in enumerate(
        [
            ("hip_joint", "right", ""),
            ("facet", "bilateral", "L4-L5"),
            ("facet", "bilateral", "L5-S1"),
        ]
    ):
        page.locator(f"#t-{i}-site").select_option(site)
        page.locator(f"#t-{i}-side").select_option(side)
        if level:
            page.locator(f"#t-{i}-level").select_option(level)
    page.get_by_role("button", name="Add procedure").click()
    page.wait_for_url("**/plan?saved=procedure")
    targeted = page.locator('select[name$=".muscle"]').evaluate_all(
        "els => els.map(e => e.value).filter(Boolean)"
    )
    assert {"iliopsoas", "gluteus_maximus"} <= set(targeted)
    for i, name in enumerate(EXERCISES[: len(targeted)]):
        page.locator(f'input[name="ex.{i}.name"]').fill(name)
    page.locator("#r-start").fill("2025-12-15")
    page.get_by_role("button", name="Add regimen").click()
    page.wait_for_url("**/plan?saved=regimen")
    assert "Glute bridge" in page.locator("#current ~ div").inner_text()
    _shot(page, artifacts, "04-plan")

    # Baseline questionnaires, dynamometry, function and goal rating on the first visit's
    # day (recorded on that visit), then the follow-up visits to 8 months; ibuprofen goes
    # from 3 to 2 days a week at 6 weeks and to 1 at 3 months, changed on the plan.
    ibuprofen = {"2026-01-19": "2", "2026-03-09": "1"}
    for visit in SERIES["visits"]:
        page.get_by_role("link", name="Record visit").click()
        page.locator("#v-date").fill(visit["date"])
        page.locator("#v-label").fill(visit["label"])
        for form in visit["questionnaires"]:
            if "answers" not in form:
                continue  # HOOS was kept as subscale scores: not entered item by item
            page.locator(f"#q-{form['instrument']} summary").click()
            for item, answer in form["answers"].items():
                page.locator(f'select[name="q.{form["instrument"]}.{item}"]').select_option(
                    str(answer)
                )
        for i, reading in enumerate(visit.get("dynamometry", [])):
            row = f"dyn.{i}."
            for field in ("muscle", "side", "action", "position"):
                page.locator(f'select[name="{row}{field}"]').select_option(reading[field])
            page.locator(f'input[name="{row}force"]').fill(f"{reading['force']:g}")
            if reading.get("lever_arm_m"):
                page.locator(f'input[name="{row}lever_arm_m"]').fill(f"{reading['lever_arm_m']:g}")
        if visit["date"] != CASE["visit_date"]:
            for rating in visit["pain"]:
                page.locator(f'input[name="pain.{rating["region"]}.{rating["side"]}"]').fill(
                    str(rating["score"])
                )
            for test in visit.get("mmt", []):
                side = test.get("side") or ""
                sides = ["right", "left"] if side == "bilateral" else [side]
                for s in sides:
                    select = page.locator(f'select[name="mmt.{test["muscle"]}.{s}"]')
                    if select.count():
                        select.select_option(test["mrc"])
        function = visit["function"]
        page.locator("#f-6mw").fill(str(function["six_minute_walk_m"]))
        page.locator("#f-cs").fill(str(function["chair_stand_30s"]))
        page.locator("#f-gs").fill(str(function["gait_speed_m_s"]))
        level = visit["goal_ratings"]["hike"]
        page.locator(f'.gas input[value="{level}"]').check()
        if visit["date"] == "2026-08-10":
            _shot(page, artifacts, "05-visit-form")
        page.get_by_role("button", name="Save visit").click()
        page.wait_for_url("**/patients/*")
        if visit["date"] in ibuprofen:
            page.get_by_role("link", name="Plan", exact=True).click()
            change = page.locator("form.med-change").first
            change.locator('input[name="from"]').fill(visit["date"])
            change.locator('input[name="days_per_week"]').fill(ibuprofen[visit["date"]])
            change.get_by_role("button", name="Change ibuprofen").click()
            page.wait_for_url("**/plan?saved=medication")
            current = page.locator("#current ~ div").inner_text()
            assert f"{ibuprofen[visit['date']]} days/week" in current

    # The timeline: charts with the MCID crossing and the treatment, the summaries.
    page.goto(page.url.split("#")[0])
    text = page.locator("main").inner_text()
    assert "Your low back pain eased first" in text
    assert "Procedure 8 Dec 2025" in page.locator("#chart-pain svg").inner_html()
    assert "MCID" in page.locator("#chart-pain svg").inner_html()
    for chart in ("pain", "questionnaires", "strength", "function", "goals"):
        assert page.locator(f"#chart-{chart} svg").count() == 1, chart
    assert "ODI" in page.locator("#chart-questionnaires svg").inner_html()
    assert "Dynamometry" in page.locator("#chart-strength svg").inner_html()
    assert "went from 42 to 12" in text  # the ODI, scored from the answers entered
    assert "You now take ibuprofen about 1 day a week, down from 3" in text
    # One visit a day: the baseline measurements joined the first visit, which is the
    # schedule's baseline and the date the assessment speaks for.
    visits = page.locator("ol.visits").inner_text()
    assert visits.count("17 Nov 2025") == 1, visits
    assert "Baseline · 17 Nov 2025" in page.locator("ul.schedule").inner_text()
    assert "Visit of 17 Nov 2025" in page.locator("#assess ~ p.meta").first.inner_text()
    _shot(page, artifacts, "06-timeline")

    # The progress report as a PDF, looked at page by page.
    href = page.get_by_role("link", name="Progress report (PDF)").get_attribute("href")
    response = page.request.get(server.url + href)
    assert response.status == 200
    assert response.headers["content-type"] == "application/pdf"
    pdf = artifacts / "07-progress-report.pdf"
    pdf.write_bytes(response.body())
    assert pdf.read_bytes().startswith(b"%PDF")
    for old in artifacts.glob("07-progress-report-*.png"):
        old.unlink()
    subprocess.run(
        ["pdftoppm", "-r", "70", "-png", str(pdf), str(artifacts / "07-progress-report")],
        check=True,
    )
    _check_pdf_pages(pdf, sorted(artifacts.glob("07-progress-report-*.png")))


def _check_pdf_pages(pdf: Path, pngs: list[Path]) -> None:
    """Every page of the report, as rendered at 70 dpi: A4, printed on, none left half empty."""
    from PIL import Image

    info = subprocess.run(["pdfinfo", str(pdf)], check=True, capture_output=True, text=True)
    pages = int(next(line for line in info.stdout.splitlines() if line.startswith("Pages:"))[6:])
    assert 2 <= pages <= 6 and len(pngs) == pages, (pages, pngs)
    for number, png in enumerate(pngs, start=1):
        with Image.open(png) as image:
            grey = image.convert("L")
        assert abs(grey.width - 579) <= 1 and abs(grey.height - 819) <= 1, (png, grey.size)
        # The running footer sits in the bottom margin (18 mm of 297); the body is above it.
        body = grey.crop((0, 0, grey.width, grey.height * 279 // 297 - 4))
        ink = sum(body.histogram()[:200]) / (body.width * body.height)
        box = body.point(lambda v: 255 if v < 200 else 0).getbbox()
        assert box is not None and ink > 0.002, (png, ink)  # never a blank page
        if number < pages:  # words and charts down the page: only the last may end early
            assert ink > 0.02 and box[3] > 0.6 * grey.height, (png, ink, box)

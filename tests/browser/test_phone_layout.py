"""The clinician pages on a phone (390 × 844): nothing scrolls sideways, the body map's
targets are big enough to tap, the charts stay legible, and the PDF button says it is busy.
Screenshots go to ``test-artifacts/``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from hipspine.store.models import Encounter, StoredAssessment
from tests.browser.conftest import Server, sign_in

pytestmark = pytest.mark.browser
WIDTH, HEIGHT = 390, 844
MIN_TARGET = 24  # CSS px, WCAG 2.2 success criterion 2.5.8 (Target Size, Minimum)
UNSTICK = ".actions.sticky, .map-picker { position: static !important; }"


@pytest.fixture
def phone(browser: Any) -> Iterator[Any]:
    context = browser.new_context(
        viewport={"width": WIDTH, "height": HEIGHT},
        is_mobile=True,
        has_touch=True,
        locale="en-GB",
    )
    context.set_default_timeout(15000)
    page = context.new_page()
    yield page
    context.close()


def _pages(server: Server) -> dict[str, str]:
    john = server.john
    with server.db.transaction() as session:
        encounter = session.execute(
            select(Encounter.id).where(Encounter.patient_id == john, Encounter.kind == "intake")
        ).scalar_one()
        assessment = (
            session.execute(
                select(StoredAssessment.id)
                .where(StoredAssessment.patient_id == john)
                .order_by(StoredAssessment.created_at.desc())
            )
            .scalars()
            .first()
        )
    case = f"/patients/{john}/encounters/{encounter}/findings"
    return {
        "patients": "/patients",
        "intake": "/patients/new",
        "john": f"/patients/{john}",
        "assessment": f"/patients/{john}/assessments/{assessment}",
        "history": f"{case}/history",
        "exam": f"{case}/exam",
        "imaging": f"{case}/imaging",
        "plan": f"/patients/{john}/plan",
        "visit": f"/patients/{john}/visits/new",
        "dashboard": "/dashboard",
    }


def test_no_clinician_page_scrolls_sideways_on_a_phone(
    server: Server, phone: Any, artifacts: Path
) -> None:
    sign_in(phone, server.url)
    wide = {}
    for name, path in _pages(server).items():
        phone.goto(server.url + path)
        # A mobile browser widens its layout viewport to the widest content, so the page's
        # own scroll width is the measure: it must be the phone's width.
        width = phone.evaluate("document.documentElement.scrollWidth")
        if width > WIDTH:
            wide[name] = width
        phone.screenshot(
            path=str(artifacts / f"30-phone-{name}.png"), full_page=True, style=UNSTICK
        )
    assert wide == {}


def test_body_map_targets_are_big_enough_to_tap(
    server: Server, phone: Any, artifacts: Path
) -> None:
    sign_in(phone, server.url)
    phone.goto(f"{server.url}/patients/new")
    regions = phone.locator(".region")
    assert regions.count() >= 30
    small = []
    for i in range(regions.count()):
        region = regions.nth(i)
        region.scroll_into_view_if_needed()
        # The target is what a finger hits: a 24 × 24 px square about the target's centre
        # must land on this region everywhere (not on a neighbour drawn over it).
        found = region.evaluate(
            """(g, size) => {
                const r = g.querySelector('.hit').getBoundingClientRect();
                const cx = r.left + r.width / 2, cy = r.top + r.height / 2, h = size / 2 - 0.5;
                const misses = [];
                for (const dx of [-h, 0, h]) for (const dy of [-h, 0, h]) {
                  const hit = document.elementFromPoint(cx + dx, cy + dy);
                  if (!hit || hit.closest('.region') !== g) misses.push([dx, dy]);
                }
                return {w: r.width, h: r.height, misses: misses.length};
            }""",
            MIN_TARGET,
        )
        if found["w"] < MIN_TARGET or found["h"] < MIN_TARGET or found["misses"]:
            small.append((region.get_attribute("data-field"), found))
    assert small == []

    # Tap, then − and + set the number: no keyboard needed.
    phone.locator('.region[data-field="pain.thigh_medial.left"]').first.tap()
    picker = phone.get_by_role("group", name="Pain in the chosen place")
    for _ in range(3):
        picker.get_by_role("button", name="More pain").tap()
    assert phone.locator('input[name="pain.thigh_medial.left"]').input_value() == "8"
    picker.get_by_role("button", name="Remove this place").tap()
    assert phone.locator('input[name="pain.thigh_medial.left"]').input_value() == ""
    phone.locator('.region[data-field="pain.sacroiliac.right"]').first.tap()
    phone.screenshot(path=str(artifacts / "31-phone-body-map.png"))


def test_charts_stay_legible_on_a_phone(server: Server, phone: Any, artifacts: Path) -> None:
    sign_in(phone, server.url)
    phone.goto(f"{server.url}/patients/{server.john}")
    charts = phone.evaluate(
        """() => [...document.querySelectorAll('.chart .svg svg, .reference-bands svg')].map(s => {
            const scale = s.getBoundingClientRect().width / s.width.baseVal.value;
            const sizes = [...s.querySelectorAll('text')]
                .map(t => parseFloat(getComputedStyle(t).fontSize)).filter(x => x > 0);
            const box = s.parentElement;
            return {id: s.closest('figure').id, scale, smallest: Math.min(...sizes) * scale,
                    wide: s.classList.contains('chart-wide'),
                    scrolls: box.scrollWidth > box.clientWidth};
        })"""
    )
    assert {c["id"] for c in charts} >= {"chart-pain", "chart-questionnaires", "chart-strength"}
    for chart in charts:
        # Drawn for a phone: at least 8 px text (it was about 5 before charts were narrow);
        # a chart drawn wider keeps its size and scrolls in its own box.
        assert chart["smallest"] >= 8, chart
        assert not chart["wide"] or chart["scrolls"], chart
    phone.locator("#chart-pain").scroll_into_view_if_needed()
    phone.screenshot(path=str(artifacts / "32-phone-chart-pain.png"))


def test_pdf_button_says_it_is_busy(server: Server, laptop: Any) -> None:
    sign_in(laptop, server.url)
    laptop.goto(f"{server.url}/patients/{server.john}")
    laptop.route("**/report.pdf", lambda route: route.abort())  # the PDF is not needed here
    button = laptop.get_by_role("link", name="Progress report (PDF)")
    assert button.get_attribute("aria-busy") is None
    # The state right after the click, before the browser leaves for the PDF (2–4 s later
    # in real life): the button itself says the PDF is on its way.
    busy, text = button.evaluate(
        "a => { a.click(); return [a.getAttribute('aria-busy'), a.textContent]; }"
    )
    assert busy == "true" and text == "Preparing the PDF…"

"""The clinic dashboard in Chromium, in a world like the demo (John and 300 synthetic
patients in his clinic): filters, the charts, John on the clinic's reference bands, and
another clinic that sees none of it. Screenshots go to ``test-artifacts/``."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import OTHER_EMAIL, Server, running, sign_in

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def demo_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running(tmp_path_factory.mktemp("demo-like"), cohort=300) as found:
        yield found


def _count(page: Any) -> int:
    text = page.locator(".cr-count strong").inner_text()
    return int(text.replace(",", ""))


def test_dashboard_in_the_demo_world(demo_world: Server, laptop: Any, artifacts: Path) -> None:
    sign_in(laptop, demo_world.url)
    laptop.get_by_role("navigation", name="Main").get_by_role("link", name="Outcomes").click()
    laptop.wait_for_url("**/dashboard")
    assert laptop.get_by_role("heading", name="Clinic outcomes").is_visible()
    assert _count(laptop) == 301  # John and the synthetic cohort
    assert laptop.locator("#cr-responders svg").is_visible()
    assert laptop.locator("#cr-improvement_lumbar svg").is_visible()
    laptop.screenshot(path=str(artifacts / "20-dashboard.png"), full_page=True)

    start = time.perf_counter()
    laptop.reload()
    laptop.locator(".cr-count").wait_for()
    assert time.perf_counter() - start < 1.0  # cached after the first load

    laptop.get_by_label("Condition").select_option("hip_oa")
    laptop.get_by_label("Age from").fill("50")
    laptop.get_by_label("to", exact=True).fill("75")
    laptop.get_by_role("button", name="Show").click()
    laptop.wait_for_url(re.compile(r".*condition=hip_oa.*"))
    assert 0 < _count(laptop) < 301
    assert "condition hip osteoarthritis" in laptop.locator(".cr-count").inner_text()
    laptop.screenshot(path=str(artifacts / "21-dashboard-filtered.png"), full_page=True)

    laptop.goto(f"{demo_world.url}/patients/{demo_world.john}")
    figure = laptop.locator("#reference-nprs-lumbar")
    figure.scroll_into_view_if_needed()
    assert figure.locator("svg").is_visible()
    # The words under the chart speak of the point drawn filled: John's latest rating that
    # was compared with the clinic's; later ones, in weeks with too few ratings, are hollow.
    for measure in ("lumbar", "groin"):
        shown = laptop.locator(f"#reference-nprs-{measure}")
        points = shown.locator('svg path[aria-roledescription="point"]').evaluate_all(
            """ps => ps.map(p => [p.getAttribute('aria-label'), p.getAttribute('fill')])
                      .filter(([label]) => label.includes('percentile'))"""
        )
        compared = [
            float(re.search(r"week: ([\d.]+)", label).group(1))  # type: ignore[union-attr]
            for label, fill in points
            if fill != "white"
        ]
        caption = shown.locator("figcaption").inner_text()
        assert compared and "percentile: null" not in " ".join(
            label for label, fill in points if fill != "white"
        )
        assert f"week {max(compared):g}:" in caption, (caption, points)
    figure.locator("..").screenshot(path=str(artifacts / "22-john-reference-bands.png"))


def test_dashboard_on_a_phone(demo_world: Server, browser: Any, artifacts: Path) -> None:
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True, locale="en-GB"
    )
    context.set_default_timeout(15000)
    phone = context.new_page()
    sign_in(phone, demo_world.url)
    phone.goto(f"{demo_world.url}/dashboard")
    # The tables and the wide charts of a full registry scroll in their own boxes; the page
    # itself never scrolls sideways (it was 956 px wide).
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    boxes = phone.evaluate(
        """() => [...document.querySelectorAll('.table-scroll, .cr-svg')]
            .filter(b => b.scrollWidth > b.clientWidth).map(b => b.tabIndex)"""
    )
    assert boxes and all(i == 0 for i in boxes)  # each scrolling box is keyboard-reachable
    phone.screenshot(
        path=str(artifacts / "23-dashboard-phone.png"),
        full_page=True,
        style=".actions.sticky { position: static !important; }",
    )
    phone.goto(f"{demo_world.url}/patients/{demo_world.john}")
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    context.close()


def test_another_clinic_sees_none_of_it(demo_world: Server, laptop: Any) -> None:
    sign_in(laptop, demo_world.url, email=OTHER_EMAIL)
    laptop.goto(f"{demo_world.url}/dashboard")
    assert _count(laptop) == 0
    assert laptop.get_by_text("No patients in the registry yet.").is_visible()

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
    figure.locator("..").screenshot(path=str(artifacts / "22-john-reference-bands.png"))


def test_another_clinic_sees_none_of_it(demo_world: Server, laptop: Any) -> None:
    sign_in(laptop, demo_world.url, email=OTHER_EMAIL)
    laptop.goto(f"{demo_world.url}/dashboard")
    assert _count(laptop) == 0
    assert laptop.get_by_text("No patients in the registry yet.").is_visible()

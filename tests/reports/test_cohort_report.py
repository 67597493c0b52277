"""The cohort report as HTML and PDF, from the registry report's plain data."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from tests.support.postgres import unavailable

from hipspine.analytics import synth
from hipspine.analytics.cohort import Cohort
from hipspine.analytics.report import registry_report
from hipspine.reports import charts
from hipspine.reports.cohort import cohort_body, cohort_report_files, describe_filters


@pytest.fixture(scope="module")
def data() -> dict[str, object]:
    return registry_report(synth.registry(400, seed=5)).data


def test_html_and_pdf_carry_every_part_of_the_report(data: dict, tmp_path: Path) -> None:
    html, pdf = cohort_report_files(data, tmp_path)
    assert (html, pdf) == (tmp_path / "cohort-report.html", tmp_path / "cohort-report.pdf")
    page = html.read_text()
    assert page.count("<svg") >= 7  # responders, 2 × KM, 2 × means, 2 × bands
    assert "week_6" not in page  # time points in words
    assert pdf.read_bytes().startswith(b"%PDF")
    if shutil.which("pdftotext") is None:
        unavailable("poppler-utils (pdftotext) is not installed")
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, check=True
    ).stdout.decode()
    for part in (
        "Registry report",
        "Responders at each time point",
        "Time to first clinically important improvement",
        "Mean trajectories",
        "Recovery reference bands",
        "Follow-up completeness",
        "400 patients",
    ):
        assert part in text, part
    # a number from the data appears as printed: the all-treatments low back median
    lumbar = next(
        r
        for r in data["time_to_improvement"]
        if r["treatment"] == "all" and r["region"] == "lumbar"
    )
    if lumbar["median_weeks"] is not None:
        assert f"{lumbar['median_weeks']:.1f}" in text


def test_paths_can_be_given_one_by_one(data: dict, tmp_path: Path) -> None:
    html, pdf = cohort_report_files(data, html=tmp_path / "a" / "r.html", pdf=tmp_path / "b.pdf")
    assert html.exists() and pdf.exists()
    with pytest.raises(ValueError, match="out_dir"):
        cohort_report_files(data, html=tmp_path / "only.html")


def test_filters_in_words_and_an_empty_cohort() -> None:
    assert describe_filters({}) == "everyone in the registry"
    assert (
        describe_filters({"condition": ["hip_oa"], "age_min": 50})
        == "condition hip osteoarthritis; age ≥ 50"
    )
    registry = synth.registry(60, seed=6)
    small = registry_report(registry, Cohort(condition=("hip_oa",))).data
    body = cohort_body(small)
    assert "condition hip osteoarthritis" in body


def test_chart_rows_follow_the_data(data: dict) -> None:
    rows = charts.responder_rows(data)
    assert rows and all(0 <= r["ci_low"] <= r["rate"] <= r["ci_high"] <= 1 for r in rows)
    steps = charts.improvement_rows(data, "lumbar")
    assert steps[0]["week"] == 0 and steps[0]["improved"] == 0
    assert charts.band_rows_of(data, "nprs:lumbar")

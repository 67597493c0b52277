"""The cohort report: the registry report (:func:`hipspine.analytics.report.registry_report`)
as an HTML page and a PDF, and the same body for the clinic dashboard.

Every chart is one spec from :mod:`hipspine.reports.charts` (rendered to SVG on the server),
every chart has its numbers in a table beside it, and every number comes from the report's
plain data — nothing here computes a statistic. :func:`cohort_body` is shared by the
standalone report (:func:`cohort_report_html`, :func:`cohort_report_pdf`) and the web
dashboard, so the two always show the same thing.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from hipspine.reports import charts
from hipspine.reports.wording import turnbull_weeks

_ENV = Environment(
    loader=FileSystemLoader(Path(__file__).resolve().parent / "templates"),
    autoescape=select_autoescape(["html"]),
)
PAIN = ("nprs:lumbar", "nprs:groin")
QUESTIONNAIRES = ("odi", "hoos:pain", "hoos:adl", "lefs")
FILTER_LABELS = {
    "condition": "condition",
    "side": "side",
    "treatment": "treatment",
    "target": "injection target",
    "baseline_pain_min": "baseline pain ≥",
    "baseline_pain_max": "baseline pain ≤",
    "kl_grade": "KL grade",
    "age_min": "age ≥",
    "age_max": "age ≤",
    "sex": "sex",
    "clinic": "clinic",
    "treated_from": "treated from",
    "treated_to": "treated to",
}


CONDITION_LABELS = {
    "hip_oa": "hip osteoarthritis",
    "lumbar_facet": "lumbar facet arthropathy",
    "both": "hip and lumbar facets",
    "other": "other",
}


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.0f}%"


def _num(x: float | None, digits: int = 1) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


_ENV.filters["pct"] = _pct
_ENV.filters["num"] = _num
_ENV.filters["words"] = lambda v: "" if v is None else str(v).replace("_", " ")
_ENV.filters["treatment"] = charts.treatment_label
_ENV.filters["turnbull_weeks"] = turnbull_weeks


def body_css() -> str:
    """The body's own stylesheet (the dashboard inlines it; the report embeds it)."""
    return (Path(__file__).resolve().parent / "templates" / "cohort_body.css").read_text()


def describe_filters(filters: dict[str, Any]) -> str:
    """The cohort's filters in words ("everyone" when none is set)."""
    if not filters:
        return "everyone in the registry"
    parts = []
    for key, value in filters.items():
        values = value if isinstance(value, list) else [value]
        words = CONDITION_LABELS if key == "condition" else charts.TREATMENT_LABELS
        shown = " or ".join(
            words.get(v, str(v).replace("_", " ")) if isinstance(v, str) else str(v) for v in values
        )
        parts.append(f"{FILTER_LABELS.get(key, key)} {shown}")
    return "; ".join(parts)


def responder_table(data: dict[str, Any], treatment: str = "all") -> dict[str, Any]:
    """Responder rates as a grid: one row per measure, one column per follow-up time point."""
    points = [t for t in data["time_points"][1:]]
    labels = {m["key"]: m["label"] for m in data["measures"]}
    cells: dict[str, dict[str, dict[str, Any]]] = {}
    for r in data["responders"]:
        if r["treatment"] == treatment:
            cells.setdefault(r["measure"], {})[r["time_point"]] = r
    used = [t for t in points if any(t["id"] in row for row in cells.values())]
    return {
        "columns": [t["label"] for t in used],
        "rows": [
            {"measure": labels[m], "cells": [row.get(t["id"]) for t in used]}
            for m, row in cells.items()
        ],
    }


def mean_table(data: dict[str, Any], measures: tuple[str, ...]) -> dict[str, Any]:
    """Mean scores (95% CI, n) as a grid: one row per measure, one column per time point."""
    labels = {m["key"]: m["label"] for m in data["measures"]}
    cells: dict[str, dict[str, dict[str, Any]]] = {}
    for r in data["trajectories"]:
        if r["measure"] in measures:
            cells.setdefault(r["measure"], {})[r["time_point"]] = r
    used = [t for t in data["time_points"] if any(t["id"] in row for row in cells.values())]
    return {
        "columns": [t["label"] for t in used],
        "rows": [
            {"measure": labels[m], "cells": [cells[m].get(t["id"]) for t in used]}
            for m in measures
            if m in cells
        ],
    }


def band_table(data: dict[str, Any], measure: str) -> list[dict[str, Any]]:
    """The reference-band rows of one measure (week, n, percentiles)."""
    return charts.band_rows_of(data, measure)


def cohort_charts(data: dict[str, Any]) -> dict[str, str]:
    """Every chart of the cohort report that has data, as SVG, by name."""
    specs: dict[str, Any] = {}
    if charts.responder_rows(data):
        specs["responders"] = charts.responder_spec(data)
    for region in ("lumbar", "groin"):
        if charts.improvement_rows(data, region):
            specs[f"improvement_{region}"] = charts.improvement_spec(data, region)
    if charts.mean_rows(data, PAIN):
        specs["mean_pain"] = charts.mean_spec(data, PAIN, "Mean pain", "Pain (NPRS 0–10)", 10)
    if charts.mean_rows(data, QUESTIONNAIRES):
        specs["mean_questionnaires"] = charts.mean_spec(
            data, QUESTIONNAIRES, "Mean questionnaire scores", "Score (0–100)", 100
        )
    for measure in PAIN:
        rows = charts.band_rows_of(data, measure)
        if len(rows) >= 2:
            label = charts.REGION_LABELS[measure.split(":")[1]]
            specs[f"bands_{measure}"] = charts.reference_spec(
                rows, f"{label}: recovery reference bands", "Pain (NPRS 0–10)", 10
            )
    return {name: charts.svg(spec) for name, spec in specs.items()}


def statements(data: dict[str, Any]) -> list[str]:
    """The report's plain-language statements, with time points named as clinicians say them."""
    out = []
    for sentence in data["statements"]:
        for t in data["time_points"]:
            sentence = sentence.replace(f"{t['id']} ", f"{t['label']} ")
        out.append(sentence)
    return out


def cohort_body(data: dict[str, Any], svgs: dict[str, str] | None = None) -> str:
    """The report's body as an HTML fragment (shared by the report and the dashboard)."""
    labels = {m["key"]: m["label"] for m in data["measures"]}
    points = {t["id"]: t["label"] for t in data["time_points"]}
    return _ENV.get_template("cohort_body.html").render(
        data=data,
        statements=statements(data),
        charts=(cohort_charts(data) if data["cohort"]["patients"] else {})
        if svgs is None
        else svgs,
        responders=responder_table(data),
        treatments=sorted({r["treatment"] for r in data["responders"]} - {"all"}),
        pain_means=mean_table(data, PAIN),
        questionnaire_means=mean_table(data, QUESTIONNAIRES),
        bands={m: band_table(data, m) for m in PAIN},
        labels=labels,
        points=points,
        region_labels=charts.REGION_LABELS,
        filters=describe_filters(data["cohort"]["filters"]),
    )


def cohort_report_html(data: dict[str, Any], title: str = "Registry report") -> str:
    """The cohort report as a standalone HTML document (own CSS, inline SVG charts)."""
    return _ENV.get_template("cohort.html").render(
        title=title,
        data=data,
        body=cohort_body(data),
        filters=describe_filters(data["cohort"]["filters"]),
        made=dt.date.today(),
    )


def cohort_report_pdf(data: dict[str, Any], title: str = "Registry report") -> bytes:
    """The cohort report as PDF bytes (WeasyPrint, from :func:`cohort_report_html`)."""
    from weasyprint import HTML  # type: ignore[import-untyped]

    pdf: bytes = HTML(string=cohort_report_html(data, title)).write_pdf()
    return pdf


def cohort_report_files(
    data: dict[str, Any],
    out_dir: Path | None = None,
    *,
    html: Path | None = None,
    pdf: Path | None = None,
) -> tuple[Path, Path]:
    """Write the report as HTML and PDF; returns (html_path, pdf_path).

    Paths default to ``out_dir/cohort-report.html`` and ``out_dir/cohort-report.pdf``.
    """
    if out_dir is None and (html is None or pdf is None):
        raise ValueError("give out_dir, or both html and pdf paths")
    html = html or Path(out_dir or ".") / "cohort-report.html"
    pdf = pdf or Path(out_dir or ".") / "cohort-report.pdf"
    text = cohort_report_html(data)
    for path in (html, pdf):
        path.parent.mkdir(parents=True, exist_ok=True)
    html.write_text(text, encoding="utf-8")
    from weasyprint import HTML

    pdf.write_bytes(HTML(string=text).write_pdf())
    return html, pdf

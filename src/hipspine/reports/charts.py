"""The progress charts: one Vega-Lite spec per chart, for the web page and the PDF alike.

Each ``*_spec`` function builds the chart with Altair from the core's
:class:`~hipspine.clinical.trajectory.Trajectory` and returns the Vega-Lite JSON; ``svg``
renders a spec to SVG on the server with vl-convert (no browser, no network: fonts come
from the machine). The page inlines the SVG; the PDF embeds the same SVG.

Every chart also has a plain table (``*_rows``) so a screen-reader user, or a clinician
who wants the numbers, gets the same data as text.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import altair as alt
import vl_convert

from hipspine.clinical.mmt import MRC_GRADES, MRCGrade
from hipspine.clinical.trajectory import Trajectory

FONT = "DejaVu Sans"
WIDTH = 560
PALETTE = ["#1f6f8b", "#d1495b", "#e8a33d", "#3a7d44", "#6c4f9e", "#8a6d3b", "#00798c"]


@dataclass(frozen=True)
class Event:
    """A dated treatment drawn on every time chart (procedure, start of therapy)."""

    date: dt.date
    label: str


def _data(values: list[dict[str, Any]]) -> Any:
    return alt.Data(values=values)  # type: ignore[no-untyped-call]


def events_of(t: Trajectory, extra: tuple[Event, ...] = ()) -> tuple[Event, ...]:
    """The procedures of the trajectory (one line per date) and any extra events."""
    by_date: dict[dt.date, str] = {}
    for p in t.procedures:
        by_date.setdefault(p.date, "Procedure")
    for e in extra:
        by_date.setdefault(e.date, e.label)
    return tuple(Event(d, label) for d, label in sorted(by_date.items()))


def _base(title: str, subtitle: str = "") -> dict[str, Any]:
    return {"text": title, "subtitle": subtitle} if subtitle else {"text": title}


def _config(chart: alt.TopLevelMixin) -> dict[str, Any]:
    spec: dict[str, Any] = (
        chart.configure(font=FONT, background="white")
        .configure_view(stroke=None)
        .configure_axis(
            labelFontSize=11, titleFontSize=11, gridColor="#e6e9ee", domainColor="#9aa3ad"
        )
        .configure_legend(
            orient="bottom", labelFontSize=11, titleFontSize=11, symbolSize=80, labelLimit=320
        )
        .configure_title(fontSize=14, anchor="start", subtitleFontSize=11, subtitleColor="#5b6670")
        .to_dict()
    )
    return spec


def _event_layers(events: tuple[Event, ...], height: int) -> list[alt.Chart]:
    if not events:
        return []
    # Events within three weeks of each other share one label, so labels never overlap.
    values: list[dict[str, str]] = []
    for e in events:
        text = f"{e.label} {e.date:%-d %b %Y}"
        last = next((v for v in reversed(values) if v["label"]), None)
        if last is not None and (e.date - dt.date.fromisoformat(last["date"])).days < 21:
            last["label"] += f" · {e.label} {e.date:%-d %b}"
            text = ""
        values.append({"date": e.date.isoformat(), "label": text})
    data = _data(values)
    rule = (
        alt.Chart(data)
        .mark_rule(strokeDash=[5, 4], color="#5b6670", strokeWidth=1.5)
        .encode(x="date:T")
    )
    text = (
        alt.Chart(data)
        .mark_text(align="left", baseline="top", dx=4, dy=2, fontSize=10, color="#3b4650")
        .encode(x="date:T", y=alt.value(0), text="label:N")
    )
    return [rule, text]


def pain_rows(t: Trajectory) -> list[dict[str, Any]]:
    """One row per region and visit: NPRS value, change status, first important improvement."""
    firsts = {f.key: f.date for f in t.first_improvements}
    rows = []
    for m in t.pain:
        for p in m.points:
            if p.value is None:
                continue
            rows.append(
                {
                    "date": p.date.isoformat(),
                    "region": m.label,
                    "value": p.value,
                    "status": p.status,
                    "important": p.status == "clinically important improvement",
                    "first": firsts.get(m.key) == p.date,
                }
            )
    return rows


def pain_spec(t: Trajectory, events: tuple[Event, ...] = ()) -> dict[str, Any]:
    """Pain (NPRS 0–10) per region over time; treatment dates drawn, and the visit at which
    each region first reached a clinically important improvement (MCID) marked ◆."""
    rows = pain_rows(t)
    data = _data(rows)
    x = alt.X("date:T", title=None, axis=alt.Axis(format="%b %Y", tickCount=6))
    y = alt.Y("value:Q", title="Pain (NPRS 0–10)", scale=alt.Scale(domain=[0, 10]))
    color = alt.Color(
        "region:N", title="Region", scale=alt.Scale(range=PALETTE), legend=alt.Legend(columns=2)
    )
    line = alt.Chart(data).mark_line(strokeWidth=2.5).encode(x=x, y=y, color=color)
    points = (
        alt.Chart(data)
        .mark_point(filled=True, size=60)
        .encode(
            x=x,
            y=y,
            color=color,
            tooltip=["region:N", "date:T", "value:Q", "status:N"],
        )
    )
    first = (
        alt.Chart(data)
        .transform_filter("datum.first")
        .mark_point(shape="diamond", size=260, filled=False, strokeWidth=2.5)
        .encode(x=x, y=y, color=color)
    )
    first_label = (
        alt.Chart(data)
        .transform_filter("datum.first")
        .mark_text(dy=-14, fontSize=10, fontWeight="bold")
        .encode(x=x, y=y, color=color, text=alt.value("MCID"))
    )
    height = 230
    chart = alt.layer(*_event_layers(events, height), line, points, first, first_label).properties(
        width=WIDTH,
        height=height,
        title=_base(
            "Pain by region",
            "◆ MCID = first visit with a clinically important improvement · dashed = treatment",
        ),
    )
    return _config(chart)


def questionnaire_rows(t: Trajectory) -> list[dict[str, Any]]:
    """One row per questionnaire score (0–100 scales) and visit."""
    rows = []
    for m in t.questionnaires:
        if m.instrument_id == "psfs":
            continue
        better = "higher is better" if m.direction.name == "HIGHER_IS_BETTER" else "lower is better"
        for p in m.points:
            if p.value is None:
                continue
            rows.append(
                {
                    "date": p.date.isoformat(),
                    "measure": f"{m.label} ({better})",
                    "value": p.value,
                    "status": p.status,
                    "important": p.status == "clinically important improvement",
                }
            )
    return rows


def questionnaire_spec(t: Trajectory, events: tuple[Event, ...] = ()) -> dict[str, Any]:
    """Questionnaire scores on 0–100 scales (ODI, HOOS subscales, LEFS …) over time;
    filled points are visits with a clinically important improvement."""
    data = _data(questionnaire_rows(t))
    x = alt.X("date:T", title=None, axis=alt.Axis(format="%b %Y", tickCount=6))
    y = alt.Y("value:Q", title="Score (0–100)", scale=alt.Scale(domain=[0, 100]))
    color = alt.Color(
        "measure:N", title=None, scale=alt.Scale(range=PALETTE), legend=alt.Legend(columns=2)
    )
    line = alt.Chart(data).mark_line(strokeWidth=2).encode(x=x, y=y, color=color)
    points = (
        alt.Chart(data)
        .mark_point(size=55, strokeWidth=2)
        .encode(
            x=x,
            y=y,
            color=color,
            fill=alt.condition(
                "datum.important",
                alt.Color("measure:N", scale=alt.Scale(range=PALETTE), legend=None),
                alt.value("white"),
            ),
            tooltip=["measure:N", "date:T", "value:Q", "status:N"],
        )
    )
    chart = alt.layer(*_event_layers(events, 230), line, points).properties(
        width=WIDTH,
        height=230,
        title=_base(
            "Questionnaires", "filled point = clinically important improvement from baseline"
        ),
    )
    return _config(chart)


def strength_rows(t: Trajectory) -> list[dict[str, Any]]:
    """One row per muscle, side and visit: the MRC grade and its rank on the ordinal scale."""
    rows = []
    for m in t.strength:
        side = f" ({m.side})" if m.side else ""
        for day, grade in m.grades:
            if grade is None:
                continue
            rows.append(
                {
                    "date": day.isoformat(),
                    "muscle": f"{m.label}{side}",
                    "grade": grade,
                    "rank": MRCGrade.parse(grade).rank,
                }
            )
    return rows


def strength_spec(t: Trajectory, events: tuple[Event, ...] = ()) -> dict[str, Any]:
    """Manual muscle testing per muscle and side at each visit: the MRC grade written in a
    cell shaded by its rank on the ordinal scale (darker = stronger)."""
    rows = strength_rows(t)
    data = _data(rows)
    muscles_seen = sorted({r["muscle"] for r in rows})
    x = alt.X(
        "date:O",
        title=None,
        axis=alt.Axis(labelAngle=0, labelExpr="timeFormat(toDate(datum.value), '%-d %b %Y')"),
    )
    y = alt.Y("muscle:N", title=None, sort=muscles_seen, axis=alt.Axis(labelLimit=260))
    cells = (
        alt.Chart(data)
        .mark_rect(stroke="white", strokeWidth=2)
        .encode(
            x=x,
            y=y,
            color=alt.Color(
                "rank:Q",
                title="MRC grade",
                scale=alt.Scale(domain=[6, len(MRC_GRADES) - 1], scheme="blues"),
                legend=None,
            ),
            tooltip=["muscle:N", "date:T", "grade:N"],
        )
    )
    text = (
        alt.Chart(data)
        .mark_text(fontSize=12, fontWeight="bold")
        .encode(
            x=x,
            y=y,
            text="grade:N",
            color=alt.condition("datum.rank >= 9", alt.value("white"), alt.value("#1d2730")),
        )
    )
    chart = alt.layer(cells, text).properties(
        width=WIDTH - 160,
        height=max(60, 26 * len(muscles_seen)),
        title=_base(
            "Strength (manual muscle testing)",
            "MRC grade per visit; ordinal: 4- < 4 < 4+ < 5 (5 = normal power)",
        ),
    )
    return _config(chart)


def function_rows(t: Trajectory) -> list[dict[str, Any]]:
    """One row per function test and visit, with its unit and norm comparison."""
    rows = []
    for f in t.function:
        for day, value, note in f.values:
            if value is None:
                continue
            rows.append(
                {
                    "date": day.isoformat(),
                    "test": f"{f.label} ({f.unit})",
                    "value": value,
                    "note": note,
                }
            )
    return rows


def function_spec(t: Trajectory, events: tuple[Event, ...] = ()) -> dict[str, Any]:
    """Function tests (six-minute walk, chair stand, gait speed), one panel per test."""
    data = _data(function_rows(t))
    x = alt.X("date:T", title=None, axis=alt.Axis(format="%b %y", tickCount=4))
    base = alt.Chart().encode(
        x=x,
        y=alt.Y("value:Q", title=None, scale=alt.Scale(zero=False)),
        tooltip=["test:N", "date:T", "value:Q", "note:N"],
    )
    layer = alt.layer(
        base.mark_line(color=PALETTE[0], strokeWidth=2),
        base.mark_point(color=PALETTE[0], filled=True, size=45),
    ).properties(width=WIDTH // 3 - 30, height=150)
    chart = layer.facet(
        column=alt.Column("test:N", title=None, header=alt.Header(labelFontSize=11)),
        data=data,
        title=_base("Function tests", "one panel per test, each on its own scale"),
    ).resolve_scale(y="independent")
    return _config(chart)


def goal_rows(t: Trajectory) -> list[dict[str, Any]]:
    """One row per goal and rating: Goal Attainment Scaling level −2 … +2."""
    rows = []
    for g in t.goals:
        for day, level in g.gas:
            if level is None:
                continue
            rows.append({"date": day.isoformat(), "goal": g.description, "level": level})
    return rows


def goal_spec(t: Trajectory, events: tuple[Event, ...] = ()) -> dict[str, Any]:
    """Goal attainment (GAS −2 … +2; 0 = the expected outcome) over time, with target dates."""
    data = _data(goal_rows(t))
    targets = _data(
        values=[
            {"date": g.target_date.isoformat(), "label": f"Target {g.target_date:%-d %b %Y}"}
            for g in t.goals
        ]
    )
    target_rule = (
        alt.Chart(targets)
        .mark_rule(color="#3a7d44", strokeDash=[2, 3], strokeWidth=2)
        .encode(x="date:T")
    )
    target_text = (
        alt.Chart(targets)
        .mark_text(align="right", baseline="top", dx=-4, dy=2, fontSize=10, color="#3a7d44")
        .encode(x="date:T", y=alt.value(0), text="label:N")
    )
    x = alt.X("date:T", title=None, axis=alt.Axis(format="%b %Y", tickCount=6))
    y = alt.Y(
        "level:Q",
        title="Goal attainment (GAS)",
        scale=alt.Scale(domain=[-2, 2]),
        axis=alt.Axis(values=[-2, -1, 0, 1, 2]),
    )
    expected = (
        alt.Chart(_data([{"y": 0}])).mark_rule(color="#3a7d44", strokeWidth=1.5).encode(y="y:Q")
    )
    line = alt.Chart(data).mark_line(strokeWidth=2.5, color=PALETTE[3]).encode(x=x, y=y)
    points = (
        alt.Chart(data)
        .mark_point(filled=True, size=60, color=PALETTE[3])
        .encode(x=x, y=y, tooltip=["goal:N", "date:T", "level:Q"])
    )
    chart = alt.layer(
        *_event_layers(events, 170), target_rule, target_text, expected, line, points
    ).properties(
        width=WIDTH,
        height=170,
        title=_base(
            "Goal progress", "0 = expected outcome (green line); +2 much better, −2 much less"
        ),
    )
    return _config(chart)


def svg(spec: dict[str, Any]) -> str:
    """The chart as an SVG document (rendered on the server, no browser).

    Rendering is deterministic, so SVGs are cached by spec: a page viewed again, or its
    PDF, does not render the same chart twice.
    """
    return _svg(json.dumps(spec, sort_keys=True))


@lru_cache(maxsize=256)
def _svg(spec_json: str) -> str:
    text: str = vl_convert.vegalite_to_svg(json.loads(spec_json))
    return text


CHARTS = {
    "pain": (pain_spec, pain_rows),
    "questionnaires": (questionnaire_spec, questionnaire_rows),
    "strength": (strength_spec, strength_rows),
    "function": (function_spec, function_rows),
    "goals": (goal_spec, goal_rows),
}


def all_charts(t: Trajectory, events: tuple[Event, ...] = ()) -> dict[str, str]:
    """Every chart that has data, as SVG, by name (pain, questionnaires, strength …)."""
    out = {}
    for name, (spec, rows) in CHARTS.items():
        if rows(t):
            out[name] = svg(spec(t, events))
    return out


# -- the registry (cohort report, clinic dashboard, a patient against the clinic) ---------

REGION_LABELS = {"lumbar": "Low back pain", "groin": "Hip / groin pain"}
RESPONDER_MEASURES = ("nprs:lumbar", "nprs:groin", "odi", "hoos:pain", "lefs")


def _labels(data: dict[str, Any], kind: str) -> dict[str, str]:
    return {row.get("id", row.get("key")): row["label"] for row in data[kind]}


def responder_rows(data: dict[str, Any], treatment: str = "all") -> list[dict[str, Any]]:
    """Responder rate with its Wilson 95% interval per time point and measure (one treatment)."""
    points, measures = _labels(data, "time_points"), _labels(data, "measures")
    return [
        {
            "time_point": points[r["time_point"]],
            "measure": measures[r["measure"]],
            "rate": r["rate"],
            "ci_low": r["ci_low"],
            "ci_high": r["ci_high"],
            "followed": r["followed"],
            "due": r["due"],
        }
        for r in data["responders"]
        if r["treatment"] == treatment
        and r["measure"] in RESPONDER_MEASURES
        and r["rate"] is not None
    ]


def responder_spec(data: dict[str, Any], treatment: str = "all") -> dict[str, Any]:
    """Share of patients with a clinically important improvement from baseline at each
    scheduled time point, per measure: point = rate, bar = Wilson 95% interval."""
    rows = responder_rows(data, treatment)
    order = [t["label"] for t in data["time_points"][1:]]
    measures = _labels(data, "measures")
    m_order = [measures[m] for m in RESPONDER_MEASURES]
    source = _data(rows)
    x = alt.X("time_point:N", title=None, sort=order, axis=alt.Axis(labelAngle=0))
    offset = alt.XOffset("measure:N", sort=m_order)
    color = alt.Color(
        "measure:N",
        title=None,
        sort=m_order,
        scale=alt.Scale(domain=m_order, range=PALETTE),
        legend=alt.Legend(columns=3),
    )
    y = alt.Y(
        "rate:Q",
        title="Responders (95% CI)",
        scale=alt.Scale(domain=[0, 1]),
        axis=alt.Axis(format="%"),
    )
    bars = (
        alt.Chart(source)
        .mark_rule(strokeWidth=2)
        .encode(x=x, xOffset=offset, y="ci_low:Q", y2="ci_high:Q", color=color)
    )
    points = (
        alt.Chart(source)
        .mark_point(filled=True, size=55)
        .encode(
            x=x,
            xOffset=offset,
            y=y,
            color=color,
            tooltip=[
                "measure:N",
                "time_point:N",
                alt.Tooltip("rate:Q", format=".0%"),
                "followed:Q",
                "due:Q",
            ],
        )
    )
    name = treatment_label(treatment).lower() if treatment == "all" else treatment_label(treatment)
    chart = alt.layer(bars, points).properties(
        width=WIDTH,
        height=220,
        title=_base(
            f"Responders by time point ({name})",
            "clinically important improvement from baseline · bar = Wilson 95% CI",
        ),
    )
    return _config(chart)


TREATMENT_LABELS = {"all": "All treatments", "prp": "PRP", "pt_only": "Physical therapy only"}


def treatment_label(name: str) -> str:
    """A treatment code as words (``prp`` → PRP, ``pt_only`` → Physical therapy only)."""
    return TREATMENT_LABELS.get(name, name.replace("_", " ").capitalize())


def improvement_rows(data: dict[str, Any], region: str) -> list[dict[str, Any]]:
    """Kaplan–Meier steps (cumulative share improved and its 95% band) per treatment, from 0."""
    rows = []
    for r in data["time_to_improvement"]:
        if r["region"] != region or not r["patients"]:
            continue
        median = r["median_weeks"]
        group = f"{treatment_label(r['treatment'])} (n={r['patients']}, median " + (
            "not reached)" if median is None else f"{median:.0f} wk)"
        )
        c = r["curve"]
        steps = zip(c["weeks"], c["improved"], c["ci_low"], c["ci_high"], strict=True)
        rows.append({"group": group, "week": 0.0, "improved": 0.0, "low": 0.0, "high": 0.0})
        for week, improved, low, high in steps:
            rows.append(
                {"group": group, "week": week, "improved": improved, "low": low, "high": high}
            )
    return rows


def improvement_spec(data: dict[str, Any], region: str) -> dict[str, Any]:
    """Time to first clinically important improvement of one pain region, per treatment:
    Kaplan–Meier cumulative share improved (steps) with its 95% band; dashed line = 50%
    (where a curve crosses it is the median, given in the legend)."""
    rows = improvement_rows(data, region)
    source = _data(rows)
    groups = list(dict.fromkeys(r["group"] for r in rows))
    x = alt.X("week:Q", title="Weeks since treatment", scale=alt.Scale(domain=[0, 60], clamp=True))
    color = alt.Color(
        "group:N",
        title=None,
        sort=groups,
        scale=alt.Scale(domain=groups, range=PALETTE),
        legend=alt.Legend(columns=2),
    )
    band = (
        alt.Chart(source)
        .mark_area(interpolate="step-after", opacity=0.09)
        .encode(
            x=x,
            y="low:Q",
            y2="high:Q",
            fill=alt.Fill(
                "group:N", sort=groups, scale=alt.Scale(domain=groups, range=PALETTE), legend=None
            ),
        )
    )
    line = (
        alt.Chart(source)
        .mark_line(interpolate="step-after", strokeWidth=2)
        .encode(
            x=x,
            y=alt.Y(
                "improved:Q",
                title="Improved (cumulative)",
                scale=alt.Scale(domain=[0, 1]),
                axis=alt.Axis(format="%"),
            ),
            color=color,
            tooltip=[
                "group:N",
                alt.Tooltip("week:Q", format=".1f"),
                alt.Tooltip("improved:Q", format=".0%"),
            ],
        )
    )
    half = (
        alt.Chart(_data([{"y": 0.5}])).mark_rule(strokeDash=[4, 4], color="#9aa3ad").encode(y="y:Q")
    )
    chart = alt.layer(half, band, line).properties(
        width=WIDTH,
        height=220,
        title=_base(
            f"{REGION_LABELS.get(region, region)}: time to first clinically important improvement",
            "Kaplan–Meier, improvement seen at visits; shaded = 95% band; dashed = 50% (median)",
        ),
    )
    spec = _config(chart)
    spec["config"]["legend"].update(symbolType="stroke", symbolStrokeWidth=3)
    spec["resolve"] = {"legend": {"fill": "independent"}}  # the bands' fill has no legend
    return spec


def mean_rows(data: dict[str, Any], measures: tuple[str, ...]) -> list[dict[str, Any]]:
    """Mean score with its 95% t interval per time point, for the given measures."""
    labels, weeks = _labels(data, "measures"), {t["id"]: t["day"] / 7 for t in data["time_points"]}
    return [
        {
            "measure": labels[r["measure"]],
            "week": max(weeks[r["time_point"]], 0.0),
            "time_point": _labels(data, "time_points")[r["time_point"]],
            "mean": r["mean"],
            "ci_low": r["ci_low"],
            "ci_high": r["ci_high"],
            "n": r["n"],
        }
        for r in data["trajectories"]
        if r["measure"] in measures and r["mean"] is not None
    ]


def mean_spec(
    data: dict[str, Any], measures: tuple[str, ...], title: str, y_title: str, top: float
) -> dict[str, Any]:
    """Mean score per scheduled time point with its 95% confidence interval (t), per measure."""
    rows = mean_rows(data, measures)
    labels = _labels(data, "measures")
    order = [labels[m] for m in measures]
    source = _data(rows)
    x = alt.X("week:Q", title="Weeks since treatment (scheduled time points)")
    y = alt.Y("mean:Q", title=y_title, scale=alt.Scale(domain=[0, top]))
    color = alt.Color(
        "measure:N",
        title=None,
        sort=order,
        scale=alt.Scale(domain=order, range=PALETTE),
        legend=alt.Legend(columns=3),
    )
    band = (
        alt.Chart(source)
        .mark_area(opacity=0.15)
        .encode(
            x=x,
            y="ci_low:Q",
            y2="ci_high:Q",
            fill=alt.Fill(
                "measure:N", sort=order, scale=alt.Scale(domain=order, range=PALETTE), legend=None
            ),
        )
    )
    line = alt.Chart(source).mark_line(strokeWidth=2).encode(x=x, y=y, color=color)
    points = (
        alt.Chart(source)
        .mark_point(filled=True, size=40)
        .encode(
            x=x,
            y=y,
            color=color,
            tooltip=["measure:N", "time_point:N", alt.Tooltip("mean:Q", format=".1f"), "n:Q"],
        )
    )
    chart = alt.layer(band, line, points).properties(
        width=WIDTH,
        height=200,
        title=_base(title, "mean at each scheduled time point · shaded = 95% CI"),
    )
    spec = _config(chart)
    spec["config"]["legend"].update(symbolType="stroke", symbolStrokeWidth=3)
    spec["resolve"] = {"legend": {"fill": "independent"}}  # the bands' fill has no legend
    return spec


def band_rows_of(data: dict[str, Any], measure: str) -> list[dict[str, Any]]:
    """The reference-band rows (percentiles by week) of one measure."""
    return [r for r in data["bands"] if r["measure"] == measure]


def reference_spec(
    bands: list[dict[str, Any]],
    title: str,
    y_title: str,
    top: float,
    own: list[dict[str, Any]] | None = None,
    who: str = "",
) -> dict[str, Any]:
    """Recovery reference bands, like a growth chart: the cohort's 5th–95th, 10th–90th and
    25th–75th percentiles and median by week since treatment (only weeks with enough scores),
    and, when ``own`` is given, one patient's scores drawn on top."""
    fan = _data(bands)
    x = alt.X(
        "week:Q",
        title="Weeks since treatment",
        scale=alt.Scale(
            domain=[0, max([r["week"] for r in bands] + [r["week"] for r in own or []] + [12])]
        ),
    )
    shades = (("p5", "p95", 0.18), ("p10", "p90", 0.22), ("p25", "p75", 0.3))
    layers: list[Any] = [
        alt.Chart(fan)
        .mark_area(color=PALETTE[0], opacity=opacity, interpolate="linear")
        .encode(
            x=x, y=alt.Y(f"{lo}:Q", title=y_title, scale=alt.Scale(domain=[0, top])), y2=f"{hi}:Q"
        )
        for lo, hi, opacity in shades
    ]
    layers.append(
        alt.Chart(fan)
        .mark_line(color=PALETTE[0], strokeWidth=2, interpolate="linear")
        .encode(x=x, y="p50:Q", tooltip=["week:Q", "n:Q", "p25:Q", "p50:Q", "p75:Q"])
    )
    subtitle = "cohort percentiles by week: 5–95 · 10–90 · 25–75 (shades), median (line)"
    if own:
        mine = _data(own)
        layers.append(
            alt.Chart(mine).mark_line(color=PALETTE[1], strokeWidth=2).encode(x=x, y="value:Q")
        )
        layers.append(
            alt.Chart(mine)
            .mark_point(color=PALETTE[1], filled=True, size=70)
            .encode(
                x=x,
                y="value:Q",
                tooltip=["week:Q", "value:Q", alt.Tooltip("percentile:Q", format=".0f")],
            )
        )
        subtitle += f" · red = {who or 'this patient'}"
    chart = alt.layer(*layers).properties(width=WIDTH, height=200, title=_base(title, subtitle))
    return _config(chart)

"""The progress charts: one Vega-Lite spec per chart, for the web page and the PDF alike.

Each ``*_spec`` function builds the chart with Altair from the core's
:class:`~hipspine.clinical.trajectory.Trajectory` and returns the Vega-Lite JSON; ``svg``
renders a spec to SVG on the server with vl-convert (no browser, no network: fonts come
from the machine). The page inlines the SVG; the PDF embeds the same SVG.

The patient's charts are drawn narrow (about 400 px) so that one rendering is legible on
a phone, sits two or three to a row on a laptop and two to a row on an A4 page. Series
are told apart by colour (the Okabe–Ito palette, safe for colour-blind readers), by dash
and by marker, and are named at their line ends rather than in a legend; treatment dates
are drawn on every time chart.

Every chart also has a plain table (``*_rows``) so a screen-reader user, or a clinician
who wants the numbers, gets the same data as text.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import pairwise
from typing import Any

import altair as alt
import vl_convert

from hipspine.clinical.mmt import MRC_GRADES, MRCGrade
from hipspine.clinical.trajectory import Trajectory

FONT = "DejaVu Sans"
WIDTH = 560
"""Plot width of the clinic's (registry) charts."""
NARROW = 250
"""Plot width of a patient's charts: with axis and line-end labels about 400 px in all."""
STRENGTH_WIDTH = 190
FUNCTION_WIDTH = 90
"""Plot width of the strength chart, whose muscle names take the room of the others' axis."""
# Okabe & Ito (2008), "Color Universal Design": distinguishable with any colour vision.
PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"]
DASHES = [[1, 0], [7, 3], [2, 2], [9, 3, 2, 3], [4, 4], [1, 3]]
SHAPES = ["circle", "square", "triangle-up", "cross", "triangle-down", "diamond"]
EVENT_COLOR = "#6b7680"
WIDE_SVG = 480
"""A rendered chart wider than this (px) is marked ``chart-wide``: on a phone it scrolls in
its box instead of shrinking below legibility."""


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


def _base(title: str, subtitle: str | list[str] = "") -> dict[str, Any]:
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
        .configure_concat(spacing=14)
        .to_dict()
    )
    return spec


def _time_x(
    dates: Sequence[dt.date],
    events: tuple[Event, ...],
    labels: bool = True,
    field: str = "date",
    ticks: int = 5,
) -> alt.X:
    """A shared time axis: month names, the year on the first label and on January."""
    days = list(dates) + [e.date for e in events]
    start, end = min(days), max(days)
    pad = dt.timedelta(days=max(18, (end - start).days // 20))
    return alt.X(
        f"{field}:T",
        title=None,
        scale=alt.Scale(domain=[(start - pad).isoformat(), (end + pad).isoformat()]),
        axis=alt.Axis(
            tickCount=ticks,
            labels=labels,
            labelExpr=(
                "datum.index == 0 || month(datum.value) == 0"
                " ? timeFormat(datum.value, '%b %Y') : timeFormat(datum.value, '%b')"
            ),
        ),
    )


def _event_layers(events: tuple[Event, ...], x: alt.X) -> list[alt.Chart]:
    """Treatment dates as thin grey rules (named in the chart's subtitle, where a label can
    never cover the data)."""
    if not events:
        return []
    data = _data([{"date": e.date.isoformat(), "label": e.label} for e in events])
    return [
        alt.Chart(data)
        .mark_rule(color=EVENT_COLOR, strokeWidth=1.5, opacity=0.8)
        .encode(x=x, tooltip=["label:N", "date:T"])
    ]


def _events_text(events: tuple[Event, ...]) -> list[str]:
    """The subtitle lines naming the treatment dates: ``grey lines: Procedure 8 Dec 2025 …``."""
    if not events:
        return []
    lines, line = [], "grey lines:"
    for e in events:
        part = f"{e.label} {e.date:%-d %b %Y}"
        if len(line) + len(part) > 52 and line != "grey lines:":
            lines.append(line)
            line = part
        else:
            line = f"{line} {part}" if line.endswith(":") else f"{line} · {part}"
    return [*lines, line]


def _spread(values: Sequence[float], gap: float, low: float, high: float) -> list[float]:
    """Label positions near ``values`` but at least ``gap`` apart, kept within the axis."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ys = [min(max(values[i], low), high) for i in order]
    for k in range(1, len(ys)):
        ys[k] = max(ys[k], ys[k - 1] + gap)
    for k in range(len(ys) - 1, -1, -1):
        ceiling = high if k == len(ys) - 1 else ys[k + 1] - gap
        ys[k] = min(ys[k], ceiling)
    out = [0.0] * len(values)
    for k, i in enumerate(order):
        out[i] = max(ys[k], low) if k == 0 else ys[k]
    return out


def _end_labels(
    rows: list[dict[str, Any]], series: str, domain: tuple[float, float], height: int
) -> list[dict[str, Any]]:
    """One label per series at its last point, moved apart so equal ends stay readable."""
    last: dict[str, dict[str, Any]] = {}
    for r in rows:
        if r[series] not in last or r["date"] >= last[r[series]]["date"]:
            last[r[series]] = r
    ends = list(last.values())
    low, high = domain
    gap = (high - low) * 13 / height
    ys = _spread([r["value"] for r in ends], gap, low, high)
    return [
        {"date": r["date"], series: r[series], "label": r["label"], "y": y}
        for r, y in zip(ends, ys, strict=True)
    ]


def _series_scales(names: list[str]) -> dict[str, alt.Scale]:
    n = len(names)
    return {
        "color": alt.Scale(domain=names, range=PALETTE[:n] or PALETTE),
        "dash": alt.Scale(domain=names, range=(DASHES * 2)[: max(n, 1)]),
        "shape": alt.Scale(domain=names, range=(SHAPES * 2)[: max(n, 1)]),
    }


def _lines(
    rows: list[dict[str, Any]],
    series: str,
    x: alt.X,
    y: alt.Y,
    domain: tuple[float, float],
    height: int,
    tooltip: list[Any],
    fill_important: bool = False,
) -> list[alt.Chart]:
    """Lines told apart by colour, dash and marker, each named at its end."""
    # Vega draws a colour's line in the order of its name: the first name gets the solid
    # line, so the dashed ones drawn over it leave it visible where they coincide.
    names = sorted({r[series] for r in rows})
    scales = _series_scales(names)
    data = _data(rows)
    color = alt.Color(f"{series}:N", scale=scales["color"], legend=None)
    line = (
        alt.Chart(data)
        .mark_line(strokeWidth=2.2)
        .encode(
            x=x,
            y=y,
            color=color,
            strokeDash=alt.StrokeDash(f"{series}:N", scale=scales["dash"], legend=None),
        )
    )
    fill: Any = color
    if fill_important:
        fill = alt.condition(
            "datum.important",
            alt.Color(f"{series}:N", scale=scales["color"], legend=None),
            alt.value("white"),
        )
    points = (
        alt.Chart(data)
        .mark_point(size=60, strokeWidth=1.8, opacity=1, filled=False)
        .encode(
            x=x,
            y=y,
            color=color,
            fill=fill,
            shape=alt.Shape(f"{series}:N", scale=scales["shape"], legend=None),
            tooltip=tooltip,
        )
    )
    ends = (
        alt.Chart(_data(_end_labels(rows, series, domain, height)))
        .mark_text(align="left", baseline="middle", dx=9, fontSize=11, fontWeight="bold")
        .encode(
            x=x,
            y=alt.Y("y:Q", scale=alt.Scale(domain=list(domain))),
            text="label:N",
            color=color,
        )
    )
    return [line, points, ends]


def _short(label: str) -> str:
    """A measure's label without its parenthesis (``Low back (lumbar)`` → ``Low back``)."""
    return re.sub(r"\s*\([^)]*\)", "", label).strip()


def _region_name(label: str, side: str | None) -> str:
    """A pain region as a line-end label: ``Anterior hip / groin`` (right) → ``Groin, right``."""
    base = _short(label).split(",")[0].strip()
    if "/" in base:
        base = base.split("/")[-1].strip().capitalize()
    return f"{base}, {side}" if side and side != "midline" else base


# -- pain -----------------------------------------------------------------------------------


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
    names = {m.label: _region_name(m.label, m.side) for m in t.pain}
    rows = [dict(r, label=names[r["region"]]) for r in pain_rows(t)]
    height = 190
    x = _time_x([dt.date.fromisoformat(r["date"]) for r in rows], events)
    y = alt.Y("value:Q", title="Pain (NPRS 0–10)", scale=alt.Scale(domain=[0, 10]))
    regions = sorted({r["region"] for r in rows})
    first = (
        alt.Chart(_data(rows))
        .transform_filter("datum.first")
        .mark_point(shape="diamond", size=300, filled=False, strokeWidth=2.2)
        .encode(
            x=x,
            y=y,
            color=alt.Color("region:N", scale=_series_scales(regions)["color"], legend=None),
        )
    )
    tooltip = ["region:N", "date:T", "value:Q", "status:N"]
    chart = alt.layer(
        *_event_layers(events, x), first, *_lines(rows, "region", x, y, (0, 10), height, tooltip)
    ).properties(
        width=NARROW,
        height=height,
        title=_base(
            "Pain by region",
            ["◆ MCID: first visit with a clinically important improvement", *_events_text(events)],
        ),
    )
    return _config(chart)


# -- questionnaires -------------------------------------------------------------------------

QUESTIONNAIRE_PANELS = {
    "odi": "ODI: back-related disability (0–100, lower is better)",
    "hoos": "HOOS: hip (0–100, higher is better)",
    "lefs": "LEFS: lower-extremity function (0–80, higher is better)",
}
SHORT_NAMES = {
    "hoos:pain": "Pain",
    "hoos:symptoms": "Symptoms",
    "hoos:adl": "Daily living",
    "hoos:sport_rec": "Sport, recreation",
    "hoos:qol": "Quality of life",
}


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
    """Questionnaire scores over time, one panel per instrument (ODI, HOOS subscales, LEFS …)
    so that scales running in opposite directions never share an axis; filled points are
    visits with a clinically important improvement from baseline."""
    by_instrument: dict[str, list[dict[str, Any]]] = {}
    for m in t.questionnaires:
        if m.instrument_id == "psfs":
            continue
        better = "higher is better" if m.direction.name == "HIGHER_IS_BETTER" else "lower is better"
        label = SHORT_NAMES.get(m.key, _short(m.label).removeprefix(m.instrument_id.upper()))
        for p in m.points:
            if p.value is None:
                continue
            by_instrument.setdefault(m.instrument_id, []).append(
                {
                    "date": p.date.isoformat(),
                    "measure": f"{m.label} ({better})",
                    "label": label.strip() or m.label,
                    "value": p.value,
                    "status": p.status,
                    "important": p.status == "clinically important improvement",
                }
            )
    dates = [dt.date.fromisoformat(r["date"]) for rows in by_instrument.values() for r in rows]
    panels = []
    for i, (instrument, rows) in enumerate(by_instrument.items()):
        single = len({r["measure"] for r in rows}) == 1
        height = 80 if single else 150
        last = i == len(by_instrument) - 1
        x = _time_x(dates, events, labels=last)
        y = alt.Y("value:Q", title="Score", scale=alt.Scale(domain=[0, 100]))
        if single:
            # One measure: its name is the panel's title, so no line-end label is needed.
            for r in rows:
                r["label"] = ""
        tooltip = ["measure:N", "date:T", "value:Q", "status:N"]
        title = QUESTIONNAIRE_PANELS.get(instrument, instrument.upper())
        panels.append(
            alt.layer(
                *_event_layers(events, x),
                *_lines(rows, "measure", x, y, (0, 100), height, tooltip, fill_important=True),
            ).properties(
                width=NARROW,
                height=height,
                title=alt.TitleParams(title, fontSize=11, fontWeight="bold", color="#3b4650"),
            )
        )
    chart = alt.vconcat(
        *panels,
        title=_base(
            "Questionnaires",
            ["filled point: clinically important improvement", *_events_text(events)],
        ),
    ).resolve_scale(color="independent", strokeDash="independent", shape="independent")
    return _config(chart)


# -- strength -------------------------------------------------------------------------------


def strength_rows(t: Trajectory) -> list[dict[str, Any]]:
    """One row per muscle, side, test and visit: the MRC grade (manual muscle testing) or the
    dynamometry reading (N·m when the lever arm is known, else N)."""
    rows: list[dict[str, Any]] = []
    for m in t.strength:
        side = f" ({m.side})" if m.side else ""
        for day, grade in m.grades:
            if grade is None:
                continue
            rows.append(
                {
                    "date": day.isoformat(),
                    "muscle": f"{m.label}{side}",
                    "test": "manual muscle testing (MRC)",
                    "result": grade,
                }
            )
    for d in t.dynamometry_readings:
        rows.append(
            {
                "date": d.date.isoformat(),
                "muscle": f"{_muscle_label(t, d.muscle)}" + (f" ({d.side})" if d.side else ""),
                "test": f"dynamometry, {d.action} ({d.position})".replace("_", " "),
                "result": f"{d.value:g} {d.unit}",
            }
        )
    return rows


def _muscle_label(t: Trajectory, muscle: str) -> str:
    for m in t.strength:
        if m.muscle == muscle:
            return m.label
    return muscle.replace("_", " ").capitalize()


def _mmt_panel(t: Trajectory, events: tuple[Event, ...], dates: list[dt.date]) -> Any:
    cells: list[tuple[dt.date, str, str]] = []
    for m in t.strength:
        name = _short(m.label).replace(" and ", " & ") + (
            f" ({m.side[0].upper()})" if m.side else ""
        )
        for day, grade in m.grades:
            if grade is not None:
                cells.append((day, name, grade))
    days = sorted({day for day, _, _ in cells})
    gaps = [(b - a).days for a, b in pairwise(days)]
    half = max(3, min([16] + [g // 2 - 2 for g in gaps]))
    rows = [
        {
            "date": day.isoformat(),
            "start": (day - dt.timedelta(days=half)).isoformat(),
            "end": (day + dt.timedelta(days=half)).isoformat(),
            "muscle": muscle,
            "grade": grade,
            "rank": MRCGrade.parse(grade).rank,
        }
        for day, muscle, grade in cells
    ]
    muscles = sorted({muscle for _, muscle, _ in cells})
    x = _time_x(dates, events, labels=False)
    data = _data(rows)
    y = alt.Y("muscle:N", title=None, sort=muscles, axis=alt.Axis(labelLimit=170))
    rects = (
        alt.Chart(data)
        .mark_rect(stroke="white", strokeWidth=1.5)
        .encode(
            x=_time_x(dates, events, labels=False, field="start"),
            x2="end:T",
            y=y,
            color=alt.Color(
                "rank:Q",
                scale=alt.Scale(domain=[6, len(MRC_GRADES) - 1], scheme="blues"),
                legend=None,
            ),
            tooltip=["muscle:N", "date:T", "grade:N"],
        )
    )
    text = (
        alt.Chart(data)
        .mark_text(fontSize=10, fontWeight="bold")
        .encode(
            x=x,
            y=y,
            text="grade:N",
            color=alt.condition("datum.rank >= 9", alt.value("white"), alt.value("#1d2730")),
        )
    )
    return alt.layer(*_event_layers(events, x), rects, text).properties(
        width=STRENGTH_WIDTH,
        height=20 * len(muscles),
        title=alt.TitleParams(
            ["Manual muscle testing", "MRC grade: 4- < 4 < 4+ < 5 (normal); R right, L left"],
            fontSize=11,
            fontWeight="bold",
            color="#3b4650",
        ),
    )


def _dynamometry_panels(
    t: Trajectory, events: tuple[Event, ...], dates: list[dt.date]
) -> list[Any]:
    groups: dict[tuple[str, str, str, str], list[dict[str, Any]]] = {}
    for d in t.dynamometry_readings:
        key = (d.muscle, d.action, d.position, d.unit)
        side = d.side or "both"
        groups.setdefault(key, []).append(
            {
                "date": d.date.isoformat(),
                "side": side,
                "label": side.capitalize(),
                "value": d.value,
                "unit": d.unit,
            }
        )
    panels = []
    for i, ((muscle, action, position, unit), rows) in enumerate(groups.items()):
        rows.sort(key=lambda r: (r["side"] != "right", r["date"]))
        top = max(r["value"] for r in rows) * 1.15
        height = 95
        x = _time_x(dates, events, labels=i == len(groups) - 1)
        y = alt.Y(
            "value:Q", title=unit, scale=alt.Scale(domain=[0, top]), axis=alt.Axis(tickCount=4)
        )
        what = f"{action}, {position}, {unit}".replace("_", " ")
        panels.append(
            alt.layer(
                *_event_layers(events, x),
                *_lines(rows, "side", x, y, (0, top), height, ["side:N", "date:T", "value:Q"]),
            ).properties(
                width=STRENGTH_WIDTH,
                height=height,
                title=alt.TitleParams(
                    [f"Dynamometry: {_short(_muscle_label(t, muscle)).lower()}", what],
                    fontSize=11,
                    fontWeight="bold",
                    color="#3b4650",
                ),
            )
        )
    return panels


def strength_spec(t: Trajectory, events: tuple[Event, ...] = ()) -> dict[str, Any]:
    """Strength over time: manual muscle testing per muscle and side (the MRC grade in a cell
    shaded by its rank on the ordinal scale, darker = stronger) and, below it, dynamometry
    per muscle, action and position (N·m, or N without a lever arm), right and left."""
    dates = [day for m in t.strength for day, grade in m.grades if grade is not None]
    dates += [d.date for d in t.dynamometry_readings]
    panels = []
    if any(grade is not None for m in t.strength for _, grade in m.grades):
        panels.append(_mmt_panel(t, events, dates))
    panels += _dynamometry_panels(t, events, dates)
    chart = alt.vconcat(*panels, title=_base("Strength", _events_text(events))).resolve_scale(
        color="independent", strokeDash="independent", shape="independent"
    )
    return _config(chart)


# -- function tests -------------------------------------------------------------------------


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
    """Function tests (six-minute walk, chair stand, gait speed), side by side, each on its
    own scale, with the treatment dates."""
    rows = function_rows(t)
    tests = list(dict.fromkeys(r["test"] for r in rows))
    dates = [dt.date.fromisoformat(r["date"]) for r in rows]
    labels = {f"{f.label} ({f.unit})": [f.label, f.unit] for f in t.function}
    panels = []
    for test in tests:
        mine = [r for r in rows if r["test"] == test]
        x = _time_x(dates, events, ticks=3)
        base = alt.Chart(_data(mine)).encode(
            x=x,
            y=alt.Y("value:Q", title=None, scale=alt.Scale(zero=False), axis=alt.Axis(tickCount=4)),
            tooltip=["test:N", "date:T", "value:Q", "note:N"],
        )
        panels.append(
            alt.layer(
                *_event_layers(events, x),
                base.mark_line(color=PALETTE[0], strokeWidth=2.2),
                base.mark_point(color=PALETTE[0], filled=True, size=45),
            ).properties(
                width=FUNCTION_WIDTH,
                height=110,
                title=alt.TitleParams(
                    labels.get(test, test), fontSize=11, fontWeight="bold", color="#3b4650"
                ),
            )
        )
    chart = alt.hconcat(
        *panels,
        spacing=12,
        title=_base("Function tests", ["each test on its own scale", *_events_text(events)]),
    )
    return _config(chart)


# -- goals ----------------------------------------------------------------------------------


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
    rows = goal_rows(t)
    dates = [dt.date.fromisoformat(r["date"]) for r in rows] + [g.target_date for g in t.goals]
    data = _data(rows)
    targets = _data(
        values=[
            {"date": g.target_date.isoformat(), "label": f"Target {g.target_date:%-d %b %Y}"}
            for g in t.goals
        ]
    )
    x = _time_x(dates, events)
    target_rule = (
        alt.Chart(targets).mark_rule(color=PALETTE[2], strokeDash=[2, 3], strokeWidth=2).encode(x=x)
    )
    target_text = (
        alt.Chart(targets)
        .mark_text(align="right", baseline="top", dx=-4, dy=2, fontSize=10, color="#00664a")
        .encode(x=x, y=alt.value(0), text="label:N")
    )
    y = alt.Y(
        "level:Q",
        title="Goal attainment (GAS)",
        scale=alt.Scale(domain=[-2, 2]),
        axis=alt.Axis(values=[-2, -1, 0, 1, 2]),
    )
    expected = (
        alt.Chart(_data([{"y": 0}])).mark_rule(color=PALETTE[2], strokeWidth=1.5).encode(y="y:Q")
    )
    line = alt.Chart(data).mark_line(strokeWidth=2.5, color=PALETTE[0]).encode(x=x, y=y)
    points = (
        alt.Chart(data)
        .mark_point(filled=True, size=60, color=PALETTE[0])
        .encode(x=x, y=y, tooltip=["goal:N", "date:T", "level:Q"])
    )
    chart = alt.layer(
        *_event_layers(events, x), target_rule, target_text, expected, line, points
    ).properties(
        width=NARROW,
        height=120,
        title=_base(
            "Goal progress",
            [
                "0 = expected outcome (green line); +2 much better, −2 much less",
                *_events_text(events),
            ],
        ),
    )
    return _config(chart)


def svg(spec: dict[str, Any]) -> str:
    """The chart as an SVG document (rendered on the server, no browser).

    Rendering is deterministic, so SVGs are cached by spec: a page viewed again, or its
    PDF, does not render the same chart twice. A chart wider than ``WIDE_SVG`` carries the
    class ``chart-wide`` (pages let it scroll in its box on a phone).
    """
    return _svg(json.dumps(spec, sort_keys=True))


@lru_cache(maxsize=256)
def _svg(spec_json: str) -> str:
    text: str = vl_convert.vegalite_to_svg(json.loads(spec_json))
    root = re.match(r'<svg[^>]*\swidth="([\d.]+)"', text)
    if root:
        # Pages size a chart from its drawn width (``--w``): never far above it, so text
        # keeps its size; ``chart-wide`` ones scroll in their box on a phone.
        width = float(root.group(1))
        wide = " chart-wide" if width > WIDE_SVG else ""
        text = text.replace('class="marks"', f'style="--w: {width:g}" class="marks{wide}"', 1)
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
    and, when ``own`` is given, one patient's scores drawn on top: filled where the score was
    compared with the clinic's ratings of that week (it has a ``percentile``), hollow where
    that week had too few ratings to compare, so the drawing matches the words beside it."""
    fan = _data(bands)
    x = alt.X(
        "week:Q",
        title="Weeks since treatment",
        scale=alt.Scale(
            domain=[0, max([r["week"] for r in bands] + [r["week"] for r in own or []] + [12])]
        ),
        axis=alt.Axis(tickCount=6),
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
    subtitle = [
        "shades: the clinic's 5–95th, 10–90th, 25–75th",
        "percentiles by week; line: median",
    ]
    if own:
        mine = _data([dict(r, compared=r.get("percentile") is not None) for r in own])
        layers.append(
            alt.Chart(mine).mark_line(color=PALETTE[1], strokeWidth=2).encode(x=x, y="value:Q")
        )
        layers.append(
            alt.Chart(mine)
            .mark_point(color=PALETTE[1], size=70, strokeWidth=2, opacity=1)
            .encode(
                x=x,
                y="value:Q",
                fill=alt.condition("datum.compared", alt.value(PALETTE[1]), alt.value("white")),
                tooltip=["week:Q", "value:Q", alt.Tooltip("percentile:Q", format=".0f")],
            )
        )
        subtitle += [
            f"● {who or 'this patient'}; ○ a week with too few",
            "of the clinic's ratings to compare",
        ]
    chart = alt.layer(*layers).properties(width=NARROW, height=170, title=_base(title, subtitle))
    return _config(chart)

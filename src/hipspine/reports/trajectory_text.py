"""A recovery trajectory as a clinician reads it in a terminal (Rich), readable at 100 columns."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from rich.console import Console
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from hipspine.clinical.summary import Sentence, number, signed
from hipspine.clinical.trajectory import (
    ChangePoint,
    DynamometryPoint,
    MeasureTrajectory,
    Trajectory,
)

_MARK = {
    "clinically important improvement": ("✔", "bold green"),
    "improvement meeting an unverified threshold": ("✔?", "yellow"),
    "improved, meets the MCID but within measurement error": ("↑~", "green"),
    "improved, below the MCID": ("↑", "green"),
    "improved, no MCID available": ("↑", "green"),
    "no change": ("=", ""),
    "worse, meets the MCID but within measurement error": ("↓~", "red"),
    "worse, below the MCID": ("↓", "red"),
    "worse, no MCID available": ("↓", "red"),
    "worsening meeting an unverified threshold": ("✘?", "yellow"),
    "clinically important worsening": ("✘", "bold red"),
    "unknown": ("?", "dim"),
    "baseline": ("", "dim"),
}


def _visit_header(t: Trajectory, index: int) -> str:
    day = t.visit_dates[index]
    if day == t.baseline_date:
        return f"baseline\n{day:%d %b %y}"
    return f"{number(t.weeks_since_treatment(day))} wk\n{day:%d %b %y}"


_RESPONDER = {
    "responder": "yes",
    "responder by an unverified threshold": "yes (unverified)",
    "non-responder": "no",
    "no MCID available": "no MCID",
    "unknown": "?",
}


def _short(m: MeasureTrajectory) -> str:
    if m.instrument_id == "nprs":
        return m.label
    name, _, scope = m.key.partition(":")
    return f"{name.upper()} {scope}".strip()


def _cell(point: ChangePoint, decimals: int, show_change: bool) -> Text:
    if point.value is None:
        return Text("—  ?", style="dim")
    mark, style = _MARK[point.status]
    text = Text(number(point.value, decimals))
    if show_change and point.change is not None and point.status != "baseline":
        text.append(f" ({signed(point.change, decimals)})", style="dim")
    if mark:
        text.append(f" {mark}", style=style)
    return text


def _measure_table(
    t: Trajectory, title: str, measures: Sequence[MeasureTrajectory], decimals: int
) -> Table:
    show_change = all(m.instrument_id == "nprs" for m in measures)
    table = Table(title=title, title_justify="left", expand=False, show_lines=False)
    table.add_column("Measure", overflow="fold", min_width=12, max_width=24)
    for i in range(len(t.visit_dates)):
        table.add_column(_visit_header(t, i), justify="right", no_wrap=True)
    table.add_column("Responder", overflow="fold", max_width=10)
    for m in measures:
        by_date = {p.date: p for p in m.points}
        cells = [_cell(by_date[d], decimals, show_change) for d in t.visit_dates]
        table.add_row(_short(m), *cells, _RESPONDER[m.responder.status])
    return table


def _threshold_lines(measures: Sequence[MeasureTrajectory]) -> Text:
    lines = Text(style="dim")
    for m in measures:
        parts = []
        for th in m.mcids:
            unit = " pts" if th.unit == "points" else "%"
            flag = "" if th.verified else " UNVERIFIED"
            parts.append(f"{th.kind.upper()} {number(th.value)}{unit}{flag}")
        if m.mdc is not None:
            flag = "" if m.mdc.verified else " UNVERIFIED (does not decide)"
            parts.append(f"MDC {number(m.mdc.value)}{flag}")
        singles = {p.mdc.value for p in m.points if p.mdc is not None and p.mdc != m.mdc}
        if singles:
            parts.append(
                f"single-activity MDC {', '.join(number(v) for v in sorted(singles))} "
                "where one activity was rated"
            )
        if parts:
            source = m.mcids[0].source if m.mcids else m.mdc.source if m.mdc else ""
            name = "NPRS (each region)" if m.instrument_id == "nprs" else _short(m)
            lines.append(f"  {name}: {', '.join(parts)} — {source}\n")
    return lines


def _first_table(t: Trajectory) -> Table:
    table = Table(
        title=(
            "Time to first clinically important improvement "
            "(NPRS ≥ 2 points and ≥ 30%, and ≥ the MDC of 2 points)"
        ),
        title_justify="left",
    )
    table.add_column("Region", max_width=30, overflow="fold")
    table.add_column("Date")
    table.add_column("Weeks", justify="right")
    table.add_column("NPRS", justify="right")
    table.add_column("Sustained", max_width=34, overflow="fold")
    for f in t.first_improvements:
        if f.date is None:
            table.add_row(f.label, "not reached", "—", "—", "")
            continue
        sustained = {True: "yes", False: "no", None: "unknown"}[f.sustained]
        table.add_row(
            f.label,
            f.date.isoformat(),
            number(f.weeks_since_treatment or 0),
            f"{number(f.baseline or 0)} → {number(f.value or 0)}",
            f"{sustained} — {f.sustained_reason}",
        )
    return table


def _strength_table(t: Trajectory) -> Table:
    table = Table(title="Manual muscle testing (MRC, ordinal; no MDC)", title_justify="left")
    table.add_column("Muscle", max_width=26, overflow="fold")
    for i in range(len(t.visit_dates)):
        table.add_column(_visit_header(t, i), justify="center")
    table.add_column("Steps", justify="right")
    for s in t.strength:
        name = f"{s.label} {s.side}" if s.side else s.label
        grades = [g or "?" for _, g in s.grades]
        steps = "?" if s.steps is None else signed(s.steps, 0)
        table.add_row(name, *grades, steps)
    return table


def _reading_cell(p: DynamometryPoint | None) -> Text:
    if p is None:
        return Text("?", style="dim")
    text = Text(f"{number(p.value)} {p.unit}")
    normalised = []
    if p.torque_nm_per_kg is not None:
        normalised.append(f"{number(p.torque_nm_per_kg, 2)}/kg")
    if p.percent_body_weight is not None:
        normalised.append(f"{number(p.percent_body_weight)}%BW")
    if normalised:
        text.append("\n" + " ".join(normalised), style="dim")
    return text


def _side_table(t: Trajectory) -> Table:
    """Each dynamometry reading by visit and side, normalised, with the side-to-side
    asymmetry against the LSI measurement error (MDC about 27%, preprint rs-9252188)."""
    table = Table(
        title="Dynamometry by visit and side (N·m/kg, % body weight; asymmetry vs LSI MDC)",
        title_justify="left",
    )
    table.add_column("Muscle / action", max_width=18, overflow="fold")
    table.add_column("Visit", no_wrap=True)
    table.add_column("Left / midline", justify="right")
    table.add_column("Right", justify="right")
    table.add_column("LSI", justify="right")
    table.add_column("Asymmetry", max_width=17, overflow="fold")
    pairs = {(s.date, s.muscle, s.action, s.position): s for s in t.side_to_side}
    rows: dict[tuple[str, str, str], dict[dt.date, dict[str | None, DynamometryPoint]]] = {}
    for p in t.dynamometry_readings:
        rows.setdefault((p.muscle, p.action, p.position), {}).setdefault(p.date, {})[p.side] = p
    for (muscle, action, position), visits in rows.items():
        name = f"{muscle.replace('_', ' ')} · {action.replace('_', ' ')} ({position.replace('_', ' ')})"
        for day, sides in visits.items():
            pair = pairs.get((day, muscle, action, position))
            when = (
                "baseline"
                if day == t.baseline_date
                else f"{number(t.weeks_since_treatment(day))} wk"
            )
            midline = sides.keys() == {None}
            if midline:
                left, right = _reading_cell(sides[None]), Text("—", style="dim")
            else:
                left, right = _reading_cell(sides.get("left")), _reading_cell(sides.get("right"))
            if pair is None:
                lsi = Text("—", style="dim")
                verdict = Text("midline muscle" if midline else "one side only", style="dim")
            else:
                a = pair.asymmetry
                lsi = Text(f"{number(a.limb_symmetry_index, 0)}%")
                verdict = Text(
                    f"{number(a.asymmetry_percent, 0)}% {'≥' if a.beyond_measurement_error else '<'} "
                    f"{number(a.mdc_percent, 0)}%\n",
                )
                verdict.append(
                    "possible deficit" if a.beyond_measurement_error else "within error",
                    style="yellow" if a.beyond_measurement_error else "green",
                )
            table.add_row(name, when, left, right, lsi, verdict)
            name = ""
    return table


def _other_tables(t: Trajectory) -> list[Table]:
    tables = []
    if t.dynamometry:
        hhd = Table(title="Hand-held dynamometry, baseline → latest", title_justify="left")
        for col in ("Muscle / action / position", "Before", "After", "Change", "Status"):
            hhd.add_column(col, overflow="fold")
        for c in t.dynamometry:
            hhd.add_row(
                f"{c.muscle} {c.side or ''} / {c.action} / {c.position}",
                f"{number(c.before)} {c.unit}",
                f"{number(c.after)} {c.unit}",
                signed(c.change),
                c.status + (f" (MDC {number(c.mdc)})" if c.mdc is not None else ""),
            )
        tables.append(hhd)
    if t.dynamometry_readings:
        tables.append(_side_table(t))
    if t.function:
        fn = Table(title="Function tests (no hip-OA MCID exists)", title_justify="left")
        fn.add_column("Test", max_width=22, overflow="fold")
        for i in range(len(t.visit_dates)):
            fn.add_column(_visit_header(t, i), justify="right")
        fn.add_column("Change", justify="right")
        for f in t.function:
            decimals = 2 if f.unit == "m/s" else 1
            cells = ["?" if v is None else number(v, decimals) for _, v, _ in f.values]
            change = "?" if f.change is None else signed(f.change, decimals)
            fn.add_row(f"{f.label} ({f.unit})", *cells, change)
        tables.append(fn)
    if t.goals:
        goals = Table(title="Goals (GAS −2 … +2; linked PSFS activity 0–10)", title_justify="left")
        goals.add_column("Goal", max_width=26, overflow="fold")
        for i in range(len(t.visit_dates)):
            goals.add_column(_visit_header(t, i), justify="center")
        goals.add_column("Status", max_width=12, overflow="fold")
        for g in t.goals:
            gas = ["?" if v is None else signed(v, 0) for _, v in g.gas]
            goals.add_row(g.description, *gas, g.progress.status)
            if g.psfs:
                psfs = ["?" if v is None else number(v) for _, v in g.psfs]
                goals.add_row("  PSFS activity", *psfs, "")
        tables.append(goals)
    if t.medications:
        meds = Table(title="Medication use (days per week)", title_justify="left")
        for col in ("Medication", "Class", "Baseline", "Latest", "Change"):
            meds.add_column(col)
        rows = [*t.medications, *([t.nsaid] if t.nsaid else [])]
        for m in rows:
            meds.add_row(
                m.name,
                m.drug_class,
                "?" if m.baseline is None else number(m.baseline),
                "?" if m.latest is None else f"{number(m.latest)} ({m.latest_date})",
                "?" if m.change is None else signed(m.change),
            )
        tables.append(meds)
    if t.omeract_oarsi:
        om = Table(
            title=f"OMERACT-OARSI responder ({t.omeract_oarsi[0].label})", title_justify="left"
        )
        for col in ("Visit", "Responder", "Criterion"):
            om.add_column(col, overflow="fold")
        for o in t.omeract_oarsi:
            answer = {True: "yes", False: "no", None: "unknown"}[o.responder]
            om.add_row(o.date.isoformat(), answer, o.criterion)
        tables.append(om)
    sched = Table(title=f"Follow-up schedule on {t.today}", title_justify="left")
    for col in ("Time point", "Target", "Window", "Status", "Visit"):
        sched.add_column(col)
    for p in t.schedule.time_points[:6]:
        tp = p.time_point
        sched.add_row(
            tp.label,
            tp.target.isoformat(),
            f"{tp.opens:%d %b} – {tp.closes:%d %b %y}",
            p.status,
            "" if p.visit is None else p.visit.isoformat(),
        )
    tables.append(sched)
    return tables


def _summary_panel(title: str, sentences: Sequence[Sentence]) -> Panel:
    body = Text()
    for s in sentences:
        body.append(f"• {s.text}\n")
    return Panel(body, title=title, title_align="left", border_style="cyan")


def render(
    t: Trajectory,
    clinician: Sequence[Sentence],
    patient: Sequence[Sentence],
    console: Console,
) -> None:
    """Print the trajectory tables and both summaries."""
    procedures = "; ".join(f"{p.type} → {p.target}" for p in t.procedures) or "none recorded"
    console.rule(f"[bold]{t.patient_id or 'patient'} · trajectory on {t.today}")
    console.print(
        f"Baseline {t.baseline_date} · treatment {t.treatment_date} ({procedures}) · "
        f"{len(t.visit_dates)} visits. Weeks are counted from the treatment date.",
        highlight=False,
    )
    console.print(
        Text(
            "✔ clinically important (verified MCID, ≥ MDC)  ✔? meets only an unverified "
            "threshold  ↑~/↓~ meets the MCID but within measurement error (< MDC)  "
            "↑/↓ better/worse below the MCID or no MCID  = no change  ? not recorded (unknown)",
            style="dim",
        )
    )
    if t.pain:
        console.print(_measure_table(t, "Pain by region (NPRS 0–10, lower is better)", t.pain, 1))
        console.print(_first_table(t))
    if t.questionnaires:
        console.print(
            _measure_table(
                t, "Questionnaires (value and mark; change in --json)", t.questionnaires, 1
            )
        )
    console.print(Text("Thresholds used", style="bold"))
    console.print(_threshold_lines((*t.pain[:1], *t.questionnaires)))
    if t.strength:
        console.print(_strength_table(t))
    for table in _other_tables(t):
        console.print(table)
    for note in t.notes:
        console.print(Text(f"Rule: {note}", style="dim"))
    for warning in t.warnings:
        console.print(Text(f"Caution: {warning}", style="yellow"))
    console.print(_summary_panel("Summary for the clinician", clinician))
    console.print(_summary_panel("Summary for the patient", patient))

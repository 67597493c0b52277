"""The assessment as a clinician reads it in a terminal (Rich)."""

from __future__ import annotations

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from hipspine.clinical.assessment import Assessment, StageStep, percent
from hipspine.clinical.case import Case
from hipspine.clinical.red_flags import Urgency
from hipspine.clinical.vocabulary import findings

_STATUS = {
    "active": "● active",
    "likely": "◐ likely",
    "not_observed": "○ not observed",
    "not_active": "○ not active",
    "unknown": "? unknown",
}
_URGENCY_STYLE = {
    Urgency.EMERGENCY: "bold white on red",
    Urgency.URGENT: "bold red",
    Urgency.CONSIDER: "yellow",
}


def _percent(p: float | None) -> str:
    return "—" if p is None else percent(p)


def _headline(case: Case, a: Assessment) -> Panel:
    patient = case.patient
    who = " ".join(
        x
        for x in (
            patient.id or "patient",
            f"{patient.age} y" if patient.age else "",
            patient.sex.value,
        )
        if x
    )
    c = a.conclusion
    style = "bold white on red" if c.category == "red_flag" else "bold"
    body = [Text(c.label, style=style)]
    if c.probability is not None:
        body.append(Text(f"estimated probability {_percent(c.probability)}", style="dim"))
    if c.type_reason:
        body.append(Text(f"Why this type: {c.type_reason}."))
    for reason in c.reasons:
        body.append(Text(f"  • {reason}"))
    title = f"{who} · {', '.join(s.value for s in a.sides)} side · after {a.stage.value} · engine {a.engine_version}"
    return Panel(
        Group(*body),
        title=title,
        title_align="left",
        border_style="red" if c.category == "red_flag" else "cyan",
    )


def _red_flags(a: Assessment) -> Group:
    lines: list[Text] = []
    for f in a.red_flags:
        lines.append(
            Text(
                f"{f.urgency.value.upper()}: {f.condition} — {', '.join(f.because)}. {f.action}"
                + (f" Already checked: {'; '.join(f.checked)}." if f.checked else ""),
                style=_URGENCY_STYLE[f.urgency],
            )
        )
        lines.append(Text(f"    {f.citation}", style="dim"))
    if not a.red_flags:
        lines.append(Text("No red flag fired.", style="green"))
    if a.unscreened_red_flags:
        names = ", ".join(
            findings()[x].label.lower() if x in findings() else x for x in a.unscreened_red_flags
        )
        lines.append(Text(f"Not screened (unknown, not negative): {names}.", style="bold yellow"))
    return Group(Text("Red flags", style="bold underline"), *lines)


def _sources(a: Assessment) -> Table:
    table = Table(title="Where is the pain from?", title_justify="left", expand=True)
    table.add_column("Source", ratio=1)
    table.add_column("Prob.", justify="right", no_wrap=True)
    table.add_column("Grade", no_wrap=True)
    table.add_column("Evidence counted (LR, basis)", ratio=3)
    for e in sorted(a.sources, key=lambda e: -e.probability):
        evidence = [
            f"{'▲' if r.weight.lr > 1 else '▼'} {r.rule.short_title}: {r.outcome.replace('_', ' ') if r.outcome else ''} "
            f"(LR {r.weight.lr:.2g}, {r.weight.basis.value.replace('_', ' ')})"
            for r in e.evidence()
            if r.weight and e.is_counted(r)
        ]
        for r in e.results:
            if r.status == "superseded" and r.outcome and r.outcome in r.rule.outcomes:
                evidence.append(
                    f"⊘ {r.rule.short_title}: {r.outcome.replace('_', ' ')} "
                    f"(LR {r.rule.outcomes[r.outcome].lr:.2g} not counted: {r.superseded_by})"
                )
        table.add_row(
            e.name,
            _percent(e.probability),
            e.grade,
            "\n".join(evidence) or "no evidence yet (prior only)",
        )
    return table


def _chain(a: Assessment) -> Group:
    b = a.biomechanics
    lines = [Text("Hip–spine chain", style="bold underline")]
    for link in b.links:
        lines.append(Text(f"{_STATUS[link.status]:14} {link.consequence}"))
        if link.because:
            lines.append(Text(f"{'':15}because: {'; '.join(link.because)}", style="dim"))
        if link.to_examine:
            lines.append(Text(f"{'':15}to examine: {'; '.join(link.to_examine)}", style="yellow"))
    if b.weak_muscles:
        lines.append(Text(f"Weak: {', '.join(b.weak_muscles)}"))
    if b.muscles_to_target:
        lines.append(
            Text(f"Physical therapy should target: {', '.join(b.muscles_to_target)}", style="bold")
        )
    if b.muscles_to_test:
        lines.append(Text(f"Not yet tested: {', '.join(b.muscles_to_test)}", style="yellow"))
    sp = b.spinopelvic
    if sp is not None:
        parts = []
        if sp.mismatch is not None:
            basis = "" if sp.balance_basis == "Haffer 2020" else f"; {sp.balance_basis}"
            parts.append(f"PI−LL {sp.mismatch:+g}° ({sp.balance}{basis})")
        if sp.sacral_slope_change is not None:
            parts.append(
                f"ΔSS standing→sitting {sp.sacral_slope_change:g}° ({sp.mobility}; cut-offs unverified)"
            )
        if sp.pelvic_tilt_change is not None:
            parts.append(f"ΔPT standing→sitting {sp.pelvic_tilt_change:+g}°")
        if sp.lordosis_change is not None:
            parts.append(f"lordosis lost standing→sitting {sp.lordosis_change:g}°")
        if sp.incidence_check:
            parts.append(sp.incidence_check)
        lines.append(Text("Spinopelvic: " + "; ".join(parts)))
    return Group(*lines)


def _named_rules(a: Assessment) -> Group:
    lines: list[Text] = []
    for rule in a.named_rules:
        applied = [r for r in rule.results if r.facts and r.status != "undetermined"]
        waiting = [r for r in rule.results if r.status == "undetermined" and r.facts]
        if not applied and not waiting:
            continue
        lines.append(Text(f"{rule.name} ({rule.citation})", style="bold underline"))
        lines.append(Text(f"  {rule.strength}", style="dim"))
        for r in (*applied, *waiting):
            weight = f" → LR {r.weight.lr:.2g}" if r.weight else " → not counted"
            if r.status == "undetermined":
                weight = " → waiting"
            lines.append(Text(f"  {r.rule.short_title}: {'; '.join(r.facts)}{weight}"))
    return Group(*lines)


def _next(a: Assessment) -> Table:
    table = Table(
        title="Tests that would change the answer most", title_justify="left", expand=True
    )
    table.add_column("Test")
    table.add_column("If …")
    table.add_column("Moves a source by", justify="right")
    for t in a.next_tests:
        outcomes = "\n".join(f"{o.result} → {o.conclusion}" for o in t.outcomes)
        flag = " (changes the conclusion)" if t.changes_conclusion else ""
        table.add_row(t.test + flag, outcomes, f"up to {t.swing:.0%}")
    return table


def render(case: Case, a: Assessment, console: Console) -> None:
    """Print the assessment: conclusion, red flags, sources, chain, unknowns, next tests."""
    console.print(_headline(case, a))
    console.print(_red_flags(a))
    console.print(_sources(a))
    console.print(_named_rules(a))
    console.print(_chain(a))
    if a.unknown:
        console.print(Text("Still unknown", style="bold underline"))
        for note in a.unknown:
            console.print(Text(f"  • {note}", style="yellow"))
    if a.next_tests:
        console.print(_next(a))
    console.print(
        Text(
            "Decision support, not a diagnosis. Probabilities combine published likelihood ratios where they "
            "exist with labelled expert defaults; see docs/clinical/assessment.md.",
            style="dim italic",
        )
    )


def render_stages(case: Case, steps: tuple[StageStep, ...], console: Console) -> None:
    """Print how the assessment evolved through the stages of the visit."""
    table = Table(title="Through the visit", title_justify="left", expand=True)
    table.add_column("After")
    table.add_column("Conclusion")
    table.add_column("What changed and why")
    for step in steps:
        table.add_row(
            step.stage.value, step.assessment.conclusion.label, "\n".join(step.changes) or "—"
        )
    console.print(table)

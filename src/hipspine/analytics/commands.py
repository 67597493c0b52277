"""Command functions for ``hipspine synth`` and ``hipspine cohort report`` (Typer-compatible).

Register them with ``app.command("synth")(synth_command)`` and
``cohort_app.command("report")(cohort_report_command)``. Progress is a Rich bar on a
terminal and one line per tenth of the work otherwise (CI logs, pipes).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from hipspine.analytics import synth
from hipspine.analytics.cohort import Cohort


def _database(*, existing: bool = True) -> Any:
    from hipspine.store.migrate import DatabaseUnavailable, open_database

    try:
        return open_database(existing=existing)
    except DatabaseUnavailable as error:
        Console(stderr=True).print(f"error: {error}", highlight=False, markup=False)
        raise typer.Exit(code=2) from None


def progress_printer(
    label: str, console: Console
) -> tuple[Callable[[int, int], None], Callable[[], None]]:
    """A (report, close) pair: a live bar on a terminal, periodic lines elsewhere."""
    interactive = console.is_terminal and os.environ.get("CI", "").lower() not in (
        "1",
        "true",
        "yes",
    )
    if interactive:
        from rich.progress import Progress

        bar = Progress(console=console, transient=False)
        bar.start()
        task = bar.add_task(label, total=None)

        def report(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        return report, bar.stop
    state = {"next": 0.0, "start": time.monotonic()}

    def line(done: int, total: int) -> None:
        share = done / total if total else 1.0
        if share >= state["next"] or done == total:
            elapsed = time.monotonic() - state["start"]
            console.print(
                f"{label}: {done:,}/{total:,} ({share:.0%}, {elapsed:.0f} s)", highlight=False
            )
            state["next"] = share + 0.1

    return line, lambda: None


def synth_command(
    patients: Annotated[int, typer.Option(help="Number of synthetic patients.")] = 1000,
    seed: Annotated[
        int, typer.Option(help="Random seed; the same seed gives the same registry.")
    ] = 1,
    clinics: Annotated[int, typer.Option(help="Number of synthetic clinics.")] = 3,
) -> None:
    """Write a synthetic hip–spine registry (NOT real patients) into the database.

    Assumptions: hipspine/analytics/assumptions.toml. One audit entry per batch.
    """
    console = Console(stderr=True)
    database = _database(existing=False)
    report, close = progress_printer("synthetic patients", console)
    start = time.monotonic()
    try:
        result = synth.write(database, patients, seed, clinics, progress=report)
    except ValueError as error:
        close()
        raise typer.BadParameter(str(error)) from error
    finally:
        database.dispose()
    close()
    rows = sum(result.rows.values())
    console.print(
        f"wrote {result.patients:,} synthetic patients ({rows:,} rows, {result.batches} batches, "
        f"{result.batches} audit entries) in {time.monotonic() - start:.1f} s",
        highlight=False,
    )


def _tuple(values: list[str] | None) -> tuple[str, ...] | None:
    return tuple(values) if values else None


def cohort_report_command(
    condition: Annotated[
        list[str] | None, typer.Option(help="hip_oa, lumbar_facet, both, other")
    ] = None,
    side: Annotated[list[str] | None, typer.Option(help="left, right, bilateral")] = None,
    treatment: Annotated[list[str] | None, typer.Option(help="procedure type or pt_only")] = None,
    target: Annotated[
        list[str] | None, typer.Option(help="hip, facet, hip_and_facet, other, none")
    ] = None,
    baseline_pain_min: Annotated[
        float | None, typer.Option(help="worst baseline NPRS at least")
    ] = None,
    baseline_pain_max: Annotated[
        float | None, typer.Option(help="worst baseline NPRS at most")
    ] = None,
    kl_grade: Annotated[
        list[int] | None, typer.Option(help="hip Kellgren–Lawrence grade 0–4")
    ] = None,
    age_min: Annotated[int | None, typer.Option()] = None,
    age_max: Annotated[int | None, typer.Option()] = None,
    sex: Annotated[list[str] | None, typer.Option(help="female, male, other, unknown")] = None,
    clinic: Annotated[list[str] | None, typer.Option(help="clinic id")] = None,
    treated_from: Annotated[str | None, typer.Option(help="YYYY-MM-DD")] = None,
    treated_to: Annotated[str | None, typer.Option(help="YYYY-MM-DD")] = None,
    as_of: Annotated[
        str | None, typer.Option(help="registry date YYYY-MM-DD (default today)")
    ] = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="write the report as JSON here")
    ] = None,
    html: Annotated[
        Path | None,
        typer.Option("--html", help="Also write the report as an HTML page with charts."),
    ] = None,
    pdf: Annotated[
        Path | None, typer.Option("--pdf", help="Also write the report as a PDF with charts.")
    ] = None,
) -> None:
    """Compute the registry report for a cohort: JSON plus a terminal summary."""
    from hipspine.analytics.load import load
    from hipspine.analytics.report import registry_report
    from hipspine.store import audit
    from hipspine.store.audit import Actor

    try:
        cohort = Cohort(
            condition=_tuple(condition),
            side=_tuple(side),
            treatment=_tuple(treatment),
            target=_tuple(target),
            baseline_pain_min=baseline_pain_min,
            baseline_pain_max=baseline_pain_max,
            kl_grade=tuple(kl_grade) if kl_grade else None,
            age_min=age_min,
            age_max=age_max,
            sex=_tuple(sex),
            clinic=_tuple(clinic),
            treated_from=dt.date.fromisoformat(treated_from) if treated_from else None,
            treated_to=dt.date.fromisoformat(treated_to) if treated_to else None,
        )
        day = dt.date.fromisoformat(as_of) if as_of else None
    except ValueError as error:
        raise typer.BadParameter(str(error)) from error
    database = _database()
    try:
        with database.transaction() as session:
            actor = Actor(
                user_id=None, role="admin", clinic_id=None, client="hipspine cohort report"
            )
            audit.record(session, actor, "export", "registry")
        registry = load(database, as_of=day)
    finally:
        database.dispose()
    report = registry_report(registry, cohort)
    if json_out is not None:
        json_out.write_text(json.dumps(report.data, indent=1, ensure_ascii=False), encoding="utf-8")
    print_summary(report.data, Console())
    if html is not None or pdf is not None:
        from hipspine.reports.cohort import cohort_report_files

        # Either option alone writes both files side by side; the other takes its suffix.
        html_path = html or pdf.with_suffix(".html")  # type: ignore[union-attr]
        pdf_path = pdf or html_path.with_suffix(".pdf")
        for path in cohort_report_files(report.data, html=html_path, pdf=pdf_path):
            Console().print(f"wrote {path}", highlight=False)


def _pct(rate: float | None) -> str:
    return "–" if rate is None else f"{100 * rate:.0f}%"


def print_summary(data: dict[str, Any], console: Console) -> None:
    """A readable terminal summary of the report (all rows are in the JSON)."""
    from hipspine.reports.wording import turnbull_weeks

    console.print(
        f"[bold]Registry report[/bold] as of {data['as_of']}: {data['cohort']['patients']:,} patients"
    )
    if data["cohort"]["filters"]:
        console.print(f"cohort: {data['cohort']['filters']}")
    table = Table(
        title="Responders (all treatments): clinically important improvement from baseline"
    )
    for column in ("measure", "time point", "rate (95% CI)", "followed / due"):
        table.add_column(column)
    for row in data["responders"]:
        if row["treatment"] == "all":
            table.add_row(
                row["measure"],
                row["time_point"],
                f"{_pct(row['rate'])} ({_pct(row['ci_low'])}–{_pct(row['ci_high'])})",
                f"{row['followed']:,} / {row['due']:,}",
            )
    console.print(table)
    survival = Table(title="Time to first clinically important improvement (Kaplan–Meier)")
    for column in (
        "treatment",
        "region",
        "patients",
        "by 3 months (95% CI)",
        "median weeks (95% CI)",
        "median weeks, between visits (Turnbull)",
    ):
        survival.add_column(column)
    for row in data["time_to_improvement"]:
        by = row["improved_by"]["3 months"]
        lo, hi = row["median_ci_weeks"]
        median = "not reached" if row["median_weeks"] is None else f"{row['median_weeks']:.1f}"
        survival.add_row(
            row["treatment"],
            row["region"],
            f"{row['patients']:,}",
            f"{_pct(by['improved'])} ({_pct(by['ci_low'])}–{_pct(by['ci_high'])})",
            f"{median} ({'–' if lo is None else f'{lo:.1f}'}–{'–' if hi is None else f'{hi:.1f}'})",
            turnbull_weeks(row["median_weeks_turnbull"]),
        )
    console.print(survival)
    a = data["analgesics"]
    if a["patients"]:
        console.print(
            f"Analgesic use ({a['patients']:,} users seen at {a['time_point']}): "
            f"{a['days_per_week_before']:.1f} → {a['days_per_week_after']:.1f} days a week; "
            f"stopped {_pct(a['stopped']['rate'])}, at least halved {_pct(a['at_least_halved']['rate'])}"
        )
    goals = ", ".join(f"{g['time_point']} {_pct(g['rate'])}" for g in data["goals"])
    if goals:
        console.print(f"Goals attained (GAS ≥ 0): {goals}")
    for sentence in data["statements"]:
        console.print(f"• {sentence}", highlight=False)

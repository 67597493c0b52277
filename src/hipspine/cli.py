"""The ``hipspine`` command line."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.console import Console

app = typer.Typer(
    no_args_is_help=True, help="hipspine: hip and low back pain, assessed and followed."
)
schema_app = typer.Typer(no_args_is_help=True, help="Print the JSON Schema of a hipspine document.")
app.add_typer(schema_app, name="schema")
db_app = typer.Typer(no_args_is_help=True, help="The clinic database: schema migrations and audit.")
app.add_typer(db_app, name="db")
cohort_app = typer.Typer(no_args_is_help=True, help="The clinic's outcomes registry.")
app.add_typer(cohort_app, name="cohort")


def _register() -> None:
    """Commands that live beside the code they drive (imported here, run lazily)."""
    from hipspine.analytics.commands import cohort_report_command, synth_command
    from hipspine.fhir.commands import export_command, import_command

    app.command(
        "export", help="Export FHIR R4: one patient's Bundle, or a clinic as Bulk Data NDJSON."
    )(export_command)
    app.command("import", help="Import FHIR R4 Bundles and NDJSON (idempotent, resumable).")(
        import_command
    )

    app.command("synth", help="Generate a synthetic hip–spine registry into the database.")(
        synth_command
    )
    cohort_app.command("report", help="Registry report: responders, time to improvement, bands.")(
        cohort_report_command
    )


EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _fail(message: str) -> typer.Exit:
    Console(stderr=True).print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(code=2)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise _fail(f"{path}: no such file") from None
    except json.JSONDecodeError as error:
        raise _fail(
            f"{path}: not valid JSON (line {error.lineno}, column {error.colno}: {error.msg})"
        ) from None


class BackupFormat(StrEnum):
    sqlite = "sqlite"
    dump = "dump"


class StageName(StrEnum):
    history = "history"
    exam = "exam"
    labs = "labs"
    imaging = "imaging"
    block = "block"


@app.callback()
def main() -> None:
    """hipspine: is this pain from the hip, the spine, or both, and is the patient better?"""


@app.command()
def version() -> None:
    """Print the hipspine version."""
    from hipspine import __version__

    typer.echo(__version__)


@app.command()
def assess(
    case_file: Annotated[Path, typer.Argument(help="A case in the hipspine.case/1 JSON format.")],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the structured result as JSON.")
    ] = False,
    stage: Annotated[
        StageName | None, typer.Option(help="Assess the case as it stood after this stage.")
    ] = None,
    stages: Annotated[
        bool, typer.Option("--stages", help="Show how the answer evolved stage by stage.")
    ] = False,
) -> None:
    """Assess a case: hip, lumbar spine, both, other, or a red flag — with the reasons."""
    from hipspine.clinical.assessment import assess as run
    from hipspine.clinical.assessment import assess_stages, to_dict
    from hipspine.clinical.case import CaseError, parse_case
    from hipspine.clinical.vocabulary import Stage

    try:
        case = parse_case(_read_json(case_file))
    except CaseError as error:
        raise _fail(f"{case_file}: {error}") from None
    through = Stage(stage.value) if stage else None
    result = run(case, through=through)
    if as_json:
        payload = to_dict(result)
        if stages:
            payload["stages"] = [
                {
                    "stage": s.stage.value,
                    "conclusion": s.assessment.conclusion.label,
                    "changes": list(s.changes),
                }
                for s in assess_stages(case)
            ]
        typer.echo(json.dumps(payload, indent=2, ensure_ascii=False))
        return
    from hipspine.reports.assessment_text import render, render_stages

    console = Console()
    if stages:
        render_stages(case, assess_stages(case), console)
    render(case, result, console)


@schema_app.command("case")
def schema_case() -> None:
    """The JSON Schema of the case format (hipspine.case/1)."""
    from hipspine.clinical.case import case_json_schema

    typer.echo(json.dumps(case_json_schema(), indent=2, ensure_ascii=False))


def _database(*, existing: bool = True) -> Any:
    from hipspine.store.migrate import DatabaseUnavailable, open_database

    try:
        return open_database(existing=existing)
    except DatabaseUnavailable as error:
        raise _fail(str(error)) from None


def _progress(label: str) -> Any:
    """A progress callback that prints one line per table (safe when not on a terminal)."""
    console = Console(stderr=True)

    def report(stage: str, done: int, total: int) -> None:
        if done == total and total:
            unit = "pages" if stage == "pages" else f"{stage} rows"
            console.print(f"{label} {total} {unit}", highlight=False)

    return report


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or upgrade the database schema to this version of hipspine."""
    from hipspine.store import migrate

    db = _database(existing=False)
    migrate.upgrade(db)
    typer.echo(
        f"database at revision {migrate.current(db)} ({db.url.render_as_string(hide_password=True)})"
    )


@db_app.command("status")
def db_status() -> None:
    """Show the database, its schema revision and the latest one."""
    from hipspine.store import migrate

    db = _database()
    typer.echo(f"database: {db.url.render_as_string(hide_password=True)}")
    typer.echo(f"revision: {migrate.current(db) or 'empty'} (latest {migrate.head()})")


@db_app.command("verify-audit")
def db_verify_audit() -> None:
    """Check the audit log's hash chain from the first entry to the last."""
    from hipspine.store.audit import verify

    with _database().transaction() as session:
        result = verify(session)
    if result.intact:
        typer.echo(f"audit chain intact: {result.checked} entries")
        return
    raise _fail(
        f"audit chain broken at entry {result.broken_at}: {result.reason} ({result.checked} entries verified before it)"
    )


@app.command()
def backup(
    path: Annotated[Path, typer.Argument(help="File to write the backup to.")],
    format: Annotated[
        BackupFormat | None,
        typer.Option(help="sqlite (file copy, SQLite only) or dump (portable)."),
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing backup file.")] = False,
) -> None:
    """Back up the clinic database (consistent snapshot; the app may keep running; audited)."""
    from hipspine.store.audit import record_command
    from hipspine.store.backup import BackupError
    from hipspine.store.backup import backup as run

    kind: Literal["sqlite", "dump"] | None = None if format is None else format.value
    db = _database()
    try:
        info = run(db, path, format=kind, overwrite=overwrite, progress=_progress("backed up"))
    except BackupError as error:
        raise _fail(str(error)) from None
    # Every patient's data left the database: audited, after the snapshot was taken.
    record_command(db, "backup", "hipspine backup")
    typer.echo(
        f"backup written: {info.path} ({info.format}, revision {info.revision}, {sum(info.rows.values())} rows)"
    )


@app.command()
def restore(
    path: Annotated[Path, typer.Argument(help="A backup written by `hipspine backup`.")],
    replace: Annotated[
        bool, typer.Option(help="Replace a database that already holds data.")
    ] = False,
) -> None:
    """Restore the clinic database from a backup (stop the app first; audited)."""
    from hipspine.store.audit import record_command
    from hipspine.store.backup import BackupError, RestoreRefused
    from hipspine.store.backup import restore as run

    db = _database(existing=False)
    try:
        info = run(db, path, replace=replace, progress=_progress("restored"))
    except (BackupError, RestoreRefused) as error:
        raise _fail(str(error)) from None
    # Appended to the restored chain, so the log itself says it was restored, and when.
    record_command(db, "restore", "hipspine restore")
    typer.echo(
        f"restored {sum(info.rows.values())} rows from {info.path} (revision {info.revision})"
    )


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
) -> None:
    """Run the hipspine web API (migrates the database first)."""
    import uvicorn

    from hipspine.config import load_settings
    from hipspine.store.migrate import open_database
    from hipspine.web import create_app

    settings = load_settings()
    db = open_database(settings.database_url)
    typer.echo(
        f"hipspine on http://{host}:{port}  (OpenAPI description: http://{host}:{port}/openapi.json)"
    )
    # No access log: uvicorn's would print query strings, which can hold patient names.
    uvicorn.run(create_app(db, settings), host=host, port=port, access_log=False)


@app.command("open-clinic")
def open_clinic(
    clinic: Annotated[str, typer.Option(help="The clinic's name.")],
    email: Annotated[str, typer.Option(help="E-mail of the clinic's first administrator.")],
    name: Annotated[str, typer.Option(help="The administrator's name.")],
    password: Annotated[
        str,
        typer.Option(
            prompt=True, hide_input=True, confirmation_prompt=True, help="At least 10 characters."
        ),
    ],
) -> None:
    """Create a clinic and its first administrator (the API cannot create the first one)."""
    from hipspine.config import load_settings
    from hipspine.store.migrate import open_database
    from hipspine.web import WebOptions
    from hipspine.web.auth import open_clinic as create
    from hipspine.web.context import WebContext

    settings = load_settings()
    db = open_database(settings.database_url)
    try:
        clinic_id, user_id = create(
            WebContext(db, settings, WebOptions.from_env()), clinic, email, name, password
        )
    except ValueError as error:
        raise _fail(str(error)) from None
    typer.echo(f"clinic {clinic!r} opened (id {clinic_id}); administrator {email} (id {user_id})")


@app.command()
def docs(
    out: Annotated[Path, typer.Option(help="Folder for the generated pages.")] = Path(
        "docs/clinical"
    ),
) -> None:
    """Write the clinician's reference (from the data files) and the integrator's API
    reference (from OpenAPI) and FHIR reference (from the mappings and their data files)."""
    from hipspine.reports.reference import write
    from hipspine.web.fhir_reference import write as write_fhir
    from hipspine.web.reference import write as write_api

    for path in write(out):
        typer.echo(f"wrote {path}")
    typer.echo(f"wrote {write_api(out.parent / 'integrator')}")
    typer.echo(f"wrote {write_fhir(out.parent / 'integrator')}")


@app.command()
def score(
    instrument: Annotated[str, typer.Argument(help="Instrument id, e.g. odi, hoos, nprs.")],
    answers_file: Annotated[Path, typer.Argument(help="A JSON object: item id → answer.")],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the structured result as JSON.")
    ] = False,
) -> None:
    """Score one questionnaire: score, subscales, band, licence and the missing-data rule."""
    from hipspine.clinical import instruments

    try:
        definition = instruments.get(instrument)
    except KeyError as error:
        raise _fail(str(error.args[0])) from None
    answers = _read_json(answers_file)
    if not isinstance(answers, dict):
        raise _fail(f"{answers_file}: must be a JSON object of item id → answer")
    try:
        result = instruments.score(instrument, answers)
    except instruments.InvalidAnswers as error:
        raise _fail(f"{answers_file}: {error}") from None
    payload: dict[str, Any] = {
        "instrument": definition.id,
        "name": definition.name,
        "version": definition.version,
        "score": result.value,
        "reason": result.reason or None,
        "direction": definition.direction.value,
        "range": [definition.score_min, definition.score_max],
        "band": None if result.band is None else {"id": result.band.id, "label": result.band.label},
        "subscales": {
            k: {
                "name": s.name,
                "score": s.value,
                "answered": s.answered,
                "reason": s.reason or None,
            }
            for k, s in result.subscales.items()
        },
        "answered": result.answered,
        "missing": result.missing,
        "missing_data_rule": {"id": result.missing_rule, "rule": definition.missing_data.rule},
        "explain": result.explain,
        "notes": list(result.notes),
        "licence": {"notice": definition.licence.notice, "terms": definition.licence.terms},
        "source": definition.source,
    }
    if as_json:
        typer.echo(json.dumps(payload, indent=2, ensure_ascii=False))
        return
    console = Console()
    value = "no score" if result.value is None else f"{result.value:.2f}".rstrip("0").rstrip(".")
    band = f" — {result.band.label}" if result.band else ""
    console.print(f"[bold]{definition.name}[/] ({definition.version}): [bold]{value}[/]{band}")
    if result.reason:
        console.print(f"Why no score: {result.reason}", highlight=False)
    for sub in result.subscales.values():
        shown = "no score" if sub.value is None else f"{sub.value:.2f}".rstrip("0").rstrip(".")
        console.print(f"  {sub.name}: {shown}", highlight=False)
    console.print(result.explain, highlight=False)
    console.print(
        f"Answered {result.answered}, missing {result.missing}. Missing-data rule "
        f"({result.missing_rule}): {definition.missing_data.rule}",
        highlight=False,
    )
    for note in result.notes:
        console.print(f"Note: {note}", highlight=False)
    console.print(
        f"[dim]Licence: {definition.licence.notice} {definition.licence.terms}[/]", highlight=False
    )


@app.command()
def trajectory(
    series_file: Annotated[
        Path, typer.Argument(help="A measurement series in the hipspine.series/1 JSON format.")
    ],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the structured result as JSON.")
    ] = False,
    today: Annotated[
        str | None, typer.Option(help="Judge the follow-up schedule on this date (YYYY-MM-DD).")
    ] = None,
    schedule: Annotated[
        str | None,
        typer.Option(
            help="Follow-up time points after treatment, e.g. 0,6w,3m,6m,12m "
            "(0 = baseline, w = weeks, m = months, y = years). Default: baseline, 6 weeks, "
            "3, 6, 12 months, then yearly."
        ),
    ] = None,
) -> None:
    """Show a patient's recovery: change per region and instrument, time to improvement, summaries."""
    from datetime import date

    from hipspine.clinical.schedule import ScheduleError, parse_schedule
    from hipspine.clinical.series import SeriesError, parse_series
    from hipspine.clinical.summary import clinician_summary, patient_summary
    from hipspine.clinical.trajectory import to_dict
    from hipspine.clinical.trajectory import trajectory as run

    try:
        day = date.fromisoformat(today) if today else date.today()
    except ValueError:
        raise _fail(f"--today: {today!r} is not a date (YYYY-MM-DD)") from None
    try:
        rules = None if schedule is None else parse_schedule(schedule)
        result = run(parse_series(_read_json(series_file)), today=day, schedule=rules)
    except ScheduleError as error:
        raise _fail(f"--schedule: {error}") from None
    except SeriesError as error:
        raise _fail(f"{series_file}: {error}") from None
    clinician, patient = clinician_summary(result), patient_summary(result)
    if as_json:
        payload = to_dict(result)
        payload["summary"] = {
            "clinician": [{"text": s.text, "evidence": dict(s.evidence)} for s in clinician],
            "patient": [{"text": s.text, "evidence": dict(s.evidence)} for s in patient],
        }
        typer.echo(json.dumps(payload, indent=2, ensure_ascii=False))
        return
    from hipspine.reports.trajectory_text import render as render_trajectory

    render_trajectory(result, clinician, patient, Console())


@app.command()
def demo(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    cohort: Annotated[int, typer.Option(help="Synthetic patients besides John.")] = 300,
    serve: Annotated[bool, typer.Option(help="Start the app after seeding.")] = True,
) -> None:
    """Start the app on a fresh demo database: John's whole journey and a synthetic cohort."""
    from hipspine.web.demo import demo_command

    demo_command(host=host, port=port, serve=serve, cohort=cohort)


@app.command()
def report(
    patient: Annotated[str, typer.Argument(help="Patient id, record number or exact name.")],
    out: Annotated[Path, typer.Option(help="Where to write the PDF.")] = Path(
        "progress-report.pdf"
    ),
) -> None:
    """Write a patient's PDF progress report (summary, charts, plan, goal)."""
    from hipspine.reports.pdf import report_command

    try:
        written = report_command(patient, out)
    except LookupError as error:
        raise _fail(str(error)) from None
    typer.echo(f"progress report written: {written}")


@app.command()
def tour() -> None:
    """John's journey in the terminal: first-visit assessment, then his recovery."""
    from hipspine.clinical.assessment import assess as run
    from hipspine.clinical.assessment import assess_stages
    from hipspine.clinical.case import parse_case
    from hipspine.reports.assessment_text import render, render_stages

    case = parse_case(_read_json(EXAMPLES / "john.json"))
    console = Console()
    console.rule("[bold]hipspine — John's first visit")
    console.print(
        "John, 58, was diagnosed with right hip osteoarthritis a year ago and takes ibuprofen on bad days; "
        "he has developed severe low back pain. Are his hip and low back pains related?\n"
    )
    render_stages(case, assess_stages(case), console)
    render(case, run(case), console)

    from hipspine.clinical.series import parse_series
    from hipspine.clinical.summary import clinician_summary, patient_summary
    from hipspine.clinical.trajectory import trajectory
    from hipspine.reports.trajectory_text import render as render_trajectory

    series = parse_series(_read_json(EXAMPLES / "john-followup.json"))
    last_visit = max(visit.date for visit in series.visits)
    console.rule("[bold]Eight months after the ultrasound-guided injection of hip and facets")
    result = trajectory(series, today=last_visit)
    render_trajectory(result, clinician_summary(result), patient_summary(result), console)
    console.print(
        "\nFiles: examples/john.json (first visit), examples/john-followup.json (follow-up). Try:\n"
        "  .venv/bin/hipspine assess examples/john.json --stages\n"
        "  .venv/bin/hipspine trajectory examples/john-followup.json --json\n"
        "  .venv/bin/hipspine score odi examples/answers/odi.json"
    )


_register()

if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())

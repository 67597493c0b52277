"""The ``hipspine`` command line."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

app = typer.Typer(
    no_args_is_help=True, help="hipspine: hip and low back pain, assessed and followed."
)
schema_app = typer.Typer(no_args_is_help=True, help="Print the JSON Schema of a hipspine document.")
app.add_typer(schema_app, name="schema")

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


@app.command()
def docs(
    out: Annotated[Path, typer.Option(help="Folder for the generated pages.")] = Path(
        "docs/clinical"
    ),
) -> None:
    """Write the clinician's reference (rules, red flags, vocabulary) from the data files."""
    from hipspine.reports.reference import write

    for path in write(out):
        typer.echo(f"wrote {path}")


@app.command()
def demo() -> None:
    """Show hipspine on John, the canonical patient: his first-visit assessment, stage by stage."""
    from hipspine.clinical.assessment import assess as run
    from hipspine.clinical.assessment import assess_stages
    from hipspine.clinical.case import parse_case
    from hipspine.reports.assessment_text import render, render_stages

    case = parse_case(_read_json(EXAMPLES / "john.json"))
    console = Console()
    console.rule("[bold]hipspine demo — John's first visit")
    console.print(
        "John, 58, was diagnosed with right hip osteoarthritis a year ago and takes ibuprofen on bad days; "
        "he has developed severe low back pain. Are his hip and low back pains related?\n"
    )
    render_stages(case, assess_stages(case), console)
    render(case, run(case), console)
    console.print(
        f"\nThe case file: {EXAMPLES / 'john.json'}  ·  try: hipspine assess examples/john.json --json"
    )


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())

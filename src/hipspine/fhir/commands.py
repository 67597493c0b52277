"""``hipspine export`` and ``hipspine import``: Typer command functions for cli.py.

Progress goes to standard error. On a terminal it is a live line; when output is not a
terminal or ``CI`` is set, Rich's auto-refresh stays off and a one-line summary is printed
every few seconds instead, so logs stay readable.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console
from sqlalchemy import select

from hipspine.store.audit import Actor
from hipspine.store.records import AccessRefused


def _fail(message: str) -> typer.Exit:
    Console(stderr=True).print(f"[bold red]error:[/] {message}", highlight=False)
    return typer.Exit(code=2)


def _database() -> Any:
    from hipspine.store.migrate import open_database

    return open_database()


def interactive() -> bool:
    """Whether live progress may redraw (a terminal, and not under CI)."""
    return sys.stderr.isatty() and not os.environ.get("CI")


class Ticker:
    """Progress that behaves without a terminal: a live status on a TTY, else a line every
    ``every`` seconds."""

    def __init__(self, label: str, every: float = 5.0) -> None:
        self.console = Console(stderr=True)
        self.label, self.every = label, every
        self.live = interactive()
        self._status: Any = None
        self._last = time.monotonic()
        self.started = self._last

    def __enter__(self) -> Ticker:
        if self.live:
            self._status = self.console.status(self.label)
            self._status.start()
        return self

    def update(self, text: str) -> None:
        if self.live and self._status is not None:
            self._status.update(f"{self.label} {text}")
            return
        moment = time.monotonic()
        if moment - self._last >= self.every:
            self._last = moment
            self.console.print(f"{self.label} {text}", highlight=False)

    def __exit__(self, *exc: object) -> None:
        if self._status is not None:
            self._status.stop()


def _actor(db: Any, clinic: str | None) -> Actor:
    """The command-line operator acting as an administrator of one clinic."""
    from hipspine.store.models import Clinic

    with db.transaction() as session:
        clinics = session.execute(select(Clinic.id, Clinic.name)).all()
    if clinic is not None:
        chosen = [c for c in clinics if clinic in (c.id, c.name)]
    else:
        chosen = list(clinics)
    if not clinics:
        raise _fail(
            f"no clinic in the database {db.url.render_as_string(hide_password=True)}: "
            "create one with `hipspine open-clinic`, or set HIPSPINE_DATABASE_URL"
        )
    if len(chosen) != 1:
        names = ", ".join(f"{c.name} ({c.id})" for c in clinics)
        what = "no clinic matches" if clinic else "choose one with --clinic"
        raise _fail(f"{what}; clinics: {names}")
    return Actor(user_id=None, role="admin", clinic_id=chosen[0].id, client="cli")


def export_command(
    patient: Annotated[
        str | None, typer.Argument(help="The patient id whose record to export as a Bundle.")
    ] = None,
    all_: Annotated[
        bool, typer.Option("--all", help="Export the whole clinic as Bulk Data NDJSON files.")
    ] = False,
    out: Annotated[
        Path,
        typer.Option(
            "--out", "-o", help="Bundle file (one patient) or folder (--all); '-' for stdout."
        ),
    ] = Path("-"),
    clinic: Annotated[
        str | None, typer.Option(help="Clinic id or name (needed when there are several).")
    ] = None,
) -> None:
    """Export FHIR R4: one patient's Bundle, or with --all the clinic as NDJSON per type."""
    from hipspine.fhir.exporter import export_all, export_patient

    if (patient is None) == (not all_):
        raise _fail("give a PATIENT id or --all (not both)")
    db = _database()
    try:
        actor = _actor(db, clinic)
        if patient is not None:
            try:
                data = orjson.dumps(export_patient(db, actor, patient), option=orjson.OPT_INDENT_2)
            except AccessRefused:
                raise _fail(f"patient {patient} not found in this clinic") from None
            if str(out) == "-":
                sys.stdout.buffer.write(data + b"\n")
            else:
                out.write_bytes(data + b"\n")
            return
        if str(out) == "-":
            raise _fail("--all writes one file per resource type: give --out FOLDER")
        with Ticker("export") as ticker:
            counts = export_all(
                db, actor, out, progress=lambda stage, n: ticker.update(f"{stage}: {n:,}")
            )
        Console(stderr=True).print(
            "exported " + ", ".join(f"{k} {v:,}" for k, v in sorted(counts.items())),
            highlight=False,
        )
    finally:
        db.dispose()


def import_command(
    files: Annotated[
        list[Path], typer.Argument(help="FHIR Bundles (.json) and/or NDJSON files (.ndjson).")
    ],
    clinic: Annotated[
        str | None, typer.Option(help="Clinic id or name (needed when there are several).")
    ] = None,
) -> None:
    """Import FHIR R4 Bundles and NDJSON (e.g. Synthea output) into the clinic's records.

    Idempotent and resumable: importing the same files again changes nothing. Resources
    hipspine does not keep are counted; bad ones are listed with file, line and reason.
    """
    from hipspine.fhir.importer import Importer

    missing = [str(f) for f in files if not f.exists()]
    if missing:
        raise _fail(f"no such file: {', '.join(missing)}")
    paths: list[Path] = []
    for f in files:
        paths.extend(sorted(p for p in f.rglob("*") if p.is_file()) if f.is_dir() else [f])
    db = _database()
    console = Console(stderr=True)
    try:
        actor = _actor(db, clinic)
        with Ticker("import") as ticker:
            importer = Importer(db, actor, progress=lambda r: ticker.update(r.summary()))
            report = importer.import_files(paths)
        console.print(report.summary(), highlight=False)
        for table, n in sorted(report.stored.items()):
            console.print(f"  stored {table}: {n:,}", highlight=False)
        for (kind, reason), n in sorted(report.unused.items()):
            console.print(f"  unused {kind}: {n:,} ({reason})", highlight=False)
        for problem in report.problems:
            console.print(f"  rejected {problem}", highlight=False)
        if report.problem_count > len(report.problems):
            console.print(
                f"  … and {report.problem_count - len(report.problems):,} more rejected",
                highlight=False,
            )
        if report.problem_count:
            raise typer.Exit(code=1)
    finally:
        db.dispose()

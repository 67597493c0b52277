"""``hipspine export`` and ``hipspine import``: Typer command functions for cli.py.

Progress goes to standard error. On a terminal it is a bar with the percentage done and the
time left; when standard error is not a terminal or ``CI`` is set, one plain line every few
seconds instead, never wrapped, so logs stay readable and greppable.

An export is written to a temporary file or folder beside ``--out`` and moved into place
only when complete: ``--out`` never holds a partial export, and a bad ``--out`` is refused
before anything is read or audited.
"""

from __future__ import annotations

import csv
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any

import orjson
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    Progress,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Column
from sqlalchemy import select

from hipspine.fhir.ndjson import MANIFEST
from hipspine.store.audit import Actor
from hipspine.store.records import AccessRefused

if TYPE_CHECKING:
    from hipspine.fhir.importer import Problem, Report


def _console() -> Console:
    # Soft wrap: a long line stays one line in a log, whatever the width Rich assumes.
    return Console(stderr=True, soft_wrap=True)


def _fail(message: str) -> typer.Exit:
    _console().print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    return typer.Exit(code=2)


def _database() -> Any:
    from hipspine.store.migrate import DatabaseUnavailable, open_database

    try:
        return open_database(existing=True)
    except DatabaseUnavailable as error:
        raise _fail(str(error)) from None


def interactive() -> bool:
    """Whether live progress may redraw (a terminal, and not under CI)."""
    return sys.stderr.isatty() and os.environ.get("CI", "").lower() not in ("1", "true", "yes")


class Meter:
    """Progress of a long command towards a known total, on standard error.

    On a terminal (or the ``console`` given): a bar with the percentage done, the time left
    and a short status. Otherwise: one plain line every ``every`` seconds, such as
    ``export 42% · episode · 12,000 of 28,000 rows · about 1 min left``, written as it is so
    it never wraps.
    """

    def __init__(self, label: str, every: float = 5.0, console: Console | None = None) -> None:
        self.label, self.every = label, every
        self.live = console is not None or interactive()
        self._console = console or Console(stderr=True)
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        self.started = self._last = time.monotonic()

    def __enter__(self) -> Meter:
        if self.live:
            # The status takes the room left and is cut short, never the bar.
            self._progress = Progress(
                TextColumn("{task.description}", table_column=Column(no_wrap=True)),
                BarColumn(bar_width=30),
                TaskProgressColumn(),
                TimeRemainingColumn(),
                TextColumn(
                    "{task.fields[status]}",
                    markup=False,
                    table_column=Column(no_wrap=True, overflow="ellipsis", ratio=1),
                ),
                console=self._console,
                transient=True,
                expand=True,
            )
            self._progress.start()
            self._task = self._progress.add_task(self.label, total=None, status="")
        return self

    def update(self, done: float, total: float | None, status: str) -> None:
        """``done`` of ``total`` (None or 0: not known yet), and what is happening."""
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, completed=done, total=total or None, status=status)
            return
        moment = time.monotonic()
        if moment - self._last >= self.every:
            self._last = moment
            sys.stderr.write(self.line(done, total, status) + "\n")
            sys.stderr.flush()

    def line(self, done: float, total: float | None, status: str) -> str:
        """The one-line form: label, percentage, status and time left (as far as known)."""
        parts = [self.label]
        fraction = min(done / total, 1.0) if total else None
        if fraction is not None:
            parts[0] += f" {fraction:.0%}"
        if status:
            parts.append(status)
        elapsed = time.monotonic() - self.started
        if fraction and fraction < 1 and elapsed > 1:
            parts.append(f"about {_duration(elapsed * (1 - fraction) / fraction)} left")
        return " · ".join(parts)

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{max(round(seconds), 1)} s"
    if seconds < 90 * 60:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"


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


def _patient(db: Any, clinic: str | None, wanted: str) -> tuple[Actor, str]:
    """The patient ``wanted`` names — their id, record number or exact name, as
    ``hipspine report`` takes them — and an administrator of their clinic to act as.

    Without ``--clinic`` every clinic is searched (the patient must be unique across them).
    """
    from hipspine.store.records import named_patients, which_patient

    chosen = _actor(db, clinic) if clinic is not None else None
    with db.transaction() as session:
        found = named_patients(session, wanted, chosen.clinic_id if chosen else None)
    if len(found) != 1:
        where = "this clinic" if chosen else db.url.render_as_string(hide_password=True)
        hint = "" if chosen or not found else " (or --clinic)"
        raise _fail(f"{which_patient(wanted, found)} in {where}{hint}")
    actor = chosen or Actor(user_id=None, role="admin", clinic_id=found[0].clinic_id, client="cli")
    return actor, found[0].id


def _check_out(out: Path, *, folder: bool, replace: bool, option: str = "--out") -> None:
    """Refuse, with a one-line reason, an ``--out`` (or other ``option``) the export cannot be
    written to — before anything is read or audited."""
    where = out.parent
    if not where.is_dir():
        state = "is not a folder" if where.exists() else "does not exist"
        raise _fail(f"{option} {out}: {where} {state}")
    if out.is_symlink():
        raise _fail(f"{option} {out} is a symbolic link: give the path it points to")
    if folder and out.exists():
        if not out.is_dir():
            raise _fail(f"--out {out} is a file: --all writes a folder of NDJSON files")
        found = sorted(entry.name for entry in out.iterdir())
        if found and not replace:
            raise _fail(
                f"--out {out} is not empty: give a new or empty folder, or add --replace "
                "to replace the export in it"
            )
        others = [name for name in found if not _exported(out / name)]
        if others:
            raise _fail(
                f"--out {out} holds files that are not a hipspine export "
                f"({', '.join(others[:3])}): not replacing it; give another folder"
            )
    elif not folder and out.exists():
        if out.is_dir():
            raise _fail(f"{option} {out} is a folder: give a file name")
        if not replace:
            raise _fail(f"{option} {out} exists: add --replace to overwrite it")
    if not os.access(where, os.W_OK | os.X_OK):
        raise _fail(f"{option} {out}: cannot write in {where} (permission denied)")


def _exported(path: Path) -> bool:
    """Whether ``path`` is a file an export writes (what ``--replace`` may remove)."""
    return (
        path.is_file()
        and not path.is_symlink()
        and (path.suffix == ".ndjson" or path.name == MANIFEST)
    )


class _ProblemRows:
    """The ``--report`` CSV of an import: a row per rejected resource (and per transaction
    Bundle refused), in the order found. Reasons name fields, never their values (see
    :mod:`hipspine.fhir.validate`)."""

    def __init__(self, path: Path) -> None:
        self.handle = path.open("w", newline="", encoding="utf-8")
        self.rows = csv.writer(self.handle)
        self.rows.writerow(["file", "where", "reason"])

    def write(self, problem: Problem) -> None:
        self.rows.writerow([problem.file, problem.where, problem.reason])

    def close(self) -> None:
        self.handle.close()


def _terminated(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


@contextmanager
def _staged(out: Path, *, folder: bool, option: str = "--out") -> Iterator[Path]:
    """A new temporary file or folder beside ``out`` (owner-only: it holds patient data) to
    write the export into, moved to ``out`` once the block completes, and removed if it
    fails or is interrupted (Ctrl-C, ``kill``): ``out`` never holds a partial export.

    Only a ``kill -9`` can leave the temporary ``.<name>.*.partial`` behind, never ``out``.
    """
    where = out.absolute().parent
    prefix = f".{out.name}."
    try:
        if folder:
            work = Path(tempfile.mkdtemp(prefix=prefix, suffix=".partial", dir=where))
        else:
            handle, name = tempfile.mkstemp(prefix=prefix, suffix=".partial", dir=where)
            os.close(handle)
            work = Path(name)
    except OSError as error:
        raise _fail(f"{option} {out}: cannot write in {where} ({error.strerror})") from None
    # Only the main thread may handle signals; a handler set outside Python stays as it is.
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.getsignal(signal.SIGTERM)
        if previous is not None:
            signal.signal(signal.SIGTERM, _terminated)
    try:
        yield work
        try:
            _move(work, out)
        except OSError as error:
            raise _fail(f"{option} {out}: could not move it into place ({error})") from None
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        if work.is_dir():
            shutil.rmtree(work, ignore_errors=True)
        elif work.exists():
            work.unlink()


def _move(work: Path, out: Path) -> None:
    """Put ``work`` in the place of ``out``; a folder already there (empty, or an earlier
    export ``--replace`` allows) is moved aside first and removed once ``work`` is in."""
    if not work.is_dir() or not out.exists():
        os.replace(work, out)
        return
    aside = out.with_name(f".{out.name}.{os.getpid()}.old")
    os.replace(out, aside)
    try:
        os.replace(work, out)
    except OSError:
        os.replace(aside, out)
        raise
    shutil.rmtree(aside, ignore_errors=True)


def export_command(
    patient: Annotated[
        str | None,
        typer.Argument(
            help="The patient whose record to export as a Bundle: id, record number or exact "
            "name (as `hipspine report` takes them)."
        ),
    ] = None,
    all_: Annotated[
        bool,
        typer.Option(
            "--all",
            help="Export the whole clinic as Bulk Data NDJSON files (one per resource type) "
            "and their manifest.json.",
        ),
    ] = False,
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            "-o",
            help="Bundle file (one patient; '-' for stdout) or new or empty folder (--all). "
            "Written to a temporary file or folder beside it and moved into place only when "
            "complete.",
        ),
    ] = Path("-"),
    replace: Annotated[
        bool,
        typer.Option(
            "--replace",
            help="Overwrite an existing Bundle file, or replace a folder holding an earlier "
            "export (only .ndjson files and manifest.json; anything else is refused).",
        ),
    ] = False,
    clinic: Annotated[
        str | None, typer.Option(help="Clinic id or name (needed when there are several).")
    ] = None,
) -> None:
    """Export FHIR R4: one patient's Bundle, or with --all the clinic as NDJSON per type.

    Every patient exported gets an ``export`` audit entry, written before their data is.
    """
    from hipspine.fhir.exporter import export_all

    if (patient is None) == (not all_):
        raise _fail("give a PATIENT (id, record number or name) or --all (not both)")
    to_stdout = str(out) == "-"
    if all_ and to_stdout:
        raise _fail("--all writes one file per resource type: give --out FOLDER")
    if not to_stdout:
        _check_out(out, folder=all_, replace=replace)
    db = _database()
    try:
        if patient is not None:
            actor, patient_id = _patient(db, clinic, patient)
            if to_stdout:
                sys.stdout.buffer.write(_bundle(db, actor, patient_id, patient))
                return
            with _staged(out, folder=False) as work:
                work.write_bytes(_bundle(db, actor, patient_id, patient))
            _console().print(f"exported {patient} to {out}", highlight=False, markup=False)
            return
        actor = _actor(db, clinic)
        with _staged(out, folder=True) as work, Meter("export") as meter:
            counts = export_all(
                db,
                actor,
                work,
                progress=lambda stage, done, total: meter.update(
                    done, total, f"{stage} · {done:,} of {total:,} rows"
                ),
            )
        written = ", ".join(f"{k} {v:,}" for k, v in sorted(counts.items()) if v)
        _console().print(
            f"exported to {out}: {written or 'no records (the clinic has no patients yet)'}",
            highlight=False,
            markup=False,
        )
    finally:
        db.dispose()


def _bundle(db: Any, actor: Actor, patient_id: str, named: str) -> bytes:
    """The patient's record as an indented Bundle (an audited export)."""
    from hipspine.fhir.exporter import export_patient

    try:
        data = orjson.dumps(export_patient(db, actor, patient_id), option=orjson.OPT_INDENT_2)
    except AccessRefused:
        raise _fail(f"patient {named} not found in this clinic") from None
    return data + b"\n"


def import_command(
    files: Annotated[
        list[Path], typer.Argument(help="FHIR Bundles (.json) and/or NDJSON files (.ndjson).")
    ],
    clinic: Annotated[
        str | None, typer.Option(help="Clinic id or name (needed when there are several).")
    ] = None,
    report_file: Annotated[
        Path | None,
        typer.Option(
            "--report",
            help="Also write every rejected resource to this CSV file (file, where, reason; "
            "the screen lists the first 1,000). Written once the import ends; overwritten.",
        ),
    ] = None,
) -> None:
    """Import FHIR R4 Bundles and NDJSON (e.g. Synthea output) into the clinic's records.

    Idempotent and resumable: importing the same files again changes nothing. Resources
    hipspine does not keep are counted; bad ones are listed with file, line and reason (all
    of them in the ``--report`` file, in the order found). In a folder, its .json and
    .ndjson files are read (not hidden ones, nor a Bulk Data manifest.json); other files are
    named, not read.
    """
    from hipspine.fhir.importer import Importer

    missing = [str(f) for f in files if not f.exists()]
    if missing:
        raise _fail(f"no such file: {', '.join(missing)}")
    paths: list[Path] = []
    unreadable: list[_Unread] = []
    skipped: list[Path] = []
    for f in files:
        if f.is_dir():
            found, unread, other = _folder(f)
            paths += found
            unreadable += unread
            skipped += other
        else:
            paths.append(f)
    bulk = sorted({p for p in paths if p.suffix in _NDJSON})
    bundles = sorted({p for p in paths if p.suffix not in _NDJSON})
    if report_file is not None:
        _check_out(report_file, folder=False, replace=True, option="--report")
    db = _database()
    console = _console()
    try:
        actor = _actor(db, clinic)
        if skipped:
            shown = ", ".join(str(p) for p in skipped[:5])
            more = f" and {len(skipped) - 5:,} more" if len(skipped) > 5 else ""
            console.print(
                f"not read (not .json or .ndjson): {shown}{more}", highlight=False, markup=False
            )
        importer: Importer | None = None
        listing = _staged(report_file, folder=False, option="--report") if report_file else None
        try:
            with listing or nullcontext() as work, Meter("import") as meter:
                gauge = _ImportGauge(meter, bundles, bulk)
                importer = Importer(db, actor, progress=gauge)
                rows = _ProblemRows(work) if work else None
                importer.report.listener = rows.write if rows else None
                for trouble in unreadable:
                    importer.report.problem(*trouble)
                # Bundles one at a time (as the importer takes them), so each counts done.
                for path in bundles:
                    importer.import_files([path])
                    gauge.bundle_done(path, importer.report)
                if bulk:
                    gauge.bulk_started(importer.report)
                    importer.import_files(bulk)
                report = importer.report
                if rows:
                    rows.close()
        except KeyboardInterrupt:
            stored = importer.report.stored_total if importer is not None else 0
            console.print(
                f"interrupted after storing {stored:,} records, each patient whole or not at "
                "all: run the same command again to import the rest (nothing is imported twice)",
                highlight=False,
                markup=False,
            )
            raise typer.Exit(code=130) from None
        console.print(report.summary(), highlight=False, markup=False)
        for table, n in sorted(report.stored.items()):
            if n:
                console.print(f"  stored {table}: {n:,}", highlight=False, markup=False)
        for (kind, reason), n in sorted(report.unused.items()):
            console.print(f"  unused {kind}: {n:,} ({reason})", highlight=False, markup=False)
        for problem in report.in_order():
            console.print(f"  rejected {problem}", highlight=False, markup=False)
        if report.unlisted:
            console.print(
                f"  … and {report.unlisted:,} more rejected",
                highlight=False,
            )
        if report_file is not None:
            refused = f" and refused transaction ({report.refusals:,})" if report.refusals else ""
            console.print(
                f"every rejected resource ({report.problem_count:,}){refused}: {report_file}",
                highlight=False,
                markup=False,
            )
        if report.problem_count:
            raise typer.Exit(code=1)
    finally:
        db.dispose()


_NDJSON = (".ndjson", ".jsonl")
_FHIR_FILES = (".json", *_NDJSON, ".gz")
"""What a folder's files must end with to be imported (a ``.gz`` is named, to decompress)."""


_Unread = tuple[str, str, str]
"""(path, "file" or "folder", why) of what a folder import could not read or misses."""


def _folder(folder: Path) -> tuple[list[Path], list[_Unread], list[Path]]:
    """A folder's FHIR files (all its subfolders' too), what could not be read or is
    missing (with why), and its other files, which are not read.

    Hidden files and folders (an editor's, the operating system's, an interrupted export's
    ``.name.partial``) are left out; a Bulk Data ``manifest.json`` is not imported but its
    files are checked against it (:func:`_short_of`).
    """
    found: list[Path] = []
    unreadable: list[_Unread] = []
    other: list[Path] = []

    def refused(error: OSError) -> None:
        unreadable.append((str(error.filename), "folder", f"not readable: {error.strerror}"))

    for root, folders, names in os.walk(folder, onerror=refused):
        folders[:] = sorted(name for name in folders if not name.startswith("."))
        for name in sorted(names):
            path = Path(root) / name
            if name == MANIFEST:
                unreadable += _short_of(path)
            if name.startswith(".") or name == MANIFEST:
                continue
            (found if path.suffix in _FHIR_FILES else other).append(path)
    return found, unreadable, other


def _short_of(manifest: Path) -> list[_Unread]:
    """What a Bulk Data manifest lists that its folder does not hold: a file missing, or
    with fewer or more lines than the resources listed (a transfer cut short).

    Only files named relative to the manifest, as a downloaded or hipspine export is laid
    out, are checked; a server's absolute URLs name no file here.
    """
    try:
        listed = orjson.loads(manifest.read_bytes()).get("output") or []
    except (OSError, orjson.JSONDecodeError, AttributeError):
        return [(str(manifest), "file", "not a readable Bulk Data manifest: nothing checked")]
    short: list[_Unread] = []
    for item in listed:
        url = item.get("url") if isinstance(item, dict) else None
        if not isinstance(url, str) or "://" in url:
            continue
        path, count = manifest.parent / url, item.get("count")
        if not path.is_file():
            short.append((str(path), "file", f"missing; {MANIFEST} lists {count} resources in it"))
        elif isinstance(count, int) and (found := _lines(path)) != count:
            short.append(
                (str(path), "file", f"{found:,} lines; {MANIFEST} lists {count:,} resources")
            )
    return short


def _size(path: Path) -> int:
    """The bytes of ``path``, or none if it cannot be read (the import names it)."""
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _lines(path: Path) -> int:
    """How many lines ``path`` has (its newlines, and a last line without one), read in
    large blocks: a small fraction of what importing it costs. An unreadable file counts
    none (the import names it)."""
    count, last = 0, b"\n"
    try:
        with path.open("rb") as handle:
            while block := handle.read(1 << 20):
                count += block.count(b"\n")
                last = block[-1:]
    except OSError:
        return 0
    return count + (last != b"\n")


class _ImportGauge:
    """How far an import is, in bytes of its input, for a :class:`Meter`.

    A Bundle counts once imported. NDJSON is imported in two passes (read every line, then
    store whole patients): half its bytes follow the lines read, of those counted up front;
    the other half the resources stored (or found already there), of those the first pass
    kept.
    """

    def __init__(self, meter: Meter, bundles: list[Path], bulk: list[Path]) -> None:
        self.meter = meter
        meter.update(0, None, "counting lines")
        self.bulk_bytes = sum(_size(p) for p in bulk)
        self.total = self.bulk_bytes + sum(_size(p) for p in bundles)
        self.bulk_lines = sum(_lines(p) for p in bulk)
        self.done = 0.0
        self.start: Report | None = None  # the counts when the NDJSON import began
        self.kept: int | None = None  # resources the first pass kept, once it is over

    def bundle_done(self, path: Path, report: Report) -> None:
        self.done += _size(path)
        self(report)

    def bulk_started(self, report: Report) -> None:
        from hipspine.fhir.importer import Report

        self.start = Report(report.read, already=report.already, problem_count=report.problem_count)
        self.start.stored.update(report.stored)
        self.start.unused.update(report.unused)
        self(report)

    def __call__(self, report: Report) -> None:
        at, phase = self.done, "reading"
        if self.start is not None:
            start = self.start
            read = report.read - start.read
            stored = report.stored_total + report.already - start.stored_total - start.already
            if self.kept is None and stored > 0:  # the second pass has begun
                unused = sum(report.unused.values()) - sum(start.unused.values())
                self.kept = read - unused - (report.problem_count - start.problem_count)
            half = self.bulk_bytes / 2
            if self.kept is None:
                at += half * min(read / max(self.bulk_lines, 1), 1.0)
            else:
                phase = "storing"
                at += half + half * min(stored / max(self.kept, 1), 1.0)
        self.meter.update(at, self.total, f"{phase} · {report.summary()}")

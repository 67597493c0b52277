"""Backup and restore that give back an identical database.

Two formats, chosen by :func:`backup` and recognised by :func:`restore` from the file's
first bytes:

``sqlite``
    The default on SQLite: a copy of the database file made with SQLite's online backup
    API (``sqlite3.Connection.backup``) from one consistent snapshot, while the clinic keeps
    working. Restored onto SQLite with the same API, in one write transaction.

``dump``
    The default on PostgreSQL, and available on SQLite for moving to PostgreSQL: a portable,
    gzip-compressed JSON-lines file (format ``hipspine-dump``, version 1)::

        {"format": "hipspine-dump", "version": 1, "revision": "0002", "dialect": ..., ...}
        {"table": "clinic", "columns": ["id", ...], "types": ["plain", "datetime", ...]}
        ["3f0c...", "2026-11-24T20:48:58.912297+00:00", ...]      one JSON array per row
        ...                                                         every table, parents first
        {"end": true, "rows": {"clinic": 2, ...}}

    Written from one read-only snapshot (``REPEATABLE READ`` on PostgreSQL), so rows and
    audit chain agree. JSON columns are kept as their stored text, so JSON ``null`` and SQL
    ``NULL`` stay distinct; date-times keep their UTC offset. A file without its closing
    line (a truncated copy) is refused.

Either format is restored **in one transaction** into an empty database (created, or
migrated, to the backup's schema revision), then migrated to this version's latest
revision. :func:`restore` refuses a non-empty database unless ``replace=True``, and
refuses a backup from a newer schema revision than this version of hipspine knows.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import IO, Any, Literal

import sqlalchemy as sa
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError

from hipspine.store.db import Database, private_file, private_folder
from hipspine.store.migrate import SCRIPTS, migrating, step

__all__ = ["BackupError", "BackupInfo", "Progress", "RestoreRefused", "backup", "restore"]

Format = Literal["sqlite", "dump"]
Progress = Callable[[str, int, int], None]
"""Called as ``progress(stage, done, total)``: a table name and rows, or ``"pages"``."""

DUMP_FORMAT = "hipspine-dump"
DUMP_VERSION = 1
_SQLITE_MAGIC = b"SQLite format 3\x00"
_GZIP_MAGIC = b"\x1f\x8b"
_VERSION_TABLE = "alembic_version"
_BATCH = 1000
_PAGES_PER_STEP = 1024


class BackupError(RuntimeError):
    """A backup could not be written or read (bad file, unknown format, truncated)."""


class RestoreRefused(BackupError):
    """Restoring would destroy data or the backup does not fit this version of hipspine."""


@dataclass(frozen=True)
class BackupInfo:
    """What a backup or restore handled: file, format, schema revision, rows per table."""

    path: Path
    format: Format
    revision: str
    rows: Mapping[str, int] = field(default_factory=dict)


# -- public API ---------------------------------------------------------------------------


def backup(
    db: Database,
    path: str | Path,
    *,
    format: Format | None = None,
    overwrite: bool = False,
    progress: Progress | None = None,
) -> BackupInfo:
    """Write a consistent backup of ``db`` to ``path`` and return what it holds.

    ``format`` defaults to ``"sqlite"`` on SQLite and ``"dump"`` on PostgreSQL. The file
    appears at ``path`` only once complete (written beside it, then renamed), so a failed
    or interrupted backup never leaves a file that looks whole. The file is readable by its
    owner only (``0600``), and so is a folder created for it (``0700``).
    """
    target = Path(path)
    if target.exists() and not overwrite:
        raise BackupError(f"{target} exists; choose another path or pass overwrite=True")
    chosen: Format = format or ("sqlite" if db.is_sqlite else "dump")
    if chosen == "sqlite" and not db.is_sqlite:
        raise BackupError("format 'sqlite' needs a SQLite database; use format 'dump'")
    revision = _current_revision(db.engine)
    if revision is None:
        raise BackupError("the database has no hipspine schema (run the migrations first)")
    private_folder(target.parent)
    partial = target.with_name(f".{target.name}.partial")
    partial.unlink(missing_ok=True)
    try:
        # Created owner-only before anything is written: a backup holds every patient.
        private_file(partial)
        if chosen == "sqlite":
            rows = _backup_sqlite(db, partial, progress)
        else:
            rows = _backup_dump(db, partial, progress)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return BackupInfo(target, chosen, revision, rows)


def restore(
    db_or_url: Database | str,
    path: str | Path,
    *,
    replace: bool = False,
    progress: Progress | None = None,
) -> BackupInfo:
    """Restore the backup at ``path`` into a database and return what was restored.

    The database must be empty (no schema, or migrated with no rows) unless ``replace`` is
    true, in which case everything in it is dropped first — in the same transaction as the
    restore, so a failed restore leaves it as it was. Afterwards the schema is at this
    version's latest revision.
    """
    source = Path(path)
    kind = _detect(source)
    db = Database(db_or_url) if isinstance(db_or_url, str) else db_or_url
    try:
        if kind == "sqlite" and db.is_sqlite:
            return _restore_sqlite_file(db, source, replace, progress)
        with _open_rows(source, kind) as dump:
            return _restore_rows(db, source, kind, dump, replace, progress)
    finally:
        if isinstance(db_or_url, str):
            db.dispose()


# -- schema revisions ---------------------------------------------------------------------


def _script() -> ScriptDirectory:
    config = Config()
    config.set_main_option("script_location", str(SCRIPTS))
    return ScriptDirectory.from_config(config)


def _current_revision(bind: sa.Engine | sa.Connection) -> str | None:
    if isinstance(bind, sa.Connection):
        return MigrationContext.configure(bind).get_current_revision()
    with bind.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def _check_known(revision: str) -> None:
    try:
        known = _script().get_revision(revision)
    except CommandError:
        known = None
    if known is None:
        raise RestoreRefused(
            f"the backup is at schema revision {revision!r}, which this version of hipspine "
            "does not know (made by a newer version?): upgrade hipspine, then restore"
        )


def _is_older(revision: str, than: str) -> bool:
    """Whether ``revision`` comes before ``than`` in the (linear) migration history."""
    order = [r.revision for r in reversed(list(_script().walk_revisions()))]
    return order.index(revision) < order.index(than)


# -- tables and values --------------------------------------------------------------------


def _reflect(connection: sa.Connection) -> list[sa.Table]:
    """Every hipspine table, parents before children (foreign-key order)."""
    metadata = sa.MetaData()
    metadata.reflect(connection)
    return [t for t in metadata.sorted_tables if t.name != _VERSION_TABLE]


def _kind(column: sa.Column[Any]) -> str:
    kind = column.type
    if isinstance(kind, sa.JSON):
        return "json"
    if isinstance(kind, sa.DateTime):
        return "datetime"
    if isinstance(kind, sa.Date):
        return "date"
    if isinstance(kind, sa.Time):
        return "time"
    if isinstance(kind, sa.LargeBinary):
        return "bytes"
    if isinstance(kind, sa.Numeric) and not isinstance(kind, sa.Float):
        return "decimal"
    return "plain"


def _selectable(column: sa.Column[Any]) -> sa.ColumnElement[Any]:
    # JSON travels as its stored text: JSON null stays distinct from SQL NULL, and the
    # text comes back byte for byte.
    if isinstance(column.type, sa.JSON):
        return sa.cast(column, sa.Text).label(column.name)
    return column


def _encode(value: Any) -> Any:
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, bytes | memoryview):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _decoder(kind: str, column: sa.Column[Any], dialect: str) -> Callable[[Any], Any]:
    aware = bool(getattr(column.type, "timezone", False))

    def as_datetime(text: str) -> datetime:
        moment = datetime.fromisoformat(text)
        if dialect == "sqlite" and moment.tzinfo is not None:
            # SQLite keeps date-times as naive UTC text (as hipspine writes them).
            return moment.astimezone(UTC).replace(tzinfo=None)
        if dialect != "sqlite" and aware and moment.tzinfo is None:
            return moment.replace(tzinfo=UTC)
        return moment

    decoders: dict[str, Callable[[Any], Any]] = {
        "datetime": as_datetime,
        "date": date.fromisoformat,
        "time": time.fromisoformat,
        "bytes": base64.b64decode,
        "decimal": Decimal,
    }
    decode = decoders.get(kind)
    if decode is None:
        return lambda value: value
    return lambda value: None if value is None else decode(value)


def _param(index: int) -> str:
    return f"p{index}"


def _insert(table: sa.Table, columns: Sequence[str], dialect: str) -> sa.Insert:
    """INSERT with one parameter per column, named by position (``p0``, ``p1``, …)."""
    values: dict[str, Any] = {}
    for index, name in enumerate(columns):
        column = table.c[name]
        if isinstance(column.type, sa.JSON):
            text = sa.bindparam(_param(index), type_=sa.Text)
            # SQLite stores JSON as text already; CAST(... AS JSON) there would mean NUMERIC.
            values[name] = text if dialect == "sqlite" else sa.cast(text, column.type)
        else:
            values[name] = sa.bindparam(_param(index), type_=column.type)
    return sa.insert(table).values(values)


def _count_rows(connection: sa.Connection, tables: Sequence[sa.Table]) -> dict[str, int]:
    return {
        t.name: int(connection.execute(sa.select(sa.func.count()).select_from(t)).scalar_one())
        for t in tables
    }


# -- SQLite file format -------------------------------------------------------------------


def _backup_sqlite(db: Database, partial: Path, progress: Progress | None) -> dict[str, int]:
    raw = db.engine.raw_connection()
    try:
        source = raw.driver_connection
        assert isinstance(source, sqlite3.Connection)
        destination = sqlite3.connect(partial)
        try:

            def report(_status: int, remaining: int, total: int) -> None:
                if progress is not None:
                    progress("pages", total - remaining, total)

            source.backup(destination, pages=_PAGES_PER_STEP, progress=report, sleep=0)
            # The copy keeps the source's WAL flag; make the file self-contained.
            destination.execute("PRAGMA journal_mode=DELETE")
            tables = [
                r[0]
                for r in destination.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table' "
                    "AND name NOT LIKE 'sqlite_%' AND name != ?",
                    (_VERSION_TABLE,),
                )
            ]
            return {
                name: destination.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0]
                for name in tables
            }
        finally:
            destination.close()
    finally:
        raw.close()


def _sqlite_file_revision(path: Path) -> str | None:
    connection = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)
    try:
        row = connection.execute(f"SELECT version_num FROM {_VERSION_TABLE}").fetchone()
    except sqlite3.DatabaseError as error:
        raise BackupError(f"{path} is not a hipspine SQLite backup: {error}") from None
    finally:
        connection.close()
    return None if row is None else str(row[0])


def _restore_sqlite_file(
    db: Database, source: Path, replace: bool, progress: Progress | None
) -> BackupInfo:
    revision = _sqlite_file_revision(source)
    if revision is None:
        raise BackupError(f"{source} holds no schema revision")
    _check_known(revision)
    with db.engine.connect() as connection:
        _refuse_unless_empty(connection, replace)
        connection.rollback()
    db.dispose()
    origin = sqlite3.connect(f"file:{source}?mode=ro&immutable=1", uri=True)
    destination = sqlite3.connect(str(db.url.database), timeout=30)
    try:

        def report(_status: int, remaining: int, total: int) -> None:
            if progress is not None:
                progress("pages", total - remaining, total)

        # The destination stays write-locked from the first step to the last: other
        # connections see the old database or the restored one, nothing in between.
        origin.backup(destination, pages=_PAGES_PER_STEP, progress=report, sleep=0)
        destination.execute("PRAGMA journal_mode=WAL")
    finally:
        destination.close()
        origin.close()
    with migrating(db) as connection:
        if _is_older(revision, _script().get_current_head() or revision):
            step(connection, "head")
        tables = _reflect(connection)
        rows = _count_rows(connection, tables)
        final = _current_revision(connection) or revision
    return BackupInfo(source, "sqlite", final, rows)


# -- portable dump format -----------------------------------------------------------------


@contextmanager
def _snapshot(db: Database) -> Iterator[sa.Connection]:
    """A connection reading one consistent state of the whole database."""
    if db.is_sqlite:
        # Every hipspine transaction on SQLite begins IMMEDIATE: writers wait meanwhile.
        with db.engine.connect() as connection, connection.begin():
            yield connection
        return
    options = {"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}
    with db.engine.connect().execution_options(**options) as connection, connection.begin():
        yield connection


def _backup_dump(db: Database, partial: Path, progress: Progress | None) -> dict[str, int]:
    rows: dict[str, int] = {}
    with _snapshot(db) as connection, gzip.open(partial, "wt", encoding="utf-8") as out:
        revision = _current_revision(connection)
        tables = _reflect(connection)
        totals = _count_rows(connection, tables)
        _write(
            out,
            {
                "format": DUMP_FORMAT,
                "version": DUMP_VERSION,
                "revision": revision,
                "dialect": connection.dialect.name,
                "created_at": datetime.now(UTC).isoformat(),
                "tables": [t.name for t in tables],
            },
        )
        for table in tables:
            columns = list(table.columns)
            _write(
                out,
                {
                    "table": table.name,
                    "columns": [c.name for c in columns],
                    "types": [_kind(c) for c in columns],
                },
            )
            order = list(table.primary_key.columns) or columns
            query = sa.select(*(_selectable(c) for c in columns)).order_by(*order)
            result = connection.execution_options(yield_per=_BATCH).execute(query)
            done = 0
            for partition in result.partitions():
                for row in partition:
                    _write(out, [_encode(v) for v in row])
                done += len(partition)
                if progress is not None:
                    progress(table.name, done, totals[table.name])
            if progress is not None and done == 0:
                progress(table.name, 0, 0)
            rows[table.name] = done
        _write(out, {"end": True, "rows": rows})
    return rows


def _write(out: IO[str], item: Any) -> None:
    out.write(json.dumps(item, ensure_ascii=False, separators=(",", ":")))
    out.write("\n")


@dataclass
class _TableRows:
    name: str
    columns: list[str]
    types: list[str]
    rows: Iterator[list[Any]]


@dataclass
class _Dump:
    revision: str
    tables: Iterator[_TableRows]
    counted: dict[str, int] = field(default_factory=dict)
    complete: bool = False
    expected: dict[str, int] = field(default_factory=dict)


@contextmanager
def _open_rows(path: Path, kind: Format) -> Iterator[_Dump]:
    if kind == "dump":
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            yield _read_dump(path, handle)
        return
    engine = sa.create_engine(f"sqlite:///file:{path}?mode=ro&immutable=1&uri=true")
    try:
        with engine.connect() as connection:
            revision = _current_revision(connection)
            if revision is None:
                raise BackupError(f"{path} holds no schema revision")
            yield _read_sqlite(connection, revision)
    finally:
        engine.dispose()


def _read_dump(path: Path, handle: IO[str]) -> _Dump:
    try:
        header = json.loads(handle.readline() or "null")
    except (OSError, EOFError, ValueError) as error:
        raise BackupError(f"{path} is not a readable hipspine dump: {error}") from None
    if not isinstance(header, dict) or header.get("format") != DUMP_FORMAT:
        raise BackupError(f"{path} is not a hipspine dump")
    if header.get("version") != DUMP_VERSION:
        raise RestoreRefused(
            f"{path} is dump format version {header.get('version')}; this version of "
            f"hipspine reads version {DUMP_VERSION}"
        )
    dump = _Dump(str(header["revision"]), iter(()))

    def lines() -> Iterator[Any]:
        try:
            for line in handle:
                yield json.loads(line)
        except (OSError, EOFError, ValueError) as error:
            raise BackupError(f"{path} is damaged or truncated: {error}") from None

    stream = lines()
    pending: list[Any] = []

    def rows_of(name: str) -> Iterator[list[Any]]:
        for item in stream:
            if isinstance(item, list):
                dump.counted[name] = dump.counted.get(name, 0) + 1
                yield item
                continue
            pending.append(item)
            return

    def tables() -> Iterator[_TableRows]:
        item = next(stream, None)
        while isinstance(item, dict) and "table" in item:
            name = str(item["table"])
            dump.counted[name] = 0
            yield _TableRows(name, list(item["columns"]), list(item["types"]), rows_of(name))
            item = pending.pop() if pending else next(stream, None)
        if isinstance(item, dict) and item.get("end") is True:
            dump.complete = True
            dump.expected = {str(k): int(v) for k, v in item["rows"].items()}

    dump.tables = tables()
    return dump


def _read_sqlite(connection: sa.Connection, revision: str) -> _Dump:
    tables = _reflect(connection)
    dump = _Dump(revision, iter(()), complete=True, expected=_count_rows(connection, tables))

    def rows_of(table: sa.Table) -> Iterator[list[Any]]:
        query = sa.select(*(_selectable(c) for c in table.columns)).order_by(
            *(list(table.primary_key.columns) or list(table.columns))
        )
        for row in connection.execute(query):
            dump.counted[table.name] = dump.counted.get(table.name, 0) + 1
            yield [_encode(v) for v in row]

    def each() -> Iterator[_TableRows]:
        for table in tables:
            dump.counted[table.name] = 0
            columns = list(table.columns)
            yield _TableRows(
                table.name, [c.name for c in columns], [_kind(c) for c in columns], rows_of(table)
            )

    dump.tables = each()
    return dump


def _refuse_unless_empty(connection: sa.Connection, replace: bool) -> None:
    if replace or _current_revision(connection) is None:
        return
    occupied = {name: n for name, n in _count_rows(connection, _reflect(connection)).items() if n}
    if occupied:
        summary = ", ".join(f"{n} in {name}" for name, n in sorted(occupied.items()))
        raise RestoreRefused(
            f"the database is not empty ({summary}); restore into an empty database, "
            "or pass replace=True to drop everything in it first"
        )


def _restore_rows(
    db: Database,
    source: Path,
    kind: Format,
    dump: _Dump,
    replace: bool,
    progress: Progress | None,
) -> BackupInfo:
    _check_known(dump.revision)
    dialect = db.engine.dialect.name
    # One transaction from the schema to the last row; on SQLite foreign keys are checked
    # once, at the end (see migrating), so tables may be filled in any order.
    with migrating(db) as connection:
        _refuse_unless_empty(connection, replace)
        current = _current_revision(connection)
        if current is not None and (replace or _is_older(dump.revision, current)):
            # Empty (or to be replaced): take the schema down to the backup's revision.
            step(connection, "base" if replace else dump.revision, down=True)
        step(connection, dump.revision)
        tables = {t.name: t for t in _reflect(connection)}
        for part in dump.tables:
            table = tables.get(part.name)
            if table is None or set(part.columns) != {c.name for c in table.columns}:
                raise BackupError(
                    f"table {part.name!r} in {source} does not match schema revision "
                    f"{dump.revision}"
                )
            decoders = [
                _decoder(t, table.c[c], dialect)
                for c, t in zip(part.columns, part.types, strict=True)
            ]
            statement = _insert(table, part.columns, dialect)
            total = dump.expected.get(part.name, 0)
            done = 0
            batch: list[dict[str, Any]] = []
            for row in part.rows:
                batch.append(
                    {_param(i): d(v) for i, (d, v) in enumerate(zip(decoders, row, strict=True))}
                )
                if len(batch) >= _BATCH:
                    connection.execute(statement, batch)
                    done += len(batch)
                    batch = []
                    if progress is not None:
                        progress(part.name, done, max(total, done))
            if batch:
                connection.execute(statement, batch)
                done += len(batch)
            if progress is not None:
                progress(part.name, done, max(total, done))
        if not dump.complete:
            raise BackupError(f"{source} is truncated: it lacks its closing line")
        if dump.expected != dump.counted:
            raise BackupError(
                f"{source} is inconsistent: rows per table {dump.counted} but its closing "
                f"line says {dump.expected}"
            )
        if dialect == "postgresql":
            _reset_sequences(connection, list(tables.values()))
        step(connection, "head")
        final = _current_revision(connection) or dump.revision
    return BackupInfo(source, kind, final, dict(dump.counted))


def _reset_sequences(connection: sa.Connection, tables: Sequence[sa.Table]) -> None:
    # Rows came with their own keys; the next generated key must follow the largest.
    for table in tables:
        for column in table.primary_key.columns:
            if not isinstance(column.type, sa.Integer):
                continue
            sequence = connection.execute(
                sa.text("SELECT pg_get_serial_sequence(:table, :column)"),
                {"table": table.name, "column": column.name},
            ).scalar()
            if sequence is None:
                continue
            connection.execute(
                sa.text(
                    f'SELECT setval(:sequence, COALESCE((SELECT max("{column.name}") '
                    f'FROM "{table.name}"), 0) + 1, false)'
                ),
                {"sequence": sequence},
            )


def _detect(path: Path) -> Format:
    try:
        with path.open("rb") as handle:
            head = handle.read(len(_SQLITE_MAGIC))
    except FileNotFoundError:
        raise BackupError(f"{path} does not exist") from None
    if head.startswith(_SQLITE_MAGIC):
        return "sqlite"
    if head.startswith(_GZIP_MAGIC):
        return "dump"
    raise BackupError(f"{path} is neither a hipspine SQLite backup nor a hipspine dump")

"""Bulk inserts through the database driver's own fast path.

SQLAlchemy's Core ``executemany`` spends more time per row (building parameters, running
type processors row by row) than SQLite spends storing the row. Bulk writers — the FHIR
importer and the synthetic registry — hand complete rows straight to the driver instead:
``executemany`` on SQLite, ``COPY`` on PostgreSQL.

:func:`insert_rows` takes row mappings as the ORM would and applies, once per column, what
SQLAlchemy would have applied: the column's Python-side default when a row leaves it out,
and the dialect's bind processor (JSON serialisation, SQLite's date and time text), so rows
read back exactly as if the ORM had written them. :class:`Layout` does the same a row at a
time, ahead of the write (the FHIR importer prepares rows while it reads, on several cores),
leaving out the columns only known when the row is stored. :func:`insert_tuples` is the
bare path for rows already in the driver's form.

On SQLite, rows prepared in another process can cross to the writer already stored:
:func:`pack` puts them in an in-memory SQLite database and returns its image, and
:func:`insert_packed` attaches the image and copies each table with one ``INSERT … SELECT``.
Only one process can write the database, and binding each value of ``executemany`` is about a
third of its time there; packed, that work is done by the processes that prepared the rows.

Both run inside the caller's transaction (its session's connection), so a failure rolls
back with everything else the unit of work wrote.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import cache
from typing import Any

from sqlalchemy import Dialect, Table
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

_MISSING = object()


class _Column:
    """How one column's value is taken from a row mapping and put in the driver's form."""

    __slots__ = ("default", "key", "name", "process")

    def __init__(
        self,
        key: str,
        name: str,
        default: Callable[[], Any] | None,
        process: Callable[[Any], Any] | None,
    ) -> None:
        self.key, self.name, self.default, self.process = key, name, default, process

    def value(self, row: Mapping[str, Any]) -> Any:
        """This column's value of ``row`` in the driver's form."""
        value = row.get(self.key, _MISSING)
        if value is _MISSING:
            value = None if self.default is None else self.default()
        return value if value is None or self.process is None else self.process(value)


@cache
def _columns(dialect: Dialect, table: Table) -> tuple[_Column, ...]:
    plan = []
    for column in _inserted(table):
        if column.server_default is not None:
            # No hipspine table has one: refuse rather than write NULL where the database
            # would have put its default (such a column would have to be left out).
            raise NotImplementedError(f"{table.name}.{column.name} has a server default")
        default: Callable[[], Any] | None = None
        if column.default is not None:
            arg = column.default.arg
            if column.default.is_callable:
                # SQLAlchemy wraps a zero-argument default to take the execution context.
                default = (lambda fn: lambda: fn(None))(arg)
            else:
                default = (lambda value: lambda: value)(arg)
        process = column.type.dialect_impl(dialect).bind_processor(dialect)
        plan.append(_Column(column.key, column.name, default, process))
    return tuple(plan)


def _inserted(table: Table) -> list[Any]:
    # An autoincrement key is left to the database, as SQLAlchemy does.
    return [c for c in table.columns if c is not table.autoincrement_column]


def insert_rows(session: Session, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert ``rows`` (column key → Python value, as for the ORM) into ``table``."""
    if not rows:
        return
    dialect = session.get_bind().dialect
    columns: list[list[Any]] = []
    for column in _columns(dialect, table):
        # Column by column in comprehensions: a third of the cost of a loop per value.
        values = [row.get(column.key, _MISSING) for row in rows]
        if column.default is not None:
            default = column.default
            values = [default() if v is _MISSING else v for v in values]
        else:
            values = [None if v is _MISSING else v for v in values]
        if column.process is not None:
            process = column.process
            values = [None if v is None else process(v) for v in values]
        columns.append(values)
    names = [c.name for c in _columns(dialect, table)]
    insert_tuples(session, table.name, names, list(zip(*columns, strict=True)))


class Layout:
    """A table's columns in three parts, for rows prepared ahead of their write.

    ``per_row`` columns (ids) are given as they are for each row when it is stored, so
    they must need no conversion; ``per_unit`` columns (clinic, time stamp) take one value
    for a whole unit of work, converted once by :meth:`unit`; the rest are converted for
    each row by :meth:`prepare` before the write. A stored row is
    ``per_row values + unit(...) + prepare(row)``, in the order of :attr:`names`.
    """

    def __init__(
        self, dialect: Dialect, table: Table, per_row: Sequence[str], per_unit: Sequence[str]
    ) -> None:
        plan = {c.key: c for c in _columns(dialect, table)}
        for key in per_row:
            if plan[key].process is not None:
                # Given as they are, so a column that needs converting cannot be one.
                raise NotImplementedError(f"{table.name}.{key} needs converting per row")
        self.table = table.name
        self._unit = [plan[key] for key in per_unit]
        rest = [c for key, c in plan.items() if key not in {*per_row, *per_unit}]
        self.names = [plan[key].name for key in (*per_row, *per_unit)] + [c.name for c in rest]
        self.prepared = [c.key for c in rest]
        """The columns :meth:`prepare` returns, in its order."""
        # What :meth:`prepare` reads, and the few columns it must then convert or default:
        # a row is read in one pass and only those columns are visited again.
        self._reads = [(c.key, None if c.default is None else _MISSING) for c in rest]
        self._fixes = [
            (index, c.default, c.process)
            for index, c in enumerate(rest)
            if c.default is not None or c.process is not None
        ]

    def unit(self, **values: Any) -> tuple[Any, ...]:
        """The per-unit columns' values, in the driver's form."""
        return tuple(column.value(values) for column in self._unit)

    def prepare(self, row: Mapping[str, Any]) -> tuple[Any, ...]:
        """The remaining columns of ``row``, in the driver's form (defaults applied)."""
        get = row.get
        values = [get(key, missing) for key, missing in self._reads]
        for index, default, process in self._fixes:
            value = values[index]
            if value is _MISSING:
                value = default()  # type: ignore[misc]  # only columns with a default
            if value is not None and process is not None:
                values[index] = process(value)
            else:
                values[index] = value
        return tuple(values)


def insert_tuples(
    session: Session, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    """Insert rows already in the driver's form (values in the order of ``columns``)."""
    if not rows:
        return
    raw = session.connection().connection.driver_connection
    names = _names(columns)
    dialect = session.get_bind().dialect
    try:
        if dialect.name == "sqlite":
            cursor = raw.cursor()  # type: ignore[union-attr]
            try:
                cursor.executemany(_insert_values(table, columns), rows)
            finally:
                cursor.close()
            return
        with (
            raw.cursor() as cursor,  # type: ignore[union-attr]
            cursor.copy(f'COPY "{table}" ({names}) FROM STDIN') as copy,
        ):
            for row in rows:
                copy.write_row(row)
    except dialect.loaded_dbapi.Error as error:
        # As SQLAlchemy would have raised it (IntegrityError for a broken constraint), so
        # callers handle a refused bulk insert like any other refused statement. The rows
        # are patient data: they are not part of the error.
        raise DBAPIError.instance(
            f"bulk insert into {table}", None, error, dialect.loaded_dbapi.Error
        ) from error


PACKED = "packed"
"""The schema name under which :func:`insert_packed` attaches an image to the connection
(detached when the connection goes back to the pool: :mod:`hipspine.store.db`)."""


BULK_CACHE_KIB = 65536
"""The page cache of a connection while it inserts a packed image: 64 MiB, more than a
connection's usual (:mod:`hipspine.store.db`), given back when it returns to the pool.

Records carry random ids (a source's UUIDs), so a batch inserts into pages all over every
id index. Once a registry's indexes outgrow the cache, changed pages spill to the WAL in
the middle of the transaction and are written again, and pages let go are read again.
Importing the benchmark's registry (61,000 resources) into a database already holding
220,000 records wrote 1,485 MiB and read 1,430 MiB with 16 MiB of cache; with 64 MiB, 750
and 626 MiB (128 and 256 MiB saved little more: 736 and 538)."""


def pack(tables: Iterable[tuple[str, Sequence[str], Sequence[Sequence[Any]]]]) -> bytes:
    """Rows in SQLite's driver form, of several tables (name, columns, rows), as the image
    of an in-memory SQLite database: a table per name with rows, in the order given."""
    image = sqlite3.connect(":memory:", isolation_level=None)
    try:
        image.execute("BEGIN")
        for table, columns, rows in tables:
            if rows:
                image.execute(f"CREATE TABLE {_quoted(table)} ({_names(columns)})")
                image.executemany(_insert_values(table, columns), rows)
        image.execute("COMMIT")
        return image.serialize()
    finally:
        image.close()


def insert_packed(session: Session, image: bytes) -> None:
    """Insert every row of a :func:`pack` image into the table of its name, table by table in
    the order they were packed (records before the records that link to them), each table's
    rows in the order of its primary key.

    Once per transaction: the image stays attached until the connection goes back to the
    pool (SQLite detaches nothing while a transaction is open), and attaching a fresh one
    each time is what keeps SQLite from reading a former image's cached pages. Until then
    the connection's page cache is :data:`BULK_CACHE_KIB`.
    """
    fairy = session.connection().connection
    raw: sqlite3.Connection = fairy.driver_connection  # type: ignore[assignment]
    if fairy.info.get(PACKED):
        raise RuntimeError("one packed insert per transaction")
    table = "(attaching)"
    try:
        (cache,) = raw.execute("PRAGMA main.cache_size").fetchone()
        raw.execute(f"ATTACH DATABASE ':memory:' AS {PACKED}")
        fairy.info[PACKED] = (cache,)  # what detach_packed puts back
        raw.execute(f"PRAGMA main.cache_size = -{BULK_CACHE_KIB}")
        raw.deserialize(image, name=PACKED)
        tables = raw.execute(
            f"SELECT name FROM {PACKED}.sqlite_master WHERE type = 'table' ORDER BY rowid"
        ).fetchall()
        for (table,) in tables:
            columns = [c[1] for c in raw.execute(f"PRAGMA {PACKED}.table_info({_quoted(table)})")]
            names = _names(columns)
            raw.execute(
                f"INSERT INTO main.{_quoted(table)} ({names})"
                f" SELECT {names} FROM {PACKED}.{_quoted(table)} ORDER BY {_key(raw, table)}"
            )
    except sqlite3.Error as error:
        # As insert_tuples raises it: IntegrityError for a broken constraint, no rows shown.
        raise DBAPIError.instance(
            f"bulk insert into {table}", None, error, sqlite3.Error
        ) from error


def _key(raw: sqlite3.Connection, table: str) -> str:
    """The primary key columns of ``table`` in the database, in key order (``rowid`` if it
    has none).

    A packed batch is inserted in key order: each page of the key's index is then changed
    in one go instead of again and again as random ids come. Importing the benchmark's
    registry (61,000 resources) into a database already holding 880,000 records read
    1,459 MiB instead of 2,185 and wrote 2,178 MiB instead of 2,604 (no change into a
    small database, whose indexes fit in the page cache)."""
    info = raw.execute(f"PRAGMA main.table_info({_quoted(table)})").fetchall()
    key = [column[1] for column in sorted(info, key=lambda column: column[5]) if column[5]]
    return _names(key) if key else "rowid"


def detach_packed(raw: Any, info: dict[Any, Any]) -> None:
    """Detach the image :func:`insert_packed` attached to a SQLite connection, if any, and
    give the connection back its own page cache (it is outside any transaction: it is
    going back to the pool)."""
    attached = info.pop(PACKED, None)
    if attached is not None:
        raw.execute(f"DETACH DATABASE {PACKED}")
        raw.execute(f"PRAGMA main.cache_size = {int(attached[0])}")


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _names(columns: Sequence[str]) -> str:
    return ", ".join(map(_quoted, columns))


def _insert_values(table: str, columns: Sequence[str]) -> str:
    marks = ", ".join("?" * len(columns))
    return f"INSERT INTO {_quoted(table)} ({_names(columns)}) VALUES ({marks})"


__all__ = [
    "PACKED",
    "Layout",
    "detach_packed",
    "insert_packed",
    "insert_rows",
    "insert_tuples",
    "pack",
]

"""Bulk inserts through the database driver's own fast path.

SQLAlchemy's Core ``executemany`` spends more time per row (building parameters, running
type processors row by row) than SQLite spends storing the row. Bulk writers — the FHIR
importer and the synthetic registry — hand complete rows straight to the driver instead:
``executemany`` on SQLite, ``COPY`` on PostgreSQL.

:func:`insert_rows` takes row mappings as the ORM would and applies, once per column, what
SQLAlchemy would have applied: the column's Python-side default when a row leaves it out,
and the dialect's bind processor (JSON serialisation, SQLite's date and time text), so rows
read back exactly as if the ORM had written them. :func:`insert_tuples` is the bare path for
rows already in the driver's form.

Both run inside the caller's transaction (its session's connection), so a failure rolls
back with everything else the unit of work wrote.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import cache
from typing import Any

from sqlalchemy import Dialect, Table
from sqlalchemy.orm import Session

_MISSING = object()


class _Column:
    """How one column's value is taken from a row mapping and put in the driver's form."""

    __slots__ = ("default", "key", "process")

    def __init__(
        self,
        key: str,
        default: Callable[[], Any] | None,
        process: Callable[[Any], Any] | None,
    ) -> None:
        self.key, self.default, self.process = key, default, process


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
        plan.append(_Column(column.key, default, process))
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
    names = [c.name for c in _inserted(table)]
    insert_tuples(session, table.name, names, list(zip(*columns, strict=True)))


def insert_tuples(
    session: Session, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    """Insert rows already in the driver's form (values in the order of ``columns``)."""
    if not rows:
        return
    raw = session.connection().connection.driver_connection
    names = ", ".join(f'"{c}"' for c in columns)
    if session.get_bind().dialect.name == "sqlite":
        marks = ", ".join("?" * len(columns))
        cursor = raw.cursor()  # type: ignore[union-attr]
        try:
            cursor.executemany(f'INSERT INTO "{table}" ({names}) VALUES ({marks})', rows)
        finally:
            cursor.close()
        return
    with (
        raw.cursor() as cursor,  # type: ignore[union-attr]
        cursor.copy(f'COPY "{table}" ({names}) FROM STDIN') as copy,
    ):
        for row in rows:
            copy.write_row(row)


__all__ = ["insert_rows", "insert_tuples"]

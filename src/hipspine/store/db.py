"""Database connection: embedded SQLite (WAL) by default, PostgreSQL by URL.

Every unit of work runs in one transaction: it commits whole or not at all, so a failed or
killed request leaves nothing half-written. On SQLite, transactions start with
``BEGIN IMMEDIATE`` so two writers serialise instead of both reading stale data (the audit
chain depends on it); on PostgreSQL each unit of work takes the same transaction-level
advisory lock that guards the audit chain, *first*. Taking it only when the first audit
entry is appended (after the transaction may already hold row locks) deadlocks: a writer
that read a record (audit, lock held) and then updates it waits for the row, while a writer
that updated the row first waits for the lock.

A long read that writes nothing (a bulk export) uses :meth:`Database.snapshot` instead: one
consistent, read-only view of the database that takes no write lock, so writers carry on
while it runs (SQLite in WAL mode: a deferred read transaction; PostgreSQL: ``REPEATABLE
READ, READ ONLY`` without the advisory lock). Its audit entries are written in short
transactions of their own.

The engine hides statement parameters from its error messages (``hide_parameters``): a
failed statement's parameters are patient data, and error messages end up in logs. A
SQLite database is created owner-only (file ``0600``, a folder it creates ``0700``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from hipspine.store import bulk

WRITE_LOCK = 7420117
"""PostgreSQL advisory-lock key held by every unit of work and by every audit append."""
_SNAPSHOT = "hipspine_snapshot"
"""Execution option of a SQLite connection whose transaction only reads (plain ``BEGIN``)."""


class Database:
    """A database and its session factory."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = make_url(url)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        kwargs: dict[str, Any] = {
            "echo": echo,
            "hide_parameters": True,
            "json_serializer": _json_text,
        }
        if self.is_sqlite:
            if self.url.database and self.url.database != ":memory:":
                private_file(Path(self.url.database))
            kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
        else:
            kwargs["pool_pre_ping"] = True
        self.engine: Engine = create_engine(self.url, **kwargs)
        if self.is_sqlite:
            _configure_sqlite(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session in one transaction: committed on success, rolled back on any error."""
        session = self._sessions()
        try:
            with session.begin():
                if not self.is_sqlite:
                    session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": WRITE_LOCK})
                yield session
        finally:
            session.close()

    @contextmanager
    def snapshot(self) -> Iterator[Session]:
        """A read-only session on one consistent snapshot of the database, taken on entry,
        that blocks no writer and is blocked by none; writing through it raises.

        For long reads that must see one moment of the database (a bulk export): other
        connections keep writing, and what they commit after entry is not seen. Reads of
        patient data through it must still be audited, in :meth:`transaction`.
        """
        with self.engine.connect() as connection:
            if self.is_sqlite:
                connection.execution_options(**{_SNAPSHOT: True})
            outer = connection.begin()
            try:
                if self.is_sqlite:
                    connection.exec_driver_sql("PRAGMA query_only = ON")
                    # A deferred transaction takes its snapshot at its first read: now.
                    connection.exec_driver_sql("SELECT count(*) FROM sqlite_master").scalar()
                else:
                    connection.exec_driver_sql(
                        "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"
                    )
                    # The snapshot is taken at the transaction's first query: now.
                    connection.exec_driver_sql("SELECT 1").scalar()
                session = Session(bind=connection, autoflush=False)
                try:
                    yield session
                finally:
                    session.close()
            finally:
                outer.rollback()
                if self.is_sqlite:
                    # The connection goes back to the pool: writable again.
                    connection.exec_driver_sql("PRAGMA query_only = OFF")
                    connection.rollback()

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


def _json_text(value: Any) -> str:
    """JSON columns' text: compact, by orjson (several times faster than the standard
    library, which matters when a bulk import writes a case document per visit)."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def private_folder(path: Path) -> None:
    """Create ``path`` (and missing parents) readable by its owner only; an existing folder
    is left as it is (it may be shared on purpose, e.g. the working directory)."""
    if not path.exists():
        path.mkdir(mode=0o700, parents=True, exist_ok=True)


def private_file(path: Path) -> None:
    """Make sure ``path`` exists and only its owner can read or write it (``0600``).

    A new file is created empty with that mode before SQLite opens it (SQLite gives its
    ``-wal`` and ``-shm`` files the database file's mode); an existing one loses any group
    and other permissions, where the owner may change them.
    """
    private_folder(path.parent)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        try:
            if path.stat().st_mode & 0o077:
                path.chmod(0o600)
        except OSError:
            pass  # not ours to change: leave it to its owner


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN (pysqlite's implicit transactions off).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        # 32 KiB pages (SQLite's default is 4 KiB) for a database created now, set before
        # WAL mode creates the file; an existing database keeps its own. A case document
        # (~6 kB) then fits in its page instead of spilling into overflow pages, and writing
        # a bulk import's rows takes about 40% less time (the registry import of
        # benchmarks/bench_fhir_import.py: about 30% more resources a second).
        cursor.execute("PRAGMA page_size=32768")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        # 16 MiB of page cache (default 2 MiB): bulk imports insert random ids into several
        # indexes, and a larger cache keeps their inner pages in memory (~10% faster).
        cursor.execute("PRAGMA cache_size=-16384")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "checkin")
    def _on_checkin(dbapi_connection: Any, record: Any) -> None:
        # Back in the pool, out of its transaction: a bulk insert's image (patient data)
        # is let go now, not when the connection is next used.
        if dbapi_connection is not None:
            bulk.detach_packed(dbapi_connection, record.info)

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # Every hipspine transaction writes (reads of patient data are audited), so take
        # the write lock up front: concurrent writers queue instead of failing mid-way. A
        # snapshot only reads: a deferred BEGIN, which in WAL mode blocks no writer.
        snapshot = connection.get_execution_options().get(_SNAPSHOT)
        connection.exec_driver_sql("BEGIN" if snapshot else "BEGIN IMMEDIATE")

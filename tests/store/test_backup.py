"""Backup and restore give back an identical database: every row of every table, the
schema revision, and an audit chain that still verifies and keeps growing."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from hipspine.store.audit import verify
from hipspine.store.backup import BackupError, RestoreRefused, backup, restore
from hipspine.store.db import Database
from hipspine.store.migrate import current, downgrade, head, upgrade
from hipspine.store.models import AuditEvent, Goal
from hipspine.store.records import Records
from tests.store.seed import World, add_non_patient_rows, add_records, make_world, table_rows
from tests.support.postgres import fresh_database


@pytest.fixture
def full(db: Database, world: World) -> Database:
    """A database with a row in every table and a few audited reads and updates."""
    add_records(db, world.clinician_a, world.john)
    add_records(db, world.clinician_b, world.bea)
    add_non_patient_rows(db, world)
    with db.transaction() as s:
        records = Records(s, world.clinician_a)
        goal = records.list(Goal, world.john).items[0]
        records.update(Goal, goal.id, goal.version, {"description": "hike 6 miles in October"})
    rows = table_rows(db)
    assert all(rows[t] for t in rows), [t for t in rows if not rows[t]]
    return db


def _empty_like(db: Database, tmp_path: Path, name: str, postgres_url: str | None) -> str:
    if db.is_sqlite:
        return f"sqlite:///{tmp_path / name}"
    assert postgres_url is not None
    return fresh_database(postgres_url)


@pytest.fixture
def empty_url(db: Database, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """An empty, unmigrated database of the same kind as ``db``."""
    server = None if db.is_sqlite else request.getfixturevalue("postgres_url")
    return _empty_like(db, tmp_path, "restored.sqlite3", server)


def _assert_identical_and_alive(original: dict, restored: Database, world: World) -> None:
    assert table_rows(restored) == original
    assert current(restored) == head()
    with restored.transaction() as s:
        result = verify(s)
        assert result.intact and result.checked == len(original["audit_event"])
    # The restored database keeps working: new entries extend the same chain.
    with restored.transaction() as s:
        Records(s, world.clinician_a).patient(world.john)
    with restored.transaction() as s:
        last = s.scalars(sa.select(AuditEvent).order_by(AuditEvent.seq.desc())).first()
        assert last is not None and last.seq == original["audit_event"][-1][0] + 1
        assert verify(s).intact


def test_backup_then_restore_gives_an_identical_database(full, world, tmp_path, request):
    """Every format the engine offers: SQLite's file copy and the portable dump on SQLite,
    the portable dump on PostgreSQL."""
    original = table_rows(full)
    server = None if full.is_sqlite else request.getfixturevalue("postgres_url")
    formats = ["sqlite", "dump"] if full.is_sqlite else ["dump"]
    for fmt in formats:
        seen: list[tuple[str, int, int]] = []
        chosen = "dump" if fmt == "dump" and full.is_sqlite else None  # else the default
        path = tmp_path / f"clinic.{fmt}"
        made = backup(full, path, format=chosen, progress=lambda *a, seen=seen: seen.append(a))
        assert made.format == fmt and made.revision == head()
        assert made.rows == {t: len(r) for t, r in original.items() if t != "alembic_version"}
        assert seen and all(0 <= done <= total for _, done, total in seen)
        if fmt == "dump":
            assert {stage for stage, _, _ in seen} == set(made.rows)
        assert not list(tmp_path.glob(".*.partial"))

        url = _empty_like(full, tmp_path, f"restored-{fmt}.sqlite3", server)
        progress: list[tuple[str, int, int]] = []
        restored = restore(url, made.path, progress=lambda *a, p=progress: p.append(a))
        assert restored.format == fmt and restored.revision == head()
        assert restored.rows == made.rows and progress
        target = Database(url)
        try:
            _assert_identical_and_alive(original, target, world)
        finally:
            target.dispose()


def test_restore_into_an_empty_migrated_database(full, world, tmp_path, empty_url):
    original = table_rows(full)
    made = backup(full, tmp_path / "clinic.dump", format="dump")
    target = Database(empty_url)
    try:
        upgrade(target)
        restore(target, made.path)
        _assert_identical_and_alive(original, target, world)
    finally:
        target.dispose()


def test_restore_refuses_a_database_with_data_unless_told_to_replace_it(full, world, tmp_path):
    made = backup(full, tmp_path / "clinic.backup")
    original = table_rows(full)
    with full.transaction() as s:
        Records(s, world.clinician_a).add_patient(name="Added after the backup")
    changed = table_rows(full)
    with pytest.raises(RestoreRefused, match="not empty"):
        restore(full, made.path)
    assert table_rows(full) == changed
    restore(full, made.path, replace=True)
    _assert_identical_and_alive(original, full, world)


def test_a_failed_replace_leaves_the_database_as_it_was(full, tmp_path):
    made = backup(full, tmp_path / "clinic.dump", format="dump")
    with gzip.open(made.path, "rt") as handle:
        lines = handle.readlines()
    truncated = tmp_path / "truncated.dump"
    with gzip.open(truncated, "wt") as handle:
        handle.writelines(lines[:-3])  # lost its last rows and closing line
    before = table_rows(full)
    with pytest.raises(BackupError, match=r"truncated|inconsistent"):
        restore(full, truncated, replace=True)
    assert table_rows(full) == before
    assert current(full) == head()


def test_restore_refuses_a_backup_from_a_newer_schema(full, tmp_path, empty_url):
    made = backup(full, tmp_path / "clinic.dump", format="dump")
    with gzip.open(made.path, "rt") as handle:
        header, *rest = handle.readlines()
    newer = tmp_path / "newer.dump"
    with gzip.open(newer, "wt") as handle:
        handle.write(json.dumps({**json.loads(header), "revision": "9999"}) + "\n")
        handle.writelines(rest)
    with pytest.raises(RestoreRefused, match="newer"):
        restore(empty_url, newer)
    if full.is_sqlite:
        native = backup(full, tmp_path / "clinic.sqlite3")
        import sqlite3

        with sqlite3.connect(native.path) as connection:
            connection.execute("UPDATE alembic_version SET version_num = '9999'")
        connection.close()
        with pytest.raises(RestoreRefused, match="newer"):
            restore(empty_url, native.path)


def test_a_backup_from_an_older_schema_is_restored_then_migrated(db, world, tmp_path, empty_url):
    add_records(db, world.clinician_a, world.john)
    downgrade(db, "0001")
    original = table_rows(db)
    assert original["alembic_version"] == [("0001",)]
    made = backup(db, tmp_path / "old.backup")
    assert made.revision == "0001"
    restored = restore(empty_url, made.path)
    assert restored.revision == head()
    target = Database(empty_url)
    try:
        rows = table_rows(target)
        assert rows["alembic_version"] == [(head(),)]
        # Later revisions add tables, and columns (appended, so compare the old ones).
        for table in original.keys() - {"alembic_version"}:
            width = len(original[table][0]) if original[table] else 0
            assert [r[:width] for r in rows[table]] == original[table], table
        # 0002 was applied after the restore: the log is append-only again.
        with pytest.raises(sa.exc.DatabaseError, match="append-only"), target.engine.begin() as c:
            c.exec_driver_sql("DELETE FROM audit_event")
    finally:
        target.dispose()


def test_backup_refuses_to_overwrite_and_restore_rejects_foreign_files(full, tmp_path):
    path = tmp_path / "clinic.backup"
    backup(full, path)
    with pytest.raises(BackupError, match="exists"):
        backup(full, path)
    backup(full, path, overwrite=True)
    junk = tmp_path / "notes.txt"
    junk.write_text("not a backup")
    with pytest.raises(BackupError, match="neither"):
        restore(full, junk, replace=True)
    with pytest.raises(BackupError, match="does not exist"):
        restore(full, tmp_path / "missing.backup")


@pytest.mark.postgres
def test_a_sqlite_clinic_moves_to_postgresql(tmp_path, postgres_url):
    """The portable dump (and the SQLite backup file itself) restore into PostgreSQL."""
    source = Database(f"sqlite:///{tmp_path / 'small-clinic.sqlite3'}")
    try:
        upgrade(source)
        world = make_world(source)
        add_records(source, world.clinician_a, world.john)
        add_non_patient_rows(source, world)
        original = table_rows(source)
        for made in (
            backup(source, tmp_path / "clinic.dump", format="dump"),
            backup(source, tmp_path / "clinic.sqlite3"),
        ):
            target = Database(fresh_database(postgres_url))
            try:
                restore(target, made.path)
                moved = table_rows(target)
                assert moved.keys() == original.keys()
                for table, rows in original.items():
                    assert len(moved[table]) == len(rows), table
                    for a, b in zip(rows, moved[table], strict=True):
                        # SQLite keeps naive UTC; PostgreSQL gives the same instant, aware.
                        assert tuple(_utc(v) for v in a) == tuple(_utc(v) for v in b), table
                with target.transaction() as s:
                    assert verify(s).checked == len(original["audit_event"])
                    assert verify(s).intact
                with target.transaction() as s:
                    Records(s, world.clinician_a).patient(world.john)
            finally:
                target.dispose()
    finally:
        source.dispose()


def _utc(value):
    from datetime import UTC, datetime

    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def _mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_database_data_folder_and_backups_are_owner_only(tmp_path, monkeypatch):
    """Health data on disk is readable by its owner only, whatever the umask: the data
    folder (0700), the SQLite file and its WAL files, and both backup formats (0600)."""
    import os

    from hipspine.config import load_settings

    monkeypatch.setenv("HIPSPINE_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("HIPSPINE_SECRET_KEY", raising=False)
    monkeypatch.delenv("HIPSPINE_DATABASE_URL", raising=False)
    old_umask = os.umask(0o022)
    try:
        settings = load_settings()
        assert _mode(settings.data_dir) == 0o700
        db = Database(settings.database_url)
        upgrade(db)
        world = make_world(db)
        add_records(db, world.clinician_a, world.john)
        database = Path(str(db.url.database))
        for path in (database, Path(f"{database}-wal"), Path(f"{database}-shm")):
            assert _mode(path) == 0o600, path
        elsewhere = tmp_path / "other" / "folder" / "clinic.sqlite3"
        fresh = Database(f"sqlite:///{elsewhere}")
        assert _mode(elsewhere.parent) == 0o700 and _mode(elsewhere) == 0o600
        fresh.dispose()
        for kind in ("sqlite", "dump"):
            written = backup(db, tmp_path / "backups" / f"clinic.{kind}", format=kind).path
            assert _mode(written) == 0o600, kind
        assert _mode(tmp_path / "backups") == 0o700
        db.dispose()
        # A database file left readable by an older version is tightened when opened.
        database.chmod(0o644)
        Database(settings.database_url).dispose()
        assert _mode(database) == 0o600
    finally:
        os.umask(old_umask)

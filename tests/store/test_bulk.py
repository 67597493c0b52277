"""Bulk writes on SQLite: rows packed in another process's in-memory database and copied by
``INSERT … SELECT`` are stored exactly as ``executemany`` stores them, all or nothing, and
the image is let go with the connection."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import nullcontext as _nothing
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hipspine.store import bulk
from hipspine.store.db import Database
from hipspine.store.models import Encounter, Patient
from tests.store.seed import World, make_world

STAMP = datetime(2026, 12, 6, 9, 30, tzinfo=UTC)


@pytest.fixture
def sqlite_db(sqlite_template: Path, tmp_path: Path) -> Iterator[Database]:
    path = tmp_path / "hipspine.sqlite3"
    shutil.copyfile(sqlite_template, path)
    database = Database(f"sqlite:///{path}")
    yield database
    database.dispose()


def _rows(db: Database, world: World, tag: str) -> list[tuple[str, list[str], list[tuple]]]:
    """A patient and two visits (one with a case document, a date, a note in Greek), in the
    driver's form, with ids marked by ``tag``."""
    dialect = db.engine.dialect
    patient = bulk.Layout(
        dialect, Patient.__table__, ("id",), ("clinic_id", "created_at", "updated_at")
    )
    visit = bulk.Layout(
        dialect,
        Encounter.__table__,
        ("id", "patient_id"),
        ("clinic_id", "created_at", "created_by"),
    )
    clinic = world.clinic_a
    pid = f"{tag}-patient"
    visits = [
        {"kind": "intake", "occurred_on": date(2024, 1, 2), "note": "πόνος ισχίου",
         "case": {"history": {"age": 54, "pain": [4.5, None]}, "ok": True}},
        {"kind": "follow_up", "occurred_on": date(2024, 3, 1)},
    ]  # fmt: skip
    return [
        (
            "patient",
            patient.names,
            [
                (pid, *patient.unit(clinic_id=clinic, created_at=STAMP, updated_at=STAMP),
                 *patient.prepare({"name": "John", "birth_date": date(1970, 5, 17)}))
            ],
        ),
        (
            "encounter",
            visit.names,
            [
                (f"{tag}-visit-{n}", pid,
                 *visit.unit(clinic_id=clinic, created_at=STAMP, created_by=world.admin_a.user_id),
                 *visit.prepare(row))
                for n, row in enumerate(visits)
            ],
        ),
    ]  # fmt: skip


def _stored(db: Database, tag: str) -> list[tuple]:
    """Every column of the tagged rows with its SQLite storage class, tag removed."""
    out = []
    with db.transaction() as session:
        for table in ("patient", "encounter"):
            columns = [c.name for c in (Patient if table == "patient" else Encounter).__table__.c]
            picks = ", ".join(f'"{c}", typeof("{c}")' for c in columns)
            found = session.execute(
                text(f'SELECT {picks} FROM "{table}" WHERE id LIKE :tag ORDER BY id'),
                {"tag": f"{tag}-%"},
            ).all()
            for row in found:
                out.append(
                    (table, *(v.replace(f"{tag}-", "") if isinstance(v, str) else v for v in row))
                )
    return out


def test_packed_rows_are_stored_as_executemany_stores_them(sqlite_db: Database) -> None:
    world = make_world(sqlite_db)
    with sqlite_db.transaction() as session:
        for table, names, rows in _rows(sqlite_db, world, "tuples"):
            bulk.insert_tuples(session, table, names, rows)
    image = bulk.pack(_rows(sqlite_db, world, "packed"))
    with sqlite_db.transaction() as session:
        bulk.insert_packed(session, image)

    stored = _stored(sqlite_db, "packed")
    assert len(stored) == 3  # the patient, then its visits: linked before linking (FK on)
    assert stored == _stored(sqlite_db, "tuples")
    # The image went with the transaction: a connection from the pool has nothing attached.
    with sqlite_db.transaction() as session:
        schemas = {row[1] for row in session.execute(text("PRAGMA database_list"))}
    assert bulk.PACKED not in schemas


def test_a_refused_packed_insert_stores_nothing_and_is_an_integrity_error(
    sqlite_db: Database,
) -> None:
    world = make_world(sqlite_db)
    image = bulk.pack(_rows(sqlite_db, world, "packed"))
    with sqlite_db.transaction() as session:
        bulk.insert_packed(session, image)
    # The same rows again: the visits' ids are taken, so the whole transaction rolls back.
    with pytest.raises(IntegrityError), sqlite_db.transaction() as session:
        session.execute(text("UPDATE patient SET name = 'changed' WHERE id = 'packed-patient'"))
        bulk.insert_packed(session, image)
    with sqlite_db.transaction() as session:
        name = session.execute(
            text("SELECT name FROM patient WHERE id = 'packed-patient'")
        ).scalar()
        schemas = {row[1] for row in session.execute(text("PRAGMA database_list"))}
    assert name == "John"
    assert bulk.PACKED not in schemas


def test_one_packed_insert_per_transaction(sqlite_db: Database) -> None:
    world = make_world(sqlite_db)
    first = bulk.pack(_rows(sqlite_db, world, "first"))
    second = bulk.pack(_rows(sqlite_db, world, "second"))
    refused = pytest.raises(RuntimeError, match="one packed insert per transaction")
    with refused, sqlite_db.transaction() as session:
        bulk.insert_packed(session, first)
        bulk.insert_packed(session, second)
    # Nothing of it was kept, and the next transaction can pack again.
    with sqlite_db.transaction() as session:
        bulk.insert_packed(session, second)
    assert _stored(sqlite_db, "first") == []
    assert len(_stored(sqlite_db, "second")) == 3


def test_the_larger_page_cache_lasts_only_while_a_packed_image_is_written(
    sqlite_db: Database,
) -> None:
    """A bulk write gets :data:`bulk.BULK_CACHE_KIB` of page cache (its random ids touch pages
    all over every index); the connection goes back to the pool with its own, also after a
    refused insert."""
    world = make_world(sqlite_db)

    def cache(session: Session) -> int:
        return int(session.execute(text("PRAGMA main.cache_size")).scalar_one())

    with sqlite_db.transaction() as session:
        usual = cache(session)
    assert usual != -bulk.BULK_CACHE_KIB
    image = bulk.pack(_rows(sqlite_db, world, "packed"))
    for attempt in ("stored", "refused"):  # the second time, its ids are taken
        refused = pytest.raises(IntegrityError) if attempt == "refused" else _nothing()
        with refused, sqlite_db.transaction() as session:
            bulk.insert_packed(session, image)
            assert cache(session) == -bulk.BULK_CACHE_KIB
        with sqlite_db.transaction() as session:
            assert cache(session) == usual, attempt


def test_packed_rows_are_inserted_in_primary_key_order(sqlite_db: Database) -> None:
    """Whatever order they were packed in (random ids), rows go into each table in the order
    of its primary key, so each page of the key's index is changed once per batch."""
    world = make_world(sqlite_db)
    tables = _rows(sqlite_db, world, "packed")
    shuffled = [(table, names, rows[::-1]) for table, names, rows in tables]
    assert [row[0] for row in shuffled[1][2]] == ["packed-visit-1", "packed-visit-0"]
    with sqlite_db.transaction() as session:
        bulk.insert_packed(session, bulk.pack(shuffled))
        stored = session.execute(
            text("SELECT id FROM encounter WHERE id LIKE 'packed-%' ORDER BY rowid")
        ).scalars()
        assert list(stored) == ["packed-visit-0", "packed-visit-1"]

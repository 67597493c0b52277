"""Writes are atomic: a failed unit of work leaves nothing, and a process killed in the
middle of a write leaves the database consistent for the next writer."""

from __future__ import annotations

import os
import signal
import time
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

from hipspine.store.audit import verify
from hipspine.store.db import Database
from hipspine.store.models import Goal, PainRating
from hipspine.store.records import Records
from tests.store import worker
from tests.store.seed import World, add_records, one_of_each, table_rows


class Boom(Exception):
    pass


def test_an_error_after_several_writes_leaves_nothing(db, world: World):
    ids = add_records(db, world.clinician_a, world.john)
    before = table_rows(db)
    with pytest.raises(Boom), db.transaction() as s:
        records = Records(s, world.clinician_a)
        ann = records.add_patient(name="Ann")
        for record in one_of_each(ann.id):
            records.add(record)
        records.update(Goal, ids[Goal], 1, {"description": "changed"})
        records.delete(PainRating, ids[PainRating])
        records.list(Goal, world.john)
        raise Boom
    assert table_rows(db) == before


def test_a_constraint_violation_midway_leaves_nothing(db, world: World):
    before = table_rows(db)
    with pytest.raises(sa.exc.IntegrityError), db.transaction() as s:
        records = Records(s, world.clinician_a)
        records.add_patient(name="Ann")
        records.add(
            PainRating(
                patient_id=world.john,
                region="hip",
                side="right",
                intensity=11,
                rated_on=date(2026, 1, 1),
            )
        )
    assert table_rows(db) == before
    with db.transaction() as s:
        assert verify(s).intact


@pytest.mark.parametrize("how", ["self", "parent"])
def test_a_writer_killed_mid_transaction_leaves_the_database_consistent(db, world, how):
    ids = add_records(db, world.clinician_a, world.john)
    before = table_rows(db)
    db.dispose()  # no connection of ours stays open across the kill
    ready = worker.event()
    url = db.url.render_as_string(hide_password=False)
    rows = 300 if db.is_sqlite else 60
    args = (url, world.clinician_a, ids[Goal], world.john, rows, how, ready)
    writer = worker.start(worker.die_mid_write, *args)
    if how == "parent":
        assert ready.wait(30), "the writer never got to the middle of its transaction"
        if db.is_sqlite:
            wal = Path(f"{db.url.database}-wal")
            # Uncommitted pages reached the WAL: the kill leaves a real half-write behind.
            assert wal.exists() and wal.stat().st_size > 0
        assert writer.pid is not None
        os.kill(writer.pid, signal.SIGKILL)
    writer.join(30)
    assert writer.exitcode == -signal.SIGKILL

    # A fresh process's view: SQLite recovers the WAL and its locks; PostgreSQL aborted the
    # dead backend's transaction and released its row and advisory locks.
    after = Database(url)
    try:
        start = time.monotonic()
        with after.transaction() as s:
            records = Records(s, world.clinician_a)
            goal = records.get(Goal, ids[Goal])
            assert (goal.description, goal.version) == (
                "6-mile hike with elevation gain in October",
                1,
            )
            assert s.scalar(sa.select(sa.func.count()).where(PainRating.recall == "KILLED")) == 0
            records.update(Goal, goal.id, goal.version, {"description": "after the crash"})
        assert time.monotonic() - start < 5, "the next writer waited on a dead writer's lock"
        rows = table_rows(after)
        for table, content in before.items():
            if table not in ("audit_event", "goal"):
                assert rows[table] == content, table
        assert rows["audit_event"][: len(before["audit_event"])] == before["audit_event"]
        assert len(rows["audit_event"]) == len(before["audit_event"]) + 2  # our read, update
        with after.transaction() as s:
            result = verify(s)
            assert result.intact and result.checked == len(rows["audit_event"])
            if after.is_sqlite:
                assert s.execute(sa.text("PRAGMA integrity_check")).scalar() == "ok"
    finally:
        after.dispose()

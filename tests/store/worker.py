"""Writers in separate processes for the storage tests: one that dies mid-transaction, and
concurrent audit writers. Started by fork (no re-import), each opens its own connections."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from datetime import timedelta
from multiprocessing.synchronize import Event
from typing import Any

from hipspine.store.audit import Actor
from hipspine.store.db import Database
from hipspine.store.models import Goal, PainRating
from hipspine.store.records import Records
from tests.store.seed import DAY0

_fork = multiprocessing.get_context("fork")


def start(target: Any, *args: Any) -> multiprocessing.process.BaseProcess:
    """Run ``target(*args)`` in a forked process (the caller must hold no open connection)."""
    process = _fork.Process(target=target, args=args, daemon=True)
    process.start()
    return process


def event() -> Event:
    return _fork.Event()


def die_mid_write(
    url: str, actor: Actor, goal_id: str, patient_id: str, rows: int, how: str, ready: Event
) -> None:
    """Update a record and write many rows in one transaction, then die before commit.

    ``how`` is ``self`` (SIGKILL ourselves) or ``parent`` (set ``ready`` and wait to be killed).
    """
    db = Database(url)
    with db.transaction() as s:
        if db.is_sqlite:
            # A tiny page cache makes SQLite spill uncommitted pages into the WAL file, so
            # the kill leaves real half-written frames on disk for recovery to discard.
            s.connection().exec_driver_sql("PRAGMA cache_size = 4")
        records = Records(s, actor)
        goal = records.get(Goal, goal_id)
        records.update(Goal, goal.id, goal.version, {"description": "HALF-WRITTEN"})
        for i in range(rows):
            records.add(
                PainRating(
                    patient_id=patient_id,
                    region="lumbar",
                    side="midline",
                    intensity=i % 11,
                    rated_on=DAY0 + timedelta(days=i),
                    recall="KILLED",
                )
            )
        s.flush()
        if how == "self":
            os.kill(os.getpid(), signal.SIGKILL)
        ready.set()
        time.sleep(60)


def read_patient(
    url: str, actor: Actor, patient_id: str, times: int, ready: Event, go: Event
) -> None:
    """Read one patient ``times`` times, one transaction (and one audit entry) each."""
    db = Database(url)
    with db.engine.connect():
        pass  # connected: now wait to start together with the other writers
    ready.set()
    go.wait(30)
    for _ in range(times):
        with db.transaction() as s:
            Records(s, actor).patient(patient_id)
    db.dispose()

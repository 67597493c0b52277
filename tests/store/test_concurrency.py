"""Concurrent writers never lose an update, and concurrent audit writers keep one chain."""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import sqlalchemy as sa

from hipspine.store.audit import verify
from hipspine.store.db import Database
from hipspine.store.models import AuditEvent, Goal
from hipspine.store.records import Records, StaleVersion
from tests.store import worker
from tests.store.seed import World, add_records


def test_exactly_one_writer_wins_each_version(db, world: World):
    goal = add_records(db, world.clinician_a, world.john)[Goal]
    writers = 6
    for version in (1, 2, 3):
        ready = threading.Barrier(writers)

        def write(n: int, version: int = version, ready: threading.Barrier = ready) -> str:
            ready.wait()
            try:
                with db.transaction() as s:
                    Records(s, world.clinician_a).update(
                        Goal, goal, version, {"description": f"v{version} by {n}"}
                    )
                return "won"
            except StaleVersion as stale:
                assert stale.expected == version and stale.actual == version + 1
                return "stale"

        with ThreadPoolExecutor(writers) as pool:
            outcomes = Counter(pool.map(write, range(writers)))
        assert outcomes == {"won": 1, "stale": writers - 1}
        with db.transaction() as s:
            assert Records(s, world.clinician_a).get(Goal, goal).version == version + 1


def test_increments_with_retry_on_conflict_lose_nothing(db, world: World):
    """Each writer reads (one transaction), then updates with the version it read (another),
    retrying on StaleVersion: every one of the N appended ratings is there at the end."""
    goal = add_records(db, world.clinician_a, world.john)[Goal]
    writers, each = 4, 8
    conflicts = Counter[int]()

    def increment(n: int) -> None:
        for i in range(each):
            while True:
                with db.transaction() as s:
                    current = Records(s, world.clinician_a).get(Goal, goal)
                    version, ratings = current.version, list(current.ratings)
                try:
                    with db.transaction() as s:
                        Records(s, world.clinician_a).update(
                            Goal, goal, version, {"ratings": [*ratings, {"by": n, "i": i}]}
                        )
                    break
                except StaleVersion:
                    conflicts[n] += 1

    with ThreadPoolExecutor(writers) as pool:
        list(pool.map(increment, range(writers)))
    with db.transaction() as s:
        final = Records(s, world.clinician_a).get(Goal, goal)
        marks = [(r["by"], r["i"]) for r in final.ratings[1:]]
        assert sorted(marks) == [(n, i) for n in range(writers) for i in range(each)]
        assert final.version == 1 + writers * each
        assert verify(s).intact


def test_read_then_update_in_one_transaction_does_not_deadlock(db, world: World):
    """A writer that reads (audited) before it updates races one that updates directly:
    one wins, the other is told its version is stale — never a deadlock error."""
    goal = add_records(db, world.clinician_a, world.john)[Goal]
    reader_has_read = threading.Event()

    def read_then_update() -> str:
        try:
            with db.transaction() as s:
                records = Records(s, world.clinician_a)
                records.get(Goal, goal)
                reader_has_read.set()
                time.sleep(0.3)  # the other writer updates meanwhile (or waits its turn)
                records.update(Goal, goal, 1, {"description": "by the reader"})
            return "won"
        except StaleVersion:
            return "stale"

    def update_directly() -> str:
        reader_has_read.wait(5)
        try:
            with db.transaction() as s:
                Records(s, world.clinician_a).update(Goal, goal, 1, {"description": "direct"})
            return "won"
        except StaleVersion:
            return "stale"

    with ThreadPoolExecutor(2) as pool:
        first, second = pool.submit(read_then_update), pool.submit(update_directly)
        outcomes = sorted([first.result(timeout=30), second.result(timeout=30)])
    assert outcomes == ["stale", "won"]


def test_concurrent_audit_writers_in_separate_processes_keep_one_chain(db, world: World):
    processes, threads, times = 3, 2, 12
    url = db.url.render_as_string(hide_password=False)
    db.dispose()  # forked children must not inherit our connections
    go = worker.event()
    readies = [worker.event() for _ in range(processes)]
    children = [
        worker.start(
            worker.read_patient,
            url,
            replace(world.clinician_a, request_id=f"process-{n}"),
            world.john,
            times,
            readies[n],
            go,
        )
        for n in range(processes)
    ]
    assert all(ready.wait(30) for ready in readies)
    start = threading.Barrier(threads + 1)
    with ThreadPoolExecutor(threads) as pool:  # and writers in this process too
        running = [pool.submit(_read_many, db, world, times, start) for _ in range(threads)]
        go.set()
        start.wait()
        for thread in running:
            thread.result(timeout=60)
    for child in children:
        child.join(60)
        assert child.exitcode == 0
    with db.transaction() as s:
        total = s.scalar(sa.select(sa.func.count()).select_from(AuditEvent))
        assert total == (processes + threads) * times
        forks = s.execute(
            sa.select(AuditEvent.prev_hash)
            .group_by(AuditEvent.prev_hash)
            .having(sa.func.count() > 1)
        ).all()
        assert forks == []  # every previous hash is followed exactly once
        result = verify(s)
        assert result.intact and result.checked == total
        writers = s.scalars(sa.select(AuditEvent.request_id).order_by(AuditEvent.seq)).all()
    switches = sum(a != b for a, b in itertools.pairwise(writers))
    if not db.is_sqlite:
        # PostgreSQL queues lock waiters fairly, so the writers visibly interleave (SQLite's
        # busy handler lets the holder go again while waiters sleep: runs, not turns).
        assert switches > 2 * (processes + threads), writers


def _read_many(db: Database, world: World, times: int, go: threading.Barrier) -> None:
    actor = replace(world.clinician_a, request_id=f"thread-{threading.get_ident()}")
    go.wait()
    for _ in range(times):
        with db.transaction() as s:
            Records(s, actor).patient(world.john)

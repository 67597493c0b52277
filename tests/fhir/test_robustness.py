"""Bad resources are reported with file, line and reason without stopping the rest; a
killed import resumes without duplicates; a clinic never reaches another's patients."""

from __future__ import annotations

import json
import shutil
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from hipspine.fhir import importer
from hipspine.fhir._common import RECORD_NUMBER
from hipspine.fhir.importer import Importer
from hipspine.store import audit
from hipspine.store.db import Database
from hipspine.store.models import AuditEvent, Base, FhirSource, PainRating
from hipspine.store.records import Records
from tests.fhir.support import bundles_as_ndjson, counts, pain_rating
from tests.store.seed import make_world


def test_bad_lines_are_reported_and_the_rest_imported(db, world, synthea_bundles, tmp_path):
    files = bundles_as_ndjson(synthea_bundles, tmp_path / "bulk")
    observations = tmp_path / "bulk" / "Observation.ndjson"
    lines = observations.read_text().splitlines()
    pain = next(i for i, line in enumerate(lines) if "72514-3" in line)
    broken = json.loads(lines[pain])
    broken["effectiveDateTime"] = "2020-13-45"
    lines[pain] = json.dumps(broken)
    lines.insert(3, "{not json")
    observations.write_text("\n".join(lines) + "\n")

    report = Importer(db, world.admin_a).import_files(files)
    where = {(p.file, p.where) for p in report.problems}
    assert (str(observations), "line 4") in where
    assert (str(observations), f"line {pain + 2}") in where  # shifted by the inserted line
    assert report.problem_count == 2
    assert report.patients_created == 2 and report.stored["pain_rating"] > 20


class Killed(BaseException):
    pass


def stored_per_patient(db, clinic_id: str) -> dict[str, int]:
    """Source id of each imported patient → resources stored for them in ``clinic_id``."""
    with db.transaction() as session:
        rows = session.execute(
            select(FhirSource.patient_id, FhirSource.resource_type, FhirSource.source_id).where(
                FhirSource.clinic_id == clinic_id
            )
        ).all()
    source = {pid: sid for pid, kind, sid in rows if kind == "Patient"}
    return dict(Counter(source[pid] for pid, _, _ in rows))


def test_a_killed_import_leaves_whole_patients_and_resumes_without_duplicates(
    db, world, synthea_bundles, tmp_path
):
    files = bundles_as_ndjson(synthea_bundles, tmp_path / "bulk")
    clean = Importer(db, world.admin_b, batch_size=100).import_files(files)
    whole = stored_per_patient(db, world.admin_b.clinic_id)
    assert len(whole) == 2 and clean.problem_count == 0

    def killed_after_first_commit(report):
        if report.stored_total:  # progress is also reported while the files are indexed
            raise Killed

    # Each NDJSON file holds one resource type, yet the import is killed with exactly the
    # first patient stored — all of that patient's resources, from every file — and none
    # of the other.
    with pytest.raises(Killed):
        Importer(db, world.admin_a, batch_size=10, progress=killed_after_first_commit).import_files(
            files
        )
    partial = stored_per_patient(db, world.admin_a.clinic_id)
    assert len(partial) == 1
    assert all(partial[patient] == whole[patient] for patient in partial)

    # Running it again imports the rest, and nothing twice.
    Importer(db, world.admin_a, batch_size=100).import_files(files)
    assert stored_per_patient(db, world.admin_a.clinic_id) == whole
    resumed = counts(db)
    assert resumed["patient"] == 3 + 2 + 2  # the world's, clinic A's two, clinic B's two
    assert resumed["fhir_source"] == 2 * clean.stored_total


def test_another_clinics_patient_is_not_found(db, world):
    rating = pain_rating(f"Patient/{world.bea}", rid="obs-1")
    before = counts(db)
    report = Importer(db, world.admin_a).import_bundle(
        {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": rating}]}
    )
    assert report.problem_count == 1 and "not found" in report.problems[0].reason
    after = counts(db)
    assert after.pop("audit_event") == before.pop("audit_event") + 1  # the refused attempt
    assert after == before


def test_patients_cannot_import(db, world):
    from hipspine.store.records import AccessRefused

    with pytest.raises(AccessRefused):
        Importer(db, world.john_self)


def test_two_resources_with_one_id_in_one_table_are_both_kept(db, world):
    # A MedicationStatement and a MedicationRequest may share an id in their source; both
    # become medication records, so the second needs an id of its own, not a failed patient.
    ibuprofen = {
        "coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "5640"}]
    }
    subject = {"reference": f"Patient/{world.john}"}
    statement = {
        "resourceType": "MedicationStatement", "id": "med-1", "status": "active",
        "medicationCodeableConcept": ibuprofen, "subject": subject,
    }  # fmt: skip
    request = {
        "resourceType": "MedicationRequest", "id": "med-1", "status": "active",
        "intent": "order", "medicationCodeableConcept": ibuprofen, "subject": subject,
    }  # fmt: skip
    before = counts(db)
    report = Importer(db, world.admin_a).import_bundle(
        {"resourceType": "Bundle", "type": "collection",
         "entry": [{"resource": statement}, {"resource": request}]}
    )  # fmt: skip
    assert report.problem_count == 0, report.problems
    assert counts(db)["medication"] == before["medication"] + 2


def test_lines_prepared_in_worker_processes_import_as_in_process(
    db, world, synthea_bundles, tmp_path, monkeypatch
):
    """A large import prepares its lines in forked workers; the outcome — records, counts,
    and each rejected line's file and number — is the same as preparing them in-process."""
    files = bundles_as_ndjson(synthea_bundles, tmp_path / "bulk")
    observations = tmp_path / "bulk" / "Observation.ndjson"
    lines = observations.read_text().splitlines()
    lines.insert(40, "{not json")
    observations.write_text("\n".join(lines) + "\n")
    # Many blocks in flight at once, and lines longer than a block.
    monkeypatch.setattr(importer, "BLOCK_BYTES", 1000)
    assert max(len(line) for line in lines) > 1000

    monkeypatch.setattr(importer, "_workers", lambda paths: 0)
    alone = Importer(db, world.admin_b).import_files(files)
    monkeypatch.setattr(importer, "_workers", lambda paths: 2)
    pooled = Importer(db, world.admin_a).import_files(files)

    assert pooled.summary() == alone.summary() and pooled.problem_count == 1
    assert [(p.file, p.where) for p in pooled.problems] == [(str(observations), "line 41")]
    assert pooled.stored == alone.stored and pooled.unused == alone.unused
    assert sorted(stored_per_patient(db, world.admin_a.clinic_id).values()) == sorted(
        stored_per_patient(db, world.admin_b.clinic_id).values()
    )


def test_only_a_large_import_starts_worker_processes(tmp_path):
    small = tmp_path / "Patient.ndjson"
    small.write_text('{"resourceType": "Patient", "id": "p1"}\n')
    assert importer._workers([small]) == 0
    large = tmp_path / "Observation.ndjson"
    with large.open("wb") as handle:
        handle.truncate(importer.WORKERS_FROM_BYTES)  # a sparse file: size without writing
    assert importer._workers([small, large]) == min(importer._cores(), 4) > 1


def test_a_patient_the_database_refuses_is_reported_and_the_rest_imported(db, world, tmp_path):
    """Two source patients with one medical record number in one clinic: the database's
    uniqueness rule refuses the second. Its line is reported, with the database's reason,
    and every other patient of the batch is still imported whole."""
    folder = tmp_path / "bulk"
    folder.mkdir()
    patients = [
        {"resourceType": "Patient", "id": f"p{n}", "name": [{"text": f"Patient {n}"}],
         "identifier": [{"system": RECORD_NUMBER, "value": "MRN-7" if n in (1, 2) else f"MRN-{n}"}]}
        for n in range(4)
    ]  # fmt: skip
    (folder / "Patient.ndjson").write_text("".join(json.dumps(p) + "\n" for p in patients))
    pain = [pain_rating(f"Patient/p{n}", rid=f"o{n}") for n in range(4)]
    (folder / "Observation.ndjson").write_text("".join(json.dumps(o) + "\n" for o in pain))

    report = Importer(db, world.admin_a).import_files(sorted(folder.iterdir()))

    assert report.patients_created == 3 and report.stored["pain_rating"] == 3
    assert report.problem_count == 1
    (problem,) = report.problems
    assert problem.file.endswith("Patient.ndjson") and problem.where == "line 3"
    assert "patient not imported (2 resources)" in problem.reason
    assert "unique" in problem.reason.lower()


@settings(max_examples=200, deadline=None)
@given(
    lines=st.lists(st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"")), max_size=30),
    ending=st.sampled_from([b"", b"\n", b"\r\n"]),
    block_bytes=st.integers(min_value=1, max_value=64),
)
def test_blocks_hold_every_line_once_with_its_number(lines, ending, block_bytes, tmp_path_factory):
    """Blocks of whole lines, as workers read them, give back exactly the file's lines and
    their numbers, whatever the block size, line lengths and final newline."""
    path = tmp_path_factory.mktemp("blocks") / "x.ndjson"
    path.write_bytes(b"\n".join(lines) + (ending if lines else b""))
    importer.BLOCK_BYTES, before = block_bytes, importer.BLOCK_BYTES
    try:
        read = []
        for block in importer._blocks(path):
            with path.open("rb") as handle:
                handle.seek(block.offset)
                data = handle.read(block.size)
            read.extend(enumerate(data.split(b"\n"), start=block.first_line))
    finally:
        importer.BLOCK_BYTES = before
    expected = [(n, raw.rstrip(b"\n")) for n, raw in importer.ndjson.lines(path)]
    assert read == expected


def test_a_resource_sent_twice_with_other_content_is_named_not_counted_as_present(
    db, world, tmp_path
):
    """The same id twice in one import: identical, it is already present; different, the
    second is rejected naming the line of the one kept, so nothing vanishes unsaid."""
    alpha = {"resourceType": "Patient", "id": "dup-1", "name": [{"text": "Alpha One"}]}
    beta = {**alpha, "name": [{"text": "Beta Two"}]}
    path = tmp_path / "Patient.ndjson"
    path.write_text("\n".join(json.dumps(r) for r in (alpha, alpha, beta)) + "\n")
    report = Importer(db, world.admin_a).import_files([path])
    assert report.patients_created == 1 and report.already == 1
    [problem] = report.problems
    assert problem.where == "line 3"
    assert (
        problem.reason == "Patient dup-1: sent again with other content; the one at line 1 was kept"
    )


def test_a_resource_whose_patient_was_rejected_says_so(db, world, tmp_path):
    """Not "import its Patient first": the user just did, and its problem is listed."""
    patient = {"resourceType": "Patient", "id": "z1", "name": [{"text": "Zed"}], "gender": "x"}
    rating = pain_rating("Patient/z1", rid="z1-pain")
    (tmp_path / "Patient.ndjson").write_text(json.dumps(patient) + "\n")
    (tmp_path / "Observation.ndjson").write_text(json.dumps(rating) + "\n")
    report = Importer(db, world.admin_a).import_files(sorted(tmp_path.glob("*.ndjson")))
    reasons = {p.file.rsplit("/", 1)[1]: p.reason for p in report.problems}
    assert reasons["Patient.ndjson"].startswith("Patient: gender: not a FHIR administrative")
    assert reasons["Observation.ndjson"] == (
        "Observation.subject: patient z1: its Patient was rejected in this import"
    )


def test_a_record_deleted_after_import_stays_deleted_when_the_file_comes_again(db, world):
    """The import's ledger remembers what was imported, not what is there now: a rating a
    clinician deleted (entered against the wrong patient, say) does not come back with the
    next delivery of the same file."""
    rating = pain_rating(f"Patient/{world.john}", 8, "7e3c1f0a-5b2d-4c8e-9f1a-2b3c4d5e6f70")
    data = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": rating}]}
    assert Importer(db, world.admin_a).import_bundle(data).stored["pain_rating"] == 1
    with db.transaction() as session:
        Records(session, world.admin_a).delete(PainRating, rating["id"])
    again = Importer(db, world.admin_a).import_bundle(data)
    assert again.stored_total == 0 and again.already == 1
    assert counts(db)["pain_rating"] == 0


def test_problems_are_listed_in_the_order_of_the_file(db, world):
    """Stored a patient at a time, found out of order; listed as the file has them."""

    def patient(pid: str) -> dict:
        return {"resourceType": "Patient", "id": pid, "name": [{"text": pid}]}

    def rating(pid: str, value: int) -> dict:
        return pain_rating(f"Patient/{pid}", value, f"{pid}-{value}")

    resources = [patient("a"), rating("b", 11), patient("b"), rating("a", 12), rating("a", 13)]
    data = {"resourceType": "Bundle", "type": "collection",
            "entry": [{"resource": r} for r in resources]}  # fmt: skip
    report = Importer(db, world.admin_a).import_bundle(data, "ehr.json")
    assert [p.where for p in report.in_order()] == ["entry 1", "entry 3", "entry 4"]
    assert {p.where for p in report.problems} == {"entry 1", "entry 3", "entry 4"}


def test_a_byte_order_mark_is_read_past_and_utf16_is_named(db, world, tmp_path):
    """Files saved by Windows tools often start with a UTF-8 byte-order mark, which JSON
    readers may ignore (RFC 8259 §8.1): its first line is imported like the rest. UTF-16
    is not FHIR JSON: the file is named with what to do, and nothing of it is read."""
    patients = [
        {"resourceType": "Patient", "id": f"0b0e5a1c-2d3e-4f50-8a6b-7c8d9e0f1a2{n}",
         "name": [{"text": f"Pat {n}"}], "gender": "female"}
        for n in range(3)
    ]  # fmt: skip
    text = "\n".join(json.dumps(p) for p in patients[:2]) + "\n"
    marked = tmp_path / "Patient.ndjson"
    marked.write_bytes(b"\xef\xbb\xbf" + text.encode())
    bundle = tmp_path / "bundle.json"
    entry = [{"resource": patients[2]}]
    bundle.write_bytes(
        b"\xef\xbb\xbf"
        + json.dumps({"resourceType": "Bundle", "type": "collection", "entry": entry}).encode()
    )
    wide = tmp_path / "wide" / "Patient.ndjson"
    wide.parent.mkdir()
    wide.write_bytes(text.encode("utf-16"))

    report = Importer(db, world.admin_a).import_files([marked, bundle, wide])
    assert report.patients_created == 3, report.problems
    assert [(p.file, p.where) for p in report.problems] == [(str(wide), "file")]
    assert (
        "UTF-16" in report.problems[0].reason
        and "save the file as UTF-8" in report.problems[0].reason
    )


def _linked_ratings(db, clinic_id: str) -> Counter[bool]:
    """How many of a clinic's pain ratings are linked to their visit, and how many not."""
    with db.transaction() as session:
        links = session.scalars(
            select(PainRating.encounter_id).where(PainRating.clinic_id == clinic_id)
        ).all()
    return Counter(link is not None for link in links)


def test_batches_planned_in_workers_store_as_the_importer_would(db, world, tmp_path, monkeypatch):
    """In a large import, worker processes plan each batch's rows while the importer writes
    the one before. What they cannot plan alone — a batch already held (imported again),
    resources of patients imported before, links to visits imported before — is stored by
    the importer with its lookups: the outcome is the same as one import of everything."""
    from benchmarks.bench_fhir_import import write_registry

    files, lines = write_registry(tmp_path / "registry", 4)
    by_name = {path.name: path for path in files}
    monkeypatch.setattr(importer, "_workers", lambda paths: 2)

    whole = Importer(db, world.admin_b, batch_size=60).import_files(files)
    assert whole.problem_count == 0 and whole.read == lines
    expected = stored_per_patient(db, world.admin_b.clinic_id)
    assert _linked_ratings(db, world.admin_b.clinic_id) == Counter({True: 4 * 18})

    # Patients and their visits first. Then their ratings with the patients sent again
    # (links to visits imported before), and then the rest without the patients (patients
    # imported before): the importer looks up what the workers could not.
    visits = [by_name[n] for n in ("Patient.ndjson", "Condition.ndjson", "Encounter.ndjson")]
    ratings = [by_name["Patient.ndjson"], by_name["Observation.ndjson"]]
    rest = [path for path in files if path not in visits and path not in ratings]
    for part in (visits, ratings, rest):
        report = Importer(db, world.admin_a, batch_size=60).import_files(part)
        assert report.problem_count == 0, report.problems
    assert stored_per_patient(db, world.admin_a.clinic_id) == expected
    assert _linked_ratings(db, world.admin_a.clinic_id) == Counter({True: 4 * 18})

    # All of it again: nothing is stored twice.
    before = counts(db)
    again = Importer(db, world.admin_a, batch_size=60).import_files(files)
    assert again.stored_total == 0 and again.already == whole.stored_total
    assert counts(db) == before


def _contents(db) -> dict[str, list[tuple]]:
    """Every imported record and ledger row, but for who stored it and when (clinic, user,
    time stamps), in order."""
    unit = {"clinic_id", "created_at", "created_by", "updated_at", "imported_at"}
    with db.engine.connect() as connection:
        kept = select(FhirSource.record_table).distinct()
        out = {}
        for name in ["fhir_source", *connection.scalars(kept)]:
            table = Base.metadata.tables[name]
            query = select(*(c for c in table.c if c.name not in unit))
            if name != "fhir_source":  # the imported records (not those of the clinic's own)
                query = query.where(table.c.id.in_(select(FhirSource.record_id)))
            out[name] = sorted(connection.execute(query).all(), key=repr)
    return out


def _stored_here(monkeypatch) -> list[int]:
    """How many resources each unit of work the importer process stores itself (not its
    workers) holds, from now on."""
    sizes: list[int] = []
    store = Importer._store

    def counted(self, pending, *, fresh):
        sizes.append(len(pending))
        store(self, pending, fresh=fresh)

    monkeypatch.setattr(Importer, "_store", counted)
    return sizes


def test_batches_stored_by_workers_hold_what_the_importer_alone_stores(
    sqlite_template, tmp_path, monkeypatch
):
    """In a large first import the workers plan and store the batches themselves, each in
    its transaction, with its audit entries (on SQLite packed in an in-memory database and
    copied by the database: bulk.pack): every column of every row is as the importer alone
    writes it, and the audit chain is whole."""
    from benchmarks.bench_fhir_import import write_registry

    files, lines = write_registry(tmp_path / "registry", 4)
    stored = {}
    for workers in (2, 0):
        path = tmp_path / f"workers{workers}.sqlite3"
        shutil.copyfile(sqlite_template, path)
        db = Database(f"sqlite:///{path}")
        try:
            actor = make_world(db).admin_a
            monkeypatch.setattr(importer, "_workers", lambda paths, n=workers: n)
            here = _stored_here(monkeypatch)
            report = Importer(db, actor, batch_size=60).import_files(files)
            monkeypatch.undo()
            assert report.problem_count == 0 and report.read == lines
            # With workers, the importer stored nothing itself; alone, everything.
            assert sum(here) == (0 if workers else report.stored_total)
            stored[workers] = _contents(db)
            with db.transaction() as session:
                assert audit.verify(session).intact
                imports = session.scalars(
                    select(AuditEvent.patient_id).where(AuditEvent.action == "import")
                ).all()
            assert sorted(imports) == sorted(p[0] for p in stored[workers]["patient"])
        finally:
            db.dispose()
    # Every record and its ledger row, of every kind the registry holds.
    assert len(stored[2]["fhir_source"]) == report.stored_total
    assert len(stored[2]) == len(report.stored) + 1
    assert stored[2] == stored[0]


def test_batches_start_small_and_double_up_to_the_batch_size(sqlite_template, tmp_path):
    """Whole patients per batch; the first of about ``first`` resources, each next twice the
    one before, then the batch size: the database starts writing soon after the staging."""
    import sqlite3

    staged = sqlite3.connect("")
    staged.execute(
        "CREATE TABLE staged (patient TEXT, file INTEGER, line INTEGER, resources INTEGER,"
        " pending BLOB)"
    )
    # 200 patients of 10 resources, each in two staged rows (two files).
    staged.executemany(
        "INSERT INTO staged VALUES (?, ?, ?, 5, ?)",
        [(f"p{n:03d}", file, n, b"x") for n in range(200) for file in (0, 1)],
    )
    path = tmp_path / "batches.sqlite3"
    shutil.copyfile(sqlite_template, path)
    db = Database(f"sqlite:///{path}")
    try:
        batches = list(Importer(db, make_world(db).admin_a, batch_size=400)._batches(staged, 50))
    finally:
        db.dispose()
    sizes = [10 * len(batch) for batch in batches]
    assert sizes == [50, 100, 200, 400, 400, 400, 400, 50]
    assert all(len(group) == 2 for batch in batches for group in batch)  # whole patients

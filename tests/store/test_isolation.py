"""Clinic and patient isolation at the Records level: every read, list, update and delete
of another clinic's (or another patient's) records is refused as "not found"."""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa

from hipspine.store.audit import Actor
from hipspine.store.models import AuditEvent, Base, Goal, PainRating, Patient
from hipspine.store.records import PATIENT_RECORDS, AccessRefused, Records
from tests.store.seed import World, add_records, one_of_each, table_rows

MODELS = sorted(PATIENT_RECORDS.values(), key=lambda m: m.__tablename__)


def _refused(db, actor: Actor, operation) -> AccessRefused:
    with pytest.raises(AccessRefused) as caught, db.transaction() as s:
        operation(Records(s, actor))
    return caught.value


def _every_operation(ids: dict[type[Base], str], patient_id: str):
    """(name, operation) for every read, list, update and delete of one patient's data."""
    yield "read patient", lambda r: r.patient(patient_id)
    yield "update patient", lambda r: r.update(Patient, patient_id, 1, {"name": "X"})
    yield "delete patient", lambda r: r.delete(Patient, patient_id)
    for model in MODELS:
        record_id = ids[model]
        name = model.__tablename__
        yield f"read {name}", lambda r, m=model, i=record_id: r.get(m, i)
        yield f"list {name}", lambda r, m=model: r.list(m, patient_id)
        yield f"delete {name}", lambda r, m=model, i=record_id: r.delete(m, i)
        if hasattr(model, "version"):
            yield f"update {name}", lambda r, m=model, i=record_id: r.update(m, i, 1, {})
    for record in one_of_each(patient_id, date(2026, 2, 1)):
        yield f"create {type(record).__tablename__}", lambda r, rec=record: r.add(rec)


def test_another_clinic_is_refused_everything(db, world: World):
    ids = add_records(db, world.clinician_a, world.john)
    before = table_rows(db)
    for actor in (world.clinician_b, world.admin_b):
        for name, operation in _every_operation(ids, world.john):
            error = _refused(db, actor, operation)
            assert "not found" in str(error), name
    assert table_rows(db) == before  # nothing changed; refused work left no audit entry
    for actor in (world.clinician_b, world.admin_b):
        with db.transaction() as s:
            page = Records(s, actor).patients()
            assert [p.id for p in page.items] == [world.bea] and page.total == 1
            assert Records(s, actor).patients(search="John").total == 0


def test_a_patient_is_refused_another_patients_records(db, world: World):
    ids = add_records(db, world.clinician_a, world.john)
    for name, operation in _every_operation(ids, world.john):
        error = _refused(db, world.mary_self, operation)
        assert "not found" in str(error), name
    with db.transaction() as s:
        page = Records(s, world.mary_self).patients()
        assert [p.id for p in page.items] == [world.mary]


def test_a_patient_reads_their_own_record_and_writes_only_their_reports(db, world: World):
    ids = add_records(db, world.clinician_a, world.john)
    with db.transaction() as s:
        records = Records(s, world.john_self)
        assert records.patient(world.john).name == "John"
        for model in MODELS:
            assert records.get(model, ids[model]).patient_id == world.john
            assert records.list(model, world.john).total == 1
        records.add(
            PainRating(
                patient_id=world.john,
                region="hip",
                side="right",
                intensity=3,
                rated_on=date(2026, 3, 1),
            )
        )
    _refused(db, world.john_self, lambda r: r.update(Goal, ids[Goal], 1, {"description": "x"}))
    _refused(db, world.john_self, lambda r: r.delete(PainRating, ids[PainRating]))
    _refused(db, world.john_self, lambda r: r.add_patient(name="Someone"))


def test_refused_requests_are_indistinguishable_from_missing_records(db, world: World):
    ids = add_records(db, world.clinician_a, world.john)
    other = _refused(db, world.clinician_b, lambda r: r.get(Goal, ids[Goal]))
    missing = _refused(db, world.clinician_a, lambda r: r.get(Goal, "no-such-goal"))
    assert type(other) is type(missing)
    assert str(other).replace(ids[Goal], "?") == str(missing).replace("no-such-goal", "?")
    with db.transaction() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(AuditEvent)) == len(MODELS)

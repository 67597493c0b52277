"""The audit log: one entry per access of patient data with the right who/what/which,
refusals recorded, triggers that refuse changes, and tampering found at the right entry."""

from __future__ import annotations

from datetime import date

import psycopg
import pytest
import sqlalchemy as sa

from hipspine.store.audit import GENESIS, entry_hash, verify
from hipspine.store.db import Database
from hipspine.store.migrate import upgrade
from hipspine.store.models import AuditEvent, Goal, PainRating
from hipspine.store.records import AccessRefused, Records, record_refusal
from tests.store.seed import World, add_records, make_world
from tests.support.postgres import fresh_database


def _entries(db: Database) -> list[AuditEvent]:
    with db.transaction() as s:
        return list(s.scalars(sa.select(AuditEvent).order_by(AuditEvent.seq)))


def _verify(db: Database):
    with db.transaction() as s:
        return verify(s)


def test_every_records_operation_appends_exactly_one_right_entry(db, world: World):
    actor = world.clinician_a
    ids = add_records(db, actor, world.john)

    def one_entry(operation, action, resource, record_id, patient_id):
        before = len(_entries(db))
        with db.transaction() as s:
            operation(Records(s, actor))
        entries = _entries(db)
        assert len(entries) == before + 1, f"{action} {resource}"
        e = entries[-1]
        assert (e.actor_id, e.actor_role, e.clinic_id) == (
            actor.user_id,
            "clinician",
            world.clinic_a,
        )
        assert (e.action, e.resource, e.resource_id, e.patient_id) == (
            action,
            resource,
            record_id,
            patient_id,
        )
        assert (e.outcome, e.client, e.request_id) == ("ok", "10.0.0.7", "req-a")

    goal = ids[Goal]
    one_entry(lambda r: r.patient(world.john), "read", "patient", world.john, world.john)
    # A listing is one entry per patient on the page (John, Mary: by name), none else.
    before = len(_entries(db))
    with db.transaction() as s:
        Records(s, actor).patients()
    listed = _entries(db)[before:]
    assert [(e.action, e.resource, e.resource_id, e.patient_id) for e in listed] == [
        ("list", "patient", world.john, world.john),
        ("list", "patient", world.mary, world.mary),
    ]
    before = len(_entries(db))
    with db.transaction() as s:
        assert Records(s, actor).patients(search="nobody").items == []
    assert [(e.action, e.patient_id) for e in _entries(db)[before:]] == [("list", None)]
    before = len(_entries(db))
    with db.transaction() as s:
        ann = Records(s, actor).add_patient(name="Ann")
    e = _entries(db)
    assert len(e) == before + 1 and (e[-1].action, e[-1].resource_id) == ("create", ann.id)
    assert e[-1].patient_id == ann.id
    one_entry(lambda r: r.get(Goal, goal), "read", "goal", goal, world.john)
    one_entry(lambda r: r.list(Goal, world.john), "list", "goal", None, world.john)
    one_entry(
        lambda r: r.update(Goal, goal, 1, {"description": "hike 6 miles"}),
        "update",
        "goal",
        goal,
        world.john,
    )
    one_entry(
        lambda r: r.update(type(ann), ann.id, 1, {"name": "Ann B"}),
        "update",
        "patient",
        ann.id,
        ann.id,
    )
    rating_holder: dict[str, str] = {}

    def add_rating(r: Records) -> None:
        rating = PainRating(
            patient_id=world.john,
            region="hip",
            side="right",
            intensity=6,
            rated_on=date(2026, 1, 5),
        )
        rating_holder["id"] = r.add(rating).id

    before = len(_entries(db))
    with db.transaction() as s:
        add_rating(Records(s, actor))
    e = _entries(db)
    assert len(e) == before + 1
    assert (e[-1].action, e[-1].resource, e[-1].resource_id, e[-1].patient_id) == (
        "create",
        "pain_rating",
        rating_holder["id"],
        world.john,
    )
    one_entry(
        lambda r: r.delete(PainRating, rating_holder["id"]),
        "delete",
        "pain_rating",
        rating_holder["id"],
        world.john,
    )
    one_entry(lambda r: r.delete(type(ann), ann.id), "delete", "patient", ann.id, ann.id)
    # The patient's own portal access is audited as the patient.
    with db.transaction() as s:
        Records(s, world.john_self).list(PainRating, world.john)
    last = _entries(db)[-1]
    assert (last.actor_id, last.actor_role, last.action) == (
        world.john_self.user_id,
        "patient",
        "list",
    )
    result = _verify(db)
    assert result.intact and result.checked == len(_entries(db))


def test_refusals_are_recorded_after_the_refused_work_is_rolled_back(db, world: World):
    ids = add_records(db, world.clinician_a, world.john)
    before = len(_entries(db))
    intruder = world.clinician_b
    with pytest.raises(AccessRefused) as refused, db.transaction() as s:
        records = Records(s, intruder)
        records.patients()  # audited, then rolled back with the refused transaction
        records.get(Goal, ids[Goal])
    record_refusal(db, intruder, refused.value)
    entries = _entries(db)
    assert len(entries) == before + 1
    e = entries[-1]
    assert (e.actor_id, e.clinic_id, e.action, e.resource, e.resource_id, e.outcome) == (
        intruder.user_id,
        world.clinic_b,
        "read",
        "goal",
        ids[Goal],
        "refused",
    )
    assert e.patient_id is None  # the refusal does not reveal whose record it was
    assert _verify(db).intact


def test_refusals_name_the_patient_when_that_reveals_nothing(db, world: World):
    """The patient the caller addressed, or the owner of a record of the actor's own
    clinic, is recorded; the owner of another clinic's record never is."""
    ids = add_records(db, world.clinician_a, world.john)
    attempts = [
        # (actor, attempt, patient expected in the refusal)
        (world.clinician_b, lambda r: r.patient(world.john), world.john),
        (world.clinician_b, lambda r: r.list(Goal, world.john), world.john),
        (world.clinician_b, lambda r: r.get_of(Goal, world.john, ids[Goal]), world.john),
        (world.clinician_b, lambda r: r.get(Goal, ids[Goal]), None),
        (world.clinician_b, lambda r: r.delete(Goal, ids[Goal]), None),
        (world.mary_self, lambda r: r.get(Goal, ids[Goal]), world.john),
        (world.mary_self, lambda r: r.check_patient(Goal, world.mary, "create"), world.mary),
    ]
    for actor, attempt, expected in attempts:
        with pytest.raises(AccessRefused) as refused, db.transaction() as s:
            attempt(Records(s, actor))
        record_refusal(db, actor, refused.value)
        last = _entries(db)[-1]
        assert (last.outcome, last.actor_id, last.patient_id) == (
            "refused",
            actor.user_id,
            expected,
        ), refused.value
    assert _verify(db).intact


def _apply(db: Database, *statements: str) -> None:
    with db.engine.begin() as connection:
        for statement in statements:
            connection.exec_driver_sql(statement)


def _drop_triggers(db: Database) -> None:
    """What a malicious database administrator does first."""
    if db.is_sqlite:
        _apply(db, "DROP TRIGGER audit_event_no_update", "DROP TRIGGER audit_event_no_delete")
    else:
        _apply(db, "ALTER TABLE audit_event DISABLE TRIGGER USER")


def test_triggers_refuse_changing_or_deleting_the_log(db, world: World):
    with db.transaction() as s:
        Records(s, world.clinician_a).patient(world.john)
    refused = (sa.exc.IntegrityError, sa.exc.DatabaseError, sa.exc.ProgrammingError)
    statements = [
        "UPDATE audit_event SET actor_id = 'someone-else'",
        "DELETE FROM audit_event",
    ]
    if not db.is_sqlite:
        statements.append("TRUNCATE audit_event")
    for statement in statements:
        with pytest.raises(refused, match="append-only"):
            _apply(db, statement)
    with pytest.raises(refused, match="append-only"), db.transaction() as s:
        s.execute(sa.update(AuditEvent).values(outcome="ok"))
    assert len(_entries(db)) == 1 and _verify(db).intact


@pytest.fixture
def chain(db, world: World) -> list[AuditEvent]:
    """Ten audit entries (seq 1..10), triggers dropped as an attacker would."""
    for _ in range(10):
        with db.transaction() as s:
            Records(s, world.clinician_a).patient(world.john)
    entries = _entries(db)
    assert [e.seq for e in entries] == list(range(1, 11))
    assert entries[0].prev_hash == GENESIS and _verify(db).intact
    _drop_triggers(db)
    return entries


def test_changing_a_field_of_an_old_entry_is_found_at_that_entry(db, chain):
    _apply(db, "UPDATE audit_event SET actor_id = 'innocent' WHERE seq = 4")
    result = _verify(db)
    assert (result.broken_at, result.checked) == (4, 3)
    assert "changed" in result.reason


def test_changing_the_time_of_an_entry_is_found(db, chain):
    with db.engine.begin() as connection:
        connection.execute(
            sa.update(AuditEvent)
            .where(AuditEvent.seq == 7)
            .values(at=chain[6].at.replace(year=2020))
        )
    assert _verify(db).broken_at == 7


def test_deleting_an_entry_is_found_at_the_next_one(db, chain):
    _apply(db, "DELETE FROM audit_event WHERE seq = 4")
    result = _verify(db)
    assert result.broken_at == 5 and "removed or reordered" in result.reason


def test_reordering_entries_is_found(db, chain):
    _apply(
        db,
        "UPDATE audit_event SET seq = -5 WHERE seq = 5",
        "UPDATE audit_event SET seq = 5 WHERE seq = 4",
        "UPDATE audit_event SET seq = 4 WHERE seq = -5",
    )
    assert _verify(db).broken_at == 4


def test_reinserting_a_forged_entry_is_found(db, chain):
    """Replace entry 6 by a forgery with a correct hash of its own: entry 7 no longer fits."""
    with db.engine.begin() as connection:
        connection.execute(sa.delete(AuditEvent).where(AuditEvent.seq == 6))
        original = chain[5]
        forged = {c.name: getattr(original, c.key) for c in AuditEvent.__table__.columns}
        forged["actor_id"] = "someone-innocent"
        forgery = AuditEvent(**forged)
        forged["hash"] = entry_hash(original.prev_hash, forgery)
        connection.execute(sa.insert(AuditEvent).values(forged))
    result = _verify(db)
    assert result.broken_at == 7 and result.checked == 6


@pytest.mark.postgres
def test_the_chain_verifies_when_the_server_is_not_on_utc(postgres_url):
    """A PostgreSQL server in local time returns the same instants with another offset."""
    database_url = fresh_database(postgres_url)
    name = database_url.rsplit("/", 1)[1]
    plain = postgres_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f"ALTER DATABASE \"{name}\" SET timezone TO 'America/New_York'")
    db = Database(database_url)
    try:
        upgrade(db)
        world = make_world(db)
        for _ in range(3):
            with db.transaction() as s:
                Records(s, world.clinician_a).patient(world.john)
        with db.transaction() as s:
            offset = s.execute(sa.text("SELECT now()")).scalar_one().utcoffset()
        assert offset is not None and offset.total_seconds() != 0
        result = _verify(db)
        assert result.intact, result
    finally:
        db.dispose()

"""The append-only, hash-chained audit log of every read and write of patient data.

Each entry records who (user and role), what (action, resource, record, patient), when,
from where (client address) and the request id, and the outcome. Its hash covers the
previous entry's hash and its own canonical fields (SHA-256), so changing, deleting or
reordering any entry breaks the chain from that point on; :func:`verify` finds the first
broken link. The log holds identifiers only, never clinical content.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from hipspine.store.db import WRITE_LOCK, Database
from hipspine.store.models import AuditEvent, now

GENESIS = "0" * 64
_FIELDS = (
    "at", "actor_id", "actor_role", "clinic_id", "action", "resource",
    "resource_id", "patient_id", "outcome", "client", "request_id",
)  # fmt: skip


@dataclass(frozen=True)
class Actor:
    """Who is acting, and from where, for authorisation and audit."""

    user_id: str | None
    role: str
    clinic_id: str | None
    patient_id: str | None = None
    client: str | None = None
    request_id: str | None = None


def _timestamp(moment: datetime) -> str:
    # Canonical UTC text, identical whether the database returns aware values (PostgreSQL,
    # in the session's time zone, which need not be UTC) or naive UTC values (SQLite).
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.replace(tzinfo=None).isoformat(timespec="microseconds")


def entry_hash(prev_hash: str, event: AuditEvent) -> str:
    """SHA-256 over the previous hash and the entry's canonical fields."""
    fields = {name: getattr(event, name) for name in _FIELDS}
    fields["at"] = _timestamp(event.at)
    payload = json.dumps(fields, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(f"{prev_hash}|{payload}".encode()).hexdigest()


def record(
    session: Session,
    actor: Actor,
    action: str,
    resource: str,
    *,
    resource_id: str | None = None,
    patient_id: str | None = None,
    outcome: str = "ok",
) -> AuditEvent:
    """Append one entry to the chain inside the caller's transaction."""
    if session.get_bind().dialect.name == "postgresql":
        # One chain writer at a time across every connection (released at commit).
        # Database.transaction() already holds it; sessions made elsewhere take it here.
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": WRITE_LOCK})
    last = session.execute(
        select(AuditEvent.hash).order_by(AuditEvent.seq.desc()).limit(1)
    ).scalar()
    event = AuditEvent(
        at=now(),
        actor_id=actor.user_id,
        actor_role=actor.role,
        clinic_id=actor.clinic_id,
        action=action,
        resource=resource,
        resource_id=resource_id,
        patient_id=patient_id,
        outcome=outcome,
        client=actor.client,
        request_id=actor.request_id,
        prev_hash=last or GENESIS,
    )
    event.hash = entry_hash(event.prev_hash, event)
    session.add(event)
    session.flush()
    return event


def record_command(db: Database, action: str, command: str) -> AuditEvent:
    """Append an entry for a command run on the whole database (``backup``, ``restore``)
    in a transaction of its own; the actor is the command, as no user is signed in."""
    actor = Actor(user_id=None, role="admin", clinic_id=None, client=command)
    with db.transaction() as session:
        return record(session, actor, action, "database")


@dataclass(frozen=True)
class Verification:
    """Result of checking the chain: entries checked and the first broken one, if any.

    With a ``clinic_id``, also that clinic's own entries: how many were checked and the
    newest one's ``seq`` and ``hash`` (to keep outside the database: if the newest entries
    are ever deleted, that entry is missing from a later check, see ``anchor_found``).
    """

    checked: int
    broken_at: int | None
    reason: str = ""
    clinic_checked: int = 0
    last_seq: int | None = None
    last_hash: str | None = None
    anchor_found: bool | None = None

    @property
    def intact(self) -> bool:
        return self.broken_at is None


def verify(
    session: Session,
    *,
    batch: int = 5000,
    clinic_id: str | None = None,
    anchor: str | None = None,
) -> Verification:
    """Walk the whole chain in order and report the first entry that does not fit.

    ``clinic_id`` adds that clinic's count and newest entry; ``anchor`` (a hash kept from
    an earlier check) reports whether that entry is still in the chain.
    """
    expected_prev = GENESIS
    checked = clinic_checked = 0
    last_seq = 0
    newest: tuple[int, str] | None = None
    found = None if anchor is None else False

    def result(broken_at: int | None, reason: str = "") -> Verification:
        return Verification(
            checked,
            broken_at,
            reason,
            clinic_checked,
            newest[0] if newest else None,
            newest[1] if newest else None,
            found,
        )

    while True:
        rows = session.execute(
            select(AuditEvent)
            .where(AuditEvent.seq > last_seq)
            .order_by(AuditEvent.seq)
            .limit(batch)
        ).scalars()
        page = list(rows)
        if not page:
            return result(None)
        for event in page:
            if event.prev_hash != expected_prev:
                return result(event.seq, "previous-hash link broken (entry removed or reordered)")
            if entry_hash(event.prev_hash, event) != event.hash:
                return result(event.seq, "entry content changed after it was written")
            expected_prev = event.hash
            checked += 1
            last_seq = event.seq
            if clinic_id is not None and event.clinic_id == clinic_id:
                clinic_checked += 1
                newest = (event.seq, event.hash)
            if anchor is not None and event.hash == anchor:
                found = True
        session.expunge_all()

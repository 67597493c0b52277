"""audit log append-only: triggers refuse UPDATE, DELETE (and TRUNCATE) of audit entries

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 21:30:00

The hash chain *detects* tampering; these triggers *prevent* the application (or a slip at
the SQL prompt) from changing the log at all. Someone who owns the schema can still drop
them, which is why the chain exists too.

On SQLite, a batch ("move and copy") migration of ``audit_event`` recreates the table and
loses these triggers: any later revision that batch-alters ``audit_event`` must create them
again (call :func:`create_triggers`).
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_MESSAGE = "audit_event is append-only"

_SQLITE_UP = [
    f"""CREATE TRIGGER audit_event_no_update BEFORE UPDATE ON audit_event
        BEGIN SELECT RAISE(ABORT, '{_MESSAGE}: UPDATE refused'); END""",
    f"""CREATE TRIGGER audit_event_no_delete BEFORE DELETE ON audit_event
        BEGIN SELECT RAISE(ABORT, '{_MESSAGE}: DELETE refused'); END""",
]
_SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS audit_event_no_delete",
    "DROP TRIGGER IF EXISTS audit_event_no_update",
]

_POSTGRES_UP = [
    f"""CREATE FUNCTION audit_event_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION '{_MESSAGE}: % refused', TG_OP
                USING ERRCODE = 'insufficient_privilege';
        END
        $$""",
    """CREATE TRIGGER audit_event_no_change BEFORE UPDATE OR DELETE ON audit_event
        FOR EACH ROW EXECUTE FUNCTION audit_event_append_only()""",
    """CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON audit_event
        FOR EACH STATEMENT EXECUTE FUNCTION audit_event_append_only()""",
]
_POSTGRES_DOWN = [
    "DROP TRIGGER IF EXISTS audit_event_no_truncate ON audit_event",
    "DROP TRIGGER IF EXISTS audit_event_no_change ON audit_event",
    "DROP FUNCTION IF EXISTS audit_event_append_only()",
]


def _statements(up: bool) -> list[str]:
    if op.get_bind().dialect.name == "postgresql":
        return _POSTGRES_UP if up else _POSTGRES_DOWN
    return _SQLITE_UP if up else _SQLITE_DOWN


def create_triggers() -> None:
    """Create the append-only triggers on ``audit_event`` for the current dialect."""
    for statement in _statements(up=True):
        op.execute(statement)


def upgrade() -> None:
    create_triggers()


def downgrade() -> None:
    for statement in _statements(up=False):
        op.execute(statement)

"""Clinics and user accounts carry a version, as clinical records do: an administrator's
change states the version it read and is refused if another administrator changed the
clinic or the account since

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25 02:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

TABLES = ("clinic", "app_user")


def upgrade() -> None:
    for table in TABLES:
        # Existing rows start at version 1; the server default only fills them in.
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(
                sa.Column("version", sa.Integer(), nullable=False, server_default="1")
            )
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column("version", existing_type=sa.Integer(), server_default=None)


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("version")

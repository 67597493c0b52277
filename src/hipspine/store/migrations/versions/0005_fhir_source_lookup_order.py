"""FHIR import provenance keyed (source id, resource type, clinic, source system): the
importer looks resources up by a list of ids (a subject reference carries no source system),
and only a leading id column lets SQLite and PostgreSQL seek each id in the unique index
instead of scanning every row of the clinic

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24 23:30:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

NAME = "fhir_source_once_per_clinic"


def _key(columns: list[str]) -> None:
    with op.batch_alter_table("fhir_source", schema=None) as batch_op:
        batch_op.drop_constraint(NAME, type_="unique")
        batch_op.create_unique_constraint(NAME, columns)


def upgrade() -> None:
    _key(["source_id", "resource_type", "clinic_id", "source_system"])


def downgrade() -> None:
    _key(["clinic_id", "source_system", "resource_type", "source_id"])

"""FHIR import provenance keyed by its natural key alone: (source id, resource type,
clinic, source system) becomes the primary key and the surrogate id goes, so every imported
resource writes one index fewer

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25 01:30:00.000000
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

KEY = ["source_id", "resource_type", "clinic_id", "source_system"]
UNIQUE = "fhir_source_once_per_clinic"


def upgrade() -> None:
    with op.batch_alter_table("fhir_source", schema=None) as batch_op:
        batch_op.drop_constraint(UNIQUE, type_="unique")
        batch_op.drop_constraint("pk_fhir_source", type_="primary")
        batch_op.drop_column("id")
        batch_op.create_primary_key("pk_fhir_source", KEY)


def downgrade() -> None:
    with op.batch_alter_table("fhir_source", schema=None) as batch_op:
        batch_op.add_column(sa.Column("id", sa.String(length=36), nullable=True))
    # Each existing row gets a fresh surrogate id, as the old importer would have given it.
    table = sa.table("fhir_source", *(sa.column(name) for name in ["id", *KEY]))
    connection = op.get_bind()
    for key in connection.execute(sa.select(*(table.c[name] for name in KEY))).all():
        match = sa.and_(*(table.c[name] == value for name, value in zip(KEY, key, strict=True)))
        connection.execute(sa.update(table).where(match).values(id=str(uuid.uuid4())))
    with op.batch_alter_table("fhir_source", schema=None) as batch_op:
        batch_op.drop_constraint("pk_fhir_source", type_="primary")
        batch_op.alter_column("id", existing_type=sa.String(length=36), nullable=False)
        batch_op.create_primary_key("pk_fhir_source", ["id"])
        batch_op.create_unique_constraint(UNIQUE, KEY)

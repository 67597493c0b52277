"""FHIR import provenance (one row per imported resource, for idempotent, resumable
imports); procedures received from elsewhere keep their code and may have unknown guidance

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "fhir_source",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("clinic_id", sa.String(length=36), nullable=False),
        sa.Column("patient_id", sa.String(length=36), nullable=False),
        sa.Column("resource_type", sa.String(length=40), nullable=False),
        sa.Column("source_system", sa.String(length=200), nullable=False),
        sa.Column("source_id", sa.String(length=128), nullable=False),
        sa.Column("record_table", sa.String(length=40), nullable=True),
        sa.Column("record_id", sa.String(length=36), nullable=True),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["clinic.id"], name=op.f("fk_fhir_source_clinic_id_clinic")
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patient.id"],
            name=op.f("fk_fhir_source_patient_id_patient"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fhir_source")),
        sa.UniqueConstraint(
            "clinic_id",
            "source_system",
            "resource_type",
            "source_id",
            name="fhir_source_once_per_clinic",
        ),
    )
    with op.batch_alter_table("fhir_source", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_fhir_source_patient_id"), ["patient_id"], unique=False)
    with op.batch_alter_table("procedure", schema=None) as batch_op:
        batch_op.add_column(sa.Column("code", sa.JSON(), nullable=True))
        batch_op.alter_column("guidance", existing_type=sa.String(length=40), nullable=True)


def downgrade() -> None:
    # Procedures imported with unknown guidance cannot satisfy the old NOT NULL column;
    # they are removed with the import provenance that brought them in.
    op.execute("DELETE FROM procedure WHERE guidance IS NULL")
    with op.batch_alter_table("procedure", schema=None) as batch_op:
        batch_op.alter_column("guidance", existing_type=sa.String(length=40), nullable=False)
        batch_op.drop_column("code")
    with op.batch_alter_table("fhir_source", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_fhir_source_patient_id"))
    op.drop_table("fhir_source")

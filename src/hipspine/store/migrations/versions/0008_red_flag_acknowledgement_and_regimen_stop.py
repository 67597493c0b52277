"""Red-flag acknowledgements (a clinician's who/when/why for a "consider" flag) and the
day a physical-therapy regimen stopped

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-25 02:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "red_flag_acknowledgement",
        sa.Column("flag", sa.String(length=64), nullable=False),
        sa.Column("assessment_id", sa.String(length=36), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("clinic_id", sa.String(length=36), nullable=False),
        sa.Column("patient_id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=36), nullable=True),
        sa.ForeignKeyConstraint(
            ["assessment_id"],
            ["assessment.id"],
            name=op.f("fk_red_flag_acknowledgement_assessment_id_assessment"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["clinic.id"], name=op.f("fk_red_flag_acknowledgement_clinic_id_clinic")
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["app_user.id"],
            name=op.f("fk_red_flag_acknowledgement_created_by_app_user"),
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patient.id"],
            name=op.f("fk_red_flag_acknowledgement_patient_id_patient"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_red_flag_acknowledgement")),
    )
    with op.batch_alter_table("red_flag_acknowledgement", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_red_flag_acknowledgement_clinic_id"), ["clinic_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_red_flag_acknowledgement_patient_id"), ["patient_id"], unique=False
        )
        batch_op.create_index(
            "ix_red_flag_acknowledgement_patient_flag", ["patient_id", "flag"], unique=False
        )
    with op.batch_alter_table("therapy_regimen", schema=None) as batch_op:
        batch_op.add_column(sa.Column("stopped_on", sa.Date(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("therapy_regimen", schema=None) as batch_op:
        batch_op.drop_column("stopped_on")
    with op.batch_alter_table("red_flag_acknowledgement", schema=None) as batch_op:
        batch_op.drop_index("ix_red_flag_acknowledgement_patient_flag")
        batch_op.drop_index(batch_op.f("ix_red_flag_acknowledgement_patient_id"))
        batch_op.drop_index(batch_op.f("ix_red_flag_acknowledgement_clinic_id"))
    op.drop_table("red_flag_acknowledgement")

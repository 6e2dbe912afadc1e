"""Churn models: each trained churn-risk model as JSON numbers, by its training day and the
fingerprint of the renewals and snapshots it learnt from, so a rerun loads it.

Revision ID: 0011_churn_models
Revises: 0010_task_outcomes
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_churn_models"
down_revision = "0010_task_outcomes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "churn_models",
        sa.Column("trained_on", sa.Date, primary_key=True),
        sa.Column("fingerprint", sa.String(64), primary_key=True),
        sa.Column("model", sa.JSON, nullable=False),
        sa.Column("saved_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("churn_models")

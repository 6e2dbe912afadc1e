"""Stage history: when each account entered each journey stage (and touch tier), and the
moves waiting out their hysteresis.

The current stage is the latest entry; `days_in_stage` counts from its `entered_on`, so a
stage is never restarted by recomputing it from one week's data.

Revision ID: 0006_stage_history
Revises: 0005_snapshot_model
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_stage_history"
down_revision = "0005_snapshot_model"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stage_history",
        sa.Column("account_id", sa.String(64), primary_key=True),
        sa.Column("track", sa.String(40), primary_key=True),
        sa.Column("entered_on", sa.Date, primary_key=True),
        sa.Column("stage", sa.String(120), nullable=False),
        sa.Column("run_id", sa.String(32), nullable=False),
    )
    op.create_table(
        "stage_pending",
        sa.Column("account_id", sa.String(64), primary_key=True),
        sa.Column("track", sa.String(40), primary_key=True),
        sa.Column("stage", sa.String(120), nullable=False),
        sa.Column("since", sa.Date, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("stage_pending")
    op.drop_table("stage_history")

"""Runs and daily account snapshots.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("run_id", sa.String(32), primary_key=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Column("as_of", sa.Date, nullable=False),
        sa.Column("dry_run", sa.Boolean, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("summary", sa.JSON),
    )
    op.create_table(
        "account_snapshots",
        sa.Column("account_id", sa.String(64), primary_key=True),
        sa.Column("snapshot_date", sa.Date, primary_key=True),
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("health_score", sa.Float),
        sa.Column("health_color", sa.String(40)),
        sa.Column("measures", sa.JSON, nullable=False),
    )
    op.create_index("ix_account_snapshots_date", "account_snapshots", ["snapshot_date"])


def downgrade() -> None:
    op.drop_index("ix_account_snapshots_date", "account_snapshots")
    op.drop_table("account_snapshots")
    op.drop_table("runs")

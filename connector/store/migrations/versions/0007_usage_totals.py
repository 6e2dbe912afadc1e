"""Lifetime usage totals: each tenant's metrics summed over every complete week the worker
has seen, so `<metric>_total` means "ever", not "the weeks this run read".

Revision ID: 0007_usage_totals
Revises: 0006_stage_history
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_usage_totals"
down_revision = "0006_stage_history"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "usage_totals",
        sa.Column("account_key", sa.String(128), primary_key=True),
        sa.Column("through_week", sa.Date, nullable=False),
        sa.Column("totals", sa.JSON, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("usage_totals")

"""Snapshots say which health model scored them and keep the raw values it scored.

A trend then compares like with like: a baseline scored by another model is re-scored from
its raw values with the current one, never compared as is. Rows written before this
revision have neither (NULL): they cannot be re-scored, and give no trend.

Revision ID: 0005_snapshot_model
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_snapshot_model"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("account_snapshots") as table:
        table.add_column(sa.Column("model_version", sa.String(40)))
        table.add_column(sa.Column("inputs", sa.JSON))


def downgrade() -> None:
    with op.batch_alter_table("account_snapshots") as table:
        table.drop_column("inputs")
        table.drop_column("model_version")

"""Task outcomes: each task the worker created, by action key, and when it was completed,
for the report's task completion rate, time to close and health change after.

Revision ID: 0010_task_outcomes
Revises: 0009_closed_deals
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_task_outcomes"
down_revision = "0009_closed_deals"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "task_outcomes",
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("rule_id", sa.String(120), nullable=False),
        sa.Column("account_id", sa.String(64), nullable=False),
        sa.Column("record_id", sa.String(64)),
        sa.Column("owner_id", sa.String(64)),
        sa.Column("created_on", sa.Date, nullable=False),
        sa.Column("closed", sa.Boolean, nullable=False),
        sa.Column("completed_on", sa.Date),
        sa.Column("run_id", sa.String(32), nullable=False),
    )
    op.create_index("task_outcomes_open", "task_outcomes", ["closed"])


def downgrade() -> None:
    op.drop_index("task_outcomes_open", table_name="task_outcomes")
    op.drop_table("task_outcomes")

"""The usage mirror: the usage API's weekly rows, one Parquet blob per week, so a run reads
from the API only the weeks that can still change.

Revision ID: 0012_usage_weeks
Revises: 0011_churn_models
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_usage_weeks"
down_revision = "0011_churn_models"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "usage_weeks",
        sa.Column("week_start", sa.Date, primary_key=True),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("row_count", sa.Integer, nullable=False),
        sa.Column("rows", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "usage_mirror",
        sa.Column("name", sa.String(40), primary_key=True),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("full_read_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("covers_from", sa.Date, nullable=False),
        sa.Column("final_before", sa.Date, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("usage_mirror")
    op.drop_table("usage_weeks")

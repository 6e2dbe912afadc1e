"""A mirror of the mapped CRM records per object, so a run reads only what changed since
the last successful read.

Revision ID: 0008_crm_mirror
Revises: 0007_usage_totals
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_crm_mirror"
down_revision = "0007_usage_totals"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "crm_mirror",
        sa.Column("name", sa.String(120), primary_key=True),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("watermark", sa.DateTime(timezone=True)),
        sa.Column("full_read_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("records", sa.LargeBinary, nullable=False),
        sa.Column("outside", sa.LargeBinary, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("crm_mirror")

"""Closed deals: won and lost opportunities mirrored from the CRM by record id, for the
portfolio report (GRR, NRR, logo churn, renewal rates).

Revision ID: 0009_closed_deals
Revises: 0007_usage_totals
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_closed_deals"
down_revision = "0008_crm_mirror"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "closed_deals",
        sa.Column("deal_id", sa.String(64), primary_key=True),
        sa.Column("account_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("type", sa.String(120)),
        sa.Column("amount", sa.Float),
        sa.Column("close_date", sa.Date, nullable=False),
        sa.Column("won", sa.Boolean, nullable=False),
        sa.Column("currency", sa.String(8)),
        sa.Column("term_months", sa.Float),
        sa.Column("run_id", sa.String(32), nullable=False),
    )
    op.create_index("closed_deals_by_close_date", "closed_deals", ["close_date"])


def downgrade() -> None:
    op.drop_index("closed_deals_by_close_date", table_name="closed_deals")
    op.drop_table("closed_deals")

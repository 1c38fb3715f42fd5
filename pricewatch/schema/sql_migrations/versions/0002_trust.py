"""Audit log of decided crowdsourced price reports (trust-but-verify).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27

Written out in full rather than built from the live ``MetaData``: a migration
must keep creating the schema it created on the day it was written.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "report_audit",
        # report ids are 24 hex digits (pricewatch.trust.report_id)
        sa.Column("report_id", sa.String(32), nullable=False),
        sa.Column("market", sa.String(2), nullable=False),
        sa.Column("asin", sa.String(10), nullable=False),
        sa.Column("series", sa.String(16), nullable=False),
        sa.Column("reporter", sa.String(200), nullable=True),
        sa.Column("observed_at", sa.BigInteger, nullable=False),
        sa.Column("price", sa.BigInteger, nullable=True),
        sa.Column("verdict", sa.String(16), nullable=False),
        sa.Column("reasons", sa.String(200), nullable=False, server_default=""),
        sa.Column("verified_price", sa.BigInteger, nullable=True),
        sa.Column("refuted_event_id", sa.String(64), nullable=True),
        sa.Column("decided_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("report_id", name="pk_report_audit"),
        sa.CheckConstraint(
            "verdict IN ('confirmed', 'refuted', 'corrected', 'expired', 'rejected')",
            name="ck_report_audit_verdict",
        ),
    )
    op.create_index(
        "ix_report_audit_reporter_decided_at", "report_audit", ["reporter", "decided_at"]
    )
    op.create_index(
        "ix_report_audit_market_asin_decided_at", "report_audit", ["market", "asin", "decided_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_report_audit_market_asin_decided_at", table_name="report_audit")
    op.drop_index("ix_report_audit_reporter_decided_at", table_name="report_audit")
    op.drop_table("report_audit")

"""Exactly once across crashes: subscriptions.last_change_at, the page time of the last
price change each subscription applied.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-15

Written out in full rather than built from the live ``MetaData``: a migration
must keep creating the schema it created on the day it was written.

A worker that dies before acking a batch reads it again; the alerts then skip any
change at or before the one they last fired on or were re-armed by, so the replay
changes nothing. Existing rows start with NULL: no change applied yet, so none is
skipped (what they did before). No index: the column only filters the few rows the
alerts index already found.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # a nullable column without a default: an in-place ALTER on both databases
    op.add_column("subscriptions", sa.Column("last_change_at", sa.BigInteger, nullable=True))


def downgrade() -> None:
    # batch mode: SQLite rebuilds the table (rows, indexes and the notifications pointing
    # at it kept, as 0003's and 0004's rebuilds showed); PostgreSQL drops it in place
    with op.batch_alter_table("subscriptions") as batch:
        batch.drop_column("last_change_at")

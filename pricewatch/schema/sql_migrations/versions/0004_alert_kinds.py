"""Alerts per series and of two kinds: subscriptions.kind ("price" or "back_in_stock"),
a threshold only price alerts have, and new alerts watching the cheapest new price.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-08

Written out in full rather than built from the live ``MetaData``: a migration
must keep creating the schema it created on the day it was written.

Existing rows are price alerts on the buy box, as they always were: ``kind`` comes in
as "price" and ``series`` keeps its "buybox". Only the default of ``series`` moves to
"cheapest_new", for alerts made from now on. The alerts index gains ``kind`` after the
product, so each kind's rows are one range of it (back-in-stock rows, with no
threshold, in id order).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

INDEX = "ix_subscriptions_due"
KIND_CHECK = "ck_subscriptions_kind"
KIND_THRESHOLD_CHECK = "ck_subscriptions_kind_threshold"


def upgrade() -> None:
    # SQLite cannot add a CHECK constraint nor relax NOT NULL in place: batch mode
    # rebuilds the table (rows and indexes kept; the notifications pointing at it too,
    # as 0003's rebuild showed); PostgreSQL alters it in place.
    with op.batch_alter_table("subscriptions") as batch:
        batch.add_column(
            sa.Column("kind", sa.String(16), nullable=False, server_default=sa.text("'price'"))
        )
        batch.alter_column(
            "series",
            existing_type=sa.String(16),
            existing_nullable=False,
            server_default=sa.text("'cheapest_new'"),
        )
        batch.alter_column("threshold", existing_type=sa.BigInteger, nullable=True)
        batch.create_check_constraint(op.f(KIND_CHECK), "kind IN ('price', 'back_in_stock')")
        batch.create_check_constraint(
            op.f(KIND_THRESHOLD_CHECK),
            "(kind = 'price' AND threshold IS NOT NULL) "
            "OR (kind = 'back_in_stock' AND threshold IS NULL)",
        )
        batch.drop_index(INDEX)
        batch.create_index(INDEX, ["market", "asin", "series", "kind", "threshold", "id"])


def downgrade() -> None:
    # Before 0004 an alert needs a threshold: back-in-stock alerts cannot be kept as
    # they are. They are deleted (status), so their notifications stay in the log.
    op.execute(
        "UPDATE subscriptions SET kind = 'price', threshold = 0, status = 'deleted', "
        "armed = false WHERE kind = 'back_in_stock'"
    )
    with op.batch_alter_table("subscriptions") as batch:
        batch.drop_index(INDEX)
        batch.create_index(INDEX, ["market", "asin", "series", "threshold", "id"])
        batch.drop_constraint(op.f(KIND_THRESHOLD_CHECK), type_="check")
        batch.drop_constraint(op.f(KIND_CHECK), type_="check")
        batch.alter_column("threshold", existing_type=sa.BigInteger, nullable=False)
        batch.alter_column(
            "series",
            existing_type=sa.String(16),
            existing_nullable=False,
            server_default=sa.text("'buybox'"),
        )
        batch.drop_column("kind")

"""Users, tokens, subscriptions, notifications log, reporter reputation.

Revision ID: 0001
Revises:
Create Date: 2026-11-27

Written out in full rather than built from the live ``MetaData``: a migration
must keep creating the schema it created on the day it was written.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# SQLite only auto-increments an INTEGER PRIMARY KEY (the rowid alias).
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.UniqueConstraint("email", name="uq_users_email"),
    )
    op.create_table(
        "auth_tokens",
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("user_id", Id, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("token_hash", name="pk_auth_tokens"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_auth_tokens_user_id_users", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_auth_tokens_user_id", "auth_tokens", ["user_id"])

    op.create_table(
        "subscriptions",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("user_id", Id, nullable=False),
        sa.Column("market", sa.String(2), nullable=False),
        sa.Column("asin", sa.String(10), nullable=False),
        sa.Column("series", sa.String(16), nullable=False, server_default=sa.text("'buybox'")),
        sa.Column("threshold", sa.BigInteger, nullable=False),
        sa.Column("threshold_percent", sa.Float, nullable=True),
        sa.Column("base_price", sa.BigInteger, nullable=True),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("notification_type", sa.String(16), nullable=False),
        sa.Column("target", sa.String(2048), nullable=True),
        sa.Column("status", sa.String(16), nullable=False, server_default=sa.text("'active'")),
        sa.Column("armed", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("last_fired_price", sa.BigInteger, nullable=True),
        sa.Column("last_fired_at", sa.BigInteger, nullable=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_subscriptions"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_subscriptions_user_id_users", ondelete="CASCADE"
        ),
        sa.CheckConstraint("threshold >= 0", name="ck_subscriptions_threshold_non_negative"),
        sa.CheckConstraint(
            "threshold_percent IS NULL OR (threshold_percent > 0 AND threshold_percent < 100)",
            name="ck_subscriptions_threshold_percent_range",
        ),
        sa.CheckConstraint(
            "notification_type IN ('EMAIL', 'SMS', 'WEBHOOK')",
            name="ck_subscriptions_notification_type",
        ),
        sa.CheckConstraint(
            "status IN ('active', 'paused', 'deleted')", name="ck_subscriptions_status"
        ),
    )
    # alerts hot path and re-arming: product equality, threshold range, id tie-break
    op.create_index(
        "ix_subscriptions_due", "subscriptions", ["market", "asin", "series", "threshold", "id"]
    )
    op.create_index("ix_subscriptions_user_id", "subscriptions", ["user_id"])

    op.create_table(
        "notifications",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("subscription_id", Id, nullable=False),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default=sa.text("'pending'")),
        sa.Column("attempts", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("next_attempt_at", sa.BigInteger, nullable=False),
        sa.Column("price", sa.BigInteger, nullable=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("sent_at", sa.BigInteger, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_notifications"),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["subscriptions.id"],
            name="fk_notifications_subscription_id_subscriptions",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint(
            "subscription_id",
            "event_id",
            "kind",
            name="uq_notifications_subscription_id_event_id_kind",
        ),
        sa.CheckConstraint("kind IN ('alert', 'correction')", name="ck_notifications_kind"),
        sa.CheckConstraint(
            "status IN ('pending', 'sent', 'failed')", name="ck_notifications_status"
        ),
    )
    op.create_index("ix_notifications_retry", "notifications", ["status", "next_attempt_at"])
    op.create_index("ix_notifications_event_id", "notifications", ["event_id"])

    op.create_table(
        "reporters",
        sa.Column("id", sa.String(200), nullable=False),
        sa.Column("confirmed", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("refuted", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("last_seen", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_reporters"),
    )


def downgrade() -> None:
    op.drop_table("reporters")
    op.drop_index("ix_notifications_event_id", table_name="notifications")
    op.drop_index("ix_notifications_retry", table_name="notifications")
    op.drop_table("notifications")
    op.drop_index("ix_subscriptions_user_id", table_name="subscriptions")
    op.drop_index("ix_subscriptions_due", table_name="subscriptions")
    op.drop_table("subscriptions")
    op.drop_index("ix_auth_tokens_user_id", table_name="auth_tokens")
    op.drop_table("auth_tokens")
    op.drop_table("users")

"""Verified destinations and the account lifecycle: users.email_verified_at, targets,
single-use account tokens, and the subscription status "unconfirmed".

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01

Written out in full rather than built from the live ``MetaData``: a migration
must keep creating the schema it created on the day it was written.

Existing rows: an account's own address has been getting its alerts all along, so
existing accounts count as verified from the day they were made; a subscription aimed
at any other address is what could make us mail or text a stranger, so it waits
(``unconfirmed``) until its owner saves it again, which sends the confirmation. With
verification switched off, the API activates waiting subscriptions at start-up.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# SQLite only auto-increments an INTEGER PRIMARY KEY (the rowid alias).
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

# 0001 named this constraint before the naming convention added its own prefix
OLD_STATUS_CHECK = "ck_subscriptions_ck_subscriptions_status"
STATUS_CHECK = "ck_subscriptions_status"


def _status_check(name: str, statuses: tuple[str, ...]) -> tuple[str, str]:
    return op.f(name), "status IN ({})".format(", ".join(f"'{s}'" for s in statuses))


def upgrade() -> None:
    op.add_column("users", sa.Column("email_verified_at", sa.BigInteger, nullable=True))

    op.create_table(
        "targets",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("user_id", Id, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("address", sa.String(2048), nullable=False),
        sa.Column("confirmed_at", sa.BigInteger, nullable=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("last_sent_at", sa.BigInteger, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_targets")),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_targets_user_id_users"), ondelete="CASCADE"
        ),
        sa.UniqueConstraint(
            "user_id", "kind", "address", name=op.f("uq_targets_user_id_kind_address")
        ),
        sa.CheckConstraint("kind IN ('EMAIL', 'SMS', 'WEBHOOK')", name=op.f("ck_targets_kind")),
    )

    op.create_table(
        "account_tokens",
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("user_id", Id, nullable=False),
        sa.Column("purpose", sa.String(32), nullable=False),
        sa.Column("target_id", Id, nullable=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
        sa.Column("used_at", sa.BigInteger, nullable=True),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_account_tokens")),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_account_tokens_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["target_id"],
            ["targets.id"],
            name=op.f("fk_account_tokens_target_id_targets"),
            ondelete="CASCADE",
        ),
        sa.CheckConstraint(
            "purpose IN ('verify_email', 'reset_password', 'confirm_target')",
            name=op.f("ck_account_tokens_purpose"),
        ),
    )
    op.create_index("ix_account_tokens_user_id", "account_tokens", ["user_id"])
    op.create_index("ix_account_tokens_target_id", "account_tokens", ["target_id"])

    # SQLite cannot alter a CHECK constraint: batch mode rebuilds the table (its
    # indexes included); PostgreSQL drops and adds the constraint in place.
    with op.batch_alter_table("subscriptions") as batch:
        batch.drop_constraint(op.f(OLD_STATUS_CHECK), type_="check")
        batch.create_check_constraint(
            *_status_check(STATUS_CHECK, ("active", "paused", "deleted", "unconfirmed"))
        )
    op.execute("UPDATE users SET email_verified_at = created_at")
    op.execute(
        "UPDATE subscriptions SET status = 'unconfirmed' "
        "WHERE target IS NOT NULL AND status = 'active'"
    )


def downgrade() -> None:
    # the old constraint has no room for them; paused sends nothing either
    op.execute("UPDATE subscriptions SET status = 'paused' WHERE status = 'unconfirmed'")
    with op.batch_alter_table("subscriptions") as batch:
        batch.drop_constraint(op.f(STATUS_CHECK), type_="check")
        batch.create_check_constraint(
            *_status_check(OLD_STATUS_CHECK, ("active", "paused", "deleted"))
        )
    op.drop_index("ix_account_tokens_target_id", table_name="account_tokens")
    op.drop_index("ix_account_tokens_user_id", table_name="account_tokens")
    op.drop_table("account_tokens")
    op.drop_table("targets")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("email_verified_at")

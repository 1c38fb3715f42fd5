"""Alerts through Apprise (Telegram, Discord, ntfy, ...): "APPRISE" joins the channels a
subscription (``notification_type``) and a target (``kind``) may name.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-22

Written out in full rather than built from the live ``MetaData``: a migration
must keep creating the schema it created on the day it was written.

Only the two CHECK constraints change; no row does. 0001 named the subscriptions' one
before the naming convention added its own prefix: it is dropped by that name and made
again by the convention's, as 0003 did for the status.
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

OLD_SUBSCRIPTIONS_CHECK = "ck_subscriptions_ck_subscriptions_notification_type"
SUBSCRIPTIONS_CHECK = "ck_subscriptions_notification_type"
TARGETS_CHECK = "ck_targets_kind"
BEFORE = ("EMAIL", "SMS", "WEBHOOK")
AFTER = (*BEFORE, "APPRISE")


def _in(column: str, values: tuple[str, ...]) -> str:
    return "{} IN ({})".format(column, ", ".join(f"'{v}'" for v in values))


def upgrade() -> None:
    # SQLite cannot alter a CHECK constraint: batch mode rebuilds the table (rows,
    # indexes and the rows pointing at it kept, as 0003's and 0004's rebuilds showed);
    # PostgreSQL alters it in place.
    with op.batch_alter_table("subscriptions") as batch:
        batch.drop_constraint(op.f(OLD_SUBSCRIPTIONS_CHECK), type_="check")
        batch.create_check_constraint(op.f(SUBSCRIPTIONS_CHECK), _in("notification_type", AFTER))
    with op.batch_alter_table("targets") as batch:
        batch.drop_constraint(op.f(TARGETS_CHECK), type_="check")
        batch.create_check_constraint(op.f(TARGETS_CHECK), _in("kind", AFTER))


def downgrade() -> None:
    # Apprise alerts cannot be kept without their channel: they are deleted (status),
    # so their notifications stay in the log; their targets go.
    op.execute(
        "UPDATE subscriptions SET notification_type = 'EMAIL', target = NULL, "
        "status = 'deleted', armed = false WHERE notification_type = 'APPRISE'"
    )
    op.execute("DELETE FROM targets WHERE kind = 'APPRISE'")
    with op.batch_alter_table("targets") as batch:
        batch.drop_constraint(op.f(TARGETS_CHECK), type_="check")
        batch.create_check_constraint(op.f(TARGETS_CHECK), _in("kind", BEFORE))
    with op.batch_alter_table("subscriptions") as batch:
        batch.drop_constraint(op.f(SUBSCRIPTIONS_CHECK), type_="check")
        batch.create_check_constraint(
            op.f(OLD_SUBSCRIPTIONS_CHECK), _in("notification_type", BEFORE)
        )

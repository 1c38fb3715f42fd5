"""Account tokens of a new purpose, "alerts_feed": the secret in the address of an
account's Atom feed of the alerts it was sent.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01

Written out in full rather than built from the live ``MetaData``: a migration
must keep creating the schema it created on the day it was written.
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

CHECK = "ck_account_tokens_purpose"
OLD = ("verify_email", "reset_password", "confirm_target")
NEW = (*OLD, "alerts_feed")


def _purposes(purposes: tuple[str, ...]) -> str:
    return "purpose IN ({})".format(", ".join(f"'{p}'" for p in purposes))


def upgrade() -> None:
    # SQLite cannot alter a CHECK constraint: batch mode rebuilds the table (its
    # indexes included); PostgreSQL drops and adds the constraint in place.
    with op.batch_alter_table("account_tokens") as batch:
        batch.drop_constraint(op.f(CHECK), type_="check")
        batch.create_check_constraint(op.f(CHECK), _purposes(NEW))


def downgrade() -> None:
    # the old constraint has no room for them: feed addresses stop working
    op.execute("DELETE FROM account_tokens WHERE purpose = 'alerts_feed'")
    with op.batch_alter_table("account_tokens") as batch:
        batch.drop_constraint(op.f(CHECK), type_="check")
        batch.create_check_constraint(op.f(CHECK), _purposes(OLD))

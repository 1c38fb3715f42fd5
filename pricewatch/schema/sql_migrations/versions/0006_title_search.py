"""Title search: product_titles, and each database's own word index over it.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-16

Written out in full rather than built from the live ``MetaData``: a migration
must keep creating the schema it created on the day it was written.

The catalogue (titles included) lives in ClickHouse, which has no word index; the API
copies each (market, asin, title) here as it changes (``pricewatch.storage.sql_search``).

- SQLite: an FTS5 table with ``product_titles`` as its external content (the titles are
  stored once), kept in step by triggers on insert, delete and update, as SQLite's FTS5
  documentation prescribes for external content tables. ``remove_diacritics 2`` lets
  "cafe" find "Café".
- PostgreSQL: a GIN index on the ``simple`` tsvector of the title (no stemming: titles
  come in every marketplace's language). An expression index rather than a stored
  column: nothing to keep in step, and the planner uses it for the same expression.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_SQLITE_UP = [
    """
    CREATE VIRTUAL TABLE product_titles_fts USING fts5(
        title, content='product_titles', content_rowid='id',
        tokenize='unicode61 remove_diacritics 2'
    )
    """,
    """
    CREATE TRIGGER product_titles_fts_insert AFTER INSERT ON product_titles BEGIN
        INSERT INTO product_titles_fts(rowid, title) VALUES (new.id, new.title);
    END
    """,
    """
    CREATE TRIGGER product_titles_fts_delete AFTER DELETE ON product_titles BEGIN
        INSERT INTO product_titles_fts(product_titles_fts, rowid, title)
        VALUES ('delete', old.id, old.title);
    END
    """,
    """
    CREATE TRIGGER product_titles_fts_update AFTER UPDATE ON product_titles BEGIN
        INSERT INTO product_titles_fts(product_titles_fts, rowid, title)
        VALUES ('delete', old.id, old.title);
        INSERT INTO product_titles_fts(rowid, title) VALUES (new.id, new.title);
    END
    """,
]
_SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS product_titles_fts_update",
    "DROP TRIGGER IF EXISTS product_titles_fts_delete",
    "DROP TRIGGER IF EXISTS product_titles_fts_insert",
    "DROP TABLE IF EXISTS product_titles_fts",
]


def upgrade() -> None:
    op.create_table(
        "product_titles",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("market", sa.String(2), nullable=False),
        sa.Column("asin", sa.String(10), nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("seen_at", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_product_titles"),
        sa.UniqueConstraint("market", "asin", name="uq_product_titles_market_asin"),
    )
    if op.get_bind().dialect.name == "sqlite":
        for statement in _SQLITE_UP:
            op.execute(statement)
    else:
        op.execute(
            "CREATE INDEX ix_product_titles_search ON product_titles "
            "USING gin (to_tsvector('simple', title))"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for statement in _SQLITE_DOWN:
            op.execute(statement)
    else:
        op.execute("DROP INDEX IF EXISTS ix_product_titles_search")
    op.drop_table("product_titles")

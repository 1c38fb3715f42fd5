"""The one place that picks a dialect-specific statement.

``INSERT ... ON CONFLICT`` is spelled the same on SQLite and PostgreSQL, but
SQLAlchemy builds it from each dialect's own ``insert``.
"""

from __future__ import annotations

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection


def upsert_insert(conn: AsyncConnection, table: Table) -> sqlite.Insert | postgresql.Insert:
    name = conn.dialect.name
    if name == "sqlite":
        return sqlite.insert(table)
    if name == "postgresql":
        return postgresql.insert(table)
    raise NotImplementedError(f"unsupported SQL dialect {name!r} (use SQLite or PostgreSQL)")

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from pricewatch.storage import sql

TABLES = {"users", "auth_tokens", "subscriptions", "notifications", "reporters"}


def _tables(conn: Connection) -> set[str]:
    return set(inspect(conn).get_table_names())


def _diff(conn: Connection) -> list[object]:
    return compare_metadata(MigrationContext.configure(conn), sql.metadata)


def _head(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


async def test_migration_creates_exactly_the_schema_the_code_queries(sql_engine: AsyncEngine):
    async with sql_engine.connect() as conn:
        assert await conn.run_sync(_tables) >= TABLES
        # autogenerate finds nothing to do: migrations and MetaData agree
        # (columns, types, nullability, indexes, unique constraints, foreign keys)
        assert await conn.run_sync(_diff) == []


async def test_migrate_is_idempotent_and_downgrade_base_drops_everything(sql_engine: AsyncEngine):
    user = await sql.create_user(sql_engine, "keep@example.com", "hash")
    await sql.migrate_sql_async(sql_engine)
    await sql.migrate_sql_async(sql_engine)
    assert await sql.get_user(sql_engine, user.id) == user
    async with sql_engine.connect() as conn:
        assert await conn.run_sync(_head) == "0002"

    await sql.downgrade_sql_async(sql_engine, "base")
    async with sql_engine.connect() as conn:
        assert not (TABLES & await conn.run_sync(_tables))
        assert await conn.run_sync(_head) is None

    await sql.migrate_sql_async(sql_engine)
    async with sql_engine.connect() as conn:
        assert await conn.run_sync(_tables) >= TABLES
    assert await sql.get_user(sql_engine, user.id) is None


async def test_blocking_migrate_works_inside_a_running_event_loop(sql_url: str):
    sql.migrate_sql(sql_url)
    sql.migrate_sql(sql_url)
    engine = sql.create_engine(sql_url)
    try:
        async with engine.connect() as conn:
            assert await conn.run_sync(_tables) >= TABLES
    finally:
        await engine.dispose()
    sql.downgrade_sql(sql_url)


def test_blocking_migrate_without_an_event_loop_creates_the_directory(tmp_path: Path):
    db = tmp_path / "not" / "yet" / "there.db"
    url = f"sqlite+aiosqlite:///{db}"
    sql.migrate_sql(url)
    sql.migrate_sql(url)
    assert db.is_file()
    import sqlite3

    with sqlite3.connect(db) as conn:
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert names >= TABLES
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_sqlite_connections_enforce_foreign_keys(tmp_path: Path):
    engine = sql.create_engine(f"sqlite+aiosqlite:///{tmp_path}/fk.db")
    try:
        async with engine.connect() as conn:
            assert (await conn.exec_driver_sql("PRAGMA foreign_keys")).scalar() == 1
            assert (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar() == "wal"
    finally:
        await engine.dispose()

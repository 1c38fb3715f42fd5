from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from pricewatch.storage import sql
from pricewatch.storage.sql_alerts import subscriptions_by_id
from tests.sql_store import engine_on, subscribe

TABLES = {
    "users",
    "auth_tokens",
    "subscriptions",
    "notifications",
    "reporters",
    "targets",
    "account_tokens",
}


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
        assert await conn.run_sync(_head) == "0003"

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
    async with engine_on(sql_url) as engine, engine.connect() as conn:
        assert await conn.run_sync(_tables) >= TABLES
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
    url = f"sqlite+aiosqlite:///{tmp_path}/fk.db"
    async with engine_on(url) as engine, engine.connect() as conn:
        assert (await conn.exec_driver_sql("PRAGMA foreign_keys")).scalar() == 1
        assert (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar() == "wal"


async def test_0003_keeps_every_row_both_ways(sql_url: str):
    """0003 rebuilds ``subscriptions`` on SQLite: the rows pointing at it (notifications,
    ON DELETE CASCADE) must survive the rebuild, up and down."""
    await sql.migrate_sql_async(sql_url, "0002")
    async with engine_on(sql_url) as engine:
        user = await sql.create_user(engine, "keep@example.com", "hash")
        sub = await subscribe(engine, user, "B0KEEP0001", 100)
        await sql.claim_notification(engine, sub.id, "event-1", "alert", 90)

        await sql.migrate_sql_async(engine)
        assert await sql.get_notification(engine, 1) is not None
        waiting = await subscribe(
            engine, user, "B0KEEP0002", 100, status=sql.SubscriptionStatus.UNCONFIRMED.value
        )
        async with engine.connect() as conn:
            assert (await conn.run_sync(_head)) == "0003"
            assert await conn.run_sync(_diff) == []
            if conn.dialect.name == "sqlite":
                assert (await conn.exec_driver_sql("PRAGMA foreign_keys")).scalar() == 1

        await sql.downgrade_sql_async(engine, "0002")
        async with engine.connect() as conn:
            rows = (
                await conn.exec_driver_sql("SELECT id, status FROM subscriptions ORDER BY id")
            ).all()
            assert [tuple(r) for r in rows] == [(sub.id, "active"), (waiting.id, "paused")]
            assert (await conn.exec_driver_sql("SELECT count(*) FROM notifications")).scalar() == 1
            assert (await conn.exec_driver_sql("SELECT count(*) FROM users")).scalar() == 1


async def test_0003_keeps_own_addresses_alerting_and_holds_strangers_addresses(sql_url: str):
    # before 0003 an alert went wherever its target said; after it, a target must be
    # confirmed first, while the account's own address keeps getting its alerts
    await sql.migrate_sql_async(sql_url, "0002")
    async with engine_on(sql_url) as engine:
        user = await sql.create_user(engine, "old@example.com", "hash", now=1_000)
        own = await subscribe(engine, user, "B0OWNADDR1", 100)
        stranger = await subscribe(engine, user, "B0OWNADDR1", 100, target="victim@example.net")
        await sql.migrate_sql_async(engine)
        found = await subscriptions_by_id(engine, [own.id, stranger.id])
        assert found[own.id].status.value == "active"
        assert found[stranger.id].status.value == "unconfirmed"
        migrated = await sql.get_user(engine, user.id)
        assert migrated is not None and migrated.email_verified

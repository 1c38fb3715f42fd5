from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from pricewatch.storage import sql
from pricewatch.storage.sql_alerts import subscriptions_by_id
from pricewatch.storage.sql_search import managed_outside_metadata
from tests.sql_store import engine_on, subscribe

TABLES = {
    "users",
    "auth_tokens",
    "subscriptions",
    "notifications",
    "reporters",
    "targets",
    "account_tokens",
    "product_titles",
}
# the latest revision
HEAD = "0008"


def _tables(conn: Connection) -> set[str]:
    return set(inspect(conn).get_table_names())


def _diff(conn: Connection) -> list[object]:
    # the word index of title search is the migration's alone (sql_search)
    context = MigrationContext.configure(conn, opts={"include_name": managed_outside_metadata})
    return compare_metadata(context, sql.metadata)


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
        assert await conn.run_sync(_head) == HEAD

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


async def _old_subscription(
    engine: AsyncEngine,
    user_id: int,
    asin: str,
    threshold: int,
    *,
    target: str | None = None,
    status: str = "active",
    armed: bool = True,
    series: str | None = "buybox",
) -> int:
    """A subscription as the schema before 0004 holds it (a price alert with no kind;
    ``series`` None: the column's default): written with plain SQL, since the code's
    statements name today's columns."""
    columns = ["user_id", "market", "asin", "threshold", "currency", "notification_type"]
    columns += ["target", "status", "armed", "created_at", "updated_at"]
    values: list[Any] = [user_id, "us", asin, threshold, "USD", "EMAIL", target, status, armed]
    values += [1, 1]
    if series is not None:
        columns.append("series")
        values.append(series)
    async with engine.begin() as conn:
        sqlite = conn.dialect.name == "sqlite"
        marks = ", ".join("?" if sqlite else f"${i + 1}" for i in range(len(values)))
        await conn.exec_driver_sql(
            f"INSERT INTO subscriptions ({', '.join(columns)}) VALUES ({marks})", tuple(values)
        )
        found = await conn.exec_driver_sql("SELECT max(id) FROM subscriptions")
        return int(found.scalar_one())


async def _rows(engine: AsyncEngine, query: str) -> list[tuple[Any, ...]]:
    async with engine.connect() as conn:
        return [tuple(r) for r in (await conn.exec_driver_sql(query)).all()]


async def _execute(engine: AsyncEngine, statement: str) -> None:
    async with engine.begin() as conn:
        await conn.exec_driver_sql(statement)


async def test_0003_keeps_every_row_both_ways(sql_url: str):
    """0003 rebuilds ``subscriptions`` on SQLite: the rows pointing at it (notifications,
    ON DELETE CASCADE) must survive the rebuild, up and down."""
    await sql.migrate_sql_async(sql_url, "0002")
    async with engine_on(sql_url) as engine:
        user = await sql.create_user(engine, "keep@example.com", "hash")
        sub = await _old_subscription(engine, user.id, "B0KEEP0001", 100)
        await sql.claim_notification(engine, sub, "event-1", "alert", 90)

        await sql.migrate_sql_async(engine, "0003")
        assert await sql.get_notification(engine, 1) is not None
        waiting = await _old_subscription(
            engine, user.id, "B0KEEP0002", 100, status=sql.SubscriptionStatus.UNCONFIRMED.value
        )
        async with engine.connect() as conn:
            assert (await conn.run_sync(_head)) == "0003"
            if conn.dialect.name == "sqlite":
                assert (await conn.exec_driver_sql("PRAGMA foreign_keys")).scalar() == 1

        await sql.downgrade_sql_async(engine, "0002")
        rows = await _rows(engine, "SELECT id, status FROM subscriptions ORDER BY id")
        assert rows == [(sub, "active"), (waiting, "paused")]
        assert await _rows(engine, "SELECT count(*) FROM notifications") == [(1,)]
        assert await _rows(engine, "SELECT count(*) FROM users") == [(1,)]


async def test_0004_keeps_existing_alerts_on_the_buy_box_and_new_ones_default_to_cheapest_new(
    sql_url: str,
):
    await sql.migrate_sql_async(sql_url, "0003")
    async with engine_on(sql_url) as engine:
        user = await sql.create_user(engine, "before@example.com", "hash")
        fired = await _old_subscription(engine, user.id, "B0KEEP0004", 2_000, armed=False)
        armed = await _old_subscription(engine, user.id, "B0KEEP0004", 1_500)
        await sql.claim_notification(engine, fired, "event-1", "alert", 1_900)

        await sql.migrate_sql_async(engine)
        async with engine.connect() as conn:
            assert await conn.run_sync(_head) == HEAD
            assert await conn.run_sync(_diff) == []
            if conn.dialect.name == "sqlite":
                assert (await conn.exec_driver_sql("PRAGMA foreign_keys")).scalar() == 1
        old = await subscriptions_by_id(engine, [fired, armed])
        assert [(s.kind.value, s.series, s.threshold, s.armed) for s in old.values()] == [
            ("price", "buybox", 2_000, False),
            ("price", "buybox", 1_500, True),
        ]
        assert await sql.get_notification(engine, 1) is not None
        # the alerts query still finds the armed one, and only it
        due = await sql.due_subscriptions(engine, "us", "B0KEEP0004", "buybox", 1_400)
        assert [s.id for s in due] == [armed]
        # made from now on: the cheapest new price unless told, in code and in SQL
        new = await subscribe(engine, user, "B0KEEP0004", 1_000, series=None)
        assert (new.kind.value, new.series) == ("price", "cheapest_new")
        bare = await _old_subscription(engine, user.id, "B0KEEP0005", 1_000, series=None)
        assert await _rows(engine, f"SELECT series, kind FROM subscriptions WHERE id = {bare}") == [
            ("cheapest_new", "price")
        ]
        back = await subscribe(engine, user, "B0KEEP0004", None, kind="back_in_stock")
        assert (back.threshold, back.series, back.armed) == (None, "buybox", False)

        # down again: the back-in-stock alert cannot be kept as it is, and is deleted
        await sql.downgrade_sql_async(engine, "0003")
        rows = await _rows(engine, "SELECT id, series, threshold, status FROM subscriptions")
        assert sorted(rows) == [
            (fired, "buybox", 2_000, "active"),
            (armed, "buybox", 1_500, "active"),
            (new.id, "cheapest_new", 1_000, "active"),
            (bare, "cheapest_new", 1_000, "active"),
            (back.id, "buybox", 0, "deleted"),
        ]
        assert await _rows(engine, "SELECT count(*) FROM notifications") == [(1,)]
        await sql.migrate_sql_async(engine)
        async with engine.connect() as conn:
            assert await conn.run_sync(_diff) == []


async def test_0005_lets_existing_alerts_take_every_change_and_keeps_them_both_ways(sql_url: str):
    await sql.migrate_sql_async(sql_url, "0004")
    async with engine_on(sql_url) as engine:
        user = await sql.create_user(engine, "mark@example.com", "hash")
        fired = await _old_subscription(engine, user.id, "B0KEEP0005", 2_000, armed=False)
        armed = await _old_subscription(engine, user.id, "B0KEEP0005", 1_500)
        await sql.claim_notification(engine, fired, "event-1", "alert", 1_900)

        await sql.migrate_sql_async(engine)
        async with engine.connect() as conn:
            assert await conn.run_sync(_head) == HEAD
            assert await conn.run_sync(_diff) == []
        old = await subscriptions_by_id(engine, [fired, armed])
        # no change applied yet: none is skipped, whatever its page time
        assert [s.last_change_at for s in old.values()] == [None, None]
        due = await sql.due_subscriptions(
            engine, "us", "B0KEEP0005", "buybox", 1_400, observed_at=0
        )
        assert [s.id for s in due] == [armed]
        rearm = sql.rearm_above(engine, "us", "B0KEEP0005", "buybox", 2_100, observed_at=7)
        assert await rearm == 1
        assert (await subscriptions_by_id(engine, [fired]))[fired].last_change_at == 7

        await sql.downgrade_sql_async(engine, "0004")
        rows = await _rows(engine, "SELECT id, threshold, armed FROM subscriptions ORDER BY id")
        assert rows == [(fired, 2_000, True), (armed, 1_500, True)]
        assert await _rows(engine, "SELECT count(*) FROM notifications") == [(1,)]
        await sql.migrate_sql_async(engine)
        async with engine.connect() as conn:
            assert await conn.run_sync(_diff) == []


async def test_the_schema_refuses_a_threshold_on_the_wrong_kind(sql_engine: AsyncEngine):
    user = await sql.create_user(sql_engine, "kinds@example.com", "hash")
    sub = await subscribe(sql_engine, user, "B0KINDS001", 1_000)
    for assignment in ("kind = 'back_in_stock'", "threshold = NULL", "kind = 'pigeon'"):
        with pytest.raises(IntegrityError):
            await _execute(sql_engine, f"UPDATE subscriptions SET {assignment} WHERE id = {sub.id}")


async def test_0003_keeps_own_addresses_alerting_and_holds_strangers_addresses(sql_url: str):
    # before 0003 an alert went wherever its target said; after it, a target must be
    # confirmed first, while the account's own address keeps getting its alerts
    await sql.migrate_sql_async(sql_url, "0002")
    async with engine_on(sql_url) as engine:
        user = await sql.create_user(engine, "old@example.com", "hash", now=1_000)
        own = await _old_subscription(engine, user.id, "B0OWNADDR1", 100)
        stranger = await _old_subscription(
            engine, user.id, "B0OWNADDR1", 100, target="victim@example.net"
        )
        await sql.migrate_sql_async(engine)
        found = await subscriptions_by_id(engine, [own, stranger])
        assert found[own].status.value == "active"
        assert found[stranger].status.value == "unconfirmed"
        migrated = await sql.get_user(engine, user.id)
        assert migrated is not None and migrated.email_verified


async def test_0007_admits_alerts_feed_tokens_and_keeps_the_others_both_ways(sql_url: str):
    await sql.migrate_sql_async(sql_url, "0006")
    async with engine_on(sql_url) as engine:
        user = await sql.create_user(engine, "feed@example.com", "hash")
        token = {"user_id": user.id, "expires_at": 10**13, "now": 1}
        await sql.create_account_token(engine, token_hash="a" * 64, purpose="verify_email", **token)
        with pytest.raises(IntegrityError):
            await _rows(
                engine,
                "INSERT INTO account_tokens (token_hash, user_id, purpose, created_at, "
                f"expires_at) VALUES ('{'b' * 64}', {user.id}, 'alerts_feed', 1, 2)",
            )

        await sql.migrate_sql_async(engine)
        async with engine.connect() as conn:
            assert await conn.run_sync(_head) == HEAD
            assert await conn.run_sync(_diff) == []
        await sql.create_account_token(engine, token_hash="c" * 64, purpose="alerts_feed", **token)
        found = await sql.peek_account_token(engine, "c" * 64, "alerts_feed", 2)
        assert found is not None and found.user_id == user.id

        await sql.downgrade_sql_async(engine, "0006")
        rows = await _rows(engine, "SELECT purpose FROM account_tokens")
        assert rows == [("verify_email",)]
        await sql.migrate_sql_async(engine)

"""Engine construction and schema migrations for the relational store.

``DATABASE_URL`` is ``sqlite+aiosqlite:///<data>/pricewatch.db`` on one machine
and ``postgresql+asyncpg://...`` at scale; everything above this module is the
same for both.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "schema" / "sql_migrations"

Db = AsyncEngine | AsyncConnection
"""What every store function takes: an engine (each call is its own
transaction) or a connection (the caller owns the transaction)."""


# A connection's execution option: its transactions will write after reading, so on
# SQLite they begin IMMEDIATE (see ``writing``).
WRITES_AFTER_READING = "pricewatch_writes_after_reading"


@asynccontextmanager
async def transaction(db: Db) -> AsyncIterator[AsyncConnection]:
    """A transaction that only reads, or whose first statement writes."""
    if isinstance(db, AsyncEngine):
        async with db.begin() as conn:
            yield conn
    else:
        yield db


@asynccontextmanager
async def writing(db: Db) -> AsyncIterator[AsyncConnection]:
    """A transaction that reads and then writes (check, then change).

    On SQLite it holds the write lock from its first statement (BEGIN IMMEDIATE),
    waiting for it like any writer. A deferred one would read from a snapshot, and
    when another connection's write landed before its own first write, WAL mode
    refuses that write at once ("database is locked") without waiting out the busy
    timeout: the snapshot is stale, and no wait can make it fresh. PostgreSQL has no
    such refusal. Given a connection, the caller owns the transaction and must have
    begun it with ``writing`` too.
    """
    if isinstance(db, AsyncEngine):
        async with db.connect() as conn:
            await conn.execution_options(**{WRITES_AFTER_READING: True})
            async with conn.begin():
                yield conn
    else:
        yield db


async def ping_sql(engine: AsyncEngine) -> None:
    """Raise unless the database answers a query (health checks)."""
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


def create_engine(url: str, **overrides: Any) -> AsyncEngine:
    """An ``AsyncEngine`` tuned for the backend named by ``url``.

    SQLite: the parent directory is created; every connection gets WAL (readers
    never block the writer), foreign keys (off by default in SQLite), a busy
    timeout, and SQLAlchemy emits BEGIN itself so that transactions, savepoints
    and Alembic's DDL are really transactional (the sqlite3 module's legacy
    mode skips BEGIN for SELECT and DDL).
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        options: dict[str, Any] = {
            "pool_size": 10,
            "max_overflow": 20,
            # survive a database restart or an idle connection cut by a proxy
            "pool_pre_ping": True,
            "pool_recycle": 1800,
        }
        options.update(overrides)
        return create_async_engine(url, **options)

    database = parsed.database or ""
    in_memory = database in ("", ":memory:") or database.startswith("file::memory:")
    if not in_memory:
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(url, **overrides)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if not in_memory:
            cursor.execute("PRAGMA journal_mode=WAL")
            # with WAL, NORMAL is durable against application crashes, and much faster
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        writes = conn.get_execution_options().get(WRITES_AFTER_READING, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if writes else "BEGIN")

    return engine


def alembic_config() -> Config:
    """Alembic configuration built in code: no ini file needed at run time."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def _run_command(connection: Connection, action: str, revision: str) -> None:
    cfg = alembic_config()
    cfg.attributes["connection"] = connection
    if action == "upgrade":
        command.upgrade(cfg, revision)
    else:
        command.downgrade(cfg, revision)


def _sqlite_foreign_keys(connection: Connection, on: bool) -> None:
    # straight to the driver: through SQLAlchemy the PRAGMA would run after BEGIN,
    # where SQLite ignores it
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")
    finally:
        cursor.close()


def _check_foreign_keys(connection: Connection) -> None:
    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if broken:
        raise RuntimeError(f"the migration left rows with dangling foreign keys: {broken[:5]}")


@asynccontextmanager
async def schema_change(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """One transaction for migrations.

    On SQLite, foreign keys are off while it runs and checked before it commits:
    a batch migration rebuilds a table by dropping the old one, and with foreign
    keys on, that drop would first delete every row pointing at the table
    (ON DELETE CASCADE): rebuilding ``subscriptions`` would empty ``notifications``.
    """
    async with engine.connect() as conn:
        # Alembic reads its version table before it changes anything
        await conn.execution_options(**{WRITES_AFTER_READING: True})
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:
            await conn.run_sync(_sqlite_foreign_keys, False)
        try:
            async with conn.begin():
                yield conn
                if sqlite:
                    await conn.run_sync(_check_foreign_keys)
        finally:
            if sqlite:
                await conn.run_sync(_sqlite_foreign_keys, True)


async def _migrate(url_or_engine: str | AsyncEngine, action: str, revision: str) -> None:
    engine = create_engine(url_or_engine) if isinstance(url_or_engine, str) else url_or_engine
    try:
        async with schema_change(engine) as conn:
            await conn.run_sync(_run_command, action, revision)
    finally:
        if isinstance(url_or_engine, str):
            await engine.dispose()


async def migrate_sql_async(url_or_engine: str | AsyncEngine, revision: str = "head") -> None:
    """``alembic upgrade <revision>``, awaited on the caller's event loop.

    Idempotent: an up-to-date database is left alone.
    """
    await _migrate(url_or_engine, "upgrade", revision)


async def downgrade_sql_async(url_or_engine: str | AsyncEngine, revision: str = "base") -> None:
    """``alembic downgrade <revision>`` (``base`` drops every table)."""
    await _migrate(url_or_engine, "downgrade", revision)


def _run_sync(coro_factory: Callable[[], Coroutine[Any, Any, None]]) -> None:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(coro_factory())
        return
    # A loop is running in this thread and asyncio.run() cannot nest: migrate
    # on a private loop in a worker thread. The calling loop is blocked until
    # the migration finishes, which is what start-up code wants anyway.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, coro_factory()).result()


def migrate_sql(url: str, revision: str = "head") -> None:
    """Blocking ``alembic upgrade head`` for the database at ``url``.

    Callable with or without a running event loop (inside one it runs on a
    worker thread and blocks the caller until done); async code that does not
    want to block its loop should ``await migrate_sql_async(url)`` instead.
    """
    _run_sync(lambda: migrate_sql_async(url, revision))


def downgrade_sql(url: str, revision: str = "base") -> None:
    """Blocking ``alembic downgrade``; same calling rules as :func:`migrate_sql`."""
    _run_sync(lambda: downgrade_sql_async(url, revision))

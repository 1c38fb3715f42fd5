"""A transaction that reads and then writes (``sql.writing``) survives a write that
lands between its read and its own write, on SQLite as on PostgreSQL; and the tests'
watch (tests/sql_write_order.py) names one that does not use it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import pytest
import sqlalchemy.exc
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from pricewatch.storage import sql
from tests import sql_write_order

Begin = Callable[[AsyncEngine], AbstractAsyncContextManager[AsyncConnection]]


@pytest.fixture
async def counter(sql_engine: AsyncEngine) -> AsyncIterator[AsyncEngine]:
    async with sql_engine.begin() as conn:
        await conn.execute(text("CREATE TABLE counter (n INTEGER NOT NULL)"))
        await conn.execute(text("INSERT INTO counter VALUES (0)"))
    yield sql_engine


async def _read_then_write(engine: AsyncEngine, begin: Begin) -> list[str]:
    """One transaction reads the counter and writes it plus one; a second connection
    tries to add 10 between the read and the write. The order the writes landed in."""
    landed: list[str] = []
    read = asyncio.Event()

    async def other() -> None:
        await read.wait()
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE counter SET n = n + 10"))
        landed.append("other")

    async def check_then_change() -> None:
        async with begin(engine) as conn:
            n = (await conn.execute(text("SELECT n FROM counter"))).scalar_one()
            read.set()
            await asyncio.sleep(0.3)  # the other write comes in now, if it can
            await conn.execute(text("UPDATE counter SET n = :n"), {"n": n + 1})
        landed.append("check-then-change")

    await asyncio.gather(check_then_change(), other())
    return landed


async def test_a_writing_transaction_keeps_its_write_when_another_lands_in_between(
    counter: AsyncEngine,
) -> None:
    landed = await _read_then_write(counter, sql.writing)
    async with counter.connect() as conn:
        n = (await conn.execute(text("SELECT n FROM counter"))).scalar_one()
    if counter.dialect.name == "sqlite":
        # it held the write lock from its start: the other write waited for it
        assert landed == ["check-then-change", "other"] and n == 11
    else:
        # PostgreSQL's row lock: the other update waits for the first to commit
        # (read committed: the first wrote 1 over the 0 it read)
        assert sorted(landed) == ["check-then-change", "other"] and n in (1, 11)
    assert sql_write_order.take() == []


async def test_a_deferred_one_is_refused_at_once_on_sqlite_and_the_watch_names_it(
    tmp_path: Path,
) -> None:
    # a SQLite refusal (PostgreSQL lets the later write wait for the row lock)
    engine = sql.create_engine(f"sqlite+aiosqlite:///{tmp_path}/counter.db")
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE counter (n INTEGER NOT NULL)"))
            await conn.execute(text("INSERT INTO counter VALUES (0)"))
        with pytest.raises(sqlalchemy.exc.OperationalError, match="database is locked"):
            await _read_then_write(engine, sql.transaction)
    finally:
        await engine.dispose()
    [found] = sql_write_order.take()
    assert "SELECT n FROM counter" in found and "UPDATE counter SET n" in found

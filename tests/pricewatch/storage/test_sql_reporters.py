from __future__ import annotations

import asyncio

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from pricewatch.storage import sql


async def test_reporter_is_created_once_and_seen_again(sql_engine: AsyncEngine):
    first = await sql.get_or_create_reporter(sql_engine, "install:abc:1f2e", now=10)
    assert (first.confirmed, first.refuted, first.created_at, first.last_seen) == (0, 0, 10, 10)
    again = await sql.get_or_create_reporter(sql_engine, "install:abc:1f2e", now=20)
    assert (again.created_at, again.last_seen) == (10, 20)
    assert await sql.get_reporter(sql_engine, "install:abc:1f2e") == again
    assert await sql.get_reporter(sql_engine, "user:1") is None


async def test_verdicts_count_without_losing_concurrent_updates(sql_engine: AsyncEngine):
    # the first verdict may arrive for a reporter never stored before
    assert (await sql.record_verdict(sql_engine, "user:7", False, now=5)).refuted == 1
    await asyncio.gather(*(sql.record_verdict(sql_engine, "user:7", i % 3 != 0) for i in range(12)))
    reporter = await sql.get_reporter(sql_engine, "user:7")
    assert reporter is not None
    assert (reporter.confirmed, reporter.refuted, reporter.created_at) == (8, 5, 5)


@pytest.mark.parametrize("reporter_id", ["", "x" * 201])
async def test_bad_reporter_id_is_refused(sql_engine: AsyncEngine, reporter_id: str):
    with pytest.raises(ValueError, match="reporter id"):
        await sql.get_or_create_reporter(sql_engine, reporter_id)

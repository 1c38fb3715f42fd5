from __future__ import annotations

import time
from collections.abc import Sequence

import pytest

from api.services.views import SOURCES
from pricewatch.keys import Keys
from pricewatch.storage.clickhouse import PriceStore, flush_views, view_rows
from pricewatch.storage.redis import connect_async

pytestmark = [pytest.mark.clickhouse, pytest.mark.redis]

DAY = 86_400_000


def test_view_rows_expand_counts() -> None:
    rows = view_rows({("us", "B0VIEW0001"): {"web": 2, "report": 1}}, 5)
    assert sorted(rows) == [
        ("us", "B0VIEW0001", 5, "report"),
        ("us", "B0VIEW0001", 5, "web"),
        ("us", "B0VIEW0001", 5, "web"),
    ]
    assert {"web", "extension", "report"} <= SOURCES


async def test_flush_moves_counts_into_clickhouse(
    redis_url: str, redis_client: object, keys: Keys, price_store: PriceStore
) -> None:
    client = connect_async(redis_url)
    pipe = client.pipeline()
    for asin, source, n in (("B0VIEW0001", "web", 3), ("B0VIEW0002", "extension", 2)):
        pipe.hincrby(keys.views("us", asin), source, n)
        pipe.sadd(keys.views_dirty, f"us:{asin}")
    await pipe.execute()

    async def record(rows: Sequence[tuple[str, str, int, str]]) -> int:
        return price_store.record_views(list(rows))

    now = time.time_ns() // 10**6
    assert await flush_views(client, keys, record, now, batch=1) == 5
    day = now - now % DAY
    assert price_store.daily_views("us", "B0VIEW0001", now - DAY) == {day: 3}
    assert price_store.daily_views("us", "B0VIEW0002", now - DAY) == {day: 2}
    assert await client.exists(keys.views_dirty, keys.views("us", "B0VIEW0001")) == 0
    assert await flush_views(client, keys, record, now) == 0
    await client.aclose()


async def test_failed_flush_gives_the_counts_back(
    redis_url: str, redis_client: object, keys: Keys
) -> None:
    client = connect_async(redis_url)
    await client.hincrby(keys.views("us", "B0VIEW0001"), "web", 4)
    await client.sadd(keys.views_dirty, "us:B0VIEW0001")

    async def broken(rows: Sequence[tuple[str, str, int, str]]) -> int:
        raise ConnectionError("clickhouse is down")

    with pytest.raises(ConnectionError):
        await flush_views(client, keys, broken, 0)
    assert await client.hgetall(keys.views("us", "B0VIEW0001")) == {b"web": b"4"}
    assert await client.smembers(keys.views_dirty) == {b"us:B0VIEW0001"}
    await client.aclose()

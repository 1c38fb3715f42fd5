"""Product views (chart loads, reports) as interest for crawl scheduling.

A view costs two cheap commands riding in the request's one Redis round trip: HINCRBY
on the product's counter hash (a field per source) and SADD of the product to the
dirty set. A background task periodically moves the counts into ClickHouse's ``views``
table, which the scheduler reads per day.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence

import redis.asyncio

from pricewatch.keys import Keys

log = logging.getLogger(__name__)

SOURCES = frozenset({"web", "extension", "report", "api"})
FLUSH_BATCH = 1_000

ViewRow = tuple[str, str, int, str]


def count_view(pipe: redis.asyncio.client.Pipeline, keys: Keys, market: str, asin: str,
               source: str) -> None:
    """Queue the commands that count one view on ``pipe`` (the caller executes it)."""
    pipe.hincrby(keys.views(market, asin), source, 1)
    pipe.sadd(keys.views_dirty, f"{market}:{asin}")


def view_rows(counts: dict[tuple[str, str], dict[str, int]], at_ms: int) -> list[ViewRow]:
    """Counts per product and source -> one ``views`` row per view (pure)."""
    rows: list[ViewRow] = []
    for (market, asin), by_source in counts.items():
        for source, count in by_source.items():
            rows.extend([(market, asin, at_ms, source)] * count)
    return rows


async def take_counts(
    client: redis.asyncio.Redis, keys: Keys, batch: int = FLUSH_BATCH
) -> dict[tuple[str, str], dict[str, int]]:
    """Atomically take (read and clear) the counters of up to ``batch`` dirty products."""
    members = await client.spop(keys.views_dirty, batch)
    if not members:
        return {}
    products = [m.decode().split(":", 1) for m in members]
    pipe = client.pipeline(transaction=True)
    for market, asin in products:
        pipe.hgetall(keys.views(market, asin))
        pipe.delete(keys.views(market, asin))
    replies = await pipe.execute()
    counts: dict[tuple[str, str], dict[str, int]] = {}
    for (market, asin), fields in zip(products, replies[::2], strict=True):
        by_source = {k.decode(): int(v) for k, v in fields.items() if int(v) > 0}
        if by_source:
            counts[(market, asin)] = by_source
    return counts


async def give_back(
    client: redis.asyncio.Redis, keys: Keys, counts: dict[tuple[str, str], dict[str, int]]
) -> None:
    """Put counts back after a failed flush, so that no view is lost."""
    pipe = client.pipeline(transaction=False)
    for (market, asin), by_source in counts.items():
        for source, count in by_source.items():
            pipe.hincrby(keys.views(market, asin), source, count)
        pipe.sadd(keys.views_dirty, f"{market}:{asin}")
    await pipe.execute()


async def flush_views(
    client: redis.asyncio.Redis,
    keys: Keys,
    record: Callable[[Sequence[ViewRow]], Awaitable[int]],
    now_ms: int,
    batch: int = FLUSH_BATCH,
) -> int:
    """Move every pending count into ClickHouse through ``record``; returns views moved."""
    total = 0
    while True:
        counts = await take_counts(client, keys, batch)
        if not counts:
            return total
        rows = view_rows(counts, now_ms)
        try:
            await record(rows)
        except Exception:
            await give_back(client, keys, counts)
            raise
        total += len(rows)

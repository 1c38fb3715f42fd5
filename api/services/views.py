"""Product views (chart loads, reports) as interest for crawl scheduling.

A view is counted in Redis: HINCRBY on the product's counter hash (a field per
source) and SADD of the product to the dirty set. A report's view rides in the
report's own Redis round trip; chart loads, most of which never reach Redis (see
``near_cache``), are tallied in memory and pushed every ``api_view_push_ms`` in
one pipeline (a crash loses at most that much of the interest signal). A
background task periodically moves the counts into ClickHouse's ``views`` table,
which the scheduler reads per day.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import cast

import redis.asyncio

from pricewatch.keys import Keys

log = logging.getLogger(__name__)

SOURCES = frozenset({"web", "extension", "report", "api"})
FLUSH_BATCH = 1_000

ViewRow = tuple[str, str, int, str]


def count_view(
    pipe: redis.asyncio.client.Pipeline,
    keys: Keys,
    market: str,
    asin: str,
    source: str,
    count: int = 1,
) -> None:
    """Queue the commands that count views on ``pipe`` (the caller executes it)."""
    pipe.hincrby(keys.views(market, asin), source, count)
    pipe.sadd(keys.views_dirty, f"{market}:{asin}")


class ViewTally:
    """Chart views counted in memory until the next push to Redis."""

    def __init__(self) -> None:
        self._counts: collections.Counter[tuple[str, str, str]] = collections.Counter()

    def add(self, market: str, asin: str, source: str) -> None:
        self._counts[(market, asin, source)] += 1

    def __len__(self) -> int:
        return len(self._counts)

    async def push(self, client: redis.asyncio.Redis, keys: Keys) -> int:
        """Move the tally into the Redis counters; returns views moved. On
        failure the tally keeps them for the next push."""
        counts, self._counts = self._counts, collections.Counter()
        if not counts:
            return 0
        pipe = client.pipeline(transaction=False)
        for (market, asin, source), count in counts.items():
            count_view(pipe, keys, market, asin, source, count)
        try:
            await pipe.execute()
        except BaseException:
            self._counts.update(counts)
            raise
        return sum(counts.values())


async def push_loop(
    tally: ViewTally, client: redis.asyncio.Redis, keys: Keys, every_s: float
) -> None:
    while True:
        await asyncio.sleep(every_s)
        try:
            await tally.push(client, keys)
        except (redis.RedisError, OSError) as exc:
            log.warning("cannot push %d view counts to Redis (%s); retrying", len(tally), exc)


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
    # the client does not decode replies: members are bytes
    members = cast(list[bytes] | None, await client.spop(keys.views_dirty, batch))
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

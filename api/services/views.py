"""Product views (chart loads, reports) as interest for crawl scheduling.

A view is counted in Redis: HINCRBY on the product's counter hash (a field per
source) and SADD of the product to the dirty set. A report's view rides in the
report's own Redis round trip; chart loads, most of which never reach Redis (see
``near_cache``), are tallied in memory and pushed every ``api_view_push_ms`` in
one pipeline (a crash loses at most that much of the interest signal). A
background task periodically moves the counts into ClickHouse's ``views`` table
(``pricewatch.storage.clickhouse.flush_views``), which the scheduler reads per day.
"""

from __future__ import annotations

import asyncio
import collections
import logging

import redis.asyncio

from pricewatch.keys import Keys

log = logging.getLogger(__name__)

SOURCES = frozenset({"web", "extension", "report", "api"})


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

"""Product views: ``views`` rows in, daily counts out, and the flush from Redis.

The API counts views in Redis (a counter hash per product, a field per source, and
the product in the dirty set); :func:`flush_views` takes those counters and records
one ``views`` row per view. ``views_daily`` (migration 0005) sums them per day for the
scheduler.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import cast

import redis.asyncio

from pricewatch.history import DAY_MS
from pricewatch.keys import Keys
from pricewatch.storage.clickhouse.tables import Tables, utc_date

FLUSH_BATCH = 1_000

ViewRow = tuple[str, str, int, str]


class ViewCounts(Tables):
    """``views`` and its daily counts."""

    def record_views(self, views: Sequence[tuple[str, str, int, str]]) -> int:
        """Store page views as (market, asin, at_ms, source); counted per day."""
        if not views:
            return 0
        for i, view in enumerate(views):
            if len(view) != 4 or type(view[2]) is not int:
                raise ValueError(f"view {i} must be (market, asin, at_ms, source), got {view!r}")
        self.client.insert(
            f"{self.database}.views",
            [list(view) for view in views],
            column_names=("market", "asin", "at", "source"),
            settings={"deduplicate_blocks_in_dependent_materialized_views": 1},
        )
        return len(views)

    def daily_views(self, market: str, asin: str, since_ms: int) -> dict[int, int]:
        """Views per UTC day (day start in ms) from ``since_ms`` on."""
        result = self.client.query(
            f"""
            SELECT toUInt16(day), sum(views)
            FROM {self.database}.views_daily
            WHERE market = {{market:String}} AND asin = {{asin:String}}
              AND day >= {{since:Date}}
            GROUP BY day
            ORDER BY day
            """,
            parameters={"market": market, "asin": asin, "since": utc_date(since_ms)},
        )
        return {day * DAY_MS: count for day, count in result.result_rows}


# ------------------------------------------------------------------- from Redis


def view_rows(counts: dict[tuple[str, str], dict[str, int]], at_ms: int) -> list[ViewRow]:
    """Counts per product and source -> one ``views`` row per view (pure)."""
    rows: list[ViewRow] = []
    for (market, asin), by_source in counts.items():
        for source, count in by_source.items():
            rows.extend([(market, asin, at_ms, source)] * count)
    return rows


# KEYS: one product's counters. Read and cleared in one step: a view counted meanwhile
# is in the next flush, never lost. (One key per script: the products of a flush may
# live in different Redis Cluster slots.)
_TAKE = """
local counts = redis.call('HGETALL', KEYS[1])
redis.call('DEL', KEYS[1])
return counts
"""


async def take_counts(
    client: redis.asyncio.Redis, keys: Keys, batch: int = FLUSH_BATCH
) -> dict[tuple[str, str], dict[str, int]]:
    """Atomically take (read and clear) the counters of up to ``batch`` dirty products."""
    # the client does not decode replies: members are bytes
    members = cast(list[bytes] | None, await client.spop(keys.views_dirty, batch))
    if not members:
        return {}
    products = [m.decode().split(":", 1) for m in members]
    pipe = client.pipeline(transaction=False)
    for market, asin in products:
        pipe.eval(_TAKE, 1, keys.views(market, asin))
    replies = await pipe.execute()
    counts: dict[tuple[str, str], dict[str, int]] = {}
    for (market, asin), flat in zip(products, replies, strict=True):
        fields = dict(zip(flat[::2], flat[1::2], strict=True))
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
    """Move every pending count into ClickHouse through ``record``; returns views moved.

    ``record`` stores rows (``ViewCounts.record_views`` run however the caller runs
    blocking ClickHouse calls).
    """
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

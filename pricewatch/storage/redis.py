"""Redis clients, and the chart-cache invalidation ingest queues with a price change.

Streams (publishing, consuming, dead letters) live in :mod:`pricewatch.storage.streams`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import redis
import redis.asyncio
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff

from pricewatch.keys import Keys


def connect(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_keepalive=True, health_check_interval=30)


def connect_async(url: str, **options: Any) -> redis.asyncio.Redis:
    """An asyncio client for request handlers.

    A pooled connection that Redis closed (it restarted) fails its next command;
    one immediate retry on a fresh connection spares that request, and still
    fails at once while Redis is down. (The workers' sync clients do not retry:
    their loops replay a failed round, which keeps a transaction from running
    twice when its reply was lost.)"""
    return redis.asyncio.Redis.from_url(url, retry=AsyncRetry(NoBackoff(), 1), **options)


def drop_histories(pipe: Any, keys: Keys, products: Iterable[tuple[str, str]]) -> None:
    """Queue on ``pipe`` what makes the cached chart histories of ``products``
    stale everywhere: DEL of each product's hash in Redis, and a message on
    ``history_invalidations`` for the copies API processes hold in memory."""
    for market, asin in products:
        key = keys.history_cache(market, asin)
        pipe.delete(key)
        pipe.publish(keys.history_invalidations, key)

"""This process's copy of recently served chart histories, in front of Redis.

A hit served from Redis costs a network round trip and redis-py's client work on
the event loop; in ``bench/api.py`` (1,000 req/s of mostly cached charts) that was
most of each request, and the loop's queueing pushed p99 to 30-80 ms. Served
from memory, the same hit costs no await at all.

Coherence: ingest drops a product's Redis hash and, in the same transaction,
publishes the hash's key on ``Keys.history_invalidations``
(:func:`pricewatch.storage.redis.drop_histories`). :func:`follow_invalidations`
evicts the key here. A copy is kept only while that subscription is confirmed;
when it breaks, everything is dropped and the cache stays off until it is back,
so a missed message cannot leave a stale chart behind. A value read from Redis
(or computed) just before an invalidation could be stored just after it: every
lookup notes the invalidation ``epoch`` first, and ``put`` refuses a value whose
epoch is no longer current. Copies also expire after ``ttl_s``.

Bounded by the bytes of the bodies held, least recently used products first.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

import redis.asyncio

from pricewatch.keys import INVALIDATION_SEPARATOR

log = logging.getLogger(__name__)

# per-entry bookkeeping (dicts, tuples, key strings) beyond the body itself
ENTRY_OVERHEAD = 200


class NearCache:
    def __init__(
        self, max_bytes: int, ttl_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if max_bytes <= 0 or ttl_s <= 0:
            raise ValueError("the near cache needs a positive size and TTL")
        self.max_bytes = max_bytes
        self.ttl_s = ttl_s
        self.clock = clock
        # Redis key -> field -> (cached value, expiry); least recently used first
        self._products: collections.OrderedDict[str, dict[str, tuple[bytes, float]]] = (
            collections.OrderedDict()
        )
        self._bytes = 0
        # bumped by every invalidation; see ``put``
        self.epoch = 0
        # True only while the invalidation subscription is confirmed
        self.live = False

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def get(self, key: str, field: str) -> bytes | None:
        if not self.live:
            return None
        fields = self._products.get(key)
        if fields is None:
            return None
        entry = fields.get(field)
        if entry is None:
            return None
        value, expires = entry
        if expires <= self.clock():
            del fields[field]
            self._bytes -= len(value) + ENTRY_OVERHEAD
            return None
        self._products.move_to_end(key)
        return value

    def put(self, key: str, field: str, value: bytes, epoch: int) -> bool:
        """Keep ``value`` unless an invalidation arrived since ``epoch`` was read
        (the value may predate it) or the cache is off; True if kept."""
        if not self.live or epoch != self.epoch:
            return False
        size = len(value) + ENTRY_OVERHEAD
        if size > self.max_bytes:
            return False
        fields = self._products.setdefault(key, {})
        old = fields.get(field)
        if old is not None:
            self._bytes -= len(old[0]) + ENTRY_OVERHEAD
        fields[field] = (value, self.clock() + self.ttl_s)
        self._bytes += size
        self._products.move_to_end(key)
        while self._bytes > self.max_bytes:
            _, evicted = self._products.popitem(last=False)
            self._bytes -= sum(len(v) + ENTRY_OVERHEAD for v, _ in evicted.values())
        return True

    def invalidate(self, key: str) -> None:
        self.epoch += 1
        fields = self._products.pop(key, None)
        if fields:
            self._bytes -= sum(len(v) + ENTRY_OVERHEAD for v, _ in fields.values())

    def suspend(self) -> None:
        """Forget everything and serve nothing until ``resume``."""
        self.live = False
        self.epoch += 1
        self._products.clear()
        self._bytes = 0

    def resume(self) -> None:
        self.live = True


async def follow_invalidations(
    client: redis.asyncio.Redis, channel: str, cache: NearCache, retry_s: float = 1.0
) -> None:
    """Evict what ingest invalidates, for as long as the task runs; the cache is
    live only while the subscription is confirmed."""
    while True:
        pubsub = client.pubsub()
        try:
            await pubsub.subscribe(channel)
            while await _next_message(pubsub) is None:
                pass  # the first message is the subscription's confirmation
            cache.resume()
            log.debug("near cache live on %s", channel)
            while True:
                message = await _next_message(pubsub)
                if message is None:
                    continue
                if message["type"] == "message":
                    for key in message["data"].decode().split(INVALIDATION_SEPARATOR):
                        cache.invalidate(key)
                elif message["type"] == "subscribe":
                    # redis-py reconnected and subscribed again by itself: whatever
                    # was published meanwhile is lost, and so are the copies
                    log.warning("near cache emptied: invalidation feed reconnected")
                    cache.suspend()
                    cache.resume()
        except (redis.RedisError, OSError) as exc:
            _raise_if_cancelled()
            log.warning("near cache off: invalidation feed lost (%s); retrying", exc)
        finally:
            cache.suspend()
            with contextlib.suppress(redis.RedisError, OSError):
                await pubsub.aclose()
        await asyncio.sleep(retry_s)


async def _next_message(pubsub: redis.asyncio.client.PubSub) -> dict[str, Any] | None:
    # A short timeout, and a check after it: redis-py's get_message can swallow
    # the task's cancellation, which would leave this loop running at shutdown.
    message = await pubsub.get_message(timeout=1.0)
    _raise_if_cancelled()
    return message


def _raise_if_cancelled() -> None:
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError

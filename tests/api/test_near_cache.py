"""The API's in-memory copies of chart histories: bounds, expiry, and coherence
with ingest's invalidations over a real Redis."""

from __future__ import annotations

import asyncio

import pytest
import redis as redis_lib
import redis.asyncio

from api.services.near_cache import ENTRY_OVERHEAD, NearCache, follow_invalidations
from api.services.views import ViewTally
from pricewatch.keys import Keys
from pricewatch.storage.redis import connect_async, connect_pubsub_async, drop_histories
from tests.clock import ManualClock
from tests.services import eventually, free_port


def live_cache(
    max_bytes: int = 1 << 20, ttl_s: float = 60, clock: ManualClock | None = None
) -> NearCache:
    cache = NearCache(max_bytes, ttl_s, (clock or ManualClock(100_000)).seconds)
    cache.resume()
    return cache


def test_values_are_kept_per_product_and_variant() -> None:
    cache = live_cache()
    assert cache.put("h:a", "30d", b"A30", cache.epoch)
    assert cache.put("h:a", "1y", b"A1y", cache.epoch)
    assert cache.get("h:a", "30d") == b"A30"
    assert cache.get("h:a", "1y") == b"A1y"
    assert cache.get("h:a", "7d") is None
    assert cache.get("h:b", "30d") is None


def test_a_value_read_before_an_invalidation_is_refused() -> None:
    cache = live_cache()
    epoch = cache.epoch  # a request starts reading Redis
    cache.invalidate("h:other")  # any invalidation meanwhile
    assert not cache.put("h:a", "30d", b"maybe stale", epoch)
    assert cache.get("h:a", "30d") is None
    assert cache.put("h:a", "30d", b"fresh", cache.epoch)


def test_invalidate_drops_every_variant_of_the_product_only() -> None:
    cache = live_cache()
    for key, field in [("h:a", "30d"), ("h:a", "1y"), ("h:b", "30d")]:
        cache.put(key, field, b"x" * 10, cache.epoch)
    cache.invalidate("h:a")
    assert cache.get("h:a", "30d") is None and cache.get("h:a", "1y") is None
    assert cache.get("h:b", "30d") == b"x" * 10
    assert cache.size_bytes == 10 + ENTRY_OVERHEAD


def test_copies_expire() -> None:
    clock = ManualClock(100_000)
    cache = live_cache(ttl_s=60, clock=clock)
    cache.put("h:a", "30d", b"v", cache.epoch)
    clock.ms += 59_000
    assert cache.get("h:a", "30d") == b"v"
    clock.ms += 2_000
    assert cache.get("h:a", "30d") is None
    assert cache.size_bytes == 0


def test_least_recently_used_products_go_first_when_full() -> None:
    entry = 100 + ENTRY_OVERHEAD
    cache = live_cache(max_bytes=3 * entry)
    for name in "abc":
        cache.put(f"h:{name}", "30d", b"v" * 100, cache.epoch)
    assert cache.get("h:a", "30d") is not None  # a is now the most recent
    cache.put("h:d", "30d", b"v" * 100, cache.epoch)
    assert cache.get("h:b", "30d") is None
    assert all(cache.get(f"h:{n}", "30d") is not None for n in "acd")
    assert cache.size_bytes == 3 * entry
    assert not cache.put("h:e", "30d", b"v" * (4 * entry), cache.epoch)  # larger than all


def test_a_suspended_cache_serves_and_keeps_nothing() -> None:
    cache = live_cache()
    cache.put("h:a", "30d", b"v", cache.epoch)
    cache.suspend()
    assert cache.get("h:a", "30d") is None
    assert not cache.put("h:a", "30d", b"v", cache.epoch)
    cache.resume()
    assert cache.get("h:a", "30d") is None  # nothing survived the suspension
    assert cache.put("h:a", "30d", b"v", cache.epoch)


def test_bad_sizes_are_refused() -> None:
    with pytest.raises(ValueError):
        NearCache(0, 60)
    with pytest.raises(ValueError):
        NearCache(1024, 0)


@pytest.mark.redis
async def test_ingest_invalidations_reach_the_copies_and_a_lost_feed_turns_them_off(
    redis_url: str, redis_client: redis_lib.Redis, keys: Keys
) -> None:
    client = connect_pubsub_async(redis_url)
    cache = NearCache(1 << 20, 60)
    follower = asyncio.create_task(
        follow_invalidations(client, keys.history_invalidations, cache, retry_s=0.1)
    )
    try:
        await eventually(lambda: cache.live)
        key_a = keys.history_cache("us", "B0NEAR0001")
        key_b = keys.history_cache("us", "B0NEAR0002")
        cache.put(key_a, "30d", b"A", cache.epoch)
        cache.put(key_b, "30d", b"B", cache.epoch)

        pipe = redis_client.pipeline()
        drop_histories(pipe, keys, [("us", "B0NEAR0001")])
        pipe.execute()
        await eventually(lambda: cache.get(key_a, "30d") is None)
        assert cache.get(key_b, "30d") == b"B"

        # the subscription's connection dies: no copy may outlive it
        for node in _servers(redis_client):
            node.client_kill_filter(_type="pubsub")
        await eventually(lambda: cache.get(key_b, "30d") is None, timeout=5)
        await eventually(lambda: cache.live, timeout=10)  # back once resubscribed
        assert cache.put(key_b, "30d", b"B2", cache.epoch)
        assert cache.get(key_b, "30d") == b"B2"
    finally:
        follower.cancel()
        await asyncio.gather(follower, return_exceptions=True)
        await client.aclose()
    assert follower.cancelled()
    assert not cache.live


@pytest.mark.redis
async def test_view_tally_pushes_counts_and_keeps_them_when_redis_is_down(
    redis_url: str, redis_client: redis_lib.Redis, keys: Keys
) -> None:
    tally = ViewTally()
    for source in ("web", "web", "extension"):
        tally.add("us", "B0VIEW0042", source)
    dead = redis.asyncio.Redis(host="127.0.0.1", port=free_port())
    with pytest.raises(redis.ConnectionError):
        await tally.push(dead, keys)
    await dead.aclose()
    assert len(tally) == 2  # nothing lost

    client = connect_async(redis_url)
    try:
        assert await tally.push(client, keys) == 3
    finally:
        await client.aclose()
    counts = redis_client.hgetall(keys.views("us", "B0VIEW0042"))
    assert counts == {b"web": b"2", b"extension": b"1"}
    assert b"us:B0VIEW0042" in redis_client.smembers(keys.views_dirty)
    assert len(tally) == 0


def _servers(client: redis_lib.Redis) -> list[redis_lib.Redis]:
    """A client per server: the one, or each node of a Redis Cluster."""
    if isinstance(client, redis_lib.cluster.RedisCluster):
        return [client.get_redis_connection(node) for node in client.get_nodes()]
    return [client]

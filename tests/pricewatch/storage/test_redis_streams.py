import time

import pytest

from pricewatch.keys import partition_of
from pricewatch.storage.redis import PartitionedStream

pytestmark = pytest.mark.redis


def items(n, market="us"):
    return [(market, f"B{i:09d}", f"payload-{i}".encode()) for i in range(n)]


def test_messages_land_in_their_product_partition(redis_client, keys):
    stream = PartitionedStream(redis_client, keys, "observations", partitions=4)
    stream.publish(items(200))
    lengths = [redis_client.xlen(k) for k in stream.stream_keys()]
    assert sum(lengths) == 200 and all(n > 0 for n in lengths)
    expected = {p: 0 for p in range(4)}
    for market, asin, _ in items(200):
        expected[partition_of(market, asin, 4)] += 1
    assert lengths == [expected[p] for p in range(4)]


def test_group_read_ack_and_pending(redis_client, keys):
    stream = PartitionedStream(redis_client, keys, "observations", partitions=3)
    stream.ensure_group("g")
    stream.ensure_group("g")  # idempotent
    stream.publish(items(30))
    got = stream.read("g", "c1", count=100, block_ms=100)
    assert sorted(m.data for m in got) == sorted(p for _, _, p in items(30))
    assert stream.pending_count("g") == 30
    stream.ack("g", got[:10])
    assert stream.pending_count("g") == 20
    # the same consumer restarting sees exactly what it left unacked
    again = stream.read_own_pending("g", "c1", count=100)
    assert sorted(m.id for m in again) == sorted(m.id for m in got[10:])
    assert stream.read("g", "c1", count=100, block_ms=None) == []


def test_idle_messages_of_a_dead_consumer_are_claimed(redis_client, keys):
    stream = PartitionedStream(redis_client, keys, "observations", partitions=2)
    stream.ensure_group("g")
    stream.publish(items(10))
    dead = stream.read("g", "dead", count=100, block_ms=100)
    assert len(dead) == 10
    assert stream.claim_idle("g", "alive", min_idle_ms=60_000, count=100) == []
    time.sleep(0.05)
    claimed = stream.claim_idle("g", "alive", min_idle_ms=20, count=100)
    assert sorted(m.id for m in claimed) == sorted(m.id for m in dead)
    assert all(m.deliveries > 1 for m in claimed)


def test_length_is_bounded(redis_client, keys):
    stream = PartitionedStream(redis_client, keys, "observations", partitions=1, maxlen=100)
    for _ in range(5):
        stream.publish(items(1000))
    # MAXLEN ~ trims whole macro nodes: bounded near the cap, never the full 5000
    assert stream.length() < 1000

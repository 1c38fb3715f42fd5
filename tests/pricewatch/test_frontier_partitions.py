"""The frontier split into partitions: every task in its product's partition, workers
drawing from all of them, leases and fences per partition. Run on a single Redis and
on a real Redis Cluster, where the partitions land on different masters and every
script touches one slot."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest
import redis as redis_lib

from pricewatch.frontier import AsyncFrontier, Frontier
from pricewatch.keys import Keys, partition_of, partition_of_key
from pricewatch.leader import FencedOut, Lease
from pricewatch.models import CrawlTask, TaskKind
from pricewatch.storage.redis import connect, connect_async
from tests.frontiers import held_by

pytestmark = pytest.mark.redis

PARTITIONS = 4
NOW = 1_700_000_000_000
LEASE = 60_000


def product(n: int, priority: float = 1.0) -> CrawlTask:
    return CrawlTask(market="us", asin=f"B{n:09d}", priority=priority)


def verify(n: int) -> CrawlTask:
    return CrawlTask(
        market="us", asin=f"B{n:09d}", kind=TaskKind.VERIFY, priority=0.0, report_id=f"r{n}"
    )


@pytest.fixture(params=["single", "cluster"])
def redis_any(request: pytest.FixtureRequest) -> Iterator[tuple[redis_lib.Redis, str]]:
    """A client and URL of a single Redis server, then of a Redis Cluster; emptied."""
    fixture = "redis_url" if request.param == "single" else "redis_cluster_url"
    url: str = request.getfixturevalue(fixture)
    client = connect(url)
    client.flushdb()
    yield client, url
    client.close()


@pytest.fixture
def frontier(redis_any: tuple[redis_lib.Redis, str], keys: Keys) -> Frontier:
    return Frontier(redis_any[0], keys, lease_ms=LEASE, partitions=PARTITIONS)


def test_each_task_is_queued_in_its_products_partition(frontier: Frontier, keys: Keys) -> None:
    tasks = [product(n) for n in range(40)]
    assert frontier.push(tasks) == 40
    client = frontier.redis
    for task in tasks:
        n = partition_of(task.market, task.asin or "", PARTITIONS)
        assert client.hexists(keys.frontier_tasks(n), task.product_key)
        assert client.zscore(keys.frontier(n), task.product_key) is not None
    spread = Counter(partition_of("us", t.asin or "", PARTITIONS) for t in tasks)
    assert len(spread) == PARTITIONS  # 40 products use every partition
    assert frontier.size() == 40
    # a discovery task (keyed by its URL) goes by the same hash
    url = "https://www.amazon.de/gp/bestsellers/"
    frontier.push([CrawlTask(market="de", kind=TaskKind.DISCOVER, url=url)])
    assert client.hexists(keys.frontier_tasks(partition_of_key(url, PARTITIONS)), url)


def test_on_a_cluster_the_partitions_spread_over_the_masters(
    redis_cluster_url: str, keys: Keys
) -> None:
    client = connect(redis_cluster_url)
    try:
        nodes = {client.get_node_from_key(keys.frontier_tasks(n)).name for n in range(PARTITIONS)}
        # and each partition's keys share one slot
        for n in range(PARTITIONS):
            slots = {
                client.keyslot(key)
                for key in (
                    keys.frontier(n),
                    keys.frontier_tasks(n),
                    keys.frontier_verify(n),
                    keys.frontier_inflight(n),
                    keys.frontier_inflight_tasks(n),
                    keys.frontier_deferred(n),
                    keys.frontier_worker(n, "w"),
                    keys.frontier_fence(n),
                )
            }
            assert len(slots) == 1
    finally:
        client.close()
    assert len(nodes) >= 2


def test_workers_drain_every_partition_evenly(frontier: Frontier) -> None:
    tasks = [product(n) for n in range(200)]
    frontier.push(tasks)
    by_partition = Counter(partition_of("us", t.asin or "", PARTITIONS) for t in tasks)
    # one task per pop, as the crawler's engine asks: consecutive pops visit the
    # partitions in turn
    first = [frontier.pop("w", now=NOW)[0] for _ in range(PARTITIONS)]
    assert {partition_of("us", t.asin or "", PARTITIONS) for t in first} == set(range(PARTITIONS))
    popped = first + frontier.pop("w", count=500, now=NOW)
    assert sorted(t.asin or "" for t in popped) == sorted(t.asin or "" for t in tasks)
    assert Counter(partition_of("us", t.asin or "", PARTITIONS) for t in popped) == by_partition
    assert frontier.size() == 0 and frontier.inflight_size() == 200


def test_a_pop_fills_its_count_from_several_partitions_best_first_within_each(
    frontier: Frontier,
) -> None:
    frontier.push([product(n, priority=float(n)) for n in range(12)])
    frontier.push([verify(100)])
    got = frontier.pop("w", count=13, now=NOW)
    assert len(got) == 13
    # within one partition: the verification lane first, then the higher priority
    for n in range(PARTITIONS):
        mine = [t for t in got if partition_of("us", t.asin or "", PARTITIONS) == n]
        ranks = [(t.kind is TaskKind.VERIFY, t.priority) for t in mine]
        assert ranks == sorted(ranks, reverse=True)


def test_leases_acks_and_expiry_go_to_each_tasks_partition(frontier: Frontier, keys: Keys) -> None:
    frontier.push([product(n) for n in range(20)])
    held = frontier.pop("w1", count=20, now=NOW)
    assert held_by(frontier.redis, keys, "w1", PARTITIONS) == {t.product_key for t in held}
    assert frontier.heartbeat("w1", now=NOW + 1_000) == 20
    assert frontier.ack("w1", held[:5]) == 5
    assert frontier.nack("w1", held[5:10]) == 5
    assert frontier.size() == 5 and frontier.inflight_size() == 10
    # w1 dies; its ten leases run out in whichever partitions they are
    assert frontier.requeue_expired(now=NOW + 1_000 + LEASE + 1) == 10
    assert frontier.size() == 15 and frontier.inflight_size() == 0
    assert held_by(frontier.redis, keys, "w1", PARTITIONS) == set()
    again = frontier.pop("w2", count=20, now=NOW)
    assert {t.product_key for t in again} == {t.product_key for t in held[5:]}


def test_a_task_pushed_while_in_flight_waits_behind_it_in_its_partition(frontier: Frontier) -> None:
    frontier.push([product(1)])
    (task,) = frontier.pop("w", now=NOW)
    frontier.push([product(1, priority=9.0)])
    assert frontier.size() == 0  # deferred, not queued beside the one in flight
    frontier.ack("w", [task])
    (again,) = frontier.pop("w", now=NOW)
    assert again.priority == 9.0


def test_the_bound_is_shared_by_the_partitions(
    redis_any: tuple[redis_lib.Redis, str], keys: Keys
) -> None:
    bounded = Frontier(redis_any[0], keys, max_size=8, partitions=PARTITIONS)
    bounded.push([product(n, priority=float(n)) for n in range(100)])
    # each partition keeps its share (2) of the best: 8 in all
    assert bounded.size() == 8
    for n in range(PARTITIONS):
        assert redis_any[0].zcard(keys.frontier(n)) == 2


def test_a_deposed_leaders_pushes_are_refused_in_every_partition(
    redis_any: tuple[redis_lib.Redis, str], keys: Keys
) -> None:
    client = redis_any[0]
    frontier = Frontier(client, keys, partitions=PARTITIONS)
    old = Lease(client, keys, "old", ttl_s=30, partitions=PARTITIONS)
    new = Lease(client, keys, "new", ttl_s=30, partitions=PARTITIONS)
    old_token = old.acquire()
    assert old_token is not None
    assert frontier.push([product(1)], token=old_token) == 1
    client.delete(keys.scheduler_leader)  # the old leader's lease lapsed
    new_token = new.acquire()
    assert new_token is not None and new_token > old_token
    # the new leader has pushed nothing yet: the acquisition raised every fence
    for n in range(30):
        with pytest.raises(FencedOut):
            frontier.push([product(n)], token=old_token)
    assert frontier.size() == 1
    assert frontier.push([product(n) for n in range(2, 30)], token=new_token) == 28
    # a frontier that saw an older token raises the fences itself before its first push
    newer = Lease(client, keys, "newer", ttl_s=30, partitions=1)
    client.delete(keys.scheduler_leader)
    newest = newer.acquire()
    assert newest is not None
    assert frontier.push([product(40)], token=newest) == 1
    with pytest.raises(FencedOut):
        frontier.push([product(n) for n in range(41, 60)], token=new_token)


async def test_the_async_frontier_works_on_the_same_partitions(
    redis_any: tuple[redis_lib.Redis, str], keys: Keys
) -> None:
    client, url = redis_any
    sync = Frontier(client, keys, lease_ms=LEASE, partitions=PARTITIONS)
    async_client = connect_async(url)
    try:
        frontier = AsyncFrontier(async_client, keys, lease_ms=LEASE, partitions=PARTITIONS)
        assert await frontier.push([product(n) for n in range(10)]) == 10
        assert sync.size() == 10 and await frontier.size() == 10
        assert await frontier.is_queued("us:B000000003")
        got = await frontier.pop("a", count=10, now=NOW)
        assert len(got) == 10 and await frontier.inflight_size() == 10
        assert not await frontier.is_queued("us:B000000003")
        assert await frontier.heartbeat("a", now=NOW) == 10
        assert await frontier.ack("a", got[:4]) == 4
        assert await frontier.nack("a", got[4:6]) == 2
        assert await frontier.requeue_expired(now=NOW + 2 * LEASE) == 4
        assert sync.size() == 6
        with pytest.raises(FencedOut):
            lease = Lease(client, keys, "x", ttl_s=30, partitions=PARTITIONS)
            stale = lease.acquire()
            assert stale is not None
            lease.release(stale)
            assert lease.acquire() is not None
            await frontier.push([product(50)], token=stale)
    finally:
        await async_client.aclose()


def test_a_redis_cluster_refuses_a_script_over_two_partitions(
    redis_cluster_url: str, keys: Keys
) -> None:
    """What the per-partition layout is for: one script over keys of two partitions
    is an error on a cluster (a single server would run it)."""
    client = connect(redis_cluster_url)
    try:
        script = client.register_script("return redis.call('ZCARD', KEYS[1])")
        assert script([keys.frontier(0)]) == 0
        with pytest.raises(redis_lib.RedisClusterException, match="same key slot"):
            script([keys.frontier(0), keys.frontier(1)])
    finally:
        client.close()

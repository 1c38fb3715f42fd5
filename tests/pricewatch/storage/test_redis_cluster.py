"""Redis Cluster URLs, and the clients they give, against a real 3-master cluster."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.cluster
from redis.exceptions import ClusterCrossSlotError, CrossSlotTransactionError, RedisClusterException

from pricewatch.keys import INVALIDATION_SEPARATOR, Keys
from pricewatch.storage.redis import (
    ClusterUrl,
    connect,
    connect_async,
    connect_pubsub_async,
    drop_histories,
    is_cluster_url,
    open_async,
    parse_cluster_url,
)

# SET the first key, GET the second: touches both
SET_THEN_GET = "redis.call('set', KEYS[1], ARGV[1]) return redis.call('get', KEYS[2])"

# --- the URL, a pure function --------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("redis+cluster://10.0.0.1:7000", ClusterUrl(nodes=(("10.0.0.1", 7000),))),
        (
            "redis+cluster://a:7000,b:7001,c/0",
            ClusterUrl(nodes=(("a", 7000), ("b", 7001), ("c", 6379))),
        ),
        ("rediss+cluster://a:7000/", ClusterUrl(nodes=(("a", 7000),), tls=True)),
        ("REDIS+CLUSTER://a:7000", ClusterUrl(nodes=(("a", 7000),))),
        (
            "redis+cluster://app:s%40cret%3A1@a:7000,[::1]:7001",
            ClusterUrl(nodes=(("a", 7000), ("::1", 7001)), username="app", password="s@cret:1"),
        ),
        ("redis+cluster://:pw@a:7000", ClusterUrl(nodes=(("a", 7000),), password="pw")),
    ],
)
def test_parse_cluster_url(url: str, expected: ClusterUrl) -> None:
    assert parse_cluster_url(url) == expected


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("redis+cluster://", "at least one host"),
        ("redis+cluster:///0", "at least one host"),
        ("redis+cluster://a:7000,,b:7001", "empty host"),
        ("redis+cluster://:7000", "empty host"),
        ("redis+cluster://a:70000", "bad port '70000'"),
        ("redis+cluster://a:0", "bad port '0'"),
        ("redis+cluster://a:b", "bad port 'b'"),
        ("redis+cluster://a:", "bad port ''"),
        ("redis+cluster://a:7000,b:x", "bad port 'x' for host 'b'"),
        ("redis+cluster://[::1]x", "bad host"),
        ("redis+cluster://a:7000/1", "only database 0, the URL asks for /1"),
        ("redis+cluster://a:7000/db", "bad database /db"),
        ("redis+cluster://a:7000/0?ssl_cert_reqs=none", "no [?]options"),
        ("redis://a:7000/0", "not a Redis Cluster URL"),
    ],
)
def test_bad_cluster_urls_say_why(url: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_cluster_url(url)


def test_errors_never_repeat_the_password() -> None:
    with pytest.raises(ValueError) as caught:
        parse_cluster_url("redis+cluster://app:hunter2@a:70000")
    assert "hunter2" not in str(caught.value)
    assert "hunter2" not in repr(parse_cluster_url("redis+cluster://app:hunter2@a:7000"))


def test_is_cluster_url() -> None:
    assert is_cluster_url("redis+cluster://a:7000")
    assert is_cluster_url("rediss+cluster://a:7000/0")
    assert not is_cluster_url("redis://a:7000/0")
    assert not is_cluster_url("rediss://a:7000/0")
    assert not is_cluster_url("unix:///run/redis.sock")


# --- against a real cluster ----------------------------------------------------------


def masters(url: str) -> dict[str, list[tuple[int, int]]]:
    """Address -> slot ranges of every master, as the cluster itself says (CLUSTER
    NODES, asked of a startup node with a plain client)."""
    host, port = parse_cluster_url(url).nodes[0]
    with redis.Redis(host=host, port=port) as plain:
        nodes = plain.execute_command("CLUSTER NODES")
    return {
        address: [(int(lo), int(hi)) for lo, hi in node["slots"]]
        for address, node in nodes.items()
        if "master" in node["flags"].split(",")
    }


def owner(masters_: dict[str, list[tuple[int, int]]], slot: int) -> str:
    [address] = [a for a, ranges in masters_.items() if any(lo <= slot <= hi for lo, hi in ranges)]
    return address


def plain_client(address: str) -> redis.Redis:
    host, _, port = address.rpartition(":")
    return redis.Redis(host=host, port=int(port))


@pytest.fixture
def cluster(redis_cluster_url: str) -> Iterator[redis.cluster.RedisCluster]:
    client = connect(redis_cluster_url)
    assert isinstance(client, redis.cluster.RedisCluster)
    client.flushdb()
    yield client
    client.close()


@pytest.fixture
async def async_cluster(
    redis_cluster_url: str, cluster: redis.cluster.RedisCluster
) -> AsyncIterator[redis.asyncio.cluster.RedisCluster]:
    client = connect_async(redis_cluster_url)
    assert isinstance(client, redis.asyncio.cluster.RedisCluster)
    yield client
    await client.aclose()


@pytest.mark.redis
def test_the_test_cluster_has_three_masters_covering_every_slot(redis_cluster_url: str) -> None:
    found = masters(redis_cluster_url)
    assert len(found) == 3
    assert sum(hi - lo + 1 for ranges in found.values() for lo, hi in ranges) == 16384


@pytest.mark.redis
def test_keys_land_on_different_masters(
    cluster: redis.cluster.RedisCluster, redis_cluster_url: str
) -> None:
    names = [f"product:{i}" for i in range(30)]
    for i, name in enumerate(names):
        cluster.set(name, i)
    assert [cluster.get(name) for name in names] == [str(i).encode() for i in range(30)]

    layout = masters(redis_cluster_url)
    holders = set()
    for i, name in enumerate(names):
        # the server computes the slot, and the master CLUSTER NODES names holds the key
        address = owner(layout, cluster.execute_command("CLUSTER KEYSLOT", name))
        with plain_client(address) as plain:
            assert plain.get(name) == str(i).encode()
        holders.add(address)
    assert len(holders) >= 2


@pytest.mark.redis
def test_flushdb_empties_every_master(
    cluster: redis.cluster.RedisCluster, redis_cluster_url: str
) -> None:
    for i in range(30):
        cluster.set(f"k{i}", i)
    addresses = list(masters(redis_cluster_url))
    sizes = []
    for address in addresses:
        with plain_client(address) as plain:
            sizes.append(plain.dbsize())
    assert sum(sizes) == 30 and sum(1 for size in sizes if size) >= 2

    cluster.flushdb()

    for address in addresses:
        with plain_client(address) as plain:
            assert plain.dbsize() == 0


@pytest.mark.redis
def test_a_script_runs_over_one_hash_tag_and_not_across_slots(
    cluster: redis.cluster.RedisCluster, redis_cluster_url: str
) -> None:
    cluster.set("{p1}:b", "there")
    assert cluster.eval(SET_THEN_GET, 2, "{p1}:a", "{p1}:b", "x") == b"there"
    assert cluster.get("{p1}:a") == b"x"

    assert cluster.keyslot("a") != cluster.keyslot("b")
    with pytest.raises(RedisClusterException, match="same key slot"):
        cluster.eval(SET_THEN_GET, 2, "a", "b", "x")
    # the server itself refuses keys of two slots in one script: the cluster is real
    node = owner(masters(redis_cluster_url), cluster.keyslot("a"))
    with plain_client(node) as plain, pytest.raises(ClusterCrossSlotError, match="same slot"):
        plain.eval(SET_THEN_GET, 2, "a", "b", "x")


@pytest.mark.redis
def test_a_transaction_runs_over_one_hash_tag(cluster: redis.cluster.RedisCluster) -> None:
    pipe = cluster.pipeline(transaction=True)
    pipe.set("{p2}:a", 1).incr("{p2}:b").incr("{p2}:b")
    # (a cluster MULTI gives SET's raw b"OK" where a single-server one gives True)
    assert pipe.execute()[1:] == [1, 2]
    assert cluster.get("{p2}:a") == b"1"

    pipe = cluster.pipeline(transaction=True)
    pipe.set("a", 1).set("b", 2)
    with pytest.raises(CrossSlotTransactionError):
        pipe.execute()


@pytest.mark.redis
def test_connections_the_server_closed_are_replaced(
    cluster: redis.cluster.RedisCluster, redis_cluster_url: str
) -> None:
    names = [f"k{i}" for i in range(30)]
    for name in names:
        cluster.set(name, 1)
    connection = cluster.get_node_from_key("k0").redis_connection.connection_pool.get_connection()
    try:
        # keepalive, and the PING before a connection idle for long is used
        assert connection.socket_keepalive is True
        assert connection.health_check_interval == 30
        # no retry of a failed command, as the single-server sync client
        assert cluster.retry.get_retries() == 0
    finally:
        cluster.get_node_from_key("k0").redis_connection.connection_pool.release(connection)
    for address in masters(redis_cluster_url):  # as a restart or an idle timeout would
        with plain_client(address) as plain:
            assert plain.client_kill_filter(_type="normal", skipme=True) >= 1

    assert [cluster.get(name) for name in names] == [b"1"] * 30


@pytest.mark.redis
async def test_the_async_client_on_a_cluster(
    async_cluster: redis.asyncio.cluster.RedisCluster, redis_cluster_url: str
) -> None:
    names = [f"product:{i}" for i in range(30)]
    for i, name in enumerate(names):
        await async_cluster.set(name, i)
    assert [await async_cluster.get(name) for name in names] == [str(i).encode() for i in range(30)]
    layout = masters(redis_cluster_url)
    assert len({owner(layout, async_cluster.keyslot(name)) for name in names}) >= 2

    await async_cluster.set("{p3}:b", "there")
    assert await async_cluster.eval(SET_THEN_GET, 2, "{p3}:a", "{p3}:b", "x") == b"there"
    with pytest.raises(RedisClusterException, match="same key slot"):
        await async_cluster.eval(SET_THEN_GET, 2, "a", "b", "x")

    pipe = async_cluster.pipeline(transaction=True)
    pipe.set("{p3}:c", 1).incr("{p3}:d").incr("{p3}:d")
    assert (await pipe.execute())[1:] == [1, 2]
    assert await async_cluster.get("{p3}:c") == b"1"
    pipe = async_cluster.pipeline(transaction=True)
    pipe.set("a", 1).set("b", 2)
    with pytest.raises(CrossSlotTransactionError):
        await pipe.execute()

    # one immediate retry, as the single-server async client has
    assert async_cluster.retry.get_retries() == 1
    for address in layout:
        with plain_client(address) as plain:
            plain.client_kill_filter(_type="normal", skipme=True)
    assert await async_cluster.get("{p3}:b") == b"there"


@pytest.mark.redis
async def test_a_transaction_as_the_first_command_of_an_opened_client(
    redis_cluster_url: str, cluster: redis.cluster.RedisCluster
) -> None:
    # redis-py queues an async cluster MULTI's commands on a throwaway loop: the
    # slot map open_async reads first keeps the connections off it
    client = await open_async(redis_cluster_url)
    try:
        for _ in range(3):
            pipe = client.pipeline(transaction=True)
            pipe.incr("{p4}:hits").expire("{p4}:hits", 60)
            await pipe.execute()
        assert await client.get("{p4}:hits") == b"3"
    finally:
        await client.aclose()


@pytest.mark.redis
async def test_the_pubsub_client_hears_what_the_cluster_client_publishes(
    async_cluster: redis.asyncio.cluster.RedisCluster, redis_cluster_url: str
) -> None:
    feed = connect_pubsub_async(redis_cluster_url, health_check_interval=10)
    assert isinstance(feed, redis.asyncio.Redis)
    subscriber = feed.pubsub()
    await async_cluster.initialize()
    try:
        await subscriber.subscribe("invalidations")
        assert (await subscriber.get_message(timeout=10))["type"] == "subscribe"

        first = "{}:{}".format(*parse_cluster_url(redis_cluster_url).nodes[0])
        others = [node for node in async_cluster.get_primaries() if node.name != first]
        assert others
        # published on another master: the cluster bus carries it to the subscriber's
        await async_cluster.publish("invalidations", "a", target_nodes=others[0])
        # and as the app publishes, wherever the client sends it
        await async_cluster.publish("invalidations", "b")
        got = []
        for _ in range(2):
            message = await subscriber.get_message(ignore_subscribe_messages=True, timeout=10)
            assert message is not None
            got.append(message["data"])
        assert got == [b"a", b"b"]
    finally:
        await subscriber.aclose()
        await feed.aclose()


@pytest.mark.redis
async def test_dropping_histories_on_a_cluster_pipeline(
    cluster: redis.cluster.RedisCluster, redis_cluster_url: str
) -> None:
    keys = Keys(prefix="test:")
    products = [("us", f"B{i:09d}") for i in range(12)]
    for market, asin in products:
        cluster.hset(keys.history_cache(market, asin), "buybox", b"[]")
    layout = masters(redis_cluster_url)
    slots = [cluster.keyslot(keys.history_cache(m, a)) for m, a in products]
    assert len({owner(layout, slot) for slot in slots}) >= 2

    feed = connect_pubsub_async(redis_cluster_url)
    subscriber = feed.pubsub()
    try:
        await subscriber.subscribe(keys.history_invalidations)
        await subscriber.get_message(timeout=10)
        pipe = cluster.pipeline(transaction=False)
        drop_histories(pipe, keys, products)
        pipe.execute()

        assert not any(cluster.exists(keys.history_cache(m, a)) for m, a in products)
        heard = set()
        while len(heard) < len(products):
            message = await subscriber.get_message(ignore_subscribe_messages=True, timeout=10)
            assert message is not None, f"heard only {len(heard)} invalidations"
            heard.update(message["data"].decode().split(INVALIDATION_SEPARATOR))
        assert heard == {keys.history_cache(m, a) for m, a in products}
    finally:
        await subscriber.aclose()
        await feed.aclose()


@pytest.mark.redis
def test_scrapy_redis_builds_its_client_with_ours(redis_cluster_url: str) -> None:
    from scrapy.settings import BaseSettings
    from scrapy_redis.connection import get_redis_from_settings

    from crawler.redis_support import RedisFromUrl

    # as crawler.frontier_scheduler.FrontierScheduler hands it to scrapy-redis
    settings = BaseSettings(
        {"REDIS_URL": redis_cluster_url, "REDIS_PARAMS": {"redis_cls": RedisFromUrl}}
    )
    client = get_redis_from_settings(settings)
    try:
        assert isinstance(client, redis.cluster.RedisCluster)
        assert client.ping()
    finally:
        client.close()


@pytest.mark.redis
def test_a_single_server_url_still_gives_a_plain_client(redis_url: str) -> None:
    if is_cluster_url(redis_url):
        pytest.skip("PRICEWATCH_TEST_REDIS_URL names a cluster")
    client = connect(redis_url)
    try:
        assert isinstance(client, redis.Redis)
        assert client.ping()
    finally:
        client.close()
    assert isinstance(connect_async(redis_url), redis.asyncio.Redis)
    assert isinstance(connect_pubsub_async(redis_url), redis.asyncio.Redis)

"""The metrics endpoint, the collectors over a real Redis, and ingest's metrics while a
real ingest worker (Redis, chDB) consumes a stream, all read over HTTP as Prometheus
reads them."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import redis as redis_lib
from prometheus_client import CollectorRegistry, Counter
from redis.backoff import NoBackoff
from redis.retry import Retry

from pricewatch.frontier import Frontier
from pricewatch.ingest.worker import IngestWorker
from pricewatch.keys import INGEST_GROUP, OBSERVATIONS, Keys
from pricewatch.metrics import (
    OTHER,
    BoundedLabel,
    FrontierCollector,
    MetricsEndpoint,
    StreamCollector,
    entry_ms,
    install,
    install_role_collectors,
    role_endpoint,
)
from pricewatch.models import CrawlTask, TaskKind, encode
from pricewatch.settings import load_settings
from pricewatch.storage.streams import FIELD, PartitionedStream
from tests.observations import observation
from tests.scrape import get, scrape, total, value, wait_for
from tests.services import free_port


def url_of(endpoint: MetricsEndpoint) -> str:
    return f"http://127.0.0.1:{endpoint.port}"


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def endpoint(registry: CollectorRegistry) -> Iterator[MetricsEndpoint]:
    served = MetricsEndpoint("127.0.0.1", 0, registry)
    yield served
    served.close()


# -- the endpoint ------------------------------------------------------------------------


def test_endpoint_serves_metrics_health_and_nothing_else(
    registry: CollectorRegistry, endpoint: MetricsEndpoint
) -> None:
    Counter("pricewatch_test_things", "things", registry=registry).inc(3)
    assert value(scrape(url_of(endpoint)), "pricewatch_test_things_total") == 3
    assert get(url_of(endpoint) + "/healthz") == (200, '{"status": "ok"}')
    status, body = get(url_of(endpoint) + "/")
    assert status == 404 and "/metrics" in body


def test_health_problem_is_a_503_with_its_reason() -> None:
    problem: list[str] = []
    served = MetricsEndpoint(
        "127.0.0.1", 0, CollectorRegistry(), health=lambda: problem[0] if problem else None
    )
    try:
        assert get(url_of(served) + "/healthz")[0] == 200
        problem.append("engine stopped")
        status, body = get(url_of(served) + "/healthz")
        assert status == 503 and "engine stopped" in body
    finally:
        served.close()


def test_role_endpoint_listens_on_base_plus_offset_only_when_set() -> None:
    with role_endpoint("127.0.0.1", 0, "ingest") as off:
        assert off is None
    port = free_port()
    with role_endpoint("127.0.0.1", port - 3, "scheduler") as served:
        assert served is not None and served.port == port
        assert get(f"http://127.0.0.1:{port}/healthz")[0] == 200


def test_a_taken_port_leaves_the_role_running_without_metrics(caplog) -> None:
    with role_endpoint("127.0.0.1", free_port() - 1, "ingest") as first:
        assert first is not None
        with role_endpoint("127.0.0.1", first.port - 1, "ingest") as second:
            assert second is None
    assert f"cannot listen on 127.0.0.1:{first.port}" in caplog.text


def test_bounded_label_keeps_the_first_values_then_says_other() -> None:
    label = BoundedLabel(2)
    assert [label(v) for v in ("a:1", "b:2", "a:1", "c:3", "d:4")] == [
        "a:1",
        "b:2",
        "a:1",
        OTHER,
        OTHER,
    ]


# -- collectors over Redis ---------------------------------------------------------------


@pytest.mark.redis
def test_frontier_gauges_follow_pushes_pops_and_leases(
    redis_client: redis_lib.Redis, keys: Keys, registry: CollectorRegistry, endpoint
) -> None:
    assert install(FrontierCollector(redis_client, keys, 3), registry)
    assert not install(FrontierCollector(redis_client, keys, 3), registry)  # once per process
    # summed over every partition
    frontier = Frontier(redis_client, keys, partitions=3)
    frontier.push(CrawlTask(market="us", asin=f"B00000000{i}", priority=i) for i in range(5))
    frontier.push([CrawlTask(market="us", asin="B000000009", kind=TaskKind.VERIFY)])
    samples = scrape(url_of(endpoint))
    assert value(samples, "pricewatch_frontier_queued", lane="ordinary") == 5
    assert value(samples, "pricewatch_frontier_queued", lane="verify") == 1
    assert value(samples, "pricewatch_frontier_inflight") == 0
    assert value(samples, "pricewatch_frontier_collector_up") == 1

    # two popped, one of them with a lease that ran out long ago
    frontier.pop("w1", 1)
    frontier.pop("w2", 1, now=1_000)
    samples = scrape(url_of(endpoint))
    queued = [
        value(samples, "pricewatch_frontier_queued", lane=lane) for lane in ("verify", "ordinary")
    ]
    assert sum(queued) == 4
    assert value(samples, "pricewatch_frontier_inflight") == 2
    assert value(samples, "pricewatch_frontier_expired_leases") == 1


@pytest.mark.redis
def test_stream_gauges_show_pending_undelivered_and_lag_per_group(
    redis_client: redis_lib.Redis, keys: Keys, registry: CollectorRegistry, endpoint
) -> None:
    install(StreamCollector(redis_client, keys, 2), registry)
    stream = keys.stream(OBSERVATIONS, 1)
    # entries with ids of our own choosing: their age is known without a clock
    for ms in (1_000, 2_000, 3_000):
        redis_client.xadd(stream, {FIELD: b"x"}, id=f"{ms}-0")
    redis_client.xgroup_create(stream, INGEST_GROUP, id="0")
    samples = scrape(url_of(endpoint))
    labels = {"stream": OBSERVATIONS, "partition": "1", "group": INGEST_GROUP}
    assert value(samples, "pricewatch_stream_length", stream=OBSERVATIONS, partition="1") == 3
    assert value(samples, "pricewatch_stream_pending", **labels) == 0
    assert value(samples, "pricewatch_stream_undelivered", **labels) == 3
    now_s = redis_client.time()[0]
    # the oldest entry not acked is the first one, added at 1 s after the epoch
    assert value(samples, "pricewatch_stream_lag_seconds", **labels) >= now_s - 2

    # the first two read (pending), the first acked: the second is now the oldest
    redis_client.xreadgroup(INGEST_GROUP, "c1", {stream: ">"}, count=2)
    redis_client.xack(stream, INGEST_GROUP, "1000-0")
    samples = scrape(url_of(endpoint))
    assert value(samples, "pricewatch_stream_pending", **labels) == 1
    assert value(samples, "pricewatch_stream_undelivered", **labels) == 1
    lag = value(samples, "pricewatch_stream_lag_seconds", **labels)
    assert now_s - 3 <= lag <= time.time() - 1

    # all read and acked: caught up
    redis_client.xreadgroup(INGEST_GROUP, "c1", {stream: ">"})
    redis_client.xack(stream, INGEST_GROUP, "2000-0", "3000-0")
    samples = scrape(url_of(endpoint))
    assert value(samples, "pricewatch_stream_pending", **labels) == 0
    assert value(samples, "pricewatch_stream_lag_seconds", **labels) == 0
    # a stream nobody wrote to has a length and no group
    assert value(samples, "pricewatch_stream_length", stream=OBSERVATIONS, partition="0") == 0
    assert total(samples, "pricewatch_stream_pending", partition="0") == 0


def test_collectors_say_when_redis_does_not_answer(registry, endpoint) -> None:
    # a port nothing listens on: a real connection refused
    # no retries: the collectors' answer is the point, not redis-py's backoff
    client = redis_lib.Redis(
        port=free_port(), socket_connect_timeout=1, retry=Retry(NoBackoff(), 0)
    )
    install_role_collectors(client, Keys(), 2, ["scheduler", "ingest"], registry)
    samples = scrape(url_of(endpoint))
    assert value(samples, "pricewatch_frontier_collector_up") == 0
    assert value(samples, "pricewatch_streams_collector_up") == 0
    assert not total(samples, "pricewatch_frontier_inflight")


@pytest.mark.redis
def test_a_key_of_the_wrong_type_is_a_collector_down_not_a_failed_scrape(
    redis_client: redis_lib.Redis, keys: Keys, registry: CollectorRegistry, endpoint
) -> None:
    install(StreamCollector(redis_client, keys, 2), registry)
    redis_client.set(keys.dead_letter, b"not a stream")
    samples = scrape(url_of(endpoint))
    assert value(samples, "pricewatch_streams_collector_up") == 0
    redis_client.delete(keys.dead_letter)
    assert value(scrape(url_of(endpoint)), "pricewatch_streams_collector_up") == 1


def test_entry_ms_reads_an_entry_id() -> None:
    assert entry_ms(b"1700000000123-4") == 1_700_000_000_123


# -- ingest ----------------------------------------------------------------------------


@pytest.mark.redis
@pytest.mark.clickhouse
def test_an_ingested_batch_moves_ingest_metrics(
    redis_client: redis_lib.Redis, keys: Keys, price_store: object
) -> None:
    partitions = 2
    now = int(time.time() * 1000)
    worker = IngestWorker(
        redis_client,
        keys,
        price_store,  # type: ignore[arg-type]
        partitions=partitions,
        consumer="c1",
        batch_ms=50,
    )
    stream = PartitionedStream(keys, OBSERVATIONS, partitions)
    pages = [observation(now - 60_000 + i, 1999 + i, asin=f"B0METRIC{i:02d}") for i in range(3)]
    stream.publish(redis_client, ((o.market, o.asin, encode(o)) for o in pages))
    redis_client.xadd(stream.stream_keys()[0], {FIELD: b"not json"})  # a dead letter

    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,))
    # the role's own endpoint, as `pricewatch ingest` serves it (the process's registry)
    port = free_port()
    with role_endpoint("127.0.0.1", port - 1, "ingest") as served:
        assert served is not None
        base = f"http://127.0.0.1:{served.port}"
        before = scrape(base)
        thread.start()
        try:
            after = wait_for(
                base,
                lambda s: (
                    total(s, "pricewatch_ingest_dead_letters_total")
                    > total(before, "pricewatch_ingest_dead_letters_total")
                    and total(s, "pricewatch_ingest_observations_total", outcome="accepted")
                    >= total(before, "pricewatch_ingest_observations_total", outcome="accepted") + 3
                ),
            )
        finally:
            stop.set()
            thread.join(30)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("pricewatch_ingest_observations_total", outcome="accepted") == 3
    assert moved("pricewatch_ingest_dead_letters_total") == 1
    assert moved("pricewatch_ingest_changes_total") == 3  # first prices are changes
    # one or two batches took the four entries: the histogram saw all of them
    assert 1 <= moved("pricewatch_ingest_batch_messages_count") <= 2
    assert moved("pricewatch_ingest_batch_messages_sum") == 4
    assert moved("pricewatch_ingest_batch_messages_bucket", le="+Inf") >= 1


def test_the_port_base_is_off_or_a_port_with_room_for_every_role() -> None:
    assert load_settings({}).metrics_port_base == 0
    assert load_settings({"PRICEWATCH_METRICS_PORT_BASE": "9400"}).metrics_port_base == 9400
    for bad in ("-1", "65530", "ninety"):
        with pytest.raises(ValueError, match="PRICEWATCH_METRICS_PORT_BASE"):
            load_settings({"PRICEWATCH_METRICS_PORT_BASE": bad})

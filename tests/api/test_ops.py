from __future__ import annotations

import dataclasses
import errno
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import pytest
import redis as redis_lib
from litestar import Litestar
from litestar.testing import AsyncTestClient

from api.app import create_app
from api.services.history_cache import HistoryCache
from pricewatch.health import INGEST
from pricewatch.ingest.worker import IngestWorker
from pricewatch.keys import INGEST_GROUP, OBSERVATIONS, Keys
from pricewatch.models import Observation, encode
from pricewatch.settings import Settings
from pricewatch.storage.clickhouse import PriceStore
from pricewatch.storage.redis import connect_async
from pricewatch.storage.streams import PartitionedStream
from tests.observations import observation
from tests.services import eventually, free_port

pytestmark = [pytest.mark.clickhouse, pytest.mark.redis]


async def test_healthz_ok(client: AsyncTestClient[Litestar]) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "checks": {"redis": "ok", "sql": "ok", "clickhouse": "ok"},
    }


@pytest.mark.parametrize("queries", [0, 5])
def test_chart_queries_must_fit_the_clickhouse_threads(
    api_settings: Settings, queries: int
) -> None:
    settings = dataclasses.replace(
        api_settings, api_chart_queries=queries, api_clickhouse_threads=4
    )
    with pytest.raises(ValueError, match="PRICEWATCH_API_CHART_QUERIES must be between 1 and"):
        create_app(settings, redis_url="redis://127.0.0.1:1/0")


async def test_healthz_reports_a_dead_redis(
    api_settings: Settings, clickhouse_client: Any, clickhouse_database: str, sql_url: str
) -> None:
    app = create_app(
        api_settings,
        redis_url=f"redis://127.0.0.1:{free_port()}/0",
        clickhouse_client=clickhouse_client,
        clickhouse_database=clickhouse_database,
        database_url=sql_url,
        view_flush_s=0,
    )
    async with AsyncTestClient(app=app) as client:
        response = await client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "degraded"
    assert body["checks"]["redis"].startswith("error")
    assert body["checks"]["sql"] == "ok"


async def test_metrics(client: AsyncTestClient[Litestar]) -> None:
    await client.get("/healthz")
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert "pricewatch_api_requests_total" in response.text


async def test_openapi_documents_every_route_and_schema(client: AsyncTestClient[Litestar]) -> None:
    schema = (await client.get("/schema/openapi.json")).json()
    paths = schema["paths"]
    for path, method in [
        ("/products/{asin}", "get"),
        ("/products/{asin}/price", "get"),
        ("/accounts", "post"),
        ("/accounts/me", "get"),
        ("/auth/token", "post"),
        ("/auth/token", "delete"),
        ("/subscriptions", "post"),
        ("/subscriptions", "get"),
        ("/subscriptions/{subscription_id}", "get"),
        ("/subscriptions/{subscription_id}", "patch"),
        ("/subscriptions/{subscription_id}", "delete"),
        ("/reports", "post"),
        ("/healthz", "get"),
        ("/metrics", "get"),
    ]:
        assert method in paths[path], (path, method)
    components = schema["components"]["schemas"]
    for name in (
        "PriceHistoryOut",
        "ProductOut",
        "SubscriptionIn",
        "SubscriptionOut",
        "ReportIn",
        "QueuedOut",
        "TokenOut",
    ):
        assert any(key.endswith(name) for key in components), name
    assert "BearerAuth" in schema["components"]["securitySchemes"]
    price = paths["/products/{asin}/price"]["get"]
    assert {"200", "304", "404"} <= set(price["responses"])
    assert "productID" in str(components)


async def test_cache_fill_is_dropped_when_invalidated_meanwhile(
    redis_url: str, redis_client: redis_lib.Redis
) -> None:

    client = connect_async(redis_url)
    cache = HistoryCache(client, ttl_s=60)
    cached, token = await cache.lookup("h", "f")
    assert cached is None and token
    assert 0 < redis_client.ttl("h") <= 60
    redis_client.delete("h")  # ingest saw a price change while we computed
    assert await cache.store("h", token, "f", b"stale") is False
    assert redis_client.exists("h") == 0
    cached, token = await cache.lookup("h", "f")
    # a second miss before any store gets the token in force, not a new one
    assert await cache.lookup("h", "g") == (None, token)
    assert await cache.store("h", token, "f", b"fresh") is True
    assert redis_client.hget("h", "f") == b"fresh"
    assert await cache.lookup("h", "f") == (b"fresh", b"")
    await client.aclose()


# --- ingest's own word --------------------------------------------------------------


class DiskFull:
    """The real PriceStore, except that inserting fails with ENOSPC while ``full``.

    The fault is injected: as root no directory can be made read-only, and a small
    tmpfs needs the right to mount, which a test run may not have."""

    def __init__(self, store: PriceStore) -> None:
        self.store = store
        self.full = True

    def insert_observations(
        self, observations: Sequence[Observation], dedup_token: str | None = None
    ) -> int:
        if self.full:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return self.store.insert_observations(observations, dedup_token)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


def _stored(store: PriceStore) -> list[tuple[Any, ...]]:
    return store.client.query(f"SELECT asin, price FROM {store.database}.prices_raw").result_rows


def _pending(redis_client: redis_lib.Redis, keys: Keys) -> int:
    stream = PartitionedStream(keys, OBSERVATIONS, 2)
    return sum(redis_client.xpending(k, INGEST_GROUP)["pending"] for k in stream.stream_keys())


class RetryDelays(logging.Handler):
    """The delays ingest announces before each retry. On the worker's own logger:
    the app's logging set-up replaces the root logger's handlers (pytest's too)."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[float] = []

    def emit(self, record: logging.LogRecord) -> None:
        if m := re.search(r"retrying in ([0-9.]+) s", record.getMessage()):
            self.seen.append(float(m.group(1)))


async def test_healthz_says_why_ingest_cannot_write_until_it_can(
    make_app: Callable[..., Litestar],
    redis_client: redis_lib.Redis,
    keys: Keys,
    price_store: PriceStore,
) -> None:
    delays = RetryDelays()
    worker_log = logging.getLogger("pricewatch.ingest.worker")
    worker_log.addHandler(delays)
    disk = DiskFull(price_store)
    worker = IngestWorker(redis_client, keys, disk, partitions=2, consumer="c1", batch_ms=50)
    PartitionedStream(keys, OBSERVATIONS, 2).publish(
        redis_client,
        [("us", "B07CLN88MV", encode(observation(int(time.time() * 1000) - 1000, 1234)))],
    )
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    thread.start()
    try:
        async with AsyncTestClient(app=make_app()) as client:

            async def health(status_code: int) -> dict[str, Any] | None:
                response = await client.get("/healthz")
                return response.json() if response.status_code == status_code else None

            body = await eventually(lambda: health(503), timeout=30, interval=0.1)
            assert body["status"] == "degraded"
            assert body["checks"]["ingest"] == (
                "error: batch not written, kept pending: "
                "OSError: [Errno 28] No space left on device"
            )
            assert body["checks"]["redis"] == "ok"  # the stores answer; ingest cannot write
            # the message waits, pending; nothing was stored
            assert _pending(redis_client, keys) == 1
            assert _stored(price_store) == []
            # retried later each time, not every second
            await eventually(lambda: len(delays.seen) >= 3, timeout=60, interval=0.1)
            seen = list(delays.seen)
            assert seen == sorted(seen) and seen[0] < seen[-1], seen

            disk.full = False  # space is back
            body = await eventually(lambda: health(200), timeout=60, interval=0.1)
            assert body["checks"]["ingest"] == "ok"
            assert _stored(price_store) == [("B07CLN88MV", 1234)]
            assert _pending(redis_client, keys) == 0
    finally:
        stop.set()
        thread.join(30)
        worker_log.removeHandler(delays)
    # stopped cleanly: no record left to go stale
    assert redis_client.exists(keys.health(INGEST)) == 0


async def test_healthz_is_degraded_when_ingest_went_silent(
    client: AsyncTestClient[Litestar], redis_client: redis_lib.Redis, keys: Keys
) -> None:
    # its last word was "ok", two minutes ago: it died or hangs without saying so
    redis_client.hset(
        keys.health(INGEST),
        mapping={"status": "ok", "detail": "", "at": int(time.time() * 1000) - 120_000},
    )
    response = await client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["checks"]["ingest"].startswith("error: no word for 120 s")
    redis_client.hset(keys.health(INGEST), "at", int(time.time() * 1000))
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["checks"]["ingest"] == "ok"

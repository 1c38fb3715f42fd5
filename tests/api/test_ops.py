from __future__ import annotations

from typing import Any

import redis as redis_lib
from litestar import Litestar
from litestar.testing import AsyncTestClient

from api.app import create_app
from api.services.history_cache import HistoryCache
from pricewatch.settings import Settings
from tests.services import free_port


async def test_healthz_ok(client: AsyncTestClient[Litestar]) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok",
                               "checks": {"redis": "ok", "sql": "ok", "clickhouse": "ok"}}


async def test_healthz_reports_a_dead_redis(
    api_settings: Settings, clickhouse_client: Any, clickhouse_database: str, sql_url: str,
) -> None:
    app = create_app(
        api_settings, redis_url=f"redis://127.0.0.1:{free_port()}/0",
        clickhouse_client=clickhouse_client, clickhouse_database=clickhouse_database,
        database_url=sql_url, view_flush_s=0,
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


async def test_openapi_documents_every_route_and_schema(
    client: AsyncTestClient[Litestar],
) -> None:
    schema = (await client.get("/schema/openapi.json")).json()
    paths = schema["paths"]
    for path, method in [
        ("/products/{asin}", "get"), ("/products/{asin}/price", "get"),
        ("/accounts", "post"), ("/accounts/me", "get"), ("/auth/token", "post"),
        ("/auth/token", "delete"), ("/subscriptions", "post"), ("/subscriptions", "get"),
        ("/subscriptions/{subscription_id}", "get"),
        ("/subscriptions/{subscription_id}", "patch"),
        ("/subscriptions/{subscription_id}", "delete"), ("/reports", "post"),
        ("/healthz", "get"), ("/metrics", "get"),
    ]:
        assert method in paths[path], (path, method)
    components = schema["components"]["schemas"]
    for name in ("PriceHistoryOut", "ProductOut", "SubscriptionIn", "SubscriptionOut",
                 "ReportIn", "QueuedOut", "TokenOut"):
        assert any(key.endswith(name) for key in components), name
    assert "BearerAuth" in schema["components"]["securitySchemes"]
    price = paths["/products/{asin}/price"]["get"]
    assert {"200", "304", "404"} <= set(price["responses"])
    assert "productID" in str(components)


async def test_cache_fill_is_dropped_when_invalidated_meanwhile(
    redis_url: str, redis_client: redis_lib.Redis,
) -> None:
    import redis.asyncio

    client = redis.asyncio.Redis.from_url(redis_url)
    cache = HistoryCache(client, ttl_s=60)
    token = await cache.begin_fill("h")
    assert 0 < redis_client.ttl("h") <= 60
    redis_client.delete("h")  # ingest saw a price change while we computed
    assert await cache.store("h", token, "f", b"stale") is False
    assert redis_client.exists("h") == 0
    token = await cache.begin_fill("h")
    assert await cache.store("h", token, "f", b"fresh") is True
    assert redis_client.hget("h", "f") == b"fresh"
    await client.aclose()



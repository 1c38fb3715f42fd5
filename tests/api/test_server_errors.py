"""Server errors: every response has a request id, an unexpected exception is a logged
500 that shows no internals, and a store that goes down is a 503 with Retry-After
(a Redis server and a PostgreSQL server of the test's own, killed half-way)."""

from __future__ import annotations

import dataclasses
import logging
import re
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from litestar import Litestar, get
from litestar.testing import AsyncTestClient

from api.errors import RETRY_AFTER_S
from pricewatch.storage.clickhouse import PriceStore
from pricewatch.storage.sql import migrate_sql_async
from tests.api.calls import sign_up
from tests.api.conftest import DAY
from tests.observations import seed_product
from tests.services import own_server, postgres_server, redis_server

pytestmark = [pytest.mark.redis, pytest.mark.clickhouse]

GENERATED_ID = re.compile(r"[0-9a-f]{24}")
BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
ASIN = "B0DOWN0001"
UNKNOWN_ASIN = "B0DOWN0404"


async def test_every_response_carries_a_request_id(client: AsyncTestClient[Litestar]) -> None:
    first = await client.get("/healthz")
    second = await client.get("/no/such/page")
    assert second.status_code == 404
    ids = [first.headers["x-request-id"], second.headers["x-request-id"]]
    assert all(GENERATED_ID.fullmatch(rid) for rid in ids) and ids[0] != ids[1]

    kept = await client.get("/healthz", headers={"X-Request-Id": "edge-7f3a.b_c:1"})
    assert kept.headers["x-request-id"] == "edge-7f3a.b_c:1"
    for unsafe in ("two words", "x" * 65, "<script>", "a\tb", ""):
        replaced = await client.get("/healthz", headers={"X-Request-Id": unsafe})
        assert GENERATED_ID.fullmatch(replaced.headers["x-request-id"]), unsafe


@pytest.fixture
async def failing_client(make_app: Any) -> AsyncIterator[AsyncTestClient[Litestar]]:
    """The app with one more route, which fails the way a bug would."""
    app: Litestar = make_app()

    @get("/test-only/fails", sync_to_thread=False)
    def fails() -> None:
        raise RuntimeError("connection string postgres://admin:hunter2@db/prod")

    app.register(fails)
    # started here, before the test's log capture begins: starting the app
    # configures logging
    async with AsyncTestClient(app=app) as client:
        yield client


async def test_an_unexpected_exception_is_a_logged_500_without_internals(
    failing_client: AsyncTestClient[Litestar], caplog: pytest.LogCaptureFixture
) -> None:
    response = await failing_client.get("/test-only/fails", headers={"X-Request-Id": "trace-42"})
    page = await failing_client.get("/test-only/fails", headers={"Accept": BROWSER_ACCEPT})

    assert response.status_code == 500
    assert response.json() == {
        "status_code": 500,
        "detail": "internal error",
        "request_id": "trace-42",
    }
    assert response.headers["x-request-id"] == "trace-42"
    assert "hunter2" not in response.text and "Traceback" not in response.text
    # a browser gets the same words as text, not a page built from the exception
    assert page.status_code == 500 and page.headers["content-type"].startswith("text/plain")
    assert "hunter2" not in page.text and page.headers["x-request-id"] in page.text

    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 2, [r.getMessage() for r in errors]
    assert "trace-42" in errors[0].getMessage()
    assert errors[0].exc_info is not None and errors[0].exc_info[0] is RuntimeError
    # logged once: the hook that logs other 5xx knows this one is done
    assert not [r for r in caplog.records if "answered 500" in r.getMessage()]


@dataclasses.dataclass
class Outage:
    """An app on a store of the test's own, and a way to stop that store."""

    client: AsyncTestClient[Litestar]
    stop_store: Callable[[], None]


@pytest.fixture
async def redis_outage(make_app: Callable[..., Litestar]) -> AsyncIterator[Outage]:
    with own_server("redis-down", redis_server) as (url, stop):
        async with AsyncTestClient(app=make_app(redis=url)) as client:
            yield Outage(client, stop)


@pytest.fixture
async def sql_outage(make_app: Callable[..., Litestar]) -> AsyncIterator[Outage]:
    with own_server("postgres-down", postgres_server) as (server_url, stop):
        await migrate_sql_async(server_url)
        async with AsyncTestClient(app=make_app(database_url=server_url)) as client:
            yield Outage(client, stop)


def assert_unavailable(response: Any, caplog: pytest.LogCaptureFixture, store: str) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == str(RETRY_AFTER_S)
    rid = response.headers["x-request-id"]
    if response.headers["content-type"].startswith("application/json"):
        body = response.json()
        assert body["status_code"] == 503 and body["request_id"] == rid
        assert "temporarily unavailable" in body["detail"]
    else:
        assert response.headers["content-type"].startswith("text/plain")
        assert "temporarily unavailable" in response.text and rid in response.text
    # one warning for the request, under its id, naming the store
    logged = [r for r in caplog.records if rid in r.getMessage()]
    assert len(logged) == 1, [r.getMessage() for r in logged]
    assert logged[0].levelno == logging.WARNING
    assert f"{store} unavailable" in logged[0].getMessage()


@pytest.mark.slow
async def test_redis_going_down_is_a_503_with_retry_after(
    redis_outage: Outage, price_store: PriceStore, caplog: pytest.LogCaptureFixture
) -> None:
    client = redis_outage.client
    seed_product(price_store, asin=ASIN, prices=[(time.time_ns() // 10**6 - DAY, 1999)])
    auth = await sign_up(client, "down@example.org")
    report = {"asin": ASIN, "market": "us", "price": 19.99, "currency": "USD"}
    install = {"X-Install-Id": "install-down-1"}
    assert (await client.post("/reports", json=report, headers=install)).status_code == 202

    redis_outage.stop_store()

    caplog.set_level(logging.INFO)
    assert_unavailable(await client.post("/reports", json=report, headers=install), caplog, "redis")
    signin = {"email": "down@example.org", "password": "correct horse battery"}
    assert_unavailable(await client.post("/auth/token", json=signin), caplog, "redis")
    assert_unavailable(
        await client.get(f"/products/{ASIN}/price", params={"market": "us"}), caplog, "redis"
    )
    # a page: the first crawl of a product nobody has seen is queued in Redis
    page = await client.get(f"/p/us/{UNKNOWN_ASIN}", headers={"Accept": BROWSER_ACCEPT})
    assert_unavailable(page, caplog, "redis")
    # what does not need Redis still works
    assert (await client.get("/subscriptions", headers=auth)).status_code == 200
    # the health check answers 503 itself: logged once too, as a 5xx
    health = await client.get("/healthz")
    assert health.status_code == 503
    rid = health.headers["x-request-id"]
    assert len([r for r in caplog.records if rid in r.getMessage()]) == 1
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.slow
@pytest.mark.postgres
async def test_the_sql_database_going_down_is_a_503(
    sql_outage: Outage, caplog: pytest.LogCaptureFixture
) -> None:
    client = sql_outage.client
    auth = await sign_up(client, "sql-down@example.org")
    assert (await client.get("/subscriptions", headers=auth)).status_code == 200

    sql_outage.stop_store()

    caplog.set_level(logging.INFO)
    for _ in range(2):  # a pooled connection found dead, then a refused new one
        assert_unavailable(await client.get("/subscriptions", headers=auth), caplog, "sql")
    signin = {"email": "sql-down@example.org", "password": "correct horse battery"}
    assert_unavailable(await client.post("/auth/token", json=signin), caplog, "sql")
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]

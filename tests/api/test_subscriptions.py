from __future__ import annotations

import time
from collections.abc import Callable

import pytest
import redis as redis_lib
from litestar import Litestar
from litestar.testing import AsyncTestClient

from pricewatch.keys import Keys, partition_of
from pricewatch.models import PriceChange, decode
from pricewatch.storage.clickhouse import PriceStore
from pricewatch.storage.redis import FIELD
from pricewatch.storage.sql import migrate_sql_async
from tests.api.conftest import DAY, seed_product, sign_up

ASIN = "B0SUBS0001"


def changes_on_stream(redis_client: redis_lib.Redis, keys: Keys, asin: str) -> list[PriceChange]:
    stream = keys.price_changes(partition_of("us", asin, 2))
    return [decode(fields[FIELD], PriceChange) for _, fields in redis_client.xrange(stream)]


async def test_create_publishes_a_recheck_of_the_current_price(
    client: AsyncTestClient[Litestar], price_store: PriceStore,
    redis_client: redis_lib.Redis, keys: Keys,
) -> None:
    seed_product(price_store, asin=ASIN, prices=[(time.time_ns() // 10**6 - DAY, 2599)])
    headers = await sign_up(client, "a@example.org")
    created = await client.post("/subscriptions", headers=headers, json={
        "productID": ASIN, "market": "us", "threshold": 25.99, "notificationType": "EMAIL",
    })
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["status"] == "active"
    sub_id = body["subscriptionID"]
    [event] = changes_on_stream(redis_client, keys, ASIN)
    assert event.event_id == f"recheck:{sub_id}"
    assert event.old_price == event.new_price == 2599
    assert (event.market, event.asin, event.currency) == ("us", ASIN, "USD")

    got = (await client.get(f"/subscriptions/{sub_id}", headers=headers)).json()
    assert got["threshold"] == 25.99 and got["productID"] == ASIN
    assert got["notificationType"] == "EMAIL" and got["armed"] is True


async def test_unknown_price_publishes_nothing_and_queues_a_crawl(
    client: AsyncTestClient[Litestar], redis_client: redis_lib.Redis, keys: Keys,
) -> None:
    headers = await sign_up(client, "b@example.org")
    created = await client.post("/subscriptions", headers=headers, json={
        "productID": ASIN, "threshold": 10, "notificationType": "WEBHOOK",
        "target": "https://hooks.example.org/x",
    })
    assert created.status_code == 201
    assert changes_on_stream(redis_client, keys, ASIN) == []
    assert redis_client.zcard(keys.frontier) == 1
    percent = await client.post("/subscriptions", headers=headers, json={
        "productID": ASIN, "thresholdPercent": 10, "notificationType": "EMAIL",
    })
    assert percent.status_code == 409
    assert "current price" in percent.json()["detail"]


async def test_percent_threshold_is_taken_off_the_current_price(
    client: AsyncTestClient[Litestar], price_store: PriceStore,
) -> None:
    seed_product(price_store, asin=ASIN, prices=[(time.time_ns() // 10**6 - DAY, 1999)])
    headers = await sign_up(client, "c@example.org")
    created = await client.post("/subscriptions", headers=headers, json={
        "productID": ASIN, "thresholdPercent": 10, "notificationType": "SMS",
        "target": "+15555550100",
    })
    assert created.status_code == 201
    got = (await client.get(f"/subscriptions/{created.json()['subscriptionID']}",
                            headers=headers)).json()
    assert got["threshold"] == 17.99 and got["basePrice"] == 19.99


async def test_bad_subscriptions_are_400(client: AsyncTestClient[Litestar]) -> None:
    headers = await sign_up(client, "d@example.org")
    base = {"productID": ASIN, "notificationType": "EMAIL"}
    for body in (
        base,  # no threshold
        {**base, "threshold": 10, "thresholdPercent": 5},
        {**base, "threshold": -1},
        {**base, "threshold": 10.001},
        {**base, "thresholdPercent": 100},
        {**base, "threshold": 10, "notificationType": "PIGEON"},
        {**base, "threshold": 10, "productID": "bad"},
        {**base, "threshold": 10, "market": "zz"},
    ):
        response = await client.post("/subscriptions", headers=headers, json=body)
        assert response.status_code == 400, (body, response.text)
    assert (await client.get("/subscriptions", headers=headers)).json() == []


async def test_subscriptions_need_a_token(client: AsyncTestClient[Litestar]) -> None:
    assert (await client.get("/subscriptions")).status_code == 401
    response = await client.post("/subscriptions", json={
        "productID": ASIN, "threshold": 1, "notificationType": "EMAIL"})
    assert response.status_code == 401


async def _idor(client: AsyncTestClient[Litestar]) -> None:
    alice = await sign_up(client, "alice@example.org")
    bob = await sign_up(client, "bob@example.org")
    created = await client.post("/subscriptions", headers=alice, json={
        "productID": ASIN, "threshold": 50, "notificationType": "EMAIL"})
    sub_id = created.json()["subscriptionID"]

    assert (await client.get(f"/subscriptions/{sub_id}", headers=bob)).status_code == 404
    patched = await client.patch(f"/subscriptions/{sub_id}", headers=bob,
                                 json={"threshold": 1})
    assert patched.status_code == 404
    assert (await client.delete(f"/subscriptions/{sub_id}", headers=bob)).status_code == 404
    assert (await client.get("/subscriptions", headers=bob)).json() == []

    mine = (await client.get(f"/subscriptions/{sub_id}", headers=alice)).json()
    assert mine["threshold"] == 50 and mine["status"] == "active"

    # the owner can change and delete it
    patched = await client.patch(f"/subscriptions/{sub_id}", headers=alice,
                                 json={"threshold": 40, "status": "paused"})
    assert patched.status_code == 200, patched.text
    assert (patched.json()["threshold"], patched.json()["status"]) == (40, "paused")
    assert (await client.delete(f"/subscriptions/{sub_id}", headers=alice)).status_code == 204
    assert (await client.get(f"/subscriptions/{sub_id}", headers=alice)).status_code == 404
    assert (await client.get("/subscriptions", headers=alice)).json() == []


async def test_another_users_subscription_is_always_404(client: AsyncTestClient[Litestar]) -> None:
    await _idor(client)


@pytest.mark.postgres
async def test_another_users_subscription_is_always_404_on_postgres(
    make_app: Callable[..., Litestar], postgres_url: str,
) -> None:
    import uuid

    import asyncpg

    name = f"api_{uuid.uuid4().hex[:12]}"
    admin = postgres_url.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(admin)
    await conn.execute(f"CREATE DATABASE {name}")
    await conn.close()
    url = postgres_url.rsplit("/", 1)[0] + "/" + name
    await migrate_sql_async(url)
    async with AsyncTestClient(app=make_app(database_url=url)) as client:
        await _idor(client)

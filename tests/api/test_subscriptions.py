from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from typing import Any

import pytest
import redis as redis_lib
from litestar import Litestar
from litestar.testing import AsyncTestClient

from pricewatch.keys import Keys
from pricewatch.models import Product
from pricewatch.storage import sql
from pricewatch.storage.clickhouse import PriceStore
from pricewatch.storage.sql import migrate_sql_async
from tests.api.calls import post_subscription, sign_up
from tests.api.conftest import DAY
from tests.frontiers import queued_tasks
from tests.observations import seed_product
from tests.services import own_server, postgres_database, redis_server
from tests.sql_store import engine_on, subscribed
from tests.streams import rechecks_on_stream

pytestmark = [pytest.mark.clickhouse, pytest.mark.redis]

ASIN = "B0SUBS0001"


@pytest.fixture
def priced(price_store: PriceStore) -> None:
    """ASIN was last crawled a day ago, at 25.99."""
    seed_product(price_store, asin=ASIN, prices=[(time.time_ns() // 10**6 - DAY, 2599)])


@pytest.mark.usefixtures("priced")
async def test_create_publishes_a_recheck_of_the_current_price(
    client: AsyncTestClient[Litestar], redis_client: redis_lib.Redis, keys: Keys
) -> None:
    headers = await sign_up(client, "a@example.org")
    created = await post_subscription(client, headers, ASIN, 25.99, market="us")
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["status"] == "active"
    sub_id = body["subscriptionID"]
    [event] = rechecks_on_stream(redis_client, keys, ASIN)
    assert event.event_id.startswith(f"recheck:{sub_id}:")
    assert (event.subscription_id, event.price) == (sub_id, 2599)
    assert (event.market, event.asin, event.currency) == ("us", ASIN, "USD")

    got = (await client.get(f"/subscriptions/{sub_id}", headers=headers)).json()
    assert got["threshold"] == 25.99 and got["productID"] == ASIN
    assert got["notificationType"] == "EMAIL" and got["armed"] is True


async def test_unknown_price_publishes_nothing_and_queues_a_crawl(
    client: AsyncTestClient[Litestar], redis_client: redis_lib.Redis, keys: Keys
) -> None:
    headers = await sign_up(client, "b@example.org")
    created = await post_subscription(
        client, headers, ASIN, notificationType="WEBHOOK", target="https://hooks.example.org/x"
    )
    assert created.status_code == 201
    assert rechecks_on_stream(redis_client, keys, ASIN) == []
    assert len(queued_tasks(redis_client, keys)) == 1
    percent = await post_subscription(client, headers, ASIN, None, thresholdPercent=10)
    assert percent.status_code == 409
    assert "current price" in percent.json()["detail"]


async def test_percent_threshold_is_taken_off_the_current_price(
    client: AsyncTestClient[Litestar], price_store: PriceStore
) -> None:
    seed_product(price_store, asin=ASIN, prices=[(time.time_ns() // 10**6 - DAY, 1999)])
    headers = await sign_up(client, "c@example.org")
    by_sms = {"notificationType": "SMS", "target": "+15555550100"}
    created = await post_subscription(client, headers, ASIN, None, thresholdPercent=10, **by_sms)
    assert created.status_code == 201
    got = (
        await client.get(f"/subscriptions/{created.json()['subscriptionID']}", headers=headers)
    ).json()
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
    assert (await client.get("/subscriptions", headers=headers)).json()["items"] == []


async def test_subscriptions_need_a_token(client: AsyncTestClient[Litestar]) -> None:
    assert (await client.get("/subscriptions")).status_code == 401
    response = await client.post(
        "/subscriptions", json={"productID": ASIN, "threshold": 1, "notificationType": "EMAIL"}
    )
    assert response.status_code == 401


async def _idor(client: AsyncTestClient[Litestar]) -> None:
    alice = await sign_up(client, "alice@example.org")
    bob = await sign_up(client, "bob@example.org")
    created = await post_subscription(client, alice, ASIN, 50)
    sub_id = created.json()["subscriptionID"]

    assert (await client.get(f"/subscriptions/{sub_id}", headers=bob)).status_code == 404
    patched = await client.patch(f"/subscriptions/{sub_id}", headers=bob, json={"threshold": 1})
    assert patched.status_code == 404
    assert (await client.delete(f"/subscriptions/{sub_id}", headers=bob)).status_code == 404
    assert (await client.get("/subscriptions", headers=bob)).json()["items"] == []

    mine = (await client.get(f"/subscriptions/{sub_id}", headers=alice)).json()
    assert mine["threshold"] == 50 and mine["status"] == "active"

    # the owner can change and delete it
    patched = await client.patch(
        f"/subscriptions/{sub_id}", headers=alice, json={"threshold": 40, "status": "paused"}
    )
    assert patched.status_code == 200, patched.text
    assert (patched.json()["threshold"], patched.json()["status"]) == (40, "paused")
    assert (await client.delete(f"/subscriptions/{sub_id}", headers=alice)).status_code == 204
    assert (await client.get(f"/subscriptions/{sub_id}", headers=alice)).status_code == 404
    assert (await client.get("/subscriptions", headers=alice)).json()["items"] == []


async def test_another_users_subscription_is_always_404(client: AsyncTestClient[Litestar]) -> None:
    await _idor(client)


@pytest.mark.postgres
async def test_another_users_subscription_is_always_404_on_postgres(
    make_app: Callable[..., Litestar], postgres_url: str
) -> None:
    async with postgres_database(postgres_url, prefix="api") as url:
        await migrate_sql_async(url)
        async with AsyncTestClient(app=make_app(database_url=url)) as client:
            await _idor(client)


async def test_an_account_holds_a_bounded_number_of_subscriptions(
    make_app: Callable[..., Litestar],
) -> None:
    app = make_app(api_subscriptions_per_account=3, api_subscribe_rate_per_hour=1000)
    async with AsyncTestClient(app=app) as client:
        headers = await sign_up(client, "many@example.org")
        codes = [
            (await post_subscription(client, headers, f"B0CAP0000{i}")).status_code
            for i in range(5)
        ]
        assert codes == [201, 201, 201, 409, 409]
        refused = await post_subscription(client, headers, ASIN)
        assert "may hold 3 alerts" in refused.json()["detail"]
        # deleting one makes room; another account is not affected
        first = (await client.get("/subscriptions", headers=headers)).json()["items"][0]
        await client.delete(f"/subscriptions/{first['subscriptionID']}", headers=headers)
        again = await post_subscription(client, headers, ASIN)
        assert again.status_code == 201
        other = await sign_up(client, "other@example.org")
        assert (await post_subscription(client, other, ASIN)).status_code == 201


async def test_a_write_landing_mid_creation_does_not_fail_it(
    make_app: Callable[..., Litestar], sql_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # SQLite refuses a write in a transaction that read before another write landed
    # ("database is locked", at once): another writer commits right after each count
    database = sql_url.partition(":///")[2]
    count = sql.count_subscriptions
    landed = []

    async def count_then_another_write(db: Any, user_id: int) -> int:
        found = await count(db, user_id)
        other = sqlite3.connect(database, timeout=0.2)
        try:
            other.execute("CREATE TABLE IF NOT EXISTS elsewhere (n INTEGER)")
            other.execute("INSERT INTO elsewhere VALUES (1)")
            other.commit()
            landed.append(True)
        except sqlite3.OperationalError:  # a transaction holds the write lock
            landed.append(False)
        finally:
            other.close()
        return found

    monkeypatch.setattr(sql, "count_subscriptions", count_then_another_write)
    app = make_app(api_subscriptions_per_account=2, api_subscribe_rate_per_hour=1000)
    async with AsyncTestClient(app=app) as client:
        headers = await sign_up(client, "busy@example.org")
        codes = [
            (await post_subscription(client, headers, f"B0BUSY000{i}")).status_code
            for i in range(3)
        ]
    assert codes == [201, 201, 409]
    # the counts before each transaction let the other write in; those inside one
    # (after its insert) wait for it
    assert landed == [True, False, True, False, True]


async def test_subscribing_is_rate_limited_per_account(make_app: Callable[..., Litestar]) -> None:
    async with AsyncTestClient(app=make_app(api_subscribe_rate_per_hour=2)) as client:
        headers = await sign_up(client, "fast@example.org")
        codes = [(await post_subscription(client, headers, ASIN)).status_code for _ in range(3)]
        assert codes == [201, 201, 429]
        other = await sign_up(client, "slow@example.org")
        assert (await post_subscription(client, other, ASIN)).status_code == 201


async def test_the_list_comes_in_pages(client: AsyncTestClient[Litestar]) -> None:
    headers = await sign_up(client, "pages@example.org")
    made = [
        (await post_subscription(client, headers, f"B0PAGE000{i}")).json()["subscriptionID"]
        for i in range(5)
    ]
    seen: list[int] = []
    cursor: int | None = 0
    pages = 0
    while cursor is not None:
        page = (await client.get(f"/subscriptions?limit=2&cursor={cursor}", headers=headers)).json()
        seen += [s["subscriptionID"] for s in page["items"]]
        cursor = page["nextCursor"]
        pages += 1
    assert seen == made and pages == 3
    assert (await client.get("/subscriptions?limit=0", headers=headers)).status_code == 400
    assert (await client.get("/subscriptions?limit=501", headers=headers)).status_code == 400


async def test_an_asin_a_crawl_found_missing_cannot_be_subscribed(
    client: AsyncTestClient[Litestar], redis_client: redis_lib.Redis, keys: Keys
) -> None:
    redis_client.set(keys.not_found("us", "B0NOTREAL1"), b"1", ex=60)
    headers = await sign_up(client, "ghost@example.org")
    response = await post_subscription(client, headers, "B0NOTREAL1")
    assert response.status_code == 404 and "not found" in response.json()["detail"]


@pytest.mark.usefixtures("priced")
async def test_a_subscription_is_kept_only_with_its_first_check(
    make_app: Callable[..., Litestar], sql_url: str
) -> None:
    # Redis gone between sign-in and subscribing: the answer is 503 and no armed row is
    # left behind that no re-check will ever fire
    with own_server("redis-doomed", redis_server) as (url, stop_redis):
        async with AsyncTestClient(app=make_app(redis=url)) as client:
            headers = await sign_up(client, "doomed@example.org")
            stop_redis()
            response = await post_subscription(client, headers, ASIN, 30)
            assert response.status_code == 503, response.text
            assert int(response.headers["retry-after"]) > 0
    async with engine_on(sql_url) as engine:
        user = await sql.get_user_by_email(engine, "doomed@example.org")
        assert user is not None
        assert await sql.list_subscriptions(engine, user.id) == []


async def test_without_verification_nothing_waits_for_a_confirmation(
    make_app: Callable[..., Litestar], sql_url: str
) -> None:
    async with engine_on(sql_url) as engine:
        to_a_friend = {"target": "friend@example.org", "status": "unconfirmed"}
        waiting = await subscribed(engine, "private@example.org", ASIN, 100, **to_a_friend)
        async with AsyncTestClient(app=make_app(verify_targets=False)):
            pass
        found = await sql.get_subscription(engine, waiting.id, waiting.user_id)
        assert found is not None and found.status.value == "active"


@pytest.mark.usefixtures("priced")
async def test_a_new_threshold_or_a_resume_meets_the_price_in_force_at_once(
    client: AsyncTestClient[Litestar], redis_client: redis_lib.Redis, keys: Keys
) -> None:
    headers = await sign_up(client, "moves@example.org")
    created = await post_subscription(client, headers, ASIN, 20)
    sub_id = created.json()["subscriptionID"]
    assert len(rechecks_on_stream(redis_client, keys, ASIN)) == 1
    # raised above the current price: it must fire now, not at the next price change
    raised = await client.patch(f"/subscriptions/{sub_id}", headers=headers, json={"threshold": 30})
    assert raised.status_code == 200
    events = rechecks_on_stream(redis_client, keys, ASIN)
    assert len(events) == 2 and events[0].event_id != events[1].event_id
    assert events[1].price == 2599
    # pausing asks for nothing; resuming does
    await client.patch(f"/subscriptions/{sub_id}", headers=headers, json={"status": "paused"})
    assert len(rechecks_on_stream(redis_client, keys, ASIN)) == 2
    await client.patch(f"/subscriptions/{sub_id}", headers=headers, json={"status": "active"})
    assert len(rechecks_on_stream(redis_client, keys, ASIN)) == 3


async def test_the_list_names_each_product_and_shows_only_amazon_pictures(
    client: AsyncTestClient[Litestar], price_store: PriceStore
) -> None:
    now = time.time_ns() // 10**6
    shown = "https://m.media-amazon.com/images/I/pan.jpg"
    price_store.upsert_products(
        [
            Product(market="us", asin="B0LISTED01", title="Frying Pan", image=shown, last_seen=now),
            # a picture elsewhere is not one a page may show
            Product(
                market="us",
                asin="B0LISTED02",
                title="Lid",
                image="http://pictures.example.org/lid.jpg",
                last_seen=now,
            ),
        ]
    )
    headers = await sign_up(client, "list@example.org")
    for asin in ("B0LISTED01", "B0LISTED02", "B0LISTED03"):
        assert (await post_subscription(client, headers, asin)).status_code == 201
    listed = (await client.get("/subscriptions", headers=headers)).json()["items"]
    assert [(s["productID"], s["title"], s["image"]) for s in listed] == [
        ("B0LISTED01", "Frying Pan", shown),
        ("B0LISTED02", "Lid", None),
        # not in the catalogue yet
        ("B0LISTED03", None, None),
    ]

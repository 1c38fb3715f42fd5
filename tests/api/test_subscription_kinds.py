"""Alerts per series and back-in-stock alerts through the JSON API: what a client may ask
for, what it is refused (with a reason), and the first check each new promise publishes."""

from __future__ import annotations

import time

import pytest
import redis as redis_lib
from litestar import Litestar
from litestar.testing import AsyncTestClient

from pricewatch.keys import Keys
from pricewatch.models import Product, Recheck
from pricewatch.storage.clickhouse import PriceStore
from tests.api.calls import post_subscription, sign_up
from tests.api.conftest import DAY
from tests.frontiers import queued_tasks
from tests.observations import observation
from tests.streams import rechecks_on_stream as on_partition

pytestmark = [pytest.mark.clickhouse, pytest.mark.redis]

ASIN = "B0KINDS001"
OUT_ASIN = "B0KINDS002"


def _seen(store: PriceStore, asin: str, **series: int | None) -> None:
    """``asin`` crawled a day ago showing each of ``series`` at its price (minor units;
    a buy box of None: out of stock), named Kettle in the catalogue."""
    at = time.time_ns() // 10**6 - DAY
    store.insert_observations(
        [
            observation(at, price, asin=asin, series=name, currency="USD" if price else None)
            for name, price in series.items()
        ]
    )
    buybox = series.get("buybox")
    store.upsert_products(
        [
            Product(
                market="us",
                asin=asin,
                title="Kettle",
                image="https://m.media-amazon.com/images/I/k.jpg",
                currency="USD",
                last_price=buybox,
                availability="in_stock" if buybox is not None else "out_of_stock",
                first_seen=at,
                last_seen=at,
            )
        ]
    )


def rechecks_on_stream(redis_client: redis_lib.Redis, keys: Keys, asin: str) -> list[Recheck]:
    """The re-checks of ``asin`` (others may share its partition)."""
    return [c for c in on_partition(redis_client, keys, asin) if c.asin == asin]


@pytest.fixture
def kettle(price_store: PriceStore) -> None:
    _seen(price_store, ASIN, buybox=25_99, cheapest_new=23_50, used=18_00)
    _seen(price_store, OUT_ASIN, buybox=None, used=12_00)


@pytest.mark.usefixtures("kettle")
async def test_a_new_price_alert_watches_the_cheapest_new_price_unless_told(
    client: AsyncTestClient[Litestar], redis_client: redis_lib.Redis, keys: Keys
) -> None:
    headers = await sign_up(client, "c@example.org")
    body = {"productID": ASIN, "threshold": 24, "notificationType": "EMAIL"}
    created = await client.post("/subscriptions", headers=headers, json=body)
    assert created.status_code == 201, created.text
    got = await client.get(f"/subscriptions/{created.json()['subscriptionID']}", headers=headers)
    assert (got.json()["kind"], got.json()["series"], got.json()["threshold"]) == (
        "price",
        "cheapest_new",
        24.0,
    )
    # the first check meets the price of that series, and names the product
    [check] = rechecks_on_stream(redis_client, keys, ASIN)
    assert (check.series, check.price, check.title) == ("cheapest_new", 23_50, "Kettle")
    assert check.image == "https://m.media-amazon.com/images/I/k.jpg"


@pytest.mark.usefixtures("kettle")
async def test_a_percent_threshold_is_taken_off_the_chosen_series(
    client: AsyncTestClient[Litestar], redis_client: redis_lib.Redis, keys: Keys
) -> None:
    headers = await sign_up(client, "p@example.org")
    created = await post_subscription(
        client, headers, ASIN, None, series="used", thresholdPercent=10
    )
    assert created.status_code == 201, created.text
    sub_id = created.json()["subscriptionID"]
    got = (await client.get(f"/subscriptions/{sub_id}", headers=headers)).json()
    assert (got["series"], got["basePrice"], got["threshold"]) == ("used", 18.0, 16.2)
    # moved to the cheapest new price: the same percent of that one's value
    moved = await client.patch(
        f"/subscriptions/{sub_id}", headers=headers, json={"series": "cheapest_new"}
    )
    assert moved.status_code == 200, moved.text
    assert (moved.json()["basePrice"], moved.json()["threshold"]) == (23.5, 21.15)
    assert [c.series for c in rechecks_on_stream(redis_client, keys, ASIN)] == [
        "used",
        "cheapest_new",
    ]
    # a series with no price yet has nothing to take a percent of
    unknown = await client.patch(
        f"/subscriptions/{sub_id}", headers=headers, json={"series": "amazon"}
    )
    assert unknown.status_code == 409 and "amazon" in unknown.json()["detail"]
    fresh = await post_subscription(client, headers, ASIN, None, series="new", thresholdPercent=5)
    assert fresh.status_code == 409 and "current price of the new series" in fresh.json()["detail"]


@pytest.mark.usefixtures("kettle")
async def test_a_back_in_stock_alert_meets_the_products_availability(
    client: AsyncTestClient[Litestar], redis_client: redis_lib.Redis, keys: Keys
) -> None:
    headers = await sign_up(client, "b@example.org")
    back = {"kind": "back_in_stock", "series": None}
    out = await post_subscription(client, headers, OUT_ASIN, None, **back)
    assert out.status_code == 201, out.text
    inside = await post_subscription(client, headers, ASIN, None, **back)
    assert inside.status_code == 201, inside.text
    # out of stock: a re-check with no price, which arms it; in stock: one that does not
    [out_check] = rechecks_on_stream(redis_client, keys, OUT_ASIN)
    assert (out_check.series, out_check.price, out_check.availability) == (
        "buybox",
        None,
        "out_of_stock",
    )
    [in_check] = rechecks_on_stream(redis_client, keys, ASIN)
    assert (in_check.price, in_check.availability) == (25_99, "in_stock")
    got = await client.get(f"/subscriptions/{out.json()['subscriptionID']}", headers=headers)
    listed = got.json()
    assert (listed["kind"], listed["series"], listed["threshold"], listed["basePrice"]) == (
        "back_in_stock",
        "buybox",
        None,
        None,
    )
    assert listed["armed"] is False  # until the re-check finds it out of stock
    # the buy box may be named; a product never seen gets its first crawl instead
    named = await post_subscription(client, headers, "B0KINDS003", None, kind="back_in_stock")
    assert named.status_code == 201
    assert rechecks_on_stream(redis_client, keys, "B0KINDS003") == []
    assert len(queued_tasks(redis_client, keys)) == 1


@pytest.mark.usefixtures("kettle")
async def test_changing_kind_publishes_a_check_of_what_it_now_watches(
    client: AsyncTestClient[Litestar], redis_client: redis_lib.Redis, keys: Keys
) -> None:
    headers = await sign_up(client, "k@example.org")
    created = await post_subscription(client, headers, OUT_ASIN, 10, series="used")
    sub_id = created.json()["subscriptionID"]
    turned = await client.patch(
        f"/subscriptions/{sub_id}", headers=headers, json={"kind": "back_in_stock"}
    )
    assert turned.status_code == 200, turned.text
    assert (turned.json()["kind"], turned.json()["series"], turned.json()["threshold"]) == (
        "back_in_stock",
        "buybox",
        None,
    )
    checks = rechecks_on_stream(redis_client, keys, OUT_ASIN)
    assert [(c.series, c.availability) for c in checks] == [
        ("used", "in_stock"),
        ("buybox", "out_of_stock"),
    ]
    assert checks[0].event_id != checks[1].event_id
    back = await client.patch(
        f"/subscriptions/{sub_id}", headers=headers, json={"kind": "price", "threshold": 11}
    )
    assert back.status_code == 200, back.text
    assert (back.json()["series"], back.json()["threshold"]) == ("cheapest_new", 11.0)


async def test_what_a_kind_cannot_take_is_a_400_saying_why(
    client: AsyncTestClient[Litestar],
) -> None:
    headers = await sign_up(client, "v@example.org")
    base = {"productID": ASIN, "notificationType": "EMAIL"}
    for body, reason in (
        ({**base, "threshold": 10, "series": "refurbished"}, "unknown series"),
        ({**base, "threshold": 10, "series": "sales_rank"}, "rank, not a price"),
        ({**base, "kind": "back_in_stock", "threshold": 10}, "takes no threshold"),
        ({**base, "kind": "back_in_stock", "thresholdPercent": 10}, "takes no threshold"),
        ({**base, "kind": "back_in_stock", "series": "used"}, "buy box"),
        ({**base, "kind": "price"}, "needs exactly one of threshold and thresholdPercent"),
        (base, "needs exactly one of threshold and thresholdPercent"),
    ):
        response = await client.post("/subscriptions", headers=headers, json=body)
        assert response.status_code == 400, (body, response.text)
        assert reason in response.json()["detail"], (body, response.text)
    bad_kind = await client.post(
        "/subscriptions", headers=headers, json={**base, "kind": "restock"}
    )
    assert bad_kind.status_code == 400 and "kind" in bad_kind.text
    assert (await client.get("/subscriptions", headers=headers)).json()["items"] == []

    created = await post_subscription(client, headers, ASIN, 10)
    sub_id = created.json()["subscriptionID"]
    for patch, reason in (
        ({"series": "sales_rank"}, "rank, not a price"),
        ({"kind": "back_in_stock", "threshold": 5}, "no threshold"),
        ({"kind": "back_in_stock", "series": "new"}, "buy box"),
    ):
        response = await client.patch(f"/subscriptions/{sub_id}", headers=headers, json=patch)
        assert response.status_code == 400, (patch, response.text)
        assert reason in response.json()["detail"], (patch, response.text)
    await client.patch(f"/subscriptions/{sub_id}", headers=headers, json={"kind": "back_in_stock"})
    for patch in ({"threshold": 5}, {"kind": "price"}):
        response = await client.patch(f"/subscriptions/{sub_id}", headers=headers, json=patch)
        assert response.status_code == 400, (patch, response.text)


async def test_the_openapi_document_lists_the_series_and_kinds(
    client: AsyncTestClient[Litestar],
) -> None:
    schema = (await client.get("/schema/openapi.json")).json()
    parts = schema["components"]["schemas"]
    incoming = parts["SubscriptionIn"]["properties"]
    assert set(incoming["series"]["enum"]) == {
        "cheapest_new",
        "amazon",
        "new",
        "used",
        "list",
        "buybox",
        None,
    }
    assert parts["SubscriptionKind"]["enum"] == ["price", "back_in_stock"]
    assert {"series", "kind"} <= set(parts["SubscriptionOut"]["properties"])

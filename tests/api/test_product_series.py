"""Every price series of a product, from crawled pages through ingest and ClickHouse to
the chart's ``lines`` and the product's ``series`` (real Redis, chDB, ingest worker)."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import pytest
import redis as redis_lib
from litestar import Litestar
from litestar.testing import AsyncTestClient

from api.services.timefmt import iso
from pricewatch.history import Granularity, floor_bucket
from pricewatch.ingest.worker import IngestWorker
from pricewatch.keys import OBSERVATIONS, Keys
from pricewatch.models import Availability, Observation, encode
from pricewatch.page_series import PageFacts
from pricewatch.storage.clickhouse import PriceStore
from pricewatch.storage.streams import PartitionedStream
from tests.api.conftest import DAY, HOUR
from tests.observations import page_observations, seed_product

pytestmark = [pytest.mark.clickhouse, pytest.mark.redis]

ASIN = "B0SERIES01"
IMAGE = "https://m.media-amazon.com/images/I/71kettle.jpg"
ORDER = ["buybox", "amazon", "new", "used", "list", "cheapest_new", "sales_rank"]


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def page(
    price: int,
    new: int | None,
    used: int | None,
    rank: int,
    sold_by: str = "Amazon.com",
    list_price: int | None = 2999,
) -> PageFacts:
    return PageFacts(
        availability=Availability.IN_STOCK,
        price=price,
        sold_by=sold_by,
        list_price=list_price,
        new_offers_from=new,
        used_from=used,
        sales_rank=rank,
    )


def ingest(
    client: redis_lib.Redis, keys: Keys, store: PriceStore, *pages: list[Observation]
) -> None:
    """Publish each page as the crawler does (one stream entry, an array), then let a
    real ingest worker store them."""
    stream = PartitionedStream(keys, OBSERVATIONS, 2)
    stream.publish(client, ((p[0].market, p[0].asin, encode(p)) for p in pages))
    worker = IngestWorker(client, keys, store, partitions=2, consumer="c1", batch_ms=50)
    while batch := worker.next_batch():
        worker.process_batch(batch)


def by_day(points: list[dict[str, Any]]) -> dict[str, Any]:
    return {point["timestamp"]: point["price"] for point in points}


def day_of(at: int) -> str:
    return iso(floor_bucket(at, Granularity.DAILY))


async def test_crawled_series_reach_the_chart_lines_and_the_product(
    client: AsyncTestClient[Litestar],
    price_store: PriceStore,
    redis_client: redis_lib.Redis,
    keys: Keys,
) -> None:
    now = now_ms()
    first, second, third = now - 5 * DAY, now - 3 * DAY, now - 1 * DAY
    attributes = {"title": "Kettle", "image": IMAGE, "rating": Decimal("4.4"), "review_count": 5136}
    ingest(
        redis_client,
        keys,
        price_store,
        page_observations(first, page(2000, new=1800, used=1200, rank=1500), ASIN, **attributes),
        # no used offer on this page: a gap in the used line
        page_observations(second, page(1900, new=1750, used=None, rank=900), ASIN, **attributes),
        # a third-party seller holds the buy box: no Amazon price
        page_observations(
            third,
            page(2100, new=None, used=1100, rank=1200, sold_by="Acme Store"),
            ASIN,
            **attributes,
        ),
    )

    response = await client.get(f"/products/{ASIN}/price?period=7d&granularity=daily")
    assert response.status_code == 200, response.text
    chart = response.json()
    lines = {line["series"]: line for line in chart["lines"]}
    assert [line["series"] for line in chart["lines"]] == ORDER
    assert {name: line["unit"] for name, line in lines.items()} == {
        **{name: "money" for name in ORDER},
        "sales_rank": "rank",
    }
    # the buy box is both the old ``history`` and a line
    assert lines["buybox"]["points"] == chart["history"]
    day1, day2, day3 = day_of(first), day_of(second), day_of(third)
    expected = {
        "buybox": {day1: 20.0, day2: 19.0, day3: 21.0},
        "amazon": {day1: 20.0, day2: 19.0, day3: None},
        "new": {day1: 18.0, day2: 17.5, day3: 21.0},
        "used": {day1: 12.0, day2: None, day3: 11.0},
        "list": {day1: 29.99, day2: 29.99, day3: 29.99},
        "cheapest_new": {day1: 18.0, day2: 17.5, day3: 21.0},
        "sales_rank": {day1: 1500, day2: 900, day3: 1200},
    }
    for name, days in expected.items():
        drawn = by_day(lines[name]["points"])
        # each line starts on the day of its first observation, on the same buckets
        assert min(drawn) == day1, name
        assert {day: drawn[day] for day in days} == days, name
        # a value holds until the next change (the day after the first page)
        assert drawn[day_of(first + DAY)] == days[day1], name
    ranks = [p["price"] for p in lines["sales_rank"]["points"] if p["price"] is not None]
    assert all(type(rank) is int for rank in ranks)

    product = (await client.get(f"/products/{ASIN}")).json()
    assert (product["soldBy"], product["rating"], product["reviewCount"]) == (
        "Acme Store",
        4.4,
        5136,
    )
    assert product["image"] == IMAGE and product["price"] == 21.0
    series = product["series"]
    assert list(series) == ORDER
    current = {name: s["current"] for name, s in series.items()}
    assert current == {
        "buybox": 21.0,
        "amazon": None,
        "new": 21.0,
        "used": 11.0,
        "list": 29.99,
        "cheapest_new": 21.0,
        "sales_rank": 1200,
    }
    # the product's own statistics are the buy box's
    assert series["buybox"]["stats"] == product["stats"]
    assert series["buybox"]["allTime"] == product["allTime"]
    rank = series["sales_rank"]["stats"]
    # the lowest rank is the best one
    assert (rank["lowest"]["price"], rank["highest"]["price"]) == (900, 1500)
    assert rank["lowest"]["date"] == day2[:10]
    assert type(rank["average"]) is int and 900 < rank["average"] < 1500
    used = series["used"]["stats"]
    assert (used["lowest"]["price"], used["highest"]["price"]) == (11.0, 12.0)


async def test_stats_per_series_cover_the_deal_window_and_all_time(
    client: AsyncTestClient[Litestar], price_store: PriceStore
) -> None:
    now = now_ms()
    seed_product(price_store, asin=ASIN, prices=[(now - 200 * DAY, 5000), (now - HOUR, 4000)])
    price_store.insert_prices(
        [
            ["us", ASIN, series, now - days * DAY, value, currency, "in_stock", "crawler", ""]
            for series, currency, points in (
                ("sales_rank", "", [(200, 40), (100, 700), (60, 300), (30, 900), (2, 500)]),
                ("used", "USD", [(150, 500), (120, 1000), (50, 2500), (10, 2000)]),
            )
            for days, value in points
        ]
    )
    series = (await client.get(f"/products/{ASIN}")).json()["series"]
    assert set(series) == {"buybox", "sales_rank", "used"}
    rank = series["sales_rank"]
    assert rank["current"] == 500
    assert rank["stats"]["windowDays"] == 90
    # over 90 days: 700 carried in from before the window, 300, 900, 500
    assert (rank["stats"]["lowest"]["price"], rank["stats"]["highest"]["price"]) == (300, 900)
    assert (rank["allTime"]["lowest"]["price"], rank["allTime"]["highest"]["price"]) == (40, 900)
    assert rank["allTime"]["windowDays"] >= 200
    used = series["used"]
    # 10.00 is carried in from before the window
    assert (used["stats"]["lowest"]["price"], used["stats"]["highest"]["price"]) == (10.0, 25.0)
    assert 10.0 < used["stats"]["average"] < 25.0
    assert (used["allTime"]["lowest"]["price"], used["allTime"]["highest"]["price"]) == (5.0, 25.0)


def _select_queries(store: PriceStore) -> int:
    rows = store.client.query(
        "SELECT value FROM system.events WHERE event = 'SelectQuery'"
    ).result_rows
    return int(rows[0][0]) if rows else 0


async def test_a_chart_miss_reads_every_series_in_one_query_and_caches_the_lines(
    client: AsyncTestClient[Litestar],
    price_store: PriceStore,
    redis_client: redis_lib.Redis,
    keys: Keys,
) -> None:
    now = now_ms()
    ingest(
        redis_client,
        keys,
        price_store,
        *(
            page_observations(now - d * DAY, page(2000 + d, new=1800, used=1200 + d, rank=50 + d))
            for d in range(1, 6)
        ),
    )
    url = "/products/B07CLN88MV/price?period=30d"
    before = _select_queries(price_store)
    miss = await client.get(url)
    # every series and the catalogue row at once (the count itself is one more)
    assert _select_queries(price_store) - before == 2
    assert [line["series"] for line in miss.json()["lines"]] == ORDER
    before = _select_queries(price_store)
    hit = await client.get(url)
    assert _select_queries(price_store) - before == 1
    assert hit.content == miss.content
    assert redis_client.hlen(keys.history_cache("us", "B07CLN88MV")) == 2

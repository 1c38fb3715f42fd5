from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import redis as redis_lib
from litestar import Litestar
from litestar.testing import AsyncTestClient

from api.services.pricing import DEAL_RULE, MAX_CHANGE_POINTS
from api.services.timefmt import iso
from pricewatch.frontier import Frontier
from pricewatch.history import Granularity, floor_bucket
from pricewatch.keys import Keys
from pricewatch.models import CrawlTask
from pricewatch.storage.clickhouse import PriceStore
from pricewatch.storage.redis import drop_histories
from tests.api.conftest import DAY, HOUR
from tests.api.served import serving
from tests.clock import ManualClock
from tests.frontiers import queued_tasks
from tests.observations import observation, seed_product
from tests.services import eventually

pytestmark = [pytest.mark.clickhouse, pytest.mark.redis]

ASIN = "B0TEST0001"


def now_ms() -> int:
    return time.time_ns() // 1_000_000


async def test_unknown_product_is_404_and_queued_for_a_first_crawl(
    client: AsyncTestClient[Litestar], redis_client: redis_lib.Redis, keys: Keys
) -> None:
    for path in (f"/products/{ASIN}?market=de", f"/products/{ASIN}/price?market=de"):
        response = await client.get(path)
        assert response.status_code == 404
        body = response.json()
        assert body["status"] == "queued"
        assert "queued for a first crawl" in body["detail"]
    queued = queued_tasks(redis_client, keys)
    assert len(queued) == 1
    task_key, _ = queued[0]
    assert ASIN in task_key.decode() and "de" in task_key.decode()
    assert Frontier(redis_client, keys, partitions=2).pop("w1")[0].asin == ASIN


async def test_lookup_crawls_rank_below_scheduled_products(
    client: AsyncTestClient[Litestar], redis_client: redis_lib.Redis, keys: Keys
) -> None:
    frontier = Frontier(redis_client, keys, partitions=2)
    # the scheduler's priorities are positive, however little the product matters
    frontier.push([CrawlTask(market="us", asin="B0SCHED001", priority=0.01)])
    assert (await client.get(f"/products/{ASIN}")).status_code == 404
    # within a partition the higher priority is popped first
    priorities = {key.decode(): score for key, score in queued_tasks(redis_client, keys)}
    assert priorities[f"us:{ASIN}"] < priorities["us:B0SCHED001"]


async def test_lookups_queue_few_first_crawls_per_client_and_overall(
    make_app: Callable[..., Litestar], redis_client: redis_lib.Redis, keys: Keys
) -> None:
    # one instant for every request: no limit window may roll over mid-test
    clock = ManualClock((now_ms() // 3_600_000) * 3_600_000 + 1_000)
    app = make_app(
        api_lookup_crawls_per_ip_per_hour=5,
        api_lookup_crawl_budget_share=1.0,
        direct_interval_s=1.0,
        clock=clock,
    )
    async with AsyncTestClient(app=app) as client:
        answers = [await client.get(f"/products/B0RANDOM{i:02d}") for i in range(40)]
    statuses = [a.json()["status"] for a in answers]
    assert statuses.count("queued") == 5 and statuses.count("limited") == 35
    limited = answers[-1]
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) > 0
    assert len(queued_tasks(redis_client, keys)) == 5
    # fleet-wide: one crawl per 5 s at home, a fifth of it for lookups -> 2 a minute,
    # whoever asks (counted afresh: this minute's allowance went to the part above)
    redis_client.delete(*redis_client.scan_iter(match=keys.rate_limit("*", "*")))
    app = make_app(api_lookup_crawls_per_ip_per_hour=1000, clock=clock)
    async with AsyncTestClient(app=app) as client:
        answers = [await client.get(f"/products/B0OTHER{i:03d}") for i in range(30)]
    assert [a.json()["status"] for a in answers].count("queued") == 2
    assert len(queued_tasks(redis_client, keys)) == 7


async def test_a_lookup_already_queued_costs_nothing_and_a_missing_asin_is_not_queued(
    make_app: Callable[..., Litestar], redis_client: redis_lib.Redis, keys: Keys
) -> None:
    async with AsyncTestClient(app=make_app(api_lookup_crawls_per_ip_per_hour=1)) as client:
        for _ in range(5):
            assert (await client.get(f"/products/{ASIN}")).json()["status"] == "queued"
        # a crawl found no page for this one (ingest remembers it)
        redis_client.set(keys.not_found("us", "B0NOTREAL1"), b"1", ex=60)
        gone = await client.get("/products/B0NOTREAL1/price")
        assert gone.status_code == 404 and gone.json()["status"] == "not_found"
    assert len(queued_tasks(redis_client, keys)) == 1


async def test_product_current_price_stats_and_deal(
    client: AsyncTestClient[Litestar], price_store: PriceStore
) -> None:
    now = now_ms()
    seed_product(
        price_store,
        asin=ASIN,
        title='<script>alert("x")</script> & Co',
        prices=[
            (now - 60 * DAY, 5000),
            (now - 30 * DAY, 3000),
            (now - 20 * DAY, 4000),
            (now - 1 * HOUR, 3100),
        ],
    )
    response = await client.get(f"/products/{ASIN}?market=us")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    # titles are data: returned verbatim, escaping is the renderer's job
    assert body["title"] == '<script>alert("x")</script> & Co'
    assert body["price"] == 31.0
    assert body["currency"] == "USD" and body["exponent"] == 2
    assert body["availability"] == "in_stock"
    stats = body["stats"]
    assert stats["windowDays"] == 90
    assert stats["lowest"]["price"] == 30.0
    assert stats["highest"]["price"] == 50.0
    # time-weighted since first seen: 30 days at 50, 10 at 30, 20 less an hour at 40,
    # the last hour at 31
    weighted = 30 * DAY * 5000 + 10 * DAY * 3000 + (20 * DAY - HOUR) * 4000 + HOUR * 3100
    assert stats["average"] == round(weighted / (60 * DAY)) / 100
    # 31 is below that average, and lower than the price in force for all but the 10
    # days at 30 and its own hour: 83% of the time
    assert body["deal"] == {
        "isGoodDeal": True,
        "rule": DEAL_RULE,
        "percentile": 83,
        "percentileDays": 365,
    }
    assert body["lastChecked"].endswith("Z")


async def test_no_deal_when_price_is_far_above_the_low(
    client: AsyncTestClient[Litestar], price_store: PriceStore
) -> None:
    now = now_ms()
    seed_product(price_store, asin=ASIN, prices=[(now - 40 * DAY, 1000), (now - DAY, 2000)])
    body = (await client.get(f"/products/{ASIN}")).json()
    assert body["deal"]["isGoodDeal"] is False


async def test_price_history_step_semantics_in_major_units(
    client: AsyncTestClient[Litestar], price_store: PriceStore
) -> None:
    now = now_ms()
    day0 = now - now % DAY
    seed_product(
        price_store,
        asin=ASIN,
        prices=[
            (day0 - 10 * DAY + HOUR, 1999),
            (day0 - 5 * DAY + HOUR, 1499),
            (day0 - 5 * DAY + 2 * HOUR, 1799),
        ],
    )
    response = await client.get(f"/products/{ASIN}/price?period=30d&granularity=daily")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["currency"] == "USD" and body["granularity"] == "daily"
    history = body["history"]
    # buckets before the first observation are omitted; then one per day up to today
    assert len(history) == 11
    assert history[0] == {
        "timestamp": history[0]["timestamp"],
        "price": 19.99,
        "min": 19.99,
        "max": 19.99,
    }
    drop_day = history[5]
    assert (drop_day["price"], drop_day["min"], drop_day["max"]) == (17.99, 14.99, 19.99)
    # the price holds (is carried forward) until it changes
    assert all(point["price"] == 17.99 for point in history[6:])


MINUTE = 60_000


def changes_of(points: list[dict[str, object]]) -> list[tuple[object, object]]:
    """(timestamp, price) of a chart's points, each checked to be a change point (a
    zero-width band)."""
    assert all(point["min"] == point["max"] == point["price"] for point in points), points
    return [(point["timestamp"], point["price"]) for point in points]


async def test_a_young_products_chart_spans_the_window_with_its_changes(
    make_app: Callable[..., Litestar], price_store: PriceStore
) -> None:
    now = 1_780_000_123_456
    sightings = [
        (now - 50 * MINUTE, 1999),
        (now - 41 * MINUTE - 250, 1999),  # seen again: no change
        (now - 30 * MINUTE, 1899),
        (now - 12 * MINUTE, None),  # out of stock
        (now - 11 * MINUTE, None),
        (now - 4 * MINUTE - 7, 1799),
    ]
    seed_product(price_store, asin=ASIN, prices=sightings)
    async with AsyncTestClient(app=make_app(clock=ManualClock(now))) as client:
        for period, days in (("7d", 7), ("30d", 30), ("1y", 365)):
            body = (await client.get(f"/products/{ASIN}/price?period={period}")).json()
            assert (body["start"], body["end"]) == (iso(now - days * DAY), iso(now))
            assert body["granularity"] == "changes"
            # exactly the instants the price changed, first seen included
            expected = [(iso(at), None if p is None else p / 100) for at, p in sightings]
            del expected[4], expected[1]
            assert changes_of(body["history"]) == expected
            assert [line["series"] for line in body["lines"]] == ["buybox"]
            assert body["lines"][0]["points"] == body["history"]


async def test_a_window_opens_with_the_price_in_force_at_its_start(
    make_app: Callable[..., Litestar], price_store: PriceStore
) -> None:
    now = 1_780_000_000_000
    seed_product(
        price_store,
        asin=ASIN,
        prices=[(now - 20 * DAY, 2500), (now - 9 * DAY, 2400), (now - 2 * DAY, 2300)],
    )
    async with AsyncTestClient(app=make_app(clock=ManualClock(now))) as client:
        body = (await client.get(f"/products/{ASIN}/price?period=7d")).json()
        seven = [(iso(now - 7 * DAY), 24.0), (iso(now - 2 * DAY), 23.0)]
        assert changes_of(body["history"]) == seven
        body = (await client.get(f"/products/{ASIN}/price?period=30d")).json()
        assert changes_of(body["history"]) == [
            (iso(now - 20 * DAY), 25.0),
            (iso(now - 9 * DAY), 24.0),
            (iso(now - 2 * DAY), 23.0),
        ]
        # a bucket size asked for is served as asked
        body = (await client.get(f"/products/{ASIN}/price?period=7d&granularity=daily")).json()
        assert body["granularity"] == "daily" and body["start"] == iso(now - 7 * DAY)


async def test_a_long_tracked_products_long_chart_comes_from_the_rollups(
    client: AsyncTestClient[Litestar], price_store: PriceStore
) -> None:
    """Change points are read from every raw sighting: only over a short span of the
    product's life. Three changes in a year still come as daily buckets."""
    now = now_ms()
    seed_product(
        price_store,
        asin=ASIN,
        prices=[(now - 300 * DAY, 1999), (now - 100 * DAY, 1499), (now - 2 * DAY, 1799)],
    )
    year = (await client.get(f"/products/{ASIN}/price?period=1y")).json()
    assert year["granularity"] == "daily"
    week = (await client.get(f"/products/{ASIN}/price?period=7d")).json()
    assert week["granularity"] == "changes"


async def test_a_window_with_too_many_changes_is_served_in_buckets(
    make_app: Callable[..., Litestar], price_store: PriceStore
) -> None:
    now = 1_780_000_000_000
    # MAX_CHANGE_POINTS changes fit; one more does not
    for asin, count in (("B0CHANGES1", MAX_CHANGE_POINTS), ("B0CHANGES2", MAX_CHANGE_POINTS + 1)):
        start = now - count * MINUTE
        seed_product(
            price_store,
            asin=asin,
            prices=[(start + i * MINUTE, 1000 + i % 2) for i in range(count)],
        )
    async with AsyncTestClient(app=make_app(clock=ManualClock(now))) as client:
        few = (await client.get("/products/B0CHANGES1/price?period=7d")).json()
        many = (await client.get("/products/B0CHANGES2/price?period=7d")).json()
    assert few["granularity"] == "changes" and len(few["history"]) == MAX_CHANGE_POINTS
    assert many["granularity"] == "hourly"
    assert (many["start"], many["end"]) == (iso(now - 7 * DAY), iso(now))
    first = floor_bucket(now - (MAX_CHANGE_POINTS + 1) * MINUTE, Granularity.HOURLY)
    hours = [point["timestamp"] for point in many["history"]]
    assert hours == [iso(first + i * HOUR) for i in range(len(hours))]
    assert hours[-1] == iso(floor_bucket(now - 1, Granularity.HOURLY))
    assert {(point["min"], point["max"]) for point in many["history"]} == {(10.0, 10.01)}


async def test_history_etag_and_304(
    client: AsyncTestClient[Litestar], price_store: PriceStore
) -> None:
    seed_product(price_store, asin=ASIN, prices=[(now_ms() - DAY, 1000)])
    first = await client.get(f"/products/{ASIN}/price?period=7d")
    assert first.status_code == 200
    etag = first.headers["etag"]
    assert first.headers["cache-control"].startswith("public, max-age=")
    again = await client.get(f"/products/{ASIN}/price?period=7d", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    other = await client.get(
        f"/products/{ASIN}/price?period=7d", headers={"If-None-Match": '"nope"'}
    )
    assert other.status_code == 200 and other.content == first.content


async def test_history_is_cached_until_the_price_changes(
    client: AsyncTestClient[Litestar],
    price_store: PriceStore,
    redis_client: redis_lib.Redis,
    keys: Keys,
) -> None:
    now = now_ms()
    seed_product(price_store, asin=ASIN, prices=[(now - 3 * DAY, 1000)])
    url = f"/products/{ASIN}/price?period=7d&granularity=daily"
    first = await client.get(url)
    cache_key = keys.history_cache("us", ASIN)
    assert redis_client.hlen(cache_key) == 2  # the generation token and this variant
    assert 0 < redis_client.ttl(cache_key) <= 600

    # a new price stored behind the cache's back is not seen: the cached bytes are served
    price_store.insert_observations([observation(now - HOUR, 800, asin=ASIN)])
    assert (await client.get(url)).content == first.content

    # ingest drops the hash, and this process's copy, when it publishes the change
    pipe = redis_client.pipeline()
    drop_histories(pipe, keys, [("us", ASIN)])
    pipe.execute()
    assert not redis_client.exists(cache_key)

    async def sees_new_price() -> bool:
        return bool((await client.get(url)).json()["history"][-1]["price"] == 8.0)

    await eventually(sees_new_price)


async def test_chart_loads_count_as_views(
    client: AsyncTestClient[Litestar],
    price_store: PriceStore,
    redis_client: redis_lib.Redis,
    keys: Keys,
) -> None:
    seed_product(price_store, asin=ASIN, prices=[(now_ms() - DAY, 1000)])
    for _ in range(2):
        await client.get(f"/products/{ASIN}/price", headers={"X-Pricewatch-Client": "web"})
    await client.get(f"/products/{ASIN}/price", headers={"X-Pricewatch-Client": "extension"})
    # tallied in memory, pushed to the Redis counters every api_view_push_ms
    expected = {b"web": b"2", b"extension": b"1"}
    # (on a Redis Cluster the counters and the dirty set live on different nodes: the
    # one may be written a moment before the other)
    await eventually(
        lambda: (
            redis_client.hgetall(keys.views("us", ASIN)) == expected
            and redis_client.smembers(keys.views_dirty) == {f"us:{ASIN}".encode()}
        )
    )


async def test_explicit_range_with_iso_and_epoch(
    client: AsyncTestClient[Litestar], price_store: PriceStore
) -> None:
    seed_product(price_store, asin=ASIN, prices=[(1_700_000_000_000, 1234)])
    iso_range = await client.get(
        f"/products/{ASIN}/price?start=2023-11-14T00:00:00Z&end=2023-11-16T00:00:00Z"
        "&granularity=daily"
    )
    epoch_range = await client.get(
        f"/products/{ASIN}/price?start=1699920000&end=1700092800000&granularity=daily"
    )
    assert iso_range.status_code == epoch_range.status_code == 200
    assert iso_range.json()["history"] == epoch_range.json()["history"]
    assert iso_range.json()["history"][0]["price"] == 12.34
    assert iso_range.json()["start"] == "2023-11-14T00:00:00Z"


async def test_bad_chart_parameters_are_400_with_a_reason(
    client: AsyncTestClient[Litestar], price_store: PriceStore
) -> None:
    seed_product(price_store, asin=ASIN, prices=[(now_ms() - DAY, 1000)])
    cases = {
        f"/products/{ASIN}/price?granularity=yearly": "granularity",
        f"/products/{ASIN}/price?period=3d": "period",
        f"/products/{ASIN}/price?period=7d&start=2024-01-01": "either period or start",
        f"/products/{ASIN}/price?start=2024-02-01&end=2024-01-01": "end must be after start",
        f"/products/{ASIN}/price?start=yesterday": "start",
        f"/products/{ASIN}/price?start=0&end=1000000000000&granularity=hourly": "buckets",
        f"/products/{ASIN}/price?market=zz": "unknown market",
        "/products/NOTANASIN1/price": "not a valid ASIN",
        "/products/B0TEST0001X/price": "not a valid ASIN",
    }
    for url, reason in cases.items():
        response = await client.get(url)
        assert response.status_code == 400, (url, response.text)
        assert reason in response.text, (url, response.text)


async def test_product_pages_say_when_an_asin_does_not_exist_or_must_wait(
    make_app: Callable[..., Litestar], redis_client: redis_lib.Redis, keys: Keys
) -> None:
    redis_client.set(keys.not_found("us", "B0NOTREAL1"), b"1", ex=60)
    async with AsyncTestClient(app=make_app(api_lookup_crawls_per_ip_per_hour=1)) as client:
        gone = await client.get("/p/us/B0NOTREAL1")
        assert gone.status_code == 404 and "No such product" in gone.text
        first = await client.get("/p/us/B0WEBWAIT1")
        assert first.status_code == 404 and "queued for a first crawl" in first.text
        later = await client.get("/p/us/B0WEBWAIT2")
        assert later.status_code == 429 and "Try again in" in later.text
        assert int(later.headers["retry-after"]) > 0


def test_concurrent_chart_misses_each_get_their_own_product(
    make_app: Callable[..., Litestar], price_store: PriceStore
) -> None:
    # misses that arrive together share ClickHouse queries (api.services.chart_reads):
    # each answer must still be its own product's, whatever the kind of read. Served as
    # in production, asked over 25 connections at once.
    now = now_ms()
    asins = [f"B0CONCUR{i:02d}" for i in range(12)]
    for i, asin in enumerate(asins):
        # old products are read as buckets, young ones as change points
        age = (400 if i % 2 else 20) * DAY
        seed_product(price_store, asin=asin, prices=[(now - age, 1000 + i), (now - DAY, 2000 + i)])
    periods = ("1y", "30d")
    paths = [f"/products/{asin}/price?period={period}" for asin in asins for period in periods]
    paths.append("/products/B0NEVERSEN/price?period=1y")
    together = threading.Barrier(len(paths))

    def get(url: str) -> tuple[int, dict[str, Any]]:
        together.wait()
        try:
            with urllib.request.urlopen(url, timeout=30) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, {}

    with serving(make_app()) as base, ThreadPoolExecutor(len(paths)) as pool:
        answers = list(pool.map(get, [base + path for path in paths]))
    assert answers[-1][0] == 404
    for path, (status, body) in zip(paths, answers[:-1], strict=False):
        assert status == 200, path
        i = asins.index(body["asin"])
        assert path.startswith(f"/products/{body['asin']}/")
        closes = [p["price"] for p in body["history"]]
        assert closes[-1] == (2000 + i) / 100, path
        assert set(closes) <= {(1000 + i) / 100, (2000 + i) / 100}, path

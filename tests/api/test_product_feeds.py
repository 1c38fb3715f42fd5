"""Served statistics, freshness, the history CSV and the drops feed over real chDB and
Redis: the JSON checked against what was stored, the CSV against the chart JSON of
the same window, the Atom against the changes ingested."""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Any

import pytest
import redis as redis_lib
from litestar import Litestar
from litestar.testing import AsyncTestClient

from api.services.feeds import ATOM_NS, MAX_DROP_ENTRIES
from api.services.timefmt import iso
from pricewatch.frontier import Frontier
from pricewatch.keys import Keys
from pricewatch.models import Availability, CrawlTask
from pricewatch.page_series import PageFacts
from pricewatch.storage.clickhouse import PriceStore
from tests.api.charts import in_force, seconds
from tests.api.conftest import DAY, HOUR
from tests.clock import ManualClock
from tests.observations import page_observations, seed_product

pytestmark = [pytest.mark.clickhouse, pytest.mark.redis]

ASIN = "B0FEED0001"
MINUTE = 60_000
NOW = 1_780_000_123_456
A = f"{{{ATOM_NS}}}"


def schedule(store: PriceStore, asin: str, next_due: int) -> None:
    """A row of the scheduler's crawl schedule for ``asin``."""
    store.client.insert(
        f"{store.database}.crawl_schedule",
        [["us", asin, 1.0, 0.5, 0.001, NOW - HOUR, next_due, NOW - HOUR]],
        column_names=(
            "market",
            "asin",
            "importance",
            "change_rate",
            "rate",
            "last_observed",
            "next_due",
            "scored_at",
        ),
    )


def history() -> list[tuple[int, int | None]]:
    return [
        (NOW - 10 * DAY, 2000),  # 3 days at 20.00
        (NOW - 9 * DAY, 2000),  # seen again: no change
        (NOW - 7 * DAY, 1800),  # 1 day at 18.00
        (NOW - 6 * DAY, None),  # 1 day out of stock
        (NOW - 5 * DAY, 2000),  # 4 days at 20.00
        (NOW - DAY, 1500),  # the last day at 15.00
        (NOW - 5 * MINUTE, 1500),  # last checked
    ]


async def test_time_weighted_stats_percentile_and_freshness_are_served(
    make_app: Callable[..., Litestar],
    price_store: PriceStore,
    redis_client: redis_lib.Redis,
    keys: Keys,
) -> None:
    seed_product(price_store, asin=ASIN, prices=history())
    schedule(price_store, ASIN, NOW + 3 * HOUR)
    async with AsyncTestClient(app=make_app(clock=ManualClock(NOW))) as client:
        body = (await client.get(f"/products/{ASIN}?market=us")).json()
        stats = body["stats"]
        # 3 + 4 days at 20, 1 at 18, 1 at 15 (out of stock counts for nothing) / 9 days
        assert stats["average"] == round((7 * 2000 + 1800 + 1500) / 9) / 100
        assert stats["lowest"]["price"] == 15.0 and stats["highest"]["price"] == 20.0
        assert body["allTime"]["average"] == stats["average"]
        # higher than 15.00 for 8 of the 9 priced days, below the average: a good deal
        assert body["deal"]["percentile"] == 88
        assert body["deal"]["isGoodDeal"] is True
        # the same series entry tells the same
        assert body["series"]["buybox"]["stats"] == stats
        fresh = body["freshness"]
        # 20 -> 18, 18 -> (out) -> 20, 20 -> 15: three changes in ten days
        assert fresh == {
            "checkedAt": iso(NOW - 5 * MINUTE),
            "nextCheckAt": iso(NOW + 3 * HOUR),
            "changesPerWeek": 2.1,
            "text": "checked 5 min ago · next check in about 3 h · changes about twice a week",
        }
        # queued on the frontier: checked as soon as a worker is free
        Frontier(redis_client, keys, partitions=2).push(
            [CrawlTask(market="us", asin=ASIN, priority=1.0)]
        )
        fresh = (await client.get(f"/products/{ASIN}")).json()["freshness"]
        assert fresh["nextCheckAt"] == iso(NOW)
        assert "next check due now" in fresh["text"]


async def test_a_first_day_product_has_its_own_average_and_no_deal(
    make_app: Callable[..., Litestar], price_store: PriceStore
) -> None:
    seed_product(
        price_store,
        asin=ASIN,
        prices=[(NOW - 50 * MINUTE, 1999), (NOW - 30 * MINUTE, 1899), (NOW - 10 * MINUTE, 1999)],
    )
    async with AsyncTestClient(app=make_app(clock=ManualClock(NOW))) as client:
        body = (await client.get(f"/products/{ASIN}")).json()
    # 20 min at 19.99, 20 at 18.99, 10 at 19.99 of 50 minutes
    assert body["stats"]["average"] == round((30 * 1999 + 20 * 1899) / 50) / 100
    assert body["stats"]["average"] != body["price"]
    assert body["deal"]["percentile"] == 0 and body["deal"]["isGoodDeal"] is False
    # not scheduled yet; tracked under a day: no rate
    assert body["freshness"] == {
        "checkedAt": iso(NOW - 10 * MINUTE),
        "nextCheckAt": None,
        "changesPerWeek": None,
        "text": "checked 10 min ago",
    }


def rows_of(response: Any) -> list[dict[str, str]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    disposition = response.headers["content-disposition"]
    assert disposition.startswith("attachment;") and ".csv" in disposition
    return list(csv.DictReader(io.StringIO(response.text)))


def check_against_chart(rows: list[dict[str, str]], chart: dict[str, Any]) -> None:
    lines = {line["series"]: line for line in chart["lines"]}
    columns = {
        name: name if line["unit"] == "rank" else f"{name} ({chart['currency']})"
        for name, line in lines.items()
    }
    assert list(rows[0]) == ["time (UTC)", *columns.values()]
    times = sorted({p["timestamp"] for line in lines.values() for p in line["points"]}, key=seconds)
    assert [row["time (UTC)"] for row in rows] == times
    for row in rows:
        at = seconds(row["time (UTC)"])
        for name, line in lines.items():
            cell = row[columns[name]]
            # a bucket's row shows the bucket itself, a change row the state from then on
            held = [p["price"] for p in line["points"] if p["timestamp"] == row["time (UTC)"]]
            want = held[0] if held else in_force(line["points"], at, "changes")
            if want is None:
                assert cell == ""
            elif line["unit"] == "rank":
                assert cell == str(want)
            else:
                assert cell == f"{want:.2f}"


async def test_history_csv_is_the_chart_of_the_same_window(
    make_app: Callable[..., Litestar], price_store: PriceStore
) -> None:
    for at, price, rank in [
        (NOW - 20 * DAY, 2999, 1500),
        (NOW - 12 * DAY, 2499, 900),
        (NOW - 3 * DAY, None, 1200),
        (NOW - 2 * HOUR, 2799, 1100),
    ]:
        facts = PageFacts(
            availability=Availability.IN_STOCK if price else Availability.OUT_OF_STOCK,
            price=price,
            sales_rank=rank,
        )
        price_store.insert_observations(page_observations(at, facts, asin=ASIN))
    seed_product(price_store, asin=ASIN, prices=[(NOW - 20 * DAY, 2999), (NOW - 2 * HOUR, 2799)])
    # and a product tracked for a long time: daily buckets
    old = "B0FEED0002"
    seed_product(
        price_store,
        asin=old,
        prices=[(NOW - (300 - 7 * i) * DAY, 1000 + 37 * i) for i in range(40)],
    )
    async with AsyncTestClient(app=make_app(clock=ManualClock(NOW))) as client:
        for asin, period, granularity in [(ASIN, "30d", "changes"), (old, "1y", "daily")]:
            chart = (await client.get(f"/products/{asin}/price?period={period}")).json()
            assert chart["granularity"] == granularity
            rows = rows_of(await client.get(f"/products/{asin}/history.csv?period={period}"))
            check_against_chart(rows, chart)
            assert len(rows) > 3
        rows = rows_of(await client.get(f"/products/{ASIN}/history.csv?period=30d"))
        assert rows[-1] == {
            "time (UTC)": iso(NOW - 2 * HOUR),
            "buybox (USD)": "27.99",
            **{k: v for k, v in rows[-1].items() if k not in ("time (UTC)", "buybox (USD)")},
        }
        assert rows[-1]["sales_rank"] == "1100"
        # out of stock three days ago: an empty cell, then the price again
        gap = next(r for r in rows if r["time (UTC)"] == iso(NOW - 3 * DAY))
        assert gap["buybox (USD)"] == ""
        bad = await client.get(f"/products/{ASIN}/history.csv?period=5y")
        assert bad.status_code == 400
        unknown = await client.get("/products/B0NOTHERE1/history.csv")
        assert unknown.status_code == 404


async def test_drops_feed_lists_the_drops_ingested(
    make_app: Callable[..., Litestar], price_store: PriceStore
) -> None:
    seed_product(price_store, asin=ASIN, title="Kettle <b>&</b> Co", prices=history())
    async with AsyncTestClient(app=make_app(clock=ManualClock(NOW))) as client:
        response = await client.get(f"/products/{ASIN}/drops.atom?market=us")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/atom+xml")
        feed = ET.fromstring(response.content)
    assert feed.tag == f"{A}feed"
    assert feed.findtext(f"{A}id")
    self_link = [link for link in feed.findall(f"{A}link") if link.get("rel") == "self"]
    assert self_link[0].get("href", "").endswith(f"/products/{ASIN}/drops.atom?market=us")
    assert feed.findtext(f"{A}title") == "Price drops: Kettle <b>&</b> Co"
    entries = feed.findall(f"{A}entry")
    # 20 -> 18 and 20 -> 15 fell; 18 -> (out of stock) -> 20 rose
    assert [e.findtext(f"{A}title") for e in entries] == [
        "Price fell from $20.00 to $15.00",
        "Price fell from $20.00 to $18.00",
    ]
    assert [e.findtext(f"{A}updated") for e in entries] == [iso(NOW - DAY), iso(NOW - 7 * DAY)]
    assert feed.findtext(f"{A}updated") == iso(NOW - DAY)
    ids = [e.findtext(f"{A}id") for e in entries]
    assert len(set(ids)) == 2 and all(ids)


async def test_drops_feed_is_bounded_and_counts_drops_across_its_window_start(
    make_app: Callable[..., Litestar], price_store: PriceStore
) -> None:
    # a drop every hour for 100 hours, after a price set long before the window
    prices: list[tuple[int, int | None]] = [(NOW - 200 * DAY, 100_000)]
    prices += [(NOW - (100 - i) * HOUR, 90_000 - 100 * i) for i in range(100)]
    seed_product(price_store, asin=ASIN, prices=prices)
    async with AsyncTestClient(app=make_app(clock=ManualClock(NOW))) as client:
        feed = ET.fromstring((await client.get(f"/products/{ASIN}/drops.atom")).content)
        entries = feed.findall(f"{A}entry")
        assert len(entries) == MAX_DROP_ENTRIES
        assert entries[0].findtext(f"{A}title") == "Price fell from $802.00 to $801.00"
        # a product without drops: a valid empty feed
        seed_product(price_store, asin="B0FEED0003", prices=[(NOW - DAY, 1000)])
        empty = ET.fromstring((await client.get("/products/B0FEED0003/drops.atom")).content)
        assert empty.findall(f"{A}entry") == [] and empty.findtext(f"{A}updated")
        unknown = await client.get("/products/B0NOTHERE1/drops.atom")
        assert unknown.status_code == 404


async def test_drops_feed_keeps_to_its_90_days_and_compares_with_the_price_before(
    make_app: Callable[..., Litestar], price_store: PriceStore
) -> None:
    seed_product(
        price_store,
        asin=ASIN,
        prices=[
            (NOW - 200 * DAY, 3000),
            (NOW - 95 * DAY, 2500),  # a drop, but before the feed's 90 days
            (NOW - 80 * DAY, 2400),  # the first sighting in the window: a drop from 25.00
            (NOW - 70 * DAY, 2400),
            (NOW - 60 * DAY, None),
            (NOW - 50 * DAY, 2600),  # back in stock dearer: a rise
            (NOW - 40 * DAY, 2000),
        ],
    )
    async with AsyncTestClient(app=make_app(clock=ManualClock(NOW))) as client:
        feed = ET.fromstring((await client.get(f"/products/{ASIN}/drops.atom")).content)
    assert [
        (e.findtext(f"{A}updated"), e.findtext(f"{A}title")) for e in feed.findall(f"{A}entry")
    ] == [
        (iso(NOW - 40 * DAY), "Price fell from $26.00 to $20.00"),
        (iso(NOW - 80 * DAY), "Price fell from $25.00 to $24.00"),
    ]

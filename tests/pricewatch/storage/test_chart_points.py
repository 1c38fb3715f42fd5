"""Chart lines written by ClickHouse: the same points, value for value, as the buckets
``fill_buckets`` makes and the API encodes, on random histories of every granularity."""

from __future__ import annotations

import json
import random
from typing import Any

import msgspec
import pytest

from api.services.pricing import RANK_SERIES, WIRE_EXPONENTS
from api.services.products import _points
from pricewatch.history import DAY_MS, Bucket, Granularity
from pricewatch.markets import get_market
from pricewatch.storage.clickhouse import PriceStore
from pricewatch.storage.clickhouse.chart_points import EncodedLine
from pricewatch.storage.clickhouse.price_history import ChartRead
from tests.pricewatch.storage.test_clickhouse import T0, _random_series
from tests.pricewatch.test_history import Point, reference_buckets

pytestmark = pytest.mark.clickhouse

# a product's series on amazon.com (cents), one on amazon.co.jp (whole yen) and a young
# one, first seen well after the others
PRODUCTS = {
    ("us", "B0CHARTS01"): ("USD", ["buybox", "amazon", "new", "used", "list", "sales_rank"], 0),
    ("jp", "B0CHARTS02"): ("JPY", ["buybox", "new", "sales_rank"], 0),
    ("us", "B0CHARTS03"): ("USD", ["buybox"], 50),
}
# (granularity, the longest window tried)
SPANS = [
    (Granularity.HOURLY, 4 * DAY_MS),
    (Granularity.DAILY, 70 * DAY_MS),
    (Granularity.WEEKLY, 150 * DAY_MS),
    (Granularity.MONTHLY, 150 * DAY_MS),
]


def _encoded_points(buckets: list[Bucket], series: str, market: str) -> list[Any]:
    return json.loads(msgspec.json.encode(_points(buckets, series, get_market(market))))


def _as_sent(line: EncodedLine) -> tuple[int, list[Any]]:
    return line.first_ms, json.loads(line.points)


@pytest.fixture
def histories(price_store: PriceStore) -> dict[tuple[str, str], dict[str, list[Point]]]:
    rng = random.Random(21)
    points: dict[tuple[str, str], dict[str, list[Point]]] = {}
    rows = []
    for (market, asin), (currency, names, late_days) in PRODUCTS.items():
        for i, name in enumerate(names):
            series = _random_series(rng, T0 + (late_days + 2 * i) * DAY_MS, 70)
            if name == "sales_rank":  # a rank is any integer, never "unavailable"
                series = [(t, rng.randrange(1, 2_000_000)) for t, _ in series]
            points.setdefault((market, asin), {})[name] = series
            for t, price in series:
                availability = "in_stock" if price is not None else "out_of_stock"
                rows.append((market, asin, name, t, price, currency, availability, "crawler", ""))
    rng.shuffle(rows)
    for i in range(0, len(rows), len(rows) // 3 + 1):  # in several parts, as ingest writes
        price_store.insert_prices(rows[i : i + len(rows) // 3 + 1])
    return points


def test_chart_lines_are_the_reference_buckets_as_the_api_encodes_them(
    price_store: PriceStore, histories: dict[tuple[str, str], dict[str, list[Point]]]
) -> None:
    rng = random.Random(4)
    tried = 0
    for granularity, span in SPANS:
        for _ in range(5):
            start = T0 + rng.randrange(-5 * DAY_MS, 75 * DAY_MS)
            end = start + rng.randrange(1, span)
            reads = [ChartRead(market, asin, start, end) for market, asin in PRODUCTS]
            got = price_store.chart_lines_of(
                reads, granularity, exponents=WIRE_EXPONENTS, counts=RANK_SERIES
            )
            for read, lines in zip(reads, got, strict=True):
                expected = {}
                for name, series in histories[(read.market, read.asin)].items():
                    buckets = reference_buckets(series, start, end, granularity)
                    if buckets:
                        points = _encoded_points(buckets, name, read.market)
                        expected[name] = (buckets[0].start_ms, points)
                sent = {name: _as_sent(line) for name, line in lines.items()}
                assert sent == expected, (granularity, read)
                tried += sum(len(points) for _, points in expected.values())
    assert tried > 2_000  # the windows were not all empty


def test_chart_lines_of_a_batch_answer_each_read_as_its_buckets(
    price_store: PriceStore, histories: dict[tuple[str, str], dict[str, list[Point]]]
) -> None:
    start, end = T0 + 20 * DAY_MS + 5, T0 + 80 * DAY_MS
    keys = [*PRODUCTS, ("us", "B0NOTHERE1"), ("us", "B0CHARTS01")]  # one unknown, one twice
    reads = [ChartRead(market, asin, start, end) for market, asin in keys]
    got = price_store.chart_lines_of(
        reads, Granularity.DAILY, exponents=WIRE_EXPONENTS, counts=RANK_SERIES
    )
    buckets = price_store.histories_of(reads, Granularity.DAILY)
    assert len(got) == len(reads)
    for read, lines, found in zip(reads, got, buckets, strict=True):
        assert {name: _as_sent(line) for name, line in lines.items()} == {
            name: (points[0].start_ms, _encoded_points(points, name, read.market))
            for name, points in found.items()
        }
    assert got[3] == {} and got[4] == got[0] and got[4] is not got[0]
    # money in the marketplace's major units, the rank as the integer it is
    yen = json.loads(got[1]["buybox"].points)
    stored = {price for _, price in histories[("jp", "B0CHARTS02")]["buybox"]}
    assert {p["price"] for p in yen} - {None} <= stored
    assert all(isinstance(p["price"], int) for p in json.loads(got[0]["sales_rank"].points))


def test_reads_of_two_spans_are_refused_together(price_store: PriceStore) -> None:
    reads = [
        ChartRead("us", "B0CHARTS01", T0, T0 + 3 * DAY_MS),
        ChartRead("us", "B0CHARTS03", T0, T0 + 4 * DAY_MS),
    ]
    with pytest.raises(ValueError, match="does not share the rollup span"):
        price_store.chart_lines_of(reads, "daily", exponents=WIRE_EXPONENTS, counts=RANK_SERIES)

"""The reads behind a chart nobody asked for lately: the catalogue row comes with the
buckets or change points, in as few queries as the window allows."""

from __future__ import annotations

import random
from typing import Any

import pytest

from api.services import products as chart
from api.services.pricing import MAX_CHANGE_POINTS, ChartWindow
from pricewatch.history import DAY_MS, HOUR_MS, Granularity
from pricewatch.markets import get_market
from pricewatch.models import Availability, Product
from pricewatch.storage.clickhouse import PriceStore
from pricewatch.storage.clickhouse.price_history import ChartProduct
from tests.pricewatch.storage.test_clickhouse import T0, _random_series, _row

pytestmark = pytest.mark.clickhouse

NOW = T0 + 400 * DAY_MS + 12_345
US = get_market("us")


def _catalogue(store: PriceStore, asin: str, first_seen: int, currency: str | None) -> None:
    # two versions of the row: readers must take the newest
    for version in (0, 1):
        store.upsert_products(
            [
                Product(
                    market="us",
                    asin=asin,
                    title=f"v{version}",
                    currency=currency,
                    availability=Availability.IN_STOCK,
                    first_seen=first_seen + (1 - version) * HOUR_MS,
                    last_seen=NOW - (2 - version) * HOUR_MS,
                )
            ]
        )


class Counting:
    """A client that counts the queries sent through it."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.queries = 0

    def query(self, *args: Any, **kwargs: Any) -> Any:
        self.queries += 1
        return self.client.query(*args, **kwargs)


@pytest.fixture
def stocked(price_store: PriceStore) -> PriceStore:
    """An old product with several series and a young one, in unmerged parts."""
    rng = random.Random(8)
    rows = []
    for name in ("buybox", "new", "used", "sales_rank"):
        rows += [_row("B0OLDPROD1", t, p, name) for t, p in _random_series(rng, T0, 399)]
    young = _random_series(rng, NOW - 40 * DAY_MS, 39)
    rows += [_row("B0YOUNGPR1", t, p) for t, p in young]
    rng.shuffle(rows)
    for i in range(0, len(rows), len(rows) // 3 + 1):
        price_store.insert_prices(rows[i : i + len(rows) // 3 + 1])
    _catalogue(price_store, "B0OLDPROD1", T0, "USD")
    _catalogue(price_store, "B0YOUNGPR1", young[0][0], None)
    return price_store


def test_chart_reads_bring_the_catalogue_row(stocked: PriceStore) -> None:
    for asin in ("B0OLDPROD1", "B0YOUNGPR1"):
        first_seen = stocked.product("us", asin).first_seen  # type: ignore[union-attr]
        currency = "USD" if asin == "B0OLDPROD1" else None
        for granularity in Granularity:
            start = NOW - {"hourly": 5 * DAY_MS}.get(granularity, 300 * DAY_MS)
            product, found = stocked.chart_histories("us", asin, start, NOW, granularity)
            assert product == ChartProduct(first_seen, currency)
            assert found == stocked.histories("us", asin, start, NOW, granularity)
            assert found
        for limit in (3, MAX_CHANGE_POINTS):
            product, points = stocked.chart_changes("us", asin, NOW - 30 * DAY_MS, NOW, limit)
            assert product == ChartProduct(first_seen, currency)
            assert points == stocked.changes("us", asin, NOW - 30 * DAY_MS, NOW, limit)
        assert points
    assert stocked.chart_histories("us", "B0NOTHERE1", NOW - DAY_MS, NOW, "hourly") == (None, {})
    assert stocked.chart_changes("us", "B0NOTHERE1", NOW - DAY_MS, NOW, 10) == (None, {})


@pytest.mark.parametrize(
    ("asin", "period", "granularity", "queries", "served"),
    [
        # the window alone decides: the catalogue row comes along, one query
        ("B0OLDPROD1", "1y", "auto", 1, "daily"),
        ("B0OLDPROD1", "30d", "auto", 1, "changes"),
        ("B0OLDPROD1", "7d", "hourly", 1, "hourly"),
        ("B0YOUNGPR1", "30d", "auto", 1, "changes"),
        # a young product's long window is its changes after all
        ("B0YOUNGPR1", "1y", "auto", 2, "changes"),
        # "all" starts when the product was first seen
        ("B0OLDPROD1", "all", "auto", 2, "weekly"),
        ("B0NOTHERE1", "1y", "auto", 1, None),
        ("B0NOTHERE1", "30d", "auto", 1, None),
        ("B0NOTHERE1", "all", "auto", 1, None),
    ],
)
def test_a_chart_miss_costs_one_query_when_the_window_decides(
    stocked: PriceStore, asin: str, period: str, granularity: str, queries: int, served: str | None
) -> None:
    counting = Counting(stocked.client)
    store = PriceStore(counting, stocked.database)  # type: ignore[arg-type]
    req = chart.ChartRequest(US, asin, ChartWindow(period, granularity, None, None))
    body = chart._history_body(store, req, NOW)
    assert counting.queries == queries
    if served is None:
        assert body is None
    else:
        assert body is not None and f'"granularity":"{served}"'.encode() in body

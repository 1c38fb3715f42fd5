"""The CSV importer against real chDB and Redis: every series, the sales rank included."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis as redis_lib

from pricewatch.history import DAY_MS
from pricewatch.importer import import_csv
from pricewatch.keys import Keys, partition_of
from pricewatch.models import Availability, series_text
from pricewatch.storage.clickhouse import PriceStore

pytestmark = [pytest.mark.clickhouse, pytest.mark.redis]

ASIN = "B07CLN88MV"
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z

CSV = """market,asin,observed_at,price,series,currency
us,B07CLN88MV,2025-12-30T00:00:00Z,15.00,used,
us,B07CLN88MV,2026-01-01T00:00:00Z,19.99,,
us,B07CLN88MV,2026-01-01T00:00:00Z,19.99,amazon,
us,B07CLN88MV,2026-01-01T00:00:00Z,17.50,new,
us,B07CLN88MV,2026-01-01T00:00:00Z,29.99,list,USD
us,B07CLN88MV,2026-01-01T00:00:00Z,17.50,cheapest_new,
us,B07CLN88MV,2026-01-01T00:00:00Z,"#1,234",sales_rank,
us,B07CLN88MV,2026-01-02T00:00:00Z,18.49,buybox,
us,B07CLN88MV,2026-01-02T00:00:00Z,,amazon,
us,B07CLN88MV,2026-01-02T00:00:00Z,987,sales_rank,
us,B07CLN88MV,2026-01-03T00:00:00Z,16.00,new,
us,B07CLN88MV,2026-01-03T00:00:00Z,12.00,refurbished,
us,B07CLN88MV,2026-01-03T00:00:00Z,55,sales_rank,USD
us,B07CLN88MV,2026-01-03T00:00:00Z,top ten,sales_rank,
"""


def test_every_series_is_imported_and_the_catalogue_follows_the_buy_box(
    tmp_path: Path,
    price_store: PriceStore,
    redis_url: str,
    redis_client: redis_lib.Redis,
    keys: Keys,
) -> None:
    path = tmp_path / "history.csv"
    path.write_text(CSV)
    # what ingest and the API cache, which the imported history makes stale
    last_prices = keys.last_price(partition_of("us", ASIN, 2))
    redis_client.hset(last_prices, series_text("us", ASIN, "sales_rank"), b"stale")
    redis_client.hset(keys.history_cache("us", ASIN), "p:30d:auto:0", b"stale chart")

    result = import_csv(
        path,
        price_store.client,
        redis_url=redis_url,
        keys=keys,
        partitions=2,
        progress=False,
        database=price_store.database,
    )

    assert (result.rows, result.series, result.rejected) == (11, 7, 3)
    assert [error.split(":")[0] for error in result.errors] == ["line 13", "line 14", "line 15"]
    assert "unknown series 'refurbished'" in result.errors[0]
    assert "a sales rank has no currency" in result.errors[1]
    assert "no sales rank in 'top ten'" in result.errors[2]

    found = price_store.histories("us", ASIN, T0 - 2 * DAY_MS, T0 + 3 * DAY_MS, "daily")
    closes = {name: [b.close for b in buckets] for name, buckets in found.items()}
    assert closes == {
        "used": [1500, 1500, 1500, 1500, 1500],
        "buybox": [1999, 1849, 1849],
        "amazon": [1999, None, None],
        "new": [1750, 1750, 1600],
        "list": [2999, 2999, 2999],
        "cheapest_new": [1750, 1750, 1750],
        # a rank is an integer, as printed ("#1,234"), with no currency
        "sales_rank": [1234, 987, 987],
    }
    currencies = price_store.client.query(
        f"SELECT DISTINCT series, currency FROM {price_store.database}.prices_raw "
        "WHERE series IN ('sales_rank', 'list')"
    ).result_rows
    assert sorted(currencies) == [("list", "USD"), ("sales_rank", "")]

    product = price_store.product("us", ASIN)
    assert product is not None
    # the buy box's last price, though other series were seen later; first seen with
    # the earliest row of any series
    assert (product.last_price, product.availability, product.currency) == (
        1849,
        Availability.IN_STOCK,
        "USD",
    )
    assert (product.first_seen, product.last_seen) == (T0 - 2 * DAY_MS, T0 + DAY_MS)
    assert not redis_client.hexists(last_prices, series_text("us", ASIN, "sales_rank"))
    assert not redis_client.exists(keys.history_cache("us", ASIN))

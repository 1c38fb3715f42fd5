"""ClickHouse reads for trust-but-verify: the all-time low of a series.

Read from the daily rollup rather than ``prices_raw``: one row per product-day
instead of every sample, and ``min_price`` is already the day's minimum (NULLs,
out-of-stock days, are ignored by ``min``).
"""

from __future__ import annotations

from collections.abc import Sequence

from pricewatch.models import SeriesKey
from pricewatch.storage.clickhouse.tables import Tables


def all_time_lows(store: Tables, keys: Sequence[SeriesKey]) -> dict[SeriesKey, int]:
    """Lowest accepted price per (market, asin, series); series with no price are absent."""
    if not keys:
        return {}
    result = store.client.query(
        f"""
        SELECT market, asin, series, min(min_price)
        FROM {store.database}.prices_daily
        WHERE (market, asin, series) IN {{keys:Array(Tuple(String, String, String))}}
        GROUP BY market, asin, series
        """,
        parameters={"keys": sorted({tuple(k) for k in keys})},
    )
    return {
        SeriesKey(market, asin, series): int(low)
        for market, asin, series, low in result.result_rows
        if low is not None
    }

"""Price history for charts: the state before a range, then rollup buckets.

Step semantics, bucket alignment and the meaning of ``None`` are pure and live in
``pricewatch.history``; this module only reads the rows they need.
"""

from __future__ import annotations

from typing import Any

from pricewatch.history import (
    DAY_MS,
    NO_STATE,
    Bucket,
    Granularity,
    Opening,
    RollupRow,
    bucket_starts,
    check_range,
    fill_buckets,
    next_bucket,
    parse_granularity,
)
from pricewatch.storage.clickhouse.tables import Tables, utc_date


class PriceHistory(Tables):
    """Reads of ``prices_raw`` and the hourly and daily rollups, one series at a time."""

    def price_before(self, market: str, asin: str, series: str, before_ms: int) -> Opening:
        """The state in force just before ``before_ms``: a price, None, or NO_STATE."""
        result = self.client.query(
            f"""
            SELECT price
            FROM {self.database}.prices_raw
            WHERE market = {{market:String}} AND asin = {{asin:String}}
              AND series = {{series:String}}
              AND observed_at < fromUnixTimestamp64Milli({{before:Int64}}, 'UTC')
            ORDER BY observed_at DESC
            LIMIT 1
            """,
            parameters={"market": market, "asin": asin, "series": series, "before": before_ms},
        )
        rows = result.result_rows
        return rows[0][0] if rows else NO_STATE

    def history(
        self,
        market: str,
        asin: str,
        series: str,
        start_ms: int,
        end_ms: int,
        granularity: str | Granularity,
    ) -> list[Bucket]:
        """Chart buckets ``(bucket_start_ms, close, min, max)`` over ``[start_ms, end_ms)``.

        Step semantics, bucket alignment, omitted leading buckets and the meaning of
        ``None`` are described in ``pricewatch.history``. Hourly buckets come from
        prices_hourly; daily, weekly (Monday, UTC) and monthly from prices_daily.
        """
        granularity = parse_granularity(granularity)
        check_range(start_ms, end_ms)
        starts = list(bucket_starts(start_ms, end_ms, granularity))
        first, stop = starts[0], next_bucket(starts[-1], granularity)
        opening = self.price_before(market, asin, series, first)
        rows = self._rollup_rows(market, asin, series, first, stop, granularity)
        return fill_buckets(
            rows, start_ms=start_ms, end_ms=end_ms, granularity=granularity, opening=opening
        )

    def _rollup_rows(
        self,
        market: str,
        asin: str,
        series: str,
        first_ms: int,
        stop_ms: int,
        granularity: Granularity,
    ) -> list[RollupRow]:
        # Buckets are returned as integers (seconds or days since the epoch): chDB may drop
        # the zone of DateTime('UTC') values, integers cannot be misread.
        params: dict[str, Any] = {"market": market, "asin": asin, "series": series}
        if granularity is Granularity.HOURLY:
            table, key, unit_ms = "prices_hourly", "toUInt32(bucket)", 1000
            where = (
                "bucket >= toDateTime({lo:UInt32}, 'UTC') "
                "AND bucket < toDateTime({hi:UInt32}, 'UTC')"
            )
            params |= {"lo": first_ms // 1000, "hi": stop_ms // 1000}
        else:
            table, unit_ms = "prices_daily", DAY_MS
            key = {
                Granularity.DAILY: "toUInt16(bucket)",
                Granularity.WEEKLY: "toUInt16(toMonday(bucket))",
                Granularity.MONTHLY: "toUInt16(toStartOfMonth(bucket))",
            }[granularity]
            where = "bucket >= {lo:Date} AND bucket < {hi:Date}"
            params |= {"lo": utc_date(first_ms), "hi": utc_date(stop_ms)}
        result = self.client.query(
            f"""
            SELECT {key} AS slot, min(min_price), max(max_price),
                   nullIf(argMaxMerge(last_state), -1)
            FROM {self.database}.{table}
            WHERE market = {{market:String}} AND asin = {{asin:String}}
              AND series = {{series:String}} AND {where}
            GROUP BY slot
            ORDER BY slot
            """,
            parameters=params,
        )
        return [
            RollupRow(slot * unit_ms, low, high, last)
            for slot, low, high, last in result.result_rows
        ]

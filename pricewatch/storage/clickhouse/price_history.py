"""Price history for charts: the state before a range, then rollup buckets or the
raw changes themselves.

Step semantics, bucket alignment and the meaning of ``None`` are pure and live in
``pricewatch.history``; this module only reads the rows they need.

A chart nobody asked for lately is computed here, so the reads are shaped for few,
small queries: each is one round trip (with the embedded chDB, one parse, plan and
pipeline, which costs more than the handful of granules a product's rows fill), and
``chart_histories`` / ``chart_changes`` bring the product's catalogue row along.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from pricewatch.history import (
    DAY_MS,
    NO_STATE,
    Bucket,
    Granularity,
    Opening,
    RollupRow,
    bucket_starts,
    change_points,
    check_range,
    fill_buckets,
    next_bucket,
    parse_granularity,
)
from pricewatch.models import Series
from pricewatch.storage.clickhouse.tables import Tables, utc_date

# Slots of a histories row that are no bucket: a series' state before the first bucket,
# and the catalogue row (``ChartProduct``) of a chart query.
_OPENING = -1
_PRODUCT = -2
# The part of a changes row that is the catalogue row (0: an opening, 1: a change).
_PRODUCT_PART = 2


class ChartProduct(NamedTuple):
    """What a chart needs of a product's catalogue row."""

    first_seen_ms: int | None
    currency: str | None


class PriceHistory(Tables):
    """Reads of ``prices_raw`` and the hourly and daily rollups: one series at a time, or
    every series of a product at once."""

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
        found = self.histories(market, asin, start_ms, end_ms, granularity, [series])
        return found.get(series, [])

    def histories(
        self,
        market: str,
        asin: str,
        start_ms: int,
        end_ms: int,
        granularity: str | Granularity,
        series: Sequence[str] | None = None,
    ) -> dict[str, list[Bucket]]:
        """Chart buckets of every series of a product (or only of ``series``) over
        ``[start_ms, end_ms)``, by series name, with the meaning ``history`` gives them.

        One query for all the series: a chart shows them together, and a round trip per
        series would cost a chart miss seven of them. A series absent from the answer has
        no bucket in the range (nothing observed before its end).
        """
        return self._histories(market, asin, start_ms, end_ms, granularity, series, False)[1]

    def chart_histories(
        self, market: str, asin: str, start_ms: int, end_ms: int, granularity: str | Granularity
    ) -> tuple[ChartProduct | None, dict[str, list[Bucket]]]:
        """``histories`` of every series and the product's catalogue row (None: not in
        the catalogue), in one query."""
        return self._histories(market, asin, start_ms, end_ms, granularity, None, True)

    def _histories(
        self,
        market: str,
        asin: str,
        start_ms: int,
        end_ms: int,
        granularity: str | Granularity,
        series: Sequence[str] | None,
        with_product: bool,
    ) -> tuple[ChartProduct | None, dict[str, list[Bucket]]]:
        granularity = parse_granularity(granularity)
        check_range(start_ms, end_ms)
        starts = list(bucket_starts(start_ms, end_ms, granularity))
        first, stop = starts[0], next_bucket(starts[-1], granularity)
        table, key, lo, hi, params, unit_ms = _rollup_source(granularity, first, stop)
        params |= {"market": market, "asin": asin}
        only = ""
        if series is not None:
            only = "AND series IN {series:Array(String)}"
            params["series"] = list(series)
        # One pass over the product's rollup rows up to the range's end: the rows before
        # the first bucket merge into each series' opening state (its last state, -1 for
        # an unavailable price as in the rollups; the rollups' buckets are aligned like
        # the chart's, so they hold exactly the sightings before it), the others into
        # the buckets. A series seen only before the range has just an opening row.
        product = ""
        if with_product:
            product = f"""
            UNION ALL
            SELECT ifNull(currency, ''), toInt64({_PRODUCT}),
                   CAST(toUnixTimestamp64Milli(first_seen), 'Nullable(Int64)'),
                   CAST(NULL, 'Nullable(Int64)'), CAST(NULL, 'Nullable(Int64)')
            FROM {self.database}.products FINAL
            WHERE market = {{market:String}} AND asin = {{asin:String}}
            """
        result = self.client.query(
            f"""
            SELECT series, toInt64(if(bucket < {lo}, {_OPENING}, {key})) AS slot,
                   CAST(min(min_price), 'Nullable(Int64)'), CAST(max(max_price), 'Nullable(Int64)'),
                   CAST(nullIf(argMaxMerge(last_state), -1), 'Nullable(Int64)')
            FROM {self.database}.{table}
            WHERE market = {{market:String}} AND asin = {{asin:String}} {only} AND bucket < {hi}
            GROUP BY series, slot
            {product}
            """,
            parameters=params,
        )
        found_product: ChartProduct | None = None
        openings: dict[str, Opening] = {}
        rows: dict[str, list[RollupRow]] = {}
        for name, slot, low, high, last in result.result_rows:
            if slot == _OPENING:
                openings[name] = last
            elif slot == _PRODUCT:
                found_product = ChartProduct(low, name or None)
            else:
                rows.setdefault(name, []).append(RollupRow(slot * unit_ms, low, high, last))
        found: dict[str, list[Bucket]] = {}
        for name in sorted(openings.keys() | rows.keys()):
            buckets = fill_buckets(
                rows.get(name, ()),
                start_ms=start_ms,
                end_ms=end_ms,
                granularity=granularity,
                opening=openings.get(name, NO_STATE),
            )
            if buckets:
                found[name] = buckets
        return found_product, found

    def changes(
        self,
        market: str,
        asin: str,
        start_ms: int,
        end_ms: int,
        limit: int,
        series: Sequence[str] | None = None,
    ) -> dict[str, list[Bucket]] | None:
        """Every series' state changes over ``[start_ms, end_ms)`` (the meaning
        ``pricewatch.history.change_points`` gives them), by series name; None when
        there are more than ``limit`` points in all (a chart then wants buckets).

        One query for all the series, as ``histories``. A series absent from the answer
        has no state in the range.
        """
        return self._changes(market, asin, start_ms, end_ms, limit, series, False)[1]

    def chart_changes(
        self, market: str, asin: str, start_ms: int, end_ms: int, limit: int
    ) -> tuple[ChartProduct | None, dict[str, list[Bucket]] | None]:
        """``changes`` of every series and the product's catalogue row (None: not in the
        catalogue), in one query."""
        return self._changes(market, asin, start_ms, end_ms, limit, None, True)

    def _changes(
        self,
        market: str,
        asin: str,
        start_ms: int,
        end_ms: int,
        limit: int,
        series: Sequence[str] | None,
        with_product: bool,
    ) -> tuple[ChartProduct | None, dict[str, list[Bucket]] | None]:
        check_range(start_ms, end_ms)
        params: dict[str, Any] = {
            "market": market,
            "asin": asin,
            "start": start_ms,
            "end": end_ms,
            # each series' first row in the range is kept even when it repeats the
            # opening state (change_points drops it): a cut answer must still be
            # recognised as more than ``limit`` points
            "rows": limit + len(Series) + 1,
        }
        only = ""
        if series is not None:
            only = "AND series IN {series:Array(String)}"
            params["series"] = list(series)
        product = ""
        if with_product:
            # first: the LIMIT of the last SELECT of a UNION ALL is its own
            product = f"""
            SELECT ifNull(currency, ''), {_PRODUCT_PART}, toUnixTimestamp64Milli(first_seen),
                   toInt64(0)
            FROM {self.database}.products FINAL
            WHERE market = {{market:String}} AND asin = {{asin:String}}
            UNION ALL
            """
        # Part 0 is each series' opening state, part 1 the rows whose state differs from
        # the row before (-1 marks an unavailable price, as in the rollups, and -2 is no
        # row before). prices_raw holds every sighting; most repeat the price.
        result = self.client.query(
            f"""
            {product}
            SELECT series, 0 AS part, toInt64(0) AS at,
                   argMax(ifNull(price, -1), observed_at) AS state
            FROM {self.database}.prices_raw
            WHERE market = {{market:String}} AND asin = {{asin:String}} {only}
              AND observed_at < fromUnixTimestamp64Milli({{start:Int64}}, 'UTC')
            GROUP BY series
            UNION ALL
            SELECT series, 1 AS part, at, state
            FROM (
                SELECT series, toUnixTimestamp64Milli(observed_at) AS at,
                       ifNull(price, -1) AS state,
                       lagInFrame(ifNull(price, -1), 1, toInt64(-2)) OVER (
                           PARTITION BY series ORDER BY observed_at
                           ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
                       ) AS previous
                FROM {self.database}.prices_raw
                WHERE market = {{market:String}} AND asin = {{asin:String}} {only}
                  AND observed_at >= fromUnixTimestamp64Milli({{start:Int64}}, 'UTC')
                  AND observed_at < fromUnixTimestamp64Milli({{end:Int64}}, 'UTC')
            )
            WHERE state != previous
            ORDER BY series, at
            LIMIT {{rows:UInt32}}
            """,
            parameters=params,
        )
        found_product: ChartProduct | None = None
        openings: dict[str, Opening] = {}
        rows: dict[str, list[tuple[int, int | None]]] = {}
        count = 0
        for name, part, at, state in result.result_rows:
            value = None if state == -1 else int(state)
            if part == 0:
                openings[name] = value
            elif part == _PRODUCT_PART:
                found_product = ChartProduct(int(at), name or None)
            else:
                count += 1
                rows.setdefault(name, []).append((int(at), value))
        if count >= params["rows"]:
            return found_product, None
        return found_product, _points_within(openings, rows, start_ms, limit)


def _points_within(
    openings: dict[str, Opening],
    rows: dict[str, list[tuple[int, int | None]]],
    start_ms: int,
    limit: int,
) -> dict[str, list[Bucket]] | None:
    found: dict[str, list[Bucket]] = {}
    for name in sorted(openings.keys() | rows.keys()):
        points = change_points(
            rows.get(name, ()), start_ms=start_ms, opening=openings.get(name, NO_STATE)
        )
        if points:
            found[name] = points
    if sum(len(points) for points in found.values()) > limit:
        return None
    return found


def _rollup_source(
    granularity: Granularity, first_ms: int, stop_ms: int
) -> tuple[str, str, str, str, dict[str, Any], int]:
    """(table, bucket key, first bucket, bucket after the last, their parameters, ms per
    key unit) of the rollup that holds ``granularity``'s buckets from ``first_ms`` to
    ``stop_ms``."""
    # Buckets are returned as integers (seconds or days since the epoch): chDB may drop
    # the zone of DateTime('UTC') values, integers cannot be misread.
    if granularity is Granularity.HOURLY:
        return (
            "prices_hourly",
            "toUInt32(bucket)",
            "toDateTime({lo:UInt32}, 'UTC')",
            "toDateTime({hi:UInt32}, 'UTC')",
            {"lo": first_ms // 1000, "hi": stop_ms // 1000},
            1000,
        )
    key = {
        Granularity.DAILY: "toUInt16(bucket)",
        Granularity.WEEKLY: "toUInt16(toMonday(bucket))",
        Granularity.MONTHLY: "toUInt16(toStartOfMonth(bucket))",
    }[granularity]
    lo, hi = "{lo:Date}", "{hi:Date}"
    return "prices_daily", key, lo, hi, {"lo": utc_date(first_ms), "hi": utc_date(stop_ms)}, DAY_MS

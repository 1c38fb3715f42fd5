"""Chart lines written by ClickHouse: a product's buckets as the JSON the API serves.

A chart nobody asked for lately is a year of daily buckets per series. Filled in Python
(``pricewatch.history.fill_buckets``), then turned into point objects and encoded, they
cost a chart about 1.5 ms of the API process's one interpreter, where a chart miss
spends most of its time: the API could not serve 300 such charts a second. Here the
same query that reads the rollups also fills the grid, carries the price in, and
writes every point's JSON text, in ClickHouse's threads, which Python's lock does not
hold back. The API splices the text into the chart's body as it is.

The meaning is ``fill_buckets``'s, which stays the reference: the tests hold the two
to the same points on random histories of every granularity.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

from pricewatch.history import Granularity, parse_granularity
from pricewatch.storage.clickhouse.price_history import (
    SMALL_READ,
    ChartRead,
    rollup_source,
    shared_span,
)
from pricewatch.storage.clickhouse.tables import Tables

# one bucket of each granularity, as WITH FILL steps through the grid
_STEP = {
    Granularity.HOURLY: "INTERVAL 1 HOUR",
    Granularity.DAILY: "INTERVAL 1 DAY",
    Granularity.WEEKLY: "INTERVAL 1 WEEK",
    Granularity.MONTHLY: "INTERVAL 1 MONTH",
}
# a rollup row's bucket, as a time (rollup_source's keys are the same, as integers)
_BUCKET = {
    Granularity.HOURLY: "bucket",
    Granularity.DAILY: "bucket",
    Granularity.WEEKLY: "toMonday(bucket)",
    Granularity.MONTHLY: "toStartOfMonth(bucket)",
}


class EncodedLine(NamedTuple):
    """One series of a chart, ready to send."""

    # the start of its first bucket (buckets before the first known state are omitted)
    first_ms: int
    # a JSON array of points {"timestamp", "price", "min", "max"} (``api.schemas.PricePoint``)
    points: str


def _wire_value(column: str) -> str:
    """A state (-1: no price) as JSON text: divided by ``divisor`` (0: as it is)."""
    return (
        f"if({column} < 0, 'null', "
        f"if(divisor = 0, toString({column}), toString({column} / divisor)))"
    )


class ChartPoints(Tables):
    """Chart lines as JSON text, read from the hourly and daily rollups."""

    def chart_lines_of(
        self,
        reads: Sequence[ChartRead],
        granularity: str | Granularity,
        *,
        exponents: Mapping[str, int],
        counts: Sequence[str],
    ) -> list[dict[str, EncodedLine]]:
        """The buckets ``histories_of`` reads, as JSON text by series, for each read in
        order. Money is divided by ten to the power of its marketplace's exponent
        (``exponents``, by marketplace code); the series in ``counts`` are integers
        served as they are. The reads must share one ``bucket_span``."""
        granularity = parse_granularity(granularity)
        if not reads:
            return []
        span = shared_span(reads, granularity)
        table, _, lo, hi, params, _ = rollup_source(granularity, *span)
        params["keys"] = sorted({(read.market, read.asin) for read in reads})
        params["markets"] = list(exponents)
        params["exponents"] = list(exponents.values())
        params["counts"] = list(counts)
        step, first = _STEP[granularity], f"toDateTime({lo}, 'UTC')"
        # Innermost, the rollup rows by bucket: the rows before the first bucket merge into
        # the opening state, a row one step before it (only the last state counts there).
        # WITH FILL adds the buckets without a row, per series (the ORDER BY's prefix);
        # ``real`` tells them apart. The state carried into a bucket is the last state
        # of the rows before it (anyLast skips the NULLs of the added ones); none at all
        # (nothing seen yet) leaves an added bucket out, as fill_buckets omits it. Then
        # each bucket's point, as text, and the points of each series in order. (Each
        # level of a query costs chDB a few ms to analyse, whatever the rows: three.)
        result = self.client.query(
            f"""
            SELECT market, asin, series, toInt64(toUnixTimestamp(minIf(slot, kept))) * 1000,
                   concat('[', arrayStringConcat(arrayMap(p -> p.2, arraySort(groupArrayIf((slot,
                       concat('{{"timestamp":"', formatDateTime(slot, '%Y-%m-%dT%H:%i:%SZ', 'UTC'),
                              '","price":', {_wire_value("close")},
                              ',"min":', {_wire_value("low")},
                              ',"max":', {_wire_value("high")}, '}}')), kept))), ','), ']')
            FROM (
                SELECT market, asin, series, slot,
                       anyLast(if(real, last, NULL)) OVER (
                           PARTITION BY market, asin, series ORDER BY slot
                           ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS carry,
                       (real OR carry IS NOT NULL) AND slot >= {first} AS kept,
                       if(real, last, carry) AS close,
                       if(real, ifNull(if(carry >= 0, least(carry, ifNull(low_seen, carry)),
                                          low_seen), -1), carry) AS low,
                       if(real, ifNull(if(carry >= 0, greatest(carry, ifNull(high_seen, carry)),
                                          high_seen), -1), carry) AS high,
                       if(series IN {{counts:Array(String)}}, 0,
                          intExp10(transform(market, {{markets:Array(String)}},
                                             {{exponents:Array(UInt8)}}, toUInt8(0)))) AS divisor
                FROM (
                    SELECT market, asin, series,
                           toDateTime(if(bucket < {lo}, {lo} - {step}, {_BUCKET[granularity]}),
                                      'UTC') AS slot,
                           -- one known bound is the whole band
                           coalesce(min(min_price), max(max_price)) AS low_seen,
                           coalesce(max(max_price), min(min_price)) AS high_seen,
                           toInt64(argMaxMerge(last_state)) AS last,
                           toUInt8(1) AS real
                    FROM {self.database}.{table}
                    WHERE (market, asin) IN {{keys:Array(Tuple(String, String))}}
                      AND bucket < {hi}
                    GROUP BY market, asin, series, slot
                    ORDER BY market, asin, series,
                             slot WITH FILL FROM {first} TO toDateTime({hi}, 'UTC') STEP {step}
                )
            )
            GROUP BY market, asin, series
            HAVING countIf(kept) > 0
            """,
            parameters=params,
            settings=SMALL_READ,
        )
        lines: dict[tuple[str, str], dict[str, EncodedLine]] = {}
        for market, asin, series, first_ms, points in result.result_rows:
            lines.setdefault((market, asin), {})[series] = EncodedLine(first_ms, points)
        # a product read twice in one batch gets a dict of its own
        return [dict(lines.get((read.market, read.asin), {})) for read in reads]

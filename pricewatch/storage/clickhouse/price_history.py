"""Price history for charts: the state before a range, then rollup buckets or the
raw changes themselves.

Step semantics, bucket alignment and the meaning of ``None`` are pure and live in
``pricewatch.history``; this module only reads the rows they need.

A chart nobody asked for lately is computed here, so the reads are shaped for few,
small queries: each is one round trip (with the embedded chDB, one parse, plan and
pipeline, which costs more than the handful of granules a product's rows fill), for
several products at once (``histories_of`` / ``changes_of``). They read no catalogue
row: what a chart needs of it, the rows answer (see ``api.services.products``).
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
    bucket_span,
    change_points,
    check_range,
    fill_buckets,
    parse_granularity,
)
from pricewatch.models import Series
from pricewatch.storage.clickhouse.tables import Tables, utc_date

# The slot of a histories row that is no bucket: a series' state before the first one.
_OPENING = -1
# Bucket reads touch a few granules per product: one thread runs them, as a pipeline of
# several costs more CPU to set up than it saves (a one-year chart of one product: 11 ms
# of CPU against 14 with chDB's default of a thread per core). Change points do not
# gain: their window function's sort runs faster on several threads for the same CPU.
SMALL_READ = {"max_threads": 1}


class ChartRead(NamedTuple):
    """One product's chart range: ``[start_ms, end_ms)``."""

    market: str
    asin: str
    start_ms: int
    end_ms: int


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
        read = ChartRead(market, asin, start_ms, end_ms)
        return self.histories_of([read], granularity, series=series)[0]

    def histories_of(
        self,
        reads: Sequence[ChartRead],
        granularity: str | Granularity,
        *,
        series: Sequence[str] | None = None,
    ) -> list[dict[str, list[Bucket]]]:
        """``histories`` of several reads in one query, in their order. The reads must
        share one ``bucket_span`` (concurrent chart misses of one granularity, within
        one hour or day, do).

        A query's fixed cost (with the embedded chDB, parsing and planning: most of a
        chart miss) is then paid once for all of them.
        """
        granularity = parse_granularity(granularity)
        if not reads:
            return []
        span = shared_span(reads, granularity)
        table, key, lo, hi, params, unit_ms = rollup_source(granularity, *span)
        params["keys"] = sorted({(read.market, read.asin) for read in reads})
        only = ""
        if series is not None:
            only = "AND series IN {series:Array(String)}"
            params["series"] = list(series)
        # One pass over the products' rollup rows up to the range's end: the rows before
        # the first bucket merge into each series' opening state (its last state, -1 for
        # an unavailable price as in the rollups; the rollups' buckets are aligned like
        # the chart's, so they hold exactly the sightings before it), the others into
        # the buckets. A series seen only before the range has just an opening row.
        # A row starts with its bucket as ``fill_buckets`` takes it (start in ms, min,
        # max, last), so that it goes there as sliced.
        result = self.client.query(
            f"""
            SELECT toInt64(if(bucket < {lo}, {_OPENING}, {key} * {unit_ms})) AS slot,
                   CAST(min(min_price), 'Nullable(Int64)'), CAST(max(max_price), 'Nullable(Int64)'),
                   CAST(nullIf(argMaxMerge(last_state), -1), 'Nullable(Int64)'),
                   market, asin, series
            FROM {self.database}.{table}
            WHERE (market, asin) IN {{keys:Array(Tuple(String, String))}} {only}
              AND bucket < {hi}
            GROUP BY market, asin, series, slot
            """,
            parameters=params,
            settings=SMALL_READ,
        )
        openings: dict[tuple[str, str], dict[str, Opening]] = {}
        # a row's first four columns, as fill_buckets takes them
        lines: dict[tuple[str, str], dict[str, list[Any]]] = {}
        # a chart miss brings hundreds of rows a product: the loop stays plain
        for row in result.result_rows:
            slot, market, asin, name = row[0], row[4], row[5], row[6]
            if slot == _OPENING:
                openings.setdefault((market, asin), {})[name] = row[3]
            else:
                by_series = lines.get((market, asin))
                if by_series is None:
                    by_series = lines[(market, asin)] = {}
                steps = by_series.get(name)
                if steps is None:
                    steps = by_series[name] = []
                steps.append(row[:4])
        answers = []
        for read in reads:
            of = (read.market, read.asin)
            its_openings, its_lines = openings.get(of, {}), lines.get(of, {})
            found: dict[str, list[Bucket]] = {}
            for name in sorted(its_openings.keys() | its_lines.keys()):
                buckets = fill_buckets(
                    its_lines.get(name, ()),
                    start_ms=read.start_ms,
                    end_ms=read.end_ms,
                    granularity=granularity,
                    opening=its_openings.get(name, NO_STATE),
                )
                if buckets:
                    found[name] = buckets
            answers.append(found)
        return answers

    def changes(
        self,
        market: str,
        asin: str,
        start_ms: int,
        end_ms: int,
        limit: int,
        series: Sequence[str] | None = None,
        *,
        opening: bool = True,
    ) -> dict[str, list[Bucket]] | None:
        """Every series' state changes over ``[start_ms, end_ms)`` (the meaning
        ``pricewatch.history.change_points`` gives them), by series name; None when
        there are more than ``limit`` points in all (a chart then wants buckets).

        One query for all the series, as ``histories``. A series absent from the answer
        has no state in the range. ``opening``: as ``changes_of``.
        """
        read = ChartRead(market, asin, start_ms, end_ms)
        return self.changes_of([read], limit, series=series, opening=opening)[0]

    def changes_of(
        self,
        reads: Sequence[ChartRead],
        limit: int,
        *,
        series: Sequence[str] | None = None,
        opening: bool = True,
    ) -> list[dict[str, list[Bucket]] | None]:
        """``changes`` of several reads, in their order: one query for reads of
        distinct products, each with its own range (a product read twice takes one more
        query per repeat).

        ``opening=False`` says that no read starts after its product was first seen
        (the catalogue's ``first_seen`` precedes every price of it), so that no state
        precedes the reads: the query leaves out that part, about a third of its cost.
        """
        for read in reads:
            check_range(read.start_ms, read.end_ms)
        answers: dict[int, dict[str, list[Bucket]] | None] = {}
        pending = list(enumerate(reads))
        while pending:
            taken: dict[tuple[str, str], tuple[int, ChartRead]] = {}
            later = []
            for index, read in pending:
                if (read.market, read.asin) in taken:
                    later.append((index, read))
                else:
                    taken[(read.market, read.asin)] = (index, read)
            found = self._distinct_changes(
                [read for _, read in taken.values()], limit, series, opening
            )
            for (index, _), answer in zip(taken.values(), found, strict=True):
                answers[index] = answer
            pending = later
        return [answers[index] for index in range(len(reads))]

    def _distinct_changes(
        self, reads: list[ChartRead], limit: int, series: Sequence[str] | None, opening: bool
    ) -> list[dict[str, list[Bucket]] | None]:
        # each series' first row in the range is kept even when it repeats the opening
        # state (change_points drops it): a cut answer must still be recognised as more
        # than ``limit`` points
        most = limit + len(Series) + 1
        params: dict[str, Any] = {
            "keys": [(read.market, read.asin) for read in reads],
            "starts": [read.start_ms for read in reads],
            "ends": [read.end_ms for read in reads],
            "first": min(read.start_ms for read in reads),
            "stop": max(read.end_ms for read in reads),
            "rows": most,
        }
        only = ""
        if series is not None:
            only = "AND series IN {series:Array(String)}"
            params["series"] = list(series)
        # Each read has its own range: its bounds are looked up by its product's place
        # in ``keys``, and the bounds common to all narrow the scan by the primary key.
        # Part 0 is each series' opening state (when asked for), part 1 the rows whose
        # state differs from the row before (-1 marks an unavailable price, as in the
        # rollups, and -2 is no row before). prices_raw holds every sighting; most
        # repeat the price.
        at = "toUnixTimestamp64Milli(observed_at)"
        place = "indexOf({keys:Array(Tuple(String, String))}, (market, asin))"
        before = ""
        if opening:
            params["last"] = max(read.start_ms for read in reads)
            before = f"""
            SELECT market, asin, series, 0 AS part, toInt64(0) AS at,
                   argMax(ifNull(price, -1), observed_at) AS state
            FROM {self.database}.prices_raw
            WHERE (market, asin) IN {{keys:Array(Tuple(String, String))}} {only}
              AND observed_at < fromUnixTimestamp64Milli({{last:Int64}}, 'UTC')
              AND {at} < {{starts:Array(Int64)}}[{place}]
            GROUP BY market, asin, series
            UNION ALL
            """
        result = self.client.query(
            f"""
            {before}
            SELECT market, asin, series, 1 AS part, at, state
            FROM (
                SELECT market, asin, series, {at} AS at, ifNull(price, -1) AS state,
                       lagInFrame(ifNull(price, -1), 1, toInt64(-2)) OVER (
                           PARTITION BY market, asin, series ORDER BY observed_at
                           ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
                       ) AS previous
                FROM {self.database}.prices_raw
                WHERE (market, asin) IN {{keys:Array(Tuple(String, String))}} {only}
                  AND observed_at >= fromUnixTimestamp64Milli({{first:Int64}}, 'UTC')
                  AND observed_at < fromUnixTimestamp64Milli({{stop:Int64}}, 'UTC')
                  AND {at} >= {{starts:Array(Int64)}}[{place}]
                  AND {at} < {{ends:Array(Int64)}}[{place}]
            )
            WHERE state != previous
            ORDER BY market, asin, series, at
            LIMIT {{rows:UInt32}} BY market, asin
            """,
            parameters=params,
        )
        openings: dict[tuple[str, str], dict[str, Opening]] = {}
        rows: dict[tuple[str, str], dict[str, list[tuple[int, int | None]]]] = {}
        counts: dict[tuple[str, str], int] = {}
        for market, asin, name, part, at_ms, state in result.result_rows:
            of = (market, asin)
            value = None if state == -1 else int(state)
            if part == 0:
                openings.setdefault(of, {})[name] = value
            else:
                counts[of] = counts.get(of, 0) + 1
                rows.setdefault(of, {}).setdefault(name, []).append((int(at_ms), value))
        answers: list[dict[str, list[Bucket]] | None] = []
        for read in reads:
            of = (read.market, read.asin)
            points = None
            if counts.get(of, 0) < most:
                points = _points_within(
                    openings.get(of, {}), rows.get(of, {}), read.start_ms, limit
                )
            answers.append(points)
        return answers


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


def shared_span(reads: Sequence[ChartRead], granularity: Granularity) -> tuple[int, int]:
    """The ``bucket_span`` every one of ``reads`` (at least one) has: one query reads
    them over one grid; ValueError when they differ."""
    span = bucket_span(reads[0].start_ms, reads[0].end_ms, granularity)
    for read in reads[1:]:
        if bucket_span(read.start_ms, read.end_ms, granularity) != span:
            raise ValueError(f"{read} does not share the rollup span {span} of {reads[0]}")
    return span


def rollup_source(
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

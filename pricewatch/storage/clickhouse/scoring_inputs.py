"""The scheduler's ClickHouse reads: what the scorer needs per product.

The catalogue (first seen, current price), the price history (how often the price
changed between consecutive observations, and when a crawler or the extension last
saw it) and the daily view counts, each as a plain dict keyed by ``(market, asin)``;
``scheduler.inputs`` turns them into arrays. The watermark reads say which products
have new price observations or views since a previous pass.

Every reader takes ``keys=None`` (all products: a full pass) or a set of products
(incremental re-scoring). Calls are blocking.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Collection, Iterator
from typing import Any

from clickhouse_connect.driver.client import Client

from pricewatch.history import DAY_MS
from pricewatch.models import ProductKey, Series, Source
from pricewatch.storage.clickhouse.tables import utc_date

# Keys per query: the IN list travels as one parameter, kept well below the server's
# query size limits.
KEY_CHUNK = 10_000
# How far back the change rate looks: long enough for slow movers to show a change,
# short enough that a product whose pricing changed is re-learned within a season.
HISTORY_DAYS = 90
# Rows can land a little after the time they carry (batching, late reports): the
# watermarks look back this far so such rows still mark their product as changed.
WATERMARK_SLACK_MS = 5 * 60_000

_CRAWL_SOURCES = (Source.CRAWLER.value, Source.VERIFICATION.value)


@dataclasses.dataclass(frozen=True)
class History:
    """Observation gaps of a product's buy-box series in the history window."""

    gaps: int
    changed_gaps: int
    span_ms: int
    last_crawl_ms: int
    last_report_ms: int


@dataclasses.dataclass(frozen=True)
class Catalogued:
    first_seen_ms: int
    last_price: int | None


def _chunks(keys: Collection[ProductKey] | None) -> Iterator[list[ProductKey] | None]:
    if keys is None:
        yield None
        return
    ordered = sorted(keys)
    for start in range(0, len(ordered), KEY_CHUNK):
        yield ordered[start : start + KEY_CHUNK]


def _key_filter(chunk: list[ProductKey] | None, params: dict[str, Any]) -> str:
    if chunk is None:
        return ""
    params["keys"] = chunk
    return "AND (market, asin) IN {keys:Array(Tuple(String, String))}"


def read_catalogue(
    client: Client, database: str, keys: Collection[ProductKey] | None = None
) -> dict[ProductKey, Catalogued]:
    found: dict[ProductKey, Catalogued] = {}
    for chunk in _chunks(keys):
        params: dict[str, Any] = {}
        where = _key_filter(chunk, params)
        result = client.query(
            f"""
            SELECT market, asin, toUnixTimestamp64Milli(first_seen), last_price
            FROM {database}.products FINAL
            WHERE 1 {where}
            """,
            parameters=params,
        )
        for market, asin, first_seen, price in result.result_rows:
            found[(market, asin)] = Catalogued(first_seen, price)
    return found


def read_history(
    client: Client,
    database: str,
    now_ms: int,
    keys: Collection[ProductKey] | None = None,
    history_days: int = HISTORY_DAYS,
) -> dict[ProductKey, History]:
    """Per product: gaps between consecutive buy-box observations in the window, how
    many of them show a change (price or availability), and the last crawl / report.

    An availability change (out of stock) counts as a change: it is news too.
    """
    found: dict[ProductKey, History] = {}
    for chunk in _chunks(keys):
        params: dict[str, Any] = {
            "since": now_ms - history_days * DAY_MS,
            "series": Series.BUYBOX.value,
            "crawl": list(_CRAWL_SOURCES),
            "report": Source.EXTENSION.value,
        }
        where = _key_filter(chunk, params)
        result = client.query(
            f"""
            SELECT market, asin,
                   length(states) - 1,
                   arrayCount((a, b) -> a.2 != b.2 OR a.3 != b.3,
                              arrayPopFront(states), arrayPopBack(states)),
                   states[-1].1 - states[1].1,
                   last_crawl, last_report
            FROM
            (
                SELECT market, asin,
                       arraySort(s -> s.1, groupArray(
                           (toUnixTimestamp64Milli(observed_at), ifNull(price, -1),
                            availability))) AS states,
                       toUnixTimestamp64Milli(maxIf(observed_at, source IN {{crawl:Array(String)}}))
                           AS last_crawl,
                       toUnixTimestamp64Milli(maxIf(observed_at, source = {{report:String}}))
                           AS last_report
                FROM {database}.prices_raw
                WHERE series = {{series:String}}
                  AND observed_at >= fromUnixTimestamp64Milli({{since:Int64}}, 'UTC') {where}
                GROUP BY market, asin
            )
            """,
            parameters=params,
        )
        for market, asin, gaps, changed, span, crawl, report in result.result_rows:
            found[(market, asin)] = History(gaps, changed, span, crawl, report)
    return found


def read_views(
    client: Client, database: str, now_ms: int, keys: Collection[ProductKey] | None = None
) -> dict[ProductKey, tuple[int, int]]:
    """(views over the last 7 days, over the last 30 days), today included."""
    today = utc_date(now_ms)
    found: dict[ProductKey, tuple[int, int]] = {}
    for chunk in _chunks(keys):
        params: dict[str, Any] = {
            "week": today - dt.timedelta(days=6),
            "month": today - dt.timedelta(days=29),
        }
        where = _key_filter(chunk, params)
        result = client.query(
            f"""
            SELECT market, asin, sumIf(views, day >= {{week:Date}}), sum(views)
            FROM {database}.views_daily
            WHERE day >= {{month:Date}} {where}
            GROUP BY market, asin
            """,
            parameters=params,
        )
        for market, asin, week, month in result.result_rows:
            found[(market, asin)] = (int(week), int(month))
    return found


ScoringReads = tuple[
    dict[ProductKey, Catalogued], dict[ProductKey, History], dict[ProductKey, tuple[int, int]]
]


def read_scoring_inputs(
    client: Client, database: str, now_ms: int, keys: Collection[ProductKey] | None
) -> ScoringReads:
    """The catalogue, history and views of ``keys`` (every product when None)."""
    return (
        read_catalogue(client, database, keys),
        read_history(client, database, now_ms, keys),
        read_views(client, database, now_ms, keys),
    )


# ------------------------------------------------------------------- watermarks


def _max_ms(client: Client, sql: str) -> int:
    value = client.query(sql).result_rows[0][0]
    return int(value or 0)


def changed_in_clickhouse(
    client: Client, database: str, prices_since_ms: int, views_since_ms: int
) -> tuple[set[ProductKey], int, int]:
    """Products with price observations or views newer than these watermarks, and the
    new prices and views watermarks."""
    changed: set[ProductKey] = set()
    prices_ms, views_ms = prices_since_ms, views_since_ms
    for table, column, start in (
        ("prices_latest", "observed_at", prices_since_ms),
        ("views", "at", views_since_ms),
    ):
        result = client.query(
            f"""
            SELECT market, asin, toUnixTimestamp64Milli(max({column}))
            FROM {database}.{table}
            WHERE {column} > fromUnixTimestamp64Milli({{since:Int64}}, 'UTC')
            GROUP BY market, asin
            """,
            parameters={"since": max(start - WATERMARK_SLACK_MS, 0)},
        )
        newest = start
        for market, asin, at in result.result_rows:
            changed.add((market, asin))
            newest = max(newest, int(at))
        if table == "prices_latest":
            prices_ms = newest
        else:
            views_ms = newest
    return changed, prices_ms, views_ms


def clickhouse_watermarks(client: Client, database: str) -> tuple[int, int]:
    """The newest price observation and view (ms) stored now."""
    prices = _max_ms(
        client, f"SELECT toUnixTimestamp64Milli(max(observed_at)) FROM {database}.prices_latest"
    )
    views = _max_ms(client, f"SELECT toUnixTimestamp64Milli(max(at)) FROM {database}.views")
    return prices, views

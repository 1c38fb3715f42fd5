"""What the scorer needs per product, read from the stores.

ClickHouse gives the catalogue (first seen, current price), the price history (how
often the price changed between consecutive observations, and when a crawler or the
extension last saw it) and the daily view counts; SQL gives the subscriptions. Each
reader returns plain dicts keyed by ``(market, asin)``; :func:`assemble` (pure) turns
them into the column arrays the scorer works on.

Every reader takes ``keys=None`` (all products: a full pass) or a set of products
(incremental re-scoring); :func:`changed_since` says which products changed since a
:class:`Watermarks`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from collections.abc import Collection, Iterable, Iterator, Sequence
from typing import Any

import numpy as np
from clickhouse_connect.driver.client import Client
from sqlalchemy import case, func, or_, select, true, tuple_

from pricewatch.models import Series, Source
from pricewatch.storage.sql import Db, SubscriptionStatus, metadata, transaction
from scheduler.scoring import DAY_MS, FloatArray, IntArray, censored_changes

ProductKey = tuple[str, str]

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
_sub = metadata.tables["subscriptions"].c


@dataclasses.dataclass(frozen=True)
class History:
    """Observation gaps of a product's buy-box series in the history window."""

    gaps: int
    changed_gaps: int
    span_ms: int
    last_crawl_ms: int
    last_report_ms: int


@dataclasses.dataclass(frozen=True)
class Interest:
    subscriptions: int
    # the highest armed threshold: the one the price reaches first
    nearest_threshold: int | None


@dataclasses.dataclass(frozen=True)
class Catalogued:
    first_seen_ms: int
    last_price: int | None


@dataclasses.dataclass
class ProductInputs:
    """Scoring inputs as columns, one element per product, in ``keys`` order."""

    keys: list[ProductKey]
    subscriptions: IntArray
    proximity: FloatArray
    views_7d: FloatArray
    views_30d: FloatArray
    # 0 when the product is not in the catalogue yet
    first_seen_ms: IntArray
    # changes between consecutive observations, corrected for changes hidden by a gap
    changes: FloatArray
    observed_days: FloatArray
    last_crawl_ms: IntArray
    last_report_ms: IntArray

    def __len__(self) -> int:
        return len(self.keys)


@dataclasses.dataclass(frozen=True)
class Watermarks:
    """The newest row each input source had when a scoring pass read it (ms)."""

    prices_ms: int = 0
    views_ms: int = 0
    subscriptions_ms: int = 0

    def as_fields(self) -> dict[str, int]:
        return {f"wm:{name}": value for name, value in dataclasses.asdict(self).items()}

    @classmethod
    def from_fields(cls, fields: dict[str, int]) -> Watermarks | None:
        names = [f.name for f in dataclasses.fields(cls)]
        if not all(f"wm:{name}" in fields for name in names):
            return None
        return cls(**{name: fields[f"wm:{name}"] for name in names})


def proximity(price: int | None, threshold: int | None) -> float:
    """How close ``price`` is to dropping to ``threshold``: ``threshold / price`` in
    [0, 1], 1 at or below it, 0 without a threshold or a known price."""
    if threshold is None or price is None:
        return 0.0
    if price <= threshold:
        return 1.0
    return threshold / price


def assemble(
    catalogue: dict[ProductKey, Catalogued],
    history: dict[ProductKey, History],
    views: dict[ProductKey, tuple[int, int]],
    interest: dict[ProductKey, Interest],
    keys: Iterable[ProductKey] | None = None,
) -> ProductInputs:
    """Join the readers' results into columns (pure).

    Without ``keys`` every product any source knows is included: a subscribed or
    viewed product nobody has crawled yet must be scheduled too.
    """
    if keys is None:
        keys = sorted(set(catalogue) | set(history) | set(views) | set(interest))
    ordered = list(keys)
    n = len(ordered)
    subs = np.zeros(n, dtype=np.int64)
    prox = np.zeros(n)
    v7 = np.zeros(n)
    v30 = np.zeros(n)
    first = np.zeros(n, dtype=np.int64)
    gaps = np.zeros(n)
    changed = np.zeros(n)
    span = np.zeros(n)
    crawl = np.zeros(n, dtype=np.int64)
    report = np.zeros(n, dtype=np.int64)
    for i, key in enumerate(ordered):
        cat = catalogue.get(key)
        if cat is not None:
            first[i] = cat.first_seen_ms
        hist = history.get(key)
        if hist is not None:
            gaps[i], changed[i], span[i] = hist.gaps, hist.changed_gaps, hist.span_ms
            crawl[i], report[i] = hist.last_crawl_ms, hist.last_report_ms
        seen = views.get(key)
        if seen is not None:
            v7[i], v30[i] = seen
        wanted = interest.get(key)
        if wanted is not None:
            subs[i] = wanted.subscriptions
            prox[i] = proximity(None if cat is None else cat.last_price, wanted.nearest_threshold)
    return ProductInputs(
        keys=ordered,
        subscriptions=subs,
        proximity=prox,
        views_7d=v7,
        views_30d=v30,
        first_seen_ms=first,
        changes=censored_changes(changed, gaps),
        observed_days=span / DAY_MS,
        last_crawl_ms=crawl,
        last_report_ms=report,
    )


# ----------------------------------------------------------------------- ClickHouse


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


def _utc_day(ts_ms: int) -> dt.date:
    return dt.datetime.fromtimestamp(ts_ms // 1000, dt.UTC).date()


def read_views(
    client: Client, database: str, now_ms: int, keys: Collection[ProductKey] | None = None
) -> dict[ProductKey, tuple[int, int]]:
    """(views over the last 7 days, over the last 30 days), today included."""
    today = _utc_day(now_ms)
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


def _max_ms(client: Client, sql: str) -> int:
    value = client.query(sql).result_rows[0][0]
    return int(value or 0)


def changed_in_clickhouse(
    client: Client, database: str, since: Watermarks
) -> tuple[set[ProductKey], int, int]:
    """Products with price observations or views newer than the watermarks, and the
    new prices and views watermarks."""
    changed: set[ProductKey] = set()
    prices_ms, views_ms = since.prices_ms, since.views_ms
    for table, column, start in (
        ("prices_latest", "observed_at", since.prices_ms),
        ("views", "at", since.views_ms),
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


# ----------------------------------------------------------------------------- SQL


async def read_interest(
    db: Db, keys: Collection[ProductKey] | None = None
) -> dict[ProductKey, Interest]:
    """Active subscriptions per product and the highest armed threshold."""
    armed_threshold = func.max(case((_sub.armed == true(), _sub.threshold), else_=None))
    base = (
        select(_sub.market, _sub.asin, func.count(), armed_threshold)
        .where(_sub.status == SubscriptionStatus.ACTIVE.value)
        .group_by(_sub.market, _sub.asin)
    )
    found: dict[ProductKey, Interest] = {}
    async with transaction(db) as conn:
        for chunk in _sql_chunks(keys):
            stmt = base if chunk is None else base.where(tuple_(_sub.market, _sub.asin).in_(chunk))
            for market, asin, count, threshold in (await conn.execute(stmt)).all():
                found[(market, asin)] = Interest(int(count), threshold)
    return found


def _sql_chunks(keys: Collection[ProductKey] | None) -> Iterator[Sequence[ProductKey] | None]:
    # two bind parameters per key: stay under SQLite's and asyncpg's 32,767
    if keys is None:
        yield None
        return
    ordered = sorted(keys)
    for start in range(0, len(ordered), 5_000):
        yield ordered[start : start + 5_000]


async def changed_subscriptions(db: Db, since_ms: int) -> tuple[set[ProductKey], int]:
    """Products whose subscriptions were created or edited after ``since_ms``, and the
    new watermark. (Alerts disarming a subscription does not touch ``updated_at``;
    the price change that caused it marks the product through the prices watermark.)"""
    stmt = (
        select(_sub.market, _sub.asin, func.max(_sub.updated_at), func.max(_sub.created_at))
        .where(or_(_sub.created_at > since_ms, _sub.updated_at > since_ms))
        .group_by(_sub.market, _sub.asin)
    )
    changed: set[ProductKey] = set()
    newest = since_ms
    async with transaction(db) as conn:
        for market, asin, updated, created in (await conn.execute(stmt)).all():
            changed.add((market, asin))
            newest = max(newest, int(updated or 0), int(created or 0))
    return changed, newest


async def subscriptions_watermark(db: Db) -> int:
    stmt = select(func.max(_sub.updated_at), func.max(_sub.created_at))
    async with transaction(db) as conn:
        updated, created = (await conn.execute(stmt)).one()
    return max(int(updated or 0), int(created or 0))


# ------------------------------------------------------------------------- together


_ClickHouseInputs = tuple[
    dict[ProductKey, Catalogued], dict[ProductKey, History], dict[ProductKey, tuple[int, int]]
]


def _read_clickhouse(
    client: Client, database: str, now_ms: int, keys: Collection[ProductKey] | None
) -> _ClickHouseInputs:
    return (
        read_catalogue(client, database, keys),
        read_history(client, database, now_ms, keys),
        read_views(client, database, now_ms, keys),
    )


async def gather_inputs(
    client: Client, database: str, db: Db, now_ms: int, keys: Collection[ProductKey] | None = None
) -> ProductInputs:
    """Scoring inputs of ``keys`` (every known product when None), in sorted key order.

    ClickHouse calls are blocking, so they run on a worker thread.
    """
    catalogue, history, views = await asyncio.to_thread(
        _read_clickhouse, client, database, now_ms, keys
    )
    interest = await read_interest(db, keys)
    return assemble(catalogue, history, views, interest, None if keys is None else sorted(keys))


async def current_watermarks(client: Client, database: str, db: Db) -> Watermarks:
    """Watermarks as of now: taken before a full pass reads, so that nothing written
    while it reads is skipped by the next incremental pass."""
    prices, views = await asyncio.to_thread(clickhouse_watermarks, client, database)
    return Watermarks(prices, views, await subscriptions_watermark(db))


async def changed_since(
    client: Client, database: str, db: Db, since: Watermarks
) -> tuple[set[ProductKey], Watermarks]:
    """Products whose inputs changed after ``since``, and the watermarks to keep."""
    changed, prices, views = await asyncio.to_thread(changed_in_clickhouse, client, database, since)
    subscribed, subs = await changed_subscriptions(db, since.subscriptions_ms)
    return changed | subscribed, Watermarks(prices, views, subs)

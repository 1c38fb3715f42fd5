"""What the home page lists, read in bulk: a marketplace's biggest price drops, its
newest products, the daily (or, for young products, hourly) closes behind their
sparklines, and the titles the SQL title index copies.

Each read is one query for a whole marketplace (or a whole page of products), never
one per product: the home page's lists are computed at most once a minute and cached
(``api.services.discovery``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Sequence
from typing import Any

from pricewatch.history import (
    DAY_MS,
    HOUR_MS,
    NO_STATE,
    Bucket,
    Granularity,
    RollupRow,
    fill_buckets,
    floor_bucket,
)
from pricewatch.models import Series
from pricewatch.storage.clickhouse.price_history import rollup_source
from pricewatch.storage.clickhouse.tables import Tables

# a product's state before the window counts from its last sighting this long before
# the window: a product crawled at least weekly has an opening state
OPENING_LOOKBACK_MS = 7 * DAY_MS


@dataclasses.dataclass(frozen=True)
class Listed:
    """A product as a home-page card shows it (catalogue fields; prices in minor
    units)."""

    market: str
    asin: str
    title: str | None
    image: str | None
    currency: str | None
    price: int | None
    in_stock: bool
    first_seen: int
    # time-weighted average buy-box price over the window, for a drop
    average: float | None = None


_CARD_COLUMNS = """
    asin, title, image, currency, last_price, availability = 'in_stock',
    toUnixTimestamp64Milli(first_seen)
"""


def _listed(market: str, row: Sequence[Any], average: float | None = None) -> Listed:
    asin, title, image, currency, price, in_stock, first_seen = row[:7]
    return Listed(
        market=market,
        asin=asin,
        title=title,
        image=image,
        currency=currency,
        price=None if price is None else int(price),
        in_stock=bool(in_stock),
        first_seen=int(first_seen),
        average=average,
    )


def markets_with_products(tables: Tables) -> dict[str, int]:
    """How many products each marketplace's catalogue holds (only those with any)."""
    result = tables.client.query(
        f"SELECT market, uniqExact(asin) FROM {tables.database}.products GROUP BY market"
    )
    return {market: int(count) for market, count in result.result_rows}


# candidates whose exact average is read at a time, the deepest possible drop first
DROP_CANDIDATES_PAGE = 200


def drop_of(item: Listed) -> float:
    """How far under its average a listed drop's price is (a fraction)."""
    if item.average is None or item.price is None:
        raise ValueError(f"{item.asin} is no drop: it has no average or no price")
    return (item.average - item.price) / item.average


def biggest_drops(
    tables: Tables,
    market: str,
    now_ms: int,
    *,
    window_ms: int = 30 * DAY_MS,
    min_drop: float = 0.03,
    seen_within_ms: int = DAY_MS,
    limit: int = 12,
    page: int = DROP_CANDIDATES_PAGE,
) -> list[Listed]:
    """In-stock products of ``market`` whose current buy-box price is at least
    ``min_drop`` (a fraction) under its time-weighted average over the last
    ``window_ms``, the deepest drop first.

    Time-weighted with the step semantics of ``pricewatch.history``: each observed
    state holds from its observation until the next one (the last until now), and
    each price counts for as long as it held inside the window; time out of stock
    counts for nothing. The state in force when the window opens comes from the last
    sighting before it (within ``OPENING_LOOKBACK_MS``). The current price is the
    catalogue's, of a product seen within ``seen_within_ms``: a product no longer
    crawled has no price "today".

    Exact (hourly rollups would smear a change over its hour, and a product younger
    than an hour would have no drop at all), without reading a marketplace's history:
    a price under its window's average moved within the window, so the candidates are
    the products with a buy-box change in it (``price_changes``, read in time order).
    The highest price each held there bounds its average from above, so it bounds its
    drop: candidates are taken ``page`` at a time by that bound, their exact averages
    read from ``prices_raw`` by product, until the ``limit``-th drop found is deeper
    than any bound left.
    """
    found: list[Listed] = []
    offset = 0
    while True:
        bounds = _drop_bounds(
            tables, market, now_ms, window_ms, min_drop, seen_within_ms, page, offset
        )
        if bounds:
            found += exact_drops(
                tables, market, now_ms, window_ms, min_drop, seen_within_ms, list(bounds)
            )
            found.sort(key=lambda item: (-drop_of(item), item.asin))
            del found[limit:]
        # bounds come deepest first: what later pages hold is no deeper than this
        if len(bounds) < page or (
            len(found) == limit and drop_of(found[-1]) > min(bounds.values())
        ):
            return found
        offset += page


# the price_changes rows of a marketplace's series in the window [start, now)
_CHANGES_IN_WINDOW = """
    market = {market:String} AND series = {series:String}
    AND observed_at >= fromUnixTimestamp64Milli({start:Int64}, 'UTC')
    AND observed_at < fromUnixTimestamp64Milli({now:Int64}, 'UTC')
"""


def _current(database: str) -> str:
    """The catalogue rows whose price is one "today": in stock, priced, seen lately."""
    return f"""
        SELECT asin, title, image, currency, last_price, availability, first_seen
        FROM {database}.products FINAL
        WHERE market = {{market:String}} AND availability = 'in_stock'
          AND last_price IS NOT NULL
          AND last_seen >= fromUnixTimestamp64Milli({{seen:Int64}}, 'UTC')
    """


def _drop_bounds(
    tables: Tables,
    market: str,
    now_ms: int,
    window_ms: int,
    min_drop: float,
    seen_within_ms: int,
    limit: int,
    offset: int,
) -> dict[str, float]:
    """{asin: the deepest drop it can have}, of one page of the products with a
    buy-box change in the window, deepest first: the drop from the highest price it
    held in the window (before or after a change there) to its current one."""
    result = tables.client.query(
        f"""
        SELECT asin, (peak - last_price) / peak AS bound
        FROM (
            SELECT asin, max(greatest(ifNull(old_price, 0), ifNull(new_price, 0))) AS peak
            FROM {tables.database}.price_changes
            WHERE {_CHANGES_IN_WINDOW}
            GROUP BY asin
        ) AS c
        INNER JOIN (
            {_current(tables.database)}
              AND asin IN (
                  SELECT asin FROM {tables.database}.price_changes WHERE {_CHANGES_IN_WINDOW}
              )
        ) AS p USING (asin)
        WHERE peak > 0 AND last_price <= peak * (1 - {{min_drop:Float64}})
        ORDER BY bound DESC, asin
        LIMIT {{limit:UInt32}} OFFSET {{offset:UInt32}}
        """,
        parameters={
            "market": market,
            "series": Series.BUYBOX.value,
            "start": now_ms - window_ms,
            "now": now_ms,
            "seen": now_ms - seen_within_ms,
            "min_drop": min_drop,
            "limit": limit,
            "offset": offset,
        },
        # On a cluster both tables are Distributed, and ClickHouse refuses an IN over one
        # inside a query over another unless told how to run it. "local": each shard
        # reads its own price_changes, which is exact because both tables are sharded
        # by product, and ships nothing between shards. (No effect on a single node.)
        settings={"distributed_product_mode": "local"},
    )
    return {asin: float(bound) for asin, bound in result.result_rows}


def exact_drops(
    tables: Tables,
    market: str,
    now_ms: int,
    window_ms: int,
    min_drop: float,
    seen_within_ms: int,
    asins: Sequence[str] | None,
) -> list[Listed]:
    """The drops among ``asins``, with their exact time-weighted averages, in no
    order; ``asins`` None: among every product of ``market`` (a scan of its whole
    buy-box history, what ``biggest_drops`` avoids; tests and the storage benchmark
    compare with it)."""
    start_ms = now_ms - window_ms
    only = "" if asins is None else "AND asin IN {asins:Array(String)}"
    result = tables.client.query(
        f"""
        SELECT {_CARD_COLUMNS}, w.average
        FROM (
            SELECT asin, sum(held * price) / sum(held) AS average
            FROM (
                SELECT asin, price,
                       greatest(least(next_at, {{now:Int64}}), {{start:Int64}})
                         - greatest(at, {{start:Int64}}) AS held
                FROM (
                    SELECT asin, price, toUnixTimestamp64Milli(observed_at) AS at,
                           leadInFrame(toUnixTimestamp64Milli(observed_at), 1, {{now:Int64}})
                               OVER (PARTITION BY asin ORDER BY observed_at
                                     ROWS BETWEEN CURRENT ROW AND 1 FOLLOWING) AS next_at
                    FROM {tables.database}.prices_raw
                    WHERE market = {{market:String}} {only}
                      AND series = {{series:String}}
                      AND observed_at >= fromUnixTimestamp64Milli({{lookback:Int64}}, 'UTC')
                      AND observed_at < fromUnixTimestamp64Milli({{now:Int64}}, 'UTC')
                )
            )
            WHERE price IS NOT NULL AND held > 0
            GROUP BY asin
        ) AS w
        INNER JOIN (
            {_current(tables.database)} {only}
        ) AS p USING (asin)
        WHERE last_price <= w.average * (1 - {{min_drop:Float64}})
        """,
        parameters={
            "market": market,
            "asins": list(asins or ()),
            "series": Series.BUYBOX.value,
            "now": now_ms,
            "start": start_ms,
            "lookback": start_ms - OPENING_LOOKBACK_MS,
            "seen": now_ms - seen_within_ms,
            "min_drop": min_drop,
        },
    )
    return [_listed(market, row, float(row[7])) for row in result.result_rows]


def recently_added(tables: Tables, market: str, *, limit: int = 12) -> list[Listed]:
    """The products ``market``'s catalogue saw first most recently, newest first."""
    result = tables.client.query(
        f"""
        SELECT {_CARD_COLUMNS}
        FROM {tables.database}.products FINAL
        WHERE market = {{market:String}}
        ORDER BY first_seen DESC, asin
        LIMIT {{limit:UInt32}}
        """,
        parameters={"market": market, "limit": limit},
    )
    return [_listed(market, row) for row in result.result_rows]


def listed_products(tables: Tables, market: str, asins: Collection[str]) -> dict[str, Listed]:
    """The cards of ``asins`` in ``market`` (unknown ones are absent)."""
    if not asins:
        return {}
    result = tables.client.query(
        f"""
        SELECT {_CARD_COLUMNS}
        FROM {tables.database}.products FINAL
        WHERE market = {{market:String}} AND asin IN {{asins:Array(String)}}
        """,
        parameters={"market": market, "asins": sorted(asins)},
    )
    return {row[0]: _listed(market, row) for row in result.result_rows}


def daily_closes(
    tables: Tables, market: str, asins: Collection[str], now_ms: int, *, days: int = 30
) -> dict[str, list[Bucket]]:
    """The buy box's daily buckets over the last ``days`` days (today included) of each
    of ``asins``, from the daily rollup in one query; days before a product's first
    sighting are left out (``pricewatch.history.fill_buckets``)."""
    end_ms = floor_bucket(now_ms, Granularity.DAILY) + DAY_MS
    return _closes(tables, market, asins, Granularity.DAILY, end_ms - days * DAY_MS, end_ms)


def hourly_closes(
    tables: Tables, market: str, asins: Collection[str], now_ms: int, *, hours: int = 48
) -> dict[str, list[Bucket]]:
    """The buy box's hourly buckets over the last ``hours`` hours (this one included) of
    each of ``asins``, from the hourly rollup in one query, as ``daily_closes`` gives
    days: the sparkline of a product too young to have two days of closes."""
    end_ms = floor_bucket(now_ms, Granularity.HOURLY) + HOUR_MS
    return _closes(tables, market, asins, Granularity.HOURLY, end_ms - hours * HOUR_MS, end_ms)


def _closes(
    tables: Tables,
    market: str,
    asins: Collection[str],
    granularity: Granularity,
    start_ms: int,
    end_ms: int,
) -> dict[str, list[Bucket]]:
    if not asins:
        return {}
    table, key, lo, hi, params, unit_ms = rollup_source(granularity, start_ms, end_ms)
    result = tables.client.query(
        f"""
        SELECT asin, {key} AS slot, min(min_price), max(max_price),
               nullIf(argMaxMerge(last_state), -1)
        FROM {tables.database}.{table}
        WHERE market = {{market:String}} AND series = {{series:String}}
          AND asin IN {{asins:Array(String)}}
          AND bucket >= {lo} AND bucket < {hi}
        GROUP BY asin, slot
        ORDER BY asin, slot
        """,
        parameters=params
        | {"market": market, "series": Series.BUYBOX.value, "asins": sorted(asins)},
    )
    rows: dict[str, list[RollupRow]] = {}
    for asin, slot, low, high, last in result.result_rows:
        rows.setdefault(asin, []).append(RollupRow(int(slot) * unit_ms, low, high, last))
    # no opening state: a sparkline starts at the first bucket in the window with a price
    return {
        asin: fill_buckets(
            found, start_ms=start_ms, end_ms=end_ms, granularity=granularity, opening=NO_STATE
        )
        for asin, found in rows.items()
    }


@dataclasses.dataclass(frozen=True)
class TitleRow:
    market: str
    asin: str
    title: str
    last_seen: int


def titles_seen_since(tables: Tables, since_ms: int, *, limit: int = 50_000) -> list[TitleRow]:
    """Catalogue rows with a title whose ``last_seen`` is after ``since_ms``, oldest
    first, at most ``limit``: what the title index has not looked at yet (a sighting
    moves ``last_seen``, so a changed title is always among them)."""
    result = tables.client.query(
        f"""
        SELECT market, asin, title, toUnixTimestamp64Milli(last_seen) AS seen
        FROM {tables.database}.products FINAL
        WHERE last_seen > fromUnixTimestamp64Milli({{since:Int64}}, 'UTC')
          AND title IS NOT NULL AND title != ''
        ORDER BY seen, market, asin
        LIMIT {{limit:UInt32}}
        """,
        parameters={"since": since_ms, "limit": limit},
    )
    return [TitleRow(m, a, t, int(s)) for m, a, t, s in result.result_rows]

"""What the scorer needs per product, read from the stores.

ClickHouse gives the catalogue (first seen, current price), the price history (how
often the price changed between consecutive observations, and when a crawler or the
extension last saw it) and the daily view counts
(``pricewatch.storage.clickhouse.scoring_inputs``); SQL gives the subscriptions
(``pricewatch.storage.sql_interest``). Each reader returns plain dicts keyed by
``(market, asin)``; :func:`assemble` (pure) turns them into the column arrays the
scorer works on.

:func:`gather_inputs` takes ``keys=None`` (all products: a full pass) or a set of
products (incremental re-scoring); :func:`changed_since` says which products changed
since a :class:`Watermarks`. No query is written here: the stores own them.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Collection, Iterable

import numpy as np
from clickhouse_connect.driver.client import Client

from pricewatch.storage.clickhouse.scoring_inputs import (
    Catalogued,
    History,
    ProductKey,
    changed_in_clickhouse,
    clickhouse_watermarks,
    read_scoring_inputs,
)
from pricewatch.storage.sql import (
    Db,
    Interest,
    changed_subscriptions,
    read_interest,
    subscriptions_watermark,
)
from scheduler.scoring import DAY_MS, FloatArray, IntArray, censored_changes


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


# ------------------------------------------------------------------------- stores


async def gather_inputs(
    client: Client, database: str, db: Db, now_ms: int, keys: Collection[ProductKey] | None = None
) -> ProductInputs:
    """Scoring inputs of ``keys`` (every known product when None), in sorted key order.

    ClickHouse calls are blocking, so they run on a worker thread.
    """
    catalogue, history, views = await asyncio.to_thread(
        read_scoring_inputs, client, database, now_ms, keys
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
    changed, prices, views = await asyncio.to_thread(
        changed_in_clickhouse, client, database, since.prices_ms, since.views_ms
    )
    subscribed, subs = await changed_subscriptions(db, since.subscriptions_ms)
    return changed | subscribed, Watermarks(prices, views, subs)

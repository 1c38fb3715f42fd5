"""Product pages and chart histories: ClickHouse behind a Redis cache, behind this
process's near cache.

The hot path (a chart in the near cache) has no await: the stored bytes go out
as-is and the view is tallied in memory. Next comes one HGET from Redis, and only
then a computation in ClickHouse.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import cast

import msgspec

from api.metrics import CACHE_HIT, CACHE_MEMORY, CACHE_MISS
from api.schemas import (
    GoodDeal,
    PriceHistoryOut,
    PriceLine,
    PricePoint,
    PriceStat,
    ProductOut,
    ProductStats,
    SeriesOut,
)
from api.services import pricing
from api.services.history_cache import pack, unpack
from api.services.lookups import LookupOutcome, request_first_crawl
from api.services.refusals import client_input
from api.services.timefmt import iso
from api.state import ApiState
from pricewatch.history import DAY_MS, Bucket, Granularity
from pricewatch.markets import Market
from pricewatch.models import Availability, Product, Series
from pricewatch.storage.clickhouse import PriceStore

_encoder = msgspec.json.Encoder()


class UnknownProduct(LookupError):
    """Never crawled; ``lookup`` says whether a first crawl is queued."""

    def __init__(self, market: str, asin: str, lookup: LookupOutcome) -> None:
        super().__init__(f"{market}:{asin}")
        self.market = market
        self.asin = asin
        self.lookup = lookup


@dataclasses.dataclass(frozen=True)
class ChartRequest:
    market: Market
    asin: str
    window: pricing.ChartWindow


def _points(buckets: list[Bucket], series: str, market: Market) -> list[PricePoint]:
    return [
        PricePoint(
            timestamp=iso(b.start_ms),
            price=pricing.wire_value(b.close, series, market),
            min=pricing.wire_value(b.min, series, market),
            max=pricing.wire_value(b.max, series, market),
        )
        for b in buckets
    ]


def _history_body(prices: PriceStore, req: ChartRequest, now_ms: int) -> bytes | None:
    """The chart JSON, or None when the product was never seen (blocking). Every series
    comes from one ClickHouse query; the body is cached whole, lines and all."""
    product = prices.product(req.market.code, req.asin)
    if product is None:
        return None
    window = req.window.resolve(now_ms, product.first_seen)
    market = req.market
    found = None
    known_from = max(window.start_ms, product.first_seen or window.start_ms)
    if (
        req.window.granularity == "auto"
        and window.end_ms - known_from <= pricing.MAX_CHANGES_SPAN_MS
    ):
        found = prices.changes(
            market.code, req.asin, window.start_ms, window.end_ms, pricing.MAX_CHANGE_POINTS
        )
    granularity = pricing.CHANGES
    if found is None:
        granularity = window.granularity.value
        found = prices.histories(
            market.code, req.asin, window.start_ms, window.end_ms, window.granularity
        )
    lines = [
        PriceLine(
            series=series.value,
            unit="rank" if pricing.is_rank(series) else "money",
            points=_points(buckets, series, market),
        )
        for series, buckets in pricing.in_series_order(found)
    ]
    out = PriceHistoryOut(
        asin=req.asin,
        market=market.code,
        currency=product.currency or market.currency,
        exponent=market.exponent,
        granularity=granularity,
        start=iso(window.start_ms),
        end=iso(window.end_ms),
        history=next((line.points for line in lines if line.series == Series.BUYBOX), []),
        lines=lines,
    )
    return _encoder.encode(out)


async def history(
    state: ApiState, req: ChartRequest, view_source: str, client: str
) -> tuple[str, bytes, bool]:
    """(etag, JSON body, cache hit) of a chart; raises UnknownProduct (after asking for
    a first crawl on behalf of ``client``, an IP); bad parameters are a 400."""
    now = state.clock()
    with client_input():
        req.window.check(now)
    cache = state.history
    field = req.window.cache_field(now)
    key = state.keys.history_cache(req.market.code, req.asin)
    state.views.add(req.market.code, req.asin, view_source)
    local, epoch = cache.recall(key, field)
    if local is not None:
        CACHE_MEMORY.inc()
        etag, body = unpack(local)
        return etag, body, True
    # the client does not decode replies: a cached value is bytes
    cached = cast(bytes | None, await state.redis.hget(key, field))
    if cached is not None:
        CACHE_HIT.inc()
        cache.keep(key, field, cached, epoch)
        etag, body = unpack(cached)
        return etag, body, True
    CACHE_MISS.inc()
    # Single flight: concurrent misses of one variant (a popular product right after its
    # price changed) share one computation instead of queueing N identical chDB queries.
    flight = (key, field)
    pending = cache.inflight.get(flight)
    if pending is None:
        pending = asyncio.ensure_future(_fill(state, req, key, field, now, client))
        cache.inflight[flight] = pending
        pending.add_done_callback(lambda _: cache.inflight.pop(flight, None))
    value = await asyncio.shield(pending)
    cache.keep(key, field, value, epoch)
    etag, body = unpack(value)
    return etag, body, False


async def _fill(
    state: ApiState, req: ChartRequest, key: str, field: str, now: int, client: str
) -> bytes:
    """The cached value (ETag + body) of a computed history, stored in Redis."""
    cache = state.history
    token = await cache.begin_fill(key)
    with client_input():  # a window of too many buckets, known once resolved
        body = await state.clickhouse(_history_body, state.prices, req, now)
    if body is None:
        lookup = await request_first_crawl(state, req.market.code, req.asin, client)
        raise UnknownProduct(req.market.code, req.asin, lookup)
    _, value = pack(body)
    await cache.store(key, token, field, value)
    return value


def _stats_out(stats: pricing.Stats, series: str, market: Market, days: int) -> ProductStats:
    def stat(found: tuple[int, int] | None) -> PriceStat | None:
        if found is None:
            return None
        value = pricing.wire_value(found[0], series, market)
        assert value is not None
        return PriceStat(price=value, date=iso(found[1])[:10])

    average: float | None = None
    if stats.average is not None:
        if pricing.is_rank(series):
            average = round(stats.average)
        else:
            average = round(stats.average / 10**market.exponent, market.exponent)
    return ProductStats(
        window_days=days, lowest=stat(stats.lowest), highest=stat(stats.highest), average=average
    )


_NO_STATS = pricing.Stats(None, None, None)


def _product_view(prices: PriceStore, market: Market, asin: str, now_ms: int) -> ProductOut | None:
    product: Product | None = prices.product(market.code, asin)
    if product is None:
        return None
    window_days = pricing.DEAL_WINDOW_DAYS
    first = product.first_seen if product.first_seen is not None else now_ms - DAY_MS
    first = min(first, now_ms - DAY_MS)
    all_days = max(1, -(-(now_ms - first) // DAY_MS))
    # one query for every series over all time; the deal window is its last days
    found = prices.histories(market.code, asin, first, now_ms, Granularity.DAILY)
    series: dict[str, SeriesOut] = {}
    recent = all_time = _NO_STATS
    for name, buckets in pricing.in_series_order(found):
        window = pricing.daily_stats(pricing.since(buckets, now_ms - window_days * DAY_MS))
        ever = pricing.daily_stats(buckets)
        if name is Series.BUYBOX:
            recent, all_time = window, ever
        series[name.value] = SeriesOut(
            current=pricing.wire_value(buckets[-1].close, name, market),
            stats=_stats_out(window, name, market, window_days),
            all_time=_stats_out(ever, name, market, all_days),
        )
    in_stock = product.availability == Availability.IN_STOCK
    return ProductOut(
        asin=asin,
        market=market.code,
        title=product.title,
        image=product.image,
        sold_by=product.sold_by,
        rating=round(float(product.rating), 1) if product.rating is not None else None,
        review_count=product.review_count,
        currency=product.currency or market.currency,
        exponent=market.exponent,
        price=pricing.to_major(product.last_price, market),
        availability=product.availability,
        last_checked=iso(product.last_seen) if product.last_seen is not None else None,
        first_seen=iso(product.first_seen) if product.first_seen is not None else None,
        stats=_stats_out(recent, Series.BUYBOX, market, window_days),
        all_time=_stats_out(all_time, Series.BUYBOX, market, all_days),
        deal=GoodDeal(
            is_good_deal=pricing.is_good_deal(product.last_price, in_stock, recent),
            rule=pricing.DEAL_RULE,
        ),
        series=series,
    )


async def product_view(state: ApiState, market: Market, asin: str, client: str) -> ProductOut:
    """The product page; raises UnknownProduct (after asking for a first crawl on
    behalf of ``client``, an IP)."""
    found = await state.clickhouse(_product_view, state.prices, market, asin, state.clock())
    if found is None:
        lookup = await request_first_crawl(state, market.code, asin, client)
        raise UnknownProduct(market.code, asin, lookup)
    return found

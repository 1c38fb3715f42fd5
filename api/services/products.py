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
from api.schemas import GoodDeal, PriceHistoryOut, PricePoint, PriceStat, ProductOut, ProductStats
from api.services import pricing
from api.services.history_cache import pack, unpack
from api.services.lookups import LookupOutcome, request_first_crawl
from api.services.refusals import client_input
from api.services.timefmt import iso
from api.state import ApiState
from pricewatch.history import DAY_MS, Granularity
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


def _history_body(prices: PriceStore, req: ChartRequest, now_ms: int) -> bytes | None:
    """The chart JSON, or None when the product was never seen (blocking)."""
    product = prices.product(req.market.code, req.asin)
    if product is None:
        return None
    window = req.window.resolve(now_ms, product.first_seen)
    buckets = prices.history(
        req.market.code,
        req.asin,
        Series.BUYBOX.value,
        window.start_ms,
        window.end_ms,
        window.granularity,
    )
    market = req.market
    out = PriceHistoryOut(
        asin=req.asin,
        market=market.code,
        currency=product.currency or market.currency,
        exponent=market.exponent,
        granularity=window.granularity.value,
        start=iso(window.start_ms),
        end=iso(window.end_ms),
        history=[
            PricePoint(
                timestamp=iso(b.start_ms),
                price=pricing.to_major(b.close, market),
                min=pricing.to_major(b.min, market),
                max=pricing.to_major(b.max, market),
            )
            for b in buckets
        ],
    )
    return _encoder.encode(out)


async def history(
    state: ApiState, req: ChartRequest, view_source: str, client: str
) -> tuple[str, bytes, bool]:
    """(etag, JSON body, cache hit) of a chart; raises UnknownProduct (after asking for
    a first crawl on behalf of ``client``, an IP); bad parameters are a 400."""
    now = state.clock()
    with client_input():
        req.window.check()
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
    with client_input():  # a window that ends before it starts
        body = await state.clickhouse(_history_body, state.prices, req, now)
    if body is None:
        lookup = await request_first_crawl(state, req.market.code, req.asin, client)
        raise UnknownProduct(req.market.code, req.asin, lookup)
    _, value = pack(body)
    await cache.store(key, token, field, value)
    return value


def _stats_out(stats: pricing.Stats, market: Market, days: int) -> ProductStats:
    def stat(found: tuple[int, int] | None) -> PriceStat | None:
        if found is None:
            return None
        price = pricing.to_major(found[0], market)
        assert price is not None
        return PriceStat(price=price, date=iso(found[1])[:10])

    average = None
    if stats.average is not None:
        average = round(stats.average / 10**market.exponent, market.exponent)
    return ProductStats(
        window_days=days, lowest=stat(stats.lowest), highest=stat(stats.highest), average=average
    )


def _product_view(prices: PriceStore, market: Market, asin: str, now_ms: int) -> ProductOut | None:
    product: Product | None = prices.product(market.code, asin)
    if product is None:
        return None
    series = Series.BUYBOX.value
    window_days = pricing.DEAL_WINDOW_DAYS
    recent = pricing.daily_stats(
        prices.history(
            market.code, asin, series, now_ms - window_days * DAY_MS, now_ms, Granularity.DAILY
        )
    )
    first = product.first_seen if product.first_seen is not None else now_ms - DAY_MS
    first = min(first, now_ms - DAY_MS)
    all_days = max(1, -(-(now_ms - first) // DAY_MS))
    all_time = pricing.daily_stats(
        prices.history(market.code, asin, series, first, now_ms, Granularity.DAILY)
    )
    in_stock = product.availability == Availability.IN_STOCK
    return ProductOut(
        asin=asin,
        market=market.code,
        title=product.title,
        image=product.image,
        currency=product.currency or market.currency,
        exponent=market.exponent,
        price=pricing.to_major(product.last_price, market),
        availability=product.availability,
        last_checked=iso(product.last_seen) if product.last_seen is not None else None,
        first_seen=iso(product.first_seen) if product.first_seen is not None else None,
        stats=_stats_out(recent, market, window_days),
        all_time=_stats_out(all_time, market, all_days),
        deal=GoodDeal(
            is_good_deal=pricing.is_good_deal(product.last_price, in_stock, recent),
            rule=pricing.DEAL_RULE,
        ),
    )


async def product_view(state: ApiState, market: Market, asin: str, client: str) -> ProductOut:
    """The product page; raises UnknownProduct (after asking for a first crawl on
    behalf of ``client``, an IP)."""
    found = await state.clickhouse(_product_view, state.prices, market, asin, state.clock())
    if found is None:
        lookup = await request_first_crawl(state, market.code, asin, client)
        raise UnknownProduct(market.code, asin, lookup)
    return found

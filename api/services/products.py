"""Product pages and chart histories: ClickHouse behind a Redis cache, behind this
process's near cache.

The hot path (a chart in the near cache) has no await: the stored bytes go out
as-is and the view is tallied in memory. Next comes one HGET from Redis, and only
then a computation in ClickHouse.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools

import msgspec

from api.metrics import CACHE_HIT, CACHE_MEMORY, CACHE_MISS
from api.schemas import Freshness as FreshnessOut
from api.schemas import GoodDeal, PricePoint, PriceStat, ProductOut, ProductStats, SeriesOut
from api.services import freshness, pricing
from api.services.chart_reads import ChartReads, Lines
from api.services.history_cache import pack, unpack
from api.services.lookups import LookupOutcome, request_first_crawl
from api.services.refusals import client_input
from api.services.timefmt import iso
from api.state import ApiState
from pricewatch.history import DAY_MS, Bucket, Granularity, next_bucket
from pricewatch.markets import Market, get_market
from pricewatch.models import Availability, Product, Series
from pricewatch.storage.clickhouse import PriceStore
from pricewatch.storage.clickhouse.chart_points import EncodedLine
from pricewatch.storage.clickhouse.price_history import ChartRead

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
    # hundreds of points per line on a chart miss: the conversion is inlined (a call per
    # value would double the cost), and the times of bucket starts (the same few
    # thousand for every chart) kept formatted
    scale = pricing.wire_scale(series, market)
    if scale is None:
        return [PricePoint(_iso_cached(at), close, low, high) for at, close, low, high in buckets]
    return [
        PricePoint(
            _iso_cached(at),
            None if close is None else close / scale,
            None if low is None else low / scale,
            None if high is None else high / scale,
        )
        for at, close, low, high in buckets
    ]


_iso_cached = functools.lru_cache(maxsize=1 << 16)(iso)


async def _history_body(reads: ChartReads, req: ChartRequest, now_ms: int) -> bytes | None:
    """The chart JSON, or None when the product was never seen. Every series comes
    from one ClickHouse read, most often the only one (``_chart_lines``); the body is
    cached whole, lines and all."""
    try:
        found = await _chart_lines(reads, req, now_ms)
    except ValueError:
        # a window of too many buckets: refused only for a product that exists
        if await reads.product(req.market.code, req.asin) is None:
            return None
        raise
    if found is None:
        return None
    return _chart_body(req, *found)


class _LineBody(msgspec.Struct):
    """``PriceLine`` with its points' JSON written already (by ClickHouse, or
    ``_encoded``): the body around them is all that is encoded here."""

    series: str
    unit: str
    points: msgspec.Raw


class _ChartBody(msgspec.Struct):
    """``PriceHistoryOut``, field for field, around lines already written."""

    asin: str
    market: str
    currency: str
    exponent: int
    granularity: str
    start: str
    end: str
    history: msgspec.Raw
    lines: list[_LineBody]


_NO_POINTS = msgspec.Raw(b"[]")


def _chart_body(
    req: ChartRequest, window: pricing.Window, granularity: str, series: Lines
) -> bytes:
    market = req.market
    lines = [
        _LineBody(
            series=name.value,
            unit="rank" if pricing.is_rank(name) else "money",
            points=msgspec.Raw(line.points),
        )
        for name, line in pricing.in_series_order(series)
    ]
    out = _ChartBody(
        asin=req.asin,
        market=market.code,
        # every price of a product is in its marketplace's currency: ingest refuses others
        currency=market.currency,
        exponent=market.exponent,
        granularity=granularity,
        start=iso(window.start_ms),
        end=iso(window.end_ms),
        history=next((line.points for line in lines if line.series == Series.BUYBOX), _NO_POINTS),
        lines=lines,
    )
    return _encoder.encode(out)


def _encoded(found: dict[str, list[Bucket]], market: Market) -> Lines:
    """Change points (read as buckets) as the chart lines ClickHouse writes for buckets."""
    return {
        name: EncodedLine(
            points[0].start_ms, _encoder.encode(_points(points, name, market)).decode()
        )
        for name, points in found.items()
    }


async def _chart_lines(
    reads: ChartReads, req: ChartRequest, now_ms: int
) -> tuple[pricing.Window, str, Lines] | None:
    """(window, granularity served, its lines of buckets or change points by series)
    of a chart; None for a product never seen.

    A chart is the product's changes when its granularity is "auto" and the part of
    the window since the product was first seen spans at most
    ``pricing.MAX_CHANGES_SPAN_MS`` (and holds few enough of them), buckets otherwise.

    A miss is one read when the window alone decides, and the catalogue is not read:
    the rows the chart is drawn from show that the product exists, and its first
    bucket when it was first seen (no price of a product is older than its first
    sighting). The catalogue is read besides when there are no rows (a product never
    seen, or none of whose prices precedes the window's end) or when they cannot tell
    whether the product is young (first seen in a bucket that straddles the limit).
    A second read of prices follows when the first cannot serve: a long "auto" window
    of a young product, read as buckets first, is changes after all; a window of too
    many changes, buckets after all. "all" starts when the product was first seen: its
    catalogue row comes first.
    """
    market, asin, asked = req.market.code, req.asin, req.window
    auto = asked.granularity == "auto"
    if asked.start_ms is None and asked.period == "all":
        row = await reads.product(market, asin)
        if row is None:
            return None
        window = asked.resolve(now_ms, row.first_seen)
        read = ChartRead(market, asin, window.start_ms, window.end_ms)
        return await _lines_of_known(reads, read, window, auto, row.first_seen)
    window = asked.resolve(now_ms, None)
    read = ChartRead(market, asin, window.start_ms, window.end_ms)
    granularity = window.granularity
    if auto and window.end_ms - window.start_ms <= pricing.MAX_CHANGES_SPAN_MS:
        changes = await reads.changes(read, pricing.MAX_CHANGE_POINTS)
        if changes is None:  # too many to draw
            return window, granularity.value, await reads.histories(read, granularity, second=True)
        if not changes and await reads.product(market, asin, second=True) is None:
            return None
        return window, pricing.CHANGES, _encoded(changes, req.market)
    found = await reads.histories(read, granularity)
    young = _young_by_buckets(found, window) if auto and found else False
    if young is None or not found:  # the catalogue knows
        row = await reads.product(market, asin, second=True)
        if row is None:
            return None
        return await _lines_of_known(reads, read, window, auto, row.first_seen, found)
    if young:
        # the window holds the product's whole life: no state precedes it
        changes = await reads.changes(read, pricing.MAX_CHANGE_POINTS, opening=False, second=True)
        if changes is not None:
            return window, pricing.CHANGES, _encoded(changes, req.market)
    return window, granularity.value, found


def _young_by_buckets(found: Lines, window: pricing.Window) -> bool | None:
    """Whether the product of a long window's buckets was first seen less than
    ``pricing.MAX_CHANGES_SPAN_MS`` before the window's end; None when its first
    bucket straddles that limit. Its first sighting lies in the earliest of its series'
    first buckets (buckets before the first known state are omitted), or before the
    window when that one is the window's first, carried in."""
    first = min(line.first_ms for line in found.values())
    if window.end_ms - max(window.start_ms, first) <= pricing.MAX_CHANGES_SPAN_MS:
        return True
    if window.end_ms - next_bucket(first, window.granularity) > pricing.MAX_CHANGES_SPAN_MS:
        return False
    return None


async def _lines_of_known(
    reads: ChartReads,
    read: ChartRead,
    window: pricing.Window,
    auto: bool,
    first_seen: int | None,
    found: Lines | None = None,
) -> tuple[pricing.Window, str, Lines]:
    """``_chart_lines`` of a product whose catalogue row was read (it exists, and was
    first seen at ``first_seen``), ``found`` its buckets if they were read already."""
    known_from = max(window.start_ms, first_seen or window.start_ms)
    if auto and window.end_ms - known_from <= pricing.MAX_CHANGES_SPAN_MS:
        # a window from the first sighting or earlier has no state before it
        from_first_sighting = first_seen is not None and window.start_ms <= first_seen
        changes = await reads.changes(
            read, pricing.MAX_CHANGE_POINTS, opening=not from_first_sighting, second=True
        )
        if changes is not None:
            return window, pricing.CHANGES, _encoded(changes, get_market(read.market))
    if found is None:
        found = await reads.histories(read, window.granularity, second=True)
    return window, window.granularity.value, found


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
    cached, token = await cache.lookup(key, field)
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
        pending = asyncio.ensure_future(_fill(state, req, key, token, field, now, client))
        cache.inflight[flight] = pending
        pending.add_done_callback(lambda _: cache.inflight.pop(flight, None))
    value = await asyncio.shield(pending)
    cache.keep(key, field, value, epoch)
    etag, body = unpack(value)
    return etag, body, False


async def _fill(
    state: ApiState, req: ChartRequest, key: str, token: bytes, field: str, now: int, client: str
) -> bytes:
    """The cached value (ETag + body) of a computed history, stored in Redis unless
    invalidated since ``token`` was read (``HistoryCache.lookup``)."""
    cache = state.history
    with client_input():  # a window of too many buckets, known once resolved
        body = await _history_body(state.chart_reads, req, now)
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


@dataclasses.dataclass(frozen=True)
class _Facts:
    """What one product page needs from ClickHouse, read in one worker call."""

    out: ProductOut
    first_ms: int
    changes: int
    next_due_ms: int | None
    checked_ms: int | None


def _steps(
    prices: PriceStore,
    market: Market,
    asin: str,
    first: int,
    now_ms: int,
    *,
    from_first_sighting: bool,
) -> dict[str, list[Bucket]]:
    """Every series' history since ``first`` as steps (``pricing.time_weighted_stats``):
    the changes themselves when the tracked life and its changes are few enough, as a
    chart would serve them (exact, to the millisecond), daily buckets otherwise.
    ``from_first_sighting``: ``first`` is no later than the product's first sighting."""
    if now_ms - first <= pricing.MAX_CHANGES_SPAN_MS:
        found = prices.changes(
            market.code,
            asin,
            first,
            now_ms,
            pricing.MAX_CHANGE_POINTS,
            opening=not from_first_sighting,
        )
        if found is not None:
            return found
    start = min(first, now_ms - DAY_MS)
    return prices.histories(market.code, asin, start, now_ms, Granularity.DAILY)


def _product_facts(prices: PriceStore, market: Market, asin: str, now_ms: int) -> _Facts | None:
    product: Product | None = prices.product(market.code, asin)
    if product is None:
        return None
    window_days = pricing.DEAL_WINDOW_DAYS
    # statistics count only time since the product was first seen
    first = product.first_seen if product.first_seen is not None else now_ms - DAY_MS
    first = min(first, now_ms - 1)
    all_days = max(1, -(-(now_ms - first) // DAY_MS))
    from_first_sighting = product.first_seen is not None and first <= product.first_seen
    found = _steps(prices, market, asin, first, now_ms, from_first_sighting=from_first_sighting)
    window_start = max(first, now_ms - window_days * DAY_MS)
    year_start = max(first, now_ms - pricing.PERCENTILE_DAYS * DAY_MS)
    series: dict[str, SeriesOut] = {}
    recent = all_time = pricing.NO_STATS
    share: float | None = None
    for name, steps in pricing.in_series_order(found):
        window = pricing.time_weighted_stats(steps, window_start, now_ms)
        ever = pricing.time_weighted_stats(steps, first, now_ms)
        current = steps[-1].close
        if name is Series.BUYBOX:
            recent, all_time = window, ever
            if current is not None:
                share = pricing.share_higher(steps, current, year_start, now_ms)
        series[name.value] = SeriesOut(
            current=pricing.wire_value(current, name, market),
            stats=_stats_out(window, name, market, window_days),
            all_time=_stats_out(ever, name, market, all_days),
        )
    in_stock = product.availability == Availability.IN_STOCK
    percentile = pricing.percentile(share) if product.last_price is not None else None
    changes_from = max(first, now_ms - freshness.CHANGES_WINDOW_MS)
    changes = prices.price_change_count(market.code, asin, Series.BUYBOX, changes_from, now_ms)
    out = ProductOut(
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
            is_good_deal=pricing.is_good_deal(product.last_price, in_stock, recent, percentile),
            rule=pricing.DEAL_RULE,
            percentile=percentile,
            percentile_days=pricing.PERCENTILE_DAYS,
        ),
        freshness=FreshnessOut(checked_at=None, next_check_at=None, changes_per_week=None, text=""),
        series=series,
    )
    return _Facts(out, changes_from, changes, prices.next_due(market.code, asin), product.last_seen)


def _with_freshness(facts: _Facts, queued: bool, now_ms: int) -> ProductOut:
    # a product waiting on the frontier is checked as soon as a worker is free
    next_check = now_ms if queued else facts.next_due_ms
    found = freshness.freshness(
        now_ms=now_ms,
        checked_at_ms=facts.checked_ms,
        next_check_ms=next_check,
        changes=facts.changes,
        tracked_ms=now_ms - facts.first_ms,
    )
    wire = FreshnessOut(
        checked_at=iso(found.checked_at_ms) if found.checked_at_ms is not None else None,
        next_check_at=iso(found.next_check_ms) if found.next_check_ms is not None else None,
        changes_per_week=found.changes_per_week,
        text=found.text,
    )
    return msgspec.structs.replace(facts.out, freshness=wire)


async def product_view(state: ApiState, market: Market, asin: str, client: str) -> ProductOut:
    """The product page; raises UnknownProduct (after asking for a first crawl on
    behalf of ``client``, an IP)."""
    now = state.clock()
    facts = await state.clickhouse(_product_facts, state.prices, market, asin, now)
    if facts is None:
        lookup = await request_first_crawl(state, market.code, asin, client)
        raise UnknownProduct(market.code, asin, lookup)
    # one O(1) look at the frontier: is a crawl of it queued right now?
    queued = await state.frontier.is_queued(f"{market.code}:{asin}")
    return _with_freshness(facts, queued, now)

"""The home page's lists and the title search behind the search box.

Per marketplace the home page shows the biggest drops today (current buy-box price
against its 30-day time-weighted average), the most tracked products and the newest
ones. Computing them reads a marketplace's whole last month of prices, so a visit never
does: the finished lists are kept in Redis for ``SECTIONS_TTL_S`` (every API process
shares them) and within this process one computation per marketplace runs at a time.

Titles live in the ClickHouse catalogue, the word index in the SQL store
(``pricewatch.storage.sql_search``). ``sync_titles`` copies the titles sighted since
its watermark, at most once a minute across all API processes; the home page and the
search both call it, so the index trails the catalogue by a minute at most where
anyone searches.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence

import msgspec

from api.ratelimit import Limit
from api.services.limits import within
from api.services.sparkline import Unit, sparkline
from api.state import ApiState
from pricewatch.history import Bucket
from pricewatch.markets import MARKETS, Market, get_market
from pricewatch.money import format_money
from pricewatch.product_images import shown_image
from pricewatch.storage import sql
from pricewatch.storage.clickhouse import PriceStore
from pricewatch.storage.clickhouse.discovery import (
    Listed,
    biggest_drops,
    daily_closes,
    hourly_closes,
    listed_products,
    markets_with_products,
    recently_added,
    titles_seen_since,
)

log = logging.getLogger(__name__)

SECTIONS_TTL_S = 60
SECTION_SIZE = 8
# a drop is at least this far under the average: a few cents of noise is no news
MIN_DROP = 0.03
SPARK_DAYS = 30
# a product with fewer than two daily closes is drawn from its hours, this far back at
# most: younger than two days, it has at most this many
SPARK_HOURS = 48
TITLE_SYNC_EVERY_S = 60
TITLE_SYNC_PAGE = 20_000
# pages copied per round at most; the rest waits for the next round
TITLE_SYNC_PAGES = 10
# each round looks this far behind its watermark again: an ingest batch written late
# (a replay, a slow worker) carries sightings older than ones already copied. Short,
# so that the overlap stays far below a round's pages (TITLE_SYNC_PAGE x PAGES rows)
# even at the design's rate, or a round could never get past it
TITLE_SYNC_OVERLAP_MS = 2 * 60_000
RESULTS_PER_PAGE = 20
MAX_RESULT_PAGE = 50
# title searches one client IP may make a minute: a person pages through a few
SEARCHES_PER_IP_PER_MINUTE = 30


class Card(msgspec.Struct, frozen=True):
    """A product as a home-page or result card shows it: every text ready to print."""

    market: str
    asin: str
    title: str
    image: str | None
    price: str | None
    in_stock: bool
    drop_percent: int | None = None
    watchers: int | None = None
    spark_lines: list[str] = []
    spark_text: str | None = None


class HomeSections(msgspec.Struct, frozen=True):
    market: str
    # the marketplaces whose catalogue holds products, most products first
    markets: list[str]
    drops: list[Card]
    tracked: list[Card]
    recent: list[Card]


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(HomeSections)
_inflight: dict[tuple[int, str], asyncio.Future[HomeSections]] = {}


class SparkPoints(msgspec.Struct, frozen=True):
    """A card's sparkline input: closes per day, or per hour for a young product."""

    closes: list[int | None]
    unit: Unit = "day"


def _priced(buckets: Sequence[Bucket]) -> int:
    return sum(1 for b in buckets if b.close is not None)


def spark_points(
    daily: Mapping[str, Sequence[Bucket]], hourly: Mapping[str, Sequence[Bucket]], asin: str
) -> SparkPoints:
    """The closes ``asin``'s sparkline is drawn from: its days, unless fewer than two of
    them have a price and its hours have more."""
    days = daily.get(asin, ())
    hours = hourly.get(asin, ())
    if _priced(days) < 2 and _priced(hours) > _priced(days):
        return SparkPoints([b.close for b in hours], "hour")
    return SparkPoints([b.close for b in days])


def _card(
    item: Listed,
    market: Market,
    points: SparkPoints | None = None,
    *,
    watchers: int | None = None,
    title: str | None = None,
) -> Card:
    drop = None
    if item.average and item.price is not None:
        drop = round((item.average - item.price) / item.average * 100)
    spark = None
    if points is not None and points.closes:
        spark = sparkline(points.closes, market, SPARK_DAYS, unit=points.unit)
    return Card(
        market=item.market,
        asin=item.asin,
        title=title or item.title or item.asin,
        image=shown_image(item.image),
        price=(None if item.price is None else format_money(item.price, item.currency or market)),
        in_stock=item.in_stock,
        drop_percent=drop,
        watchers=watchers,
        spark_lines=list(spark.lines) if spark else [],
        spark_text=spark.text if spark else None,
    )


def _compute(
    prices: PriceStore, market: Market, tracked: list[tuple[str, int]], now_ms: int
) -> HomeSections:
    """Every ClickHouse read of the home page (blocking): a handful of bulk queries."""
    counts = markets_with_products(prices)
    drops = biggest_drops(prices, market.code, now_ms, min_drop=MIN_DROP, limit=SECTION_SIZE)
    recent = recently_added(prices, market.code, limit=SECTION_SIZE)
    watched = listed_products(prices, market.code, [asin for asin, _ in tracked])
    shown = {p.asin for p in drops} | {p.asin for p in recent} | set(watched)
    closes = daily_closes(prices, market.code, shown, now_ms, days=SPARK_DAYS)
    # the young ones (every product of a new install) are drawn from their hours: one
    # more bulk read, of only those
    young = {asin for asin in shown if _priced(closes.get(asin, ())) < 2}
    hours = hourly_closes(prices, market.code, young, now_ms, hours=SPARK_HOURS)

    def line(asin: str) -> SparkPoints:
        return spark_points(closes, hours, asin)

    return HomeSections(
        market=market.code,
        markets=sorted(counts, key=lambda code: (-counts[code], code)),
        drops=[_card(p, market, line(p.asin)) for p in drops],
        tracked=[
            _card(watched[asin], market, line(asin), watchers=n)
            for asin, n in tracked
            if asin in watched
        ],
        recent=[_card(p, market, line(p.asin)) for p in recent],
    )


async def _fill(state: ApiState, market: Market) -> HomeSections:
    await sync_titles(state)
    tracked = await sql.most_tracked(state.db, market.code, limit=SECTION_SIZE)
    sections = await state.clickhouse(_compute, state.prices, market, tracked, state.clock())
    await state.redis.set(
        state.keys.home_sections(market.code), _encoder.encode(sections), ex=SECTIONS_TTL_S
    )
    return sections


async def home_sections(state: ApiState, market: Market) -> HomeSections:
    """The home page's lists for ``market``: from Redis, or computed once for every
    visitor waiting on them."""
    cached = await state.redis.get(state.keys.home_sections(market.code))
    if cached is not None:
        return _decoder.decode(cached)
    flight = (id(state), market.code)
    pending = _inflight.get(flight)
    if pending is None:
        pending = asyncio.ensure_future(_fill(state, market))
        _inflight[flight] = pending
        pending.add_done_callback(lambda _: _inflight.pop(flight, None))
    return await asyncio.shield(pending)


def default_market(sections_markets: Sequence[str]) -> Market:
    """The marketplace a visitor sees first: the one with the most products."""
    for code in sections_markets:
        if code in MARKETS:
            return get_market(code)
    return get_market("us")


async def sync_titles(state: ApiState) -> int:
    """Copy the catalogue titles sighted since the watermark into the SQL title index;
    at most once per ``TITLE_SYNC_EVERY_S`` across every API process (a Redis guard).
    Returns how many index rows changed."""
    keys = state.keys
    if not await state.redis.set(keys.title_index_guard, b"1", nx=True, ex=TITLE_SYNC_EVERY_S):
        return 0
    raw = await state.redis.get(keys.title_index_watermark)
    watermark = int(raw) if raw is not None else 0
    since = max(0, watermark - TITLE_SYNC_OVERLAP_MS)
    changed = 0
    for _ in range(TITLE_SYNC_PAGES):
        rows = await state.clickhouse(
            lambda s: titles_seen_since(state.prices, s, limit=TITLE_SYNC_PAGE), since
        )
        if not rows:
            break
        changed += await sql.upsert_titles(
            state.db, [(r.market, r.asin, r.title, r.last_seen) for r in rows]
        )
        # rows come oldest first: a later round starts after the newest one copied
        since = rows[-1].last_seen
        watermark = max(watermark, since)
        await state.redis.set(keys.title_index_watermark, str(watermark).encode())
        if len(rows) < TITLE_SYNC_PAGE:
            break
    if changed:
        log.info("title index: %d titles new or changed", changed)
    return changed


class SearchResults(msgspec.Struct, frozen=True):
    cards: list[Card]
    page: int
    more: bool


async def search_products(
    state: ApiState, query: str, market: Market, page: int, client_ip: str
) -> SearchResults:
    """One page of the products of ``market`` whose titles hold every word of
    ``query``, with their pictures and prices; raises ``sql.QueryRefused``, and
    ``RateLimited`` beyond ``client_ip``'s searches a minute (each is a full-text
    query and a catalogue read: a script must not make them for free)."""
    await within(state, Limit("title-search", client_ip, SEARCHES_PER_IP_PER_MINUTE, 60))
    page = min(max(1, page), MAX_RESULT_PAGE)
    await sync_titles(state)
    found = await sql.search_titles(
        state.db, query, market.code, limit=RESULTS_PER_PAGE, offset=(page - 1) * RESULTS_PER_PAGE
    )
    asins = [m.asin for m in found.matches]
    listed = await state.clickhouse(listed_products, state.prices, market.code, asins)
    cards = []
    for match in found.matches:
        item = listed.get(match.asin)
        if item is None:  # indexed but gone from the catalogue
            continue
        cards.append(_card(item, market, title=match.title))
    return SearchResults(cards=cards, page=page, more=found.more and page < MAX_RESULT_PAGE)

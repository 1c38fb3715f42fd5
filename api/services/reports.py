"""Extension price reports -> observations on the ``observations`` stream.

``report_to_observations`` is the pure gate: anything wrong is refused with a reason
and nothing is published. A report is one observation of the buy box, and, when it
carries the rest of the page, one per price series the page speaks of
(:mod:`pricewatch.page_series`, as for a crawled page). Trust-but-verify happens
later, in ingest; here we only make sure a report is well-formed and means what it
says.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
from decimal import Decimal, InvalidOperation
from urllib.parse import urlsplit

import redis.asyncio

from api.schemas import ReportedPrice, ReportIn, ReportPage
from api.services.timefmt import parse_time
from pricewatch.asin import extract_asin, is_valid_asin
from pricewatch.keys import OBSERVATIONS, Keys, partition_of
from pricewatch.markets import MARKETS, Market, market_for_host
from pricewatch.models import Availability, Observation, Series, Source, encode, series_text
from pricewatch.money import parse_price_exactly
from pricewatch.page_series import PageFacts, series_observations
from pricewatch.storage.streams import PartitionedStream

MAX_MINOR = 10**12
# Reports dated further ahead than this come from a broken clock.
MAX_FUTURE_MS = 10 * 60 * 1000
# Older reports are history, not news; the extension sends what it sees now.
MAX_AGE_MS = 7 * 24 * 3600 * 1000
_INSTALL_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")


class ReportError(ValueError):
    pass


def reporter_for(user_id: int | None, install_id: str | None, client_ip: str, ip_key: str) -> str:
    """``user:<id>`` when signed in, else ``install:<install id>:<keyed IP hash>``.

    The IP is hashed with a deployment key: reputation can tell reporters apart
    without the store holding anyone's address.
    """
    if user_id is not None:
        return f"user:{user_id}"
    if not install_id or not _INSTALL_ID.match(install_id):
        raise ReportError(
            "anonymous reports need an X-Install-Id header of 8-64 letters, digits, - or _"
        )
    digest = hmac.new(ip_key.encode(), client_ip.encode(), hashlib.sha256).hexdigest()[:16]
    return f"install:{install_id}:{digest}"


def _price_minor(value: float | str, market: Market) -> tuple[int, str | None]:
    """(minor units, currency named by the text or None)."""
    if isinstance(value, str):
        money = parse_price_exactly(value, market)
        if money is None:
            raise ReportError(
                f"price {value!r} is not a price: give an amount as the page prints it "
                "(digits and separators, with or without the currency; no sign or exponent)"
            )
        return money.minor, money.currency
    if isinstance(value, bool) or not math.isfinite(value):
        raise ReportError("price must be a finite number")
    if value < 0:
        raise ReportError("price must not be negative")
    try:
        scaled = Decimal(repr(value)).scaleb(market.exponent)
    except InvalidOperation:
        raise ReportError(f"price {value!r} is not a number") from None
    if scaled != scaled.to_integral_value():
        raise ReportError(
            f"price has more than {market.exponent} decimal places for {market.currency}"
        )
    return int(scaled), None


def report_to_observations(report: ReportIn, reporter: str, now_ms: int) -> list[Observation]:
    """Validate a report; raises ReportError naming what is wrong. The buy box's
    observation comes first."""
    market = MARKETS.get(report.market.strip().lower())
    if market is None:
        raise ReportError(f"unknown market {report.market!r}; known: {', '.join(MARKETS)}")
    asin = report.asin.strip().upper()
    if not is_valid_asin(asin):
        raise ReportError(f"{report.asin!r} is not a valid ASIN")
    if report.url is not None:
        parts = urlsplit(report.url)
        if parts.scheme not in ("http", "https") or market_for_host(parts.hostname or "") != market:
            raise ReportError(f"url is not a page of {market.domain}")
        if extract_asin(report.url) not in (None, asin):
            raise ReportError("url names another ASIN than asin")
    if report.currency is not None and report.currency != market.currency:
        raise ReportError(
            f"currency {report.currency!r} is wrong for market {market.code} "
            f"(prices there are in {market.currency})"
        )
    price: int | None = None
    if report.price is not None:
        if report.availability == Availability.UNAVAILABLE:
            raise ReportError("an unavailable product cannot have a price")
        price = _checked_price("price", report.price, market)
    elif report.availability == Availability.IN_STOCK:
        raise ReportError("an in-stock report needs a price")
    observed_at = now_ms
    if report.observed_at is not None:
        try:
            observed_at = parse_time(report.observed_at)
        except ValueError as exc:
            raise ReportError(f"observedAt: {exc}") from None
        if observed_at > now_ms + MAX_FUTURE_MS:
            raise ReportError("observedAt is in the future")
        if observed_at < now_ms - MAX_AGE_MS:
            raise ReportError("observedAt is more than 7 days ago")
    title = report.title.strip() if report.title else None
    buybox = Observation(
        market=market.code,
        asin=asin,
        observed_at=observed_at,
        availability=report.availability,
        source=Source.EXTENSION,
        price=price,
        currency=market.currency if price is not None else None,
        title=title or None,
        reporter=reporter,
    )
    if report.page is None:
        return [buybox]
    facts = _page_facts(report.page, report.availability, price, market)
    by_series = series_observations(
        facts,
        market=market.code,
        asin=asin,
        observed_at=observed_at,
        source=Source.EXTENSION,
        currency=market.currency,
        reporter=reporter,
    )
    return [buybox] + [obs for obs in by_series if obs.series is not Series.BUYBOX]


def _checked_price(name: str, value: ReportedPrice, market: Market) -> int:
    """A reported price in minor units of ``market``'s currency; ``name`` says which
    field, in the reason a bad one is refused with."""
    amount, named = _price_minor(value, market)
    if named is not None and named != market.currency:
        raise ReportError(
            f"{name} is in {named}, but market {market.code} prices are in {market.currency}"
        )
    if amount > MAX_MINOR:
        raise ReportError(f"{name} is implausibly large")
    if amount == 0:
        raise ReportError(f"{name} must be above zero")
    return amount


def _page_facts(
    page: ReportPage, availability: Availability, price: int | None, market: Market
) -> PageFacts:
    def minor(name: str, value: ReportedPrice | None) -> int | None:
        return None if value is None else _checked_price(f"page.{name}", value, market)

    return PageFacts(
        availability=availability,
        price=price,
        buybox_used=page.buybox_used,
        sold_by=(page.sold_by.strip() or None) if page.sold_by else None,
        list_price=minor("listPrice", page.list_price),
        new_offers_from=minor("newOffersFrom", page.new_offers_from),
        used_from=minor("usedFrom", page.used_from),
        sales_rank=page.sales_rank,
    )


def queue_tracked_check(
    pipe: redis.asyncio.client.Pipeline, keys: Keys, partitions: int, obs: Observation
) -> None:
    """Queue on ``pipe`` a check of whether ingest tracks the report's series; its
    reply is true when a crawl has seen the product (see ``pricewatch.ingest.core``)."""
    field = series_text(obs.market, obs.asin, obs.series)
    pipe.hexists(keys.last_price(partition_of(obs.market, obs.asin, partitions)), field)


def publish(
    pipe: redis.asyncio.client.Pipeline,
    keys: Keys,
    partitions: int,
    maxlen: int,
    observations: list[Observation],
) -> None:
    """Queue on ``pipe`` the XADD of a report's observations, as one entry (an array)
    on their product's partition of ``observations``."""
    first = observations[0]
    stream = PartitionedStream(keys, OBSERVATIONS, partitions, maxlen)
    stream.add(pipe, first.market, first.asin, encode(observations))

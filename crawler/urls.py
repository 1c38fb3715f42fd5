"""Where the crawler fetches a market's pages: Amazon, or an origin set in settings.

``origins`` maps a market code to the origin that replaces its Amazon origin
(``PRICEWATCH_MARKET_ORIGINS``): tests and demos point markets at the local
marketplace. Everything stored keeps the Amazon form of URLs.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit, urlunsplit

from pricewatch.markets import get_market


def _origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _replace_origin(url: str, origin: str) -> str:
    parts, new = urlsplit(url), urlsplit(origin)
    return urlunsplit((new.scheme, new.netloc, parts.path or "/", parts.query, ""))


def product_url(market: str, asin: str, origins: Mapping[str, str]) -> str:
    """The URL to fetch for a product page."""
    return fetch_url(get_market(market).product_url(asin), market, origins)


def fetch_url(amazon_url: str, market: str, origins: Mapping[str, str]) -> str:
    """An Amazon URL of ``market`` rewritten to the market's configured origin, if any."""
    origin = origins.get(market)
    return _replace_origin(amazon_url, origin) if origin else amazon_url


def amazon_url(fetched_url: str, market: str) -> str:
    """The Amazon form of a URL fetched from ``market``'s (possibly replaced) origin."""
    home = get_market(market).home_url
    if _origin_of(fetched_url) == _origin_of(home):
        return fetched_url
    return _replace_origin(fetched_url, home)

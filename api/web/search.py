"""What someone typed in the home page's box -> the product page to show (pure).

People paste whole Amazon URLs (any marketplace, any of Amazon's URL shapes) or a
bare ASIN; a URL names its own marketplace, a bare ASIN takes the one picked next to
the box.
"""

from __future__ import annotations

import dataclasses
from urllib.parse import urlsplit

from pricewatch.asin import extract_asin
from pricewatch.markets import MARKETS, market_for_url

MAX_QUERY_LENGTH = 4096


class SearchError(ValueError):
    """The input names no product; the message says why, in words for the visitor."""


@dataclasses.dataclass(frozen=True)
class ProductRef:
    market: str
    asin: str


def _looks_like_url(text: str) -> bool:
    if "://" in text:
        return True
    host = urlsplit("https://" + text).hostname or ""
    return "." in host and "/" in text


def resolve_query(query: str, default_market: str = "us") -> ProductRef:
    """The product an Amazon URL or ASIN refers to.

    Raises :class:`SearchError` for an empty or overlong input, a URL outside Amazon's
    marketplaces, or text with no ASIN in it.
    """
    text = query.strip()
    if not text:
        raise SearchError("Paste an Amazon product URL or a 10-character ASIN.")
    if len(text) > MAX_QUERY_LENGTH:
        raise SearchError(f"That is longer than {MAX_QUERY_LENGTH} characters.")
    if default_market not in MARKETS:
        raise SearchError(f"Unknown marketplace {default_market!r}.")
    market = default_market
    if _looks_like_url(text):
        found = market_for_url(text if "://" in text else "https://" + text)
        if found is None:
            raise SearchError("That is not an Amazon marketplace URL we know.")
        market = found.code
    asin = extract_asin(text)
    if asin is None:
        raise SearchError("No ASIN found: paste a product page URL (with /dp/…) or the ASIN.")
    return ProductRef(market=market, asin=asin)

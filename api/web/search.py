"""What someone typed in the home page's box -> what to show (pure).

People paste whole Amazon URLs (any marketplace, any of Amazon's URL shapes), a bare
ASIN, a short link (``amzn.to``, ``a.co``, ``amzn.eu``, ``amzn.asia``), or type words
of a product's title. A URL names its own marketplace; an ASIN and words take the one
picked next to the box. A short link says nothing until it is resolved
(``api.web.short_links``): the redirect it answers with is judged here, by
``product_from_redirect``.
"""

from __future__ import annotations

import dataclasses
import re
from urllib.parse import urlsplit

from pricewatch.asin import extract_asin
from pricewatch.markets import MARKETS, market_for_url

MAX_QUERY_LENGTH = 4096
# Amazon's short-link hosts (as typed -> as asked); a link is the host and a code of a
# few letters, "/d/" before it in the app's share links (https://a.co/d/abc1234)
SHORT_LINK_HOSTS = {
    "amzn.to": "amzn.to",
    "www.amzn.to": "amzn.to",
    "a.co": "a.co",
    "amzn.eu": "amzn.eu",
    "amzn.asia": "amzn.asia",
}
_SHORT_CODE = re.compile(r"/((?:d/)?[A-Za-z0-9]{1,32})/?")


class SearchError(ValueError):
    """The input names no product; the message says why, in words for the visitor."""


@dataclasses.dataclass(frozen=True)
class ProductRef:
    market: str
    asin: str


@dataclasses.dataclass(frozen=True)
class ShortLink:
    # the link's code: https://{host}/{code}
    code: str
    host: str = "amzn.to"


@dataclasses.dataclass(frozen=True)
class TitleWords:
    text: str
    market: str


def _looks_like_url(text: str) -> bool:
    if "://" in text:
        return True
    try:
        host = urlsplit("https://" + text).hostname or ""
    except ValueError:  # a host urlsplit refuses (an unbalanced bracket)
        return "." in text and "/" in text
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


def _short_link(text: str) -> ShortLink | None:
    """A short link of one of ``SHORT_LINK_HOSTS`` (http or https, no user, port, query
    or fragment) or None. Raises :class:`SearchError` for a short-link host with
    anything else."""
    candidate = text if "://" in text else "https://" + text
    try:
        parts = urlsplit(candidate)
        host = (parts.hostname or "").lower()
        port = parts.port
    except ValueError:
        return None
    if host not in SHORT_LINK_HOSTS:
        return None
    host = SHORT_LINK_HOSTS[host]
    match = _SHORT_CODE.fullmatch(parts.path)
    if (
        parts.scheme not in ("http", "https")
        or match is None
        or port is not None
        or parts.username is not None
        or parts.password is not None
        or parts.query
        or parts.fragment
    ):
        raise SearchError(f"That {host} link is not in the form https://{host}/abc123.")
    return ShortLink(match.group(1), host)


def read_query(query: str, default_market: str = "us") -> ProductRef | ShortLink | TitleWords:
    """What the box holds: a product (an Amazon URL or an ASIN), a short link to
    resolve, or words to look for in titles. Raises :class:`SearchError` as
    :func:`resolve_query` does; words are never an error here (the title search judges
    them)."""
    text = query.strip()
    if not text:
        raise SearchError("Type words of a product's title, or paste its Amazon URL or ASIN.")
    if len(text) > MAX_QUERY_LENGTH:
        raise SearchError(f"That is longer than {MAX_QUERY_LENGTH} characters.")
    if not _looks_like_url(text) and extract_asin(text) is None:
        if default_market not in MARKETS:
            raise SearchError(f"Unknown marketplace {default_market!r}.")
        return TitleWords(text, default_market)
    link = _short_link(text)
    if link is not None:
        return link
    return resolve_query(query, default_market)


def product_from_redirect(location: str | None, host: str = "amzn.to") -> ProductRef:
    """The product a short link's redirect leads to: only an absolute http(s) URL of a
    known Amazon marketplace with an ASIN in it. Raises :class:`SearchError` (which
    names the short link's ``host``)."""
    if not location:
        raise SearchError(f"That {host} link does not lead anywhere.")
    try:
        parts = urlsplit(location)
    except ValueError:
        raise SearchError(f"That {host} link leads to an address that is not a URL.") from None
    market = market_for_url(location) if parts.scheme in ("http", "https") else None
    if market is None or parts.username is not None or parts.password is not None:
        raise SearchError(f"That {host} link does not lead to an Amazon marketplace we know.")
    asin = extract_asin(location)
    if asin is None:
        raise SearchError(f"That {host} link leads to Amazon, but not to a product page.")
    return ProductRef(market=market.code, asin=asin)

"""Pure parser of Amazon listing pages (best sellers, new releases): HTML -> ASINs.

Listing grids name their products twice: a ``data-asin`` attribute on each tile
and a product link (``/<slug>/dp/<ASIN>``). Both are read, because layouts
have dropped one or the other over the years; the first sighting fixes the
order (the rank). No Scrapy, no I/O.
"""

from __future__ import annotations

import dataclasses
from urllib.parse import urljoin

from parsel import Selector

from pricewatch.asin import extract_asin, is_valid_asin

# "Next page" of the pagination bar, newest layout first.
_NEXT_PAGE = (
    "ul.a-pagination li.a-last a::attr(href)",
    "a.s-pagination-next::attr(href)",
    "link[rel='next']::attr(href)",
)


@dataclasses.dataclass(frozen=True)
class Listing:
    asins: list[str]
    # absolute URL of the following page, None on the last one
    next_url: str | None = None


def parse_listing(body: bytes | str, url: str) -> Listing:
    """ASINs of a listing page in page order, without duplicates, plus its next page."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    page = Selector(text=text)
    found: dict[str, None] = {}
    for node in page.xpath("//*[@data-asin or (self::a and @href)]"):
        raw = node.attrib.get("data-asin")
        if raw is not None:
            asin = raw.strip().upper()
            if not is_valid_asin(asin):
                continue
        else:
            href = node.attrib.get("href", "")
            if "/dp/" not in href and "/gp/product/" not in href:
                continue
            asin = extract_asin(urljoin(url, href)) or ""
            if not asin:
                continue
        found.setdefault(asin, None)
    next_href = next((h for css in _NEXT_PAGE if (h := page.css(css).get())), None)
    return Listing(list(found), urljoin(url, next_href) if next_href else None)

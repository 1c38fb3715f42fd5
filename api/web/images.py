"""Which product pictures a page shows: only Amazon's, as the CSP allows them.

A product's image URL comes from a crawled page or an extension report, so it is data
like any other. The page shows it only when it is an https URL on one of Amazon's image
hosts (``api.page_headers.AMAZON_IMAGE_HOSTS``, the hosts the CSP's img-src names), and
the browser fetches it from there: our server never does.

The demo marketplace's pictures sit on its own local http origin, so demo product pages
show none. Allowing that origin would need a CSP that differs between the demo and
production (and a loopback origin in it); a demo without pictures keeps the one rule
that production runs, and shows the page as it looks for a product without a picture.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from api.page_headers import AMAZON_IMAGE_HOSTS

_HOSTS = frozenset(AMAZON_IMAGE_HOSTS)
MAX_URL_LENGTH = 2048


def shown_image(url: str | None) -> str | None:
    """``url`` if a page may show it (https, exactly an Amazon image host: no user, no
    port), else None."""
    if not url or len(url) > MAX_URL_LENGTH or not url.isascii():
        return None
    if any(c.isspace() or not c.isprintable() for c in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme != "https" or parts.netloc.lower() not in _HOSTS:
        return None
    return url

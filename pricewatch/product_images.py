"""Which product pictures may be shown anywhere (pages, e-mails): only Amazon's.

A product's image URL comes from a crawled page or an extension report, so it is data
like any other: a page or a forged report can name any URL, and a mail client or a
browser would fetch it on opening, telling that host who read what and when. A picture
is shown only when its URL is https on exactly one of Amazon's image hosts; the site's
CSP allows exactly these hosts in img-src, and the browser (or the mail client) fetches
the picture from there: our server never does. No proxy: it would fetch, server-side,
URLs whoever shaped that data aimed.

The demo marketplace's pictures sit on its own local http origin, so demo products show
none: the one rule production runs.
"""

from __future__ import annotations

from urllib.parse import urlsplit

AMAZON_IMAGE_HOSTS = (
    "m.media-amazon.com",
    "images-na.ssl-images-amazon.com",
    "images-eu.ssl-images-amazon.com",
    "images-fe.ssl-images-amazon.com",
)
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

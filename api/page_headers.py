"""The security headers of every HTML page we serve: the website's and the API
documentation's.

Pages load only their own scripts, styles, fonts and JSON, and the website's product
pictures from Amazon's image hosts (``AMAZON_IMAGE_HOSTS``); uPlot and Swagger UI set
their inline styles through the CSSOM, which 'self' allows, and no page has an inline
script. frame-ancestors stops click-jacking of the forms.
"""

from __future__ import annotations

from litestar.datastructures import ResponseHeader

# Product pictures load straight from Amazon's public image hosts, and from no other
# host. A proxy of ours would fetch, server-side, URLs that crawled pages and extension
# reports put in the catalogue: a request aimed by whoever shaped that data. Letting the
# browser load a public picture itself costs us nothing and our server never fetches a
# user-influenced URL; the page renders a picture only when its URL is https on one of
# these hosts (api.web.images), so a stored URL elsewhere is never even tried, and the
# CSP stops one that slipped through. Referrer-Policy below keeps our page URLs from them.
AMAZON_IMAGE_HOSTS = (
    "m.media-amazon.com",
    "images-na.ssl-images-amazon.com",
    "images-eu.ssl-images-amazon.com",
    "images-fe.ssl-images-amazon.com",
)


def _policy(img_src: str) -> str:
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; "
        f"img-src {img_src}; font-src 'self'; connect-src 'self'; form-action 'self'; "
        "base-uri 'none'; object-src 'none'; frame-ancestors 'none'"
    )


CONTENT_SECURITY_POLICY = _policy(
    " ".join(["'self'", "data:", *(f"https://{host}" for host in AMAZON_IMAGE_HOSTS)])
)
# the API documentation shows no product: no other origin at all
DOCS_CONTENT_SECURITY_POLICY = _policy("'self' data:")


def _headers(policy: str) -> list[ResponseHeader]:
    return [
        ResponseHeader(name="Content-Security-Policy", value=policy),
        ResponseHeader(name="X-Content-Type-Options", value="nosniff"),
        ResponseHeader(name="Referrer-Policy", value="same-origin"),
    ]


PAGE_HEADERS = _headers(CONTENT_SECURITY_POLICY)
"""The website's pages."""
DOCS_PAGE_HEADERS = _headers(DOCS_CONTENT_SECURITY_POLICY)
"""The API documentation's pages."""

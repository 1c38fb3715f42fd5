"""The security headers of every HTML page we serve: the website's and the API
documentation's.

Pages load only their own scripts, styles, fonts and JSON, and the website's product
pictures from Amazon's image hosts (``AMAZON_IMAGE_HOSTS``); uPlot and Swagger UI set
their inline styles through the CSSOM, which 'self' allows, and no page has an inline
script. frame-ancestors stops click-jacking of the forms.
"""

from __future__ import annotations

from litestar.datastructures import ResponseHeader

from pricewatch.product_images import AMAZON_IMAGE_HOSTS

# Product pictures load straight from Amazon's public image hosts and from no other
# (pricewatch.product_images says why, and renders only URLs on them); the CSP stops
# one that slipped through. Referrer-Policy below keeps our page URLs from them.


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

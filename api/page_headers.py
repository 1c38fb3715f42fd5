"""The security headers of every HTML page we serve: the website's and the API
documentation's.

Pages load only their own scripts, styles, fonts and JSON; uPlot and Swagger UI set
their inline styles through the CSSOM, which 'self' allows, and no page has an inline
script. frame-ancestors stops click-jacking of the forms.
"""

from __future__ import annotations

from litestar.datastructures import ResponseHeader

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; font-src 'self'; connect-src 'self'; form-action 'self'; "
    "base-uri 'none'; object-src 'none'; frame-ancestors 'none'"
)
PAGE_HEADERS = [
    ResponseHeader(name="Content-Security-Policy", value=CONTENT_SECURITY_POLICY),
    ResponseHeader(name="X-Content-Type-Options", value="nosniff"),
    ResponseHeader(name="Referrer-Policy", value="same-origin"),
]

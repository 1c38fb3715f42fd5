"""A local Amazon-like marketplace, for crawler tests, browser tests and the demo.

``Marketplace`` serves product and listing pages from a ``Catalog`` the caller
controls, over HTTP and (with the certificate of :mod:`pricewatch.devtools.tls`)
HTTPS; :mod:`pricewatch.devtools.proxies` puts one client IP per proxy in front of
it. Nothing here touches the internet. Run ``python -m
pricewatch.devtools.marketplace --help`` for a standalone site.
"""

from .catalog import Catalog, CatalogProduct, DemoCatalog, WalkRules, demo_catalog, random_asin
from .pages import format_price
from .server import Marketplace, RequestLog, RequestRecord, Response, min_gap_per_ip

__all__ = [
    "Catalog",
    "CatalogProduct",
    "DemoCatalog",
    "Marketplace",
    "RequestLog",
    "RequestRecord",
    "Response",
    "WalkRules",
    "demo_catalog",
    "format_price",
    "min_gap_per_ip",
    "random_asin",
]

"""A local Amazon-like marketplace and local forward proxies, for crawler tests and demos.

``Marketplace`` serves product and listing pages from a ``Catalog`` the caller
controls; ``ProxyPool`` starts forward proxies on 127.0.0.2, 127.0.0.3, ...
so the marketplace sees one client IP per proxy. Nothing here touches the
internet. Run ``python -m pricewatch.marketplace --help`` for a standalone site.
"""

from .catalog import Catalog, CatalogProduct, DemoCatalog, WalkRules, demo_catalog, random_asin
from .pages import format_price
from .proxy import ForwardProxy, ProxyPool, ProxyStats, Route, loopback_only
from .server import Marketplace, RequestLog, RequestRecord, Response
from .tls import CertBundle, amazon_hostnames, self_signed_certificate

__all__ = [
    "Catalog",
    "CatalogProduct",
    "CertBundle",
    "DemoCatalog",
    "ForwardProxy",
    "Marketplace",
    "ProxyPool",
    "ProxyStats",
    "RequestLog",
    "RequestRecord",
    "Response",
    "Route",
    "WalkRules",
    "amazon_hostnames",
    "demo_catalog",
    "format_price",
    "loopback_only",
    "random_asin",
    "self_signed_certificate",
]

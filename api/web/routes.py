"""What ``api.app.create_app`` mounts for the website: pages, ``/static``, templates.

``create_app`` imports this module when it exists and uses ``ROUTE_HANDLERS`` and
``TEMPLATE_CONFIG``; the JSON API knows nothing else about the website.
"""

from __future__ import annotations

from typing import Any

from litestar import Router
from litestar.datastructures import CacheControlHeader
from litestar.static_files import create_static_files_router

from api.page_headers import PAGE_HEADERS
from api.web.account_pages import AccountPages
from api.web.assets import STATIC_DIR, STATIC_PATH, AssetUrls
from api.web.controllers import WebsiteController
from api.web.stop import StopController
from api.web.templating import template_config

# asset URLs carry a content hash (see assets.py), so a year is safe
STATIC_CACHE = CacheControlHeader(public=True, max_age=365 * 24 * 3600, immutable=True)

ASSETS = AssetUrls(STATIC_DIR, STATIC_PATH)

ROUTE_HANDLERS: list[Any] = [
    Router(
        path="/",
        route_handlers=[WebsiteController, StopController, AccountPages],
        response_headers=PAGE_HEADERS,
        include_in_schema=False,
    ),
    create_static_files_router(
        path=STATIC_PATH,
        directories=[STATIC_DIR],
        cache_control=STATIC_CACHE,
        name="web:static",
        include_in_schema=False,
    ),
]
TEMPLATE_CONFIG = template_config(ASSETS)

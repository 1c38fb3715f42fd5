"""A page of the website: a template rendered as HTML with its caching rule.

Product pages change when a price does; a minute of staleness is cheap and absorbs
bursts (the home page shares the rule). Account and error pages hold no data (the
scripts fetch it) but are never cached, so sign-in state and fixes show at once.
"""

from __future__ import annotations

from typing import Any

from litestar import MediaType
from litestar.datastructures import CacheControlHeader
from litestar.response import Template

PRODUCT_CACHE = CacheControlHeader(public=True, max_age=60)
NO_STORE = CacheControlHeader(no_store=True)


def page(
    template: str,
    context: dict[str, Any],
    status_code: int = 200,
    cache: CacheControlHeader = NO_STORE,
) -> Template:
    return Template(
        template_name=template,
        context=context,
        status_code=status_code,
        media_type=MediaType.HTML,
        headers={cache.HEADER_NAME: cache.to_header()},
    )


def error_page(heading: str, detail: str, status_code: int) -> Template:
    return page("error.html", {"heading": heading, "detail": detail}, status_code)

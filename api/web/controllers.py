"""HTML pages. Thin: resolve the input, call the API's product service, render.

Product pages live at ``/p/{market}/{asin}`` rather than answering ``Accept: text/html``
on the JSON route ``/products/{asin}``: one URL, one representation, so caches and
proxies never need ``Vary: Accept`` and neither side can shadow the other's handler.

Pages carry no per-user content: whoever is signed in, the HTML is the same, and the
page scripts fetch the user's data from the JSON API with the bearer token kept in
localStorage (see ``frontend/src/api.js``). That is also why no page needs a CSRF
token: nothing here acts on a cookie.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, MediaType, Request, get
from litestar.datastructures import CacheControlHeader
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template
from litestar.status_codes import (
    HTTP_400_BAD_REQUEST,
    HTTP_404_NOT_FOUND,
    HTTP_429_TOO_MANY_REQUESTS,
)

from api.dependencies import client_ip
from api.schemas import ProductOut
from api.services.lookups import Lookup
from api.services.passwords import MIN_PASSWORD_LENGTH, PASSWORD_RULE
from api.services.pricing import DEFAULT_PERIOD, PERIODS_MS
from api.services.products import UnknownProduct, product_view
from api.state import ApiState
from api.web.search import SearchError, resolve_query
from pricewatch.asin import is_valid_asin
from pricewatch.markets import MARKETS, UnknownMarket, get_market
from pricewatch.storage.sql import NotificationType

PERIODS = tuple(PERIODS_MS)
CHANNELS = (
    (NotificationType.EMAIL.value, "E-mail"),
    (NotificationType.SMS.value, "SMS"),
    (NotificationType.WEBHOOK.value, "Webhook"),
)
MARKET_CHOICES = tuple((m.code, m.domain) for m in MARKETS.values())

# Product pages change when a price does; a minute of staleness is cheap and absorbs
# bursts (the home page shares the rule). Account and error pages hold no data (the
# scripts fetch it) but are never cached, so sign-in state and fixes show at once.
PRODUCT_CACHE = CacheControlHeader(public=True, max_age=60)
NO_STORE = CacheControlHeader(no_store=True)


def _page(
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


def _error(heading: str, detail: str, status_code: int) -> Template:
    return _page("error.html", {"heading": heading, "detail": detail}, status_code)


def _unknown_product(exc: UnknownProduct, common: dict[str, Any]) -> Template:
    lookup = exc.lookup
    if lookup.status is Lookup.NOT_FOUND:
        return _error(
            "No such product",
            f"{common['domain']} has no product {exc.asin}: its page was not found when we "
            "last looked. Check the ASIN or paste the product's URL.",
            HTTP_404_NOT_FOUND,
        )
    if lookup.status is Lookup.LIMITED:
        page = _error(
            "Too many new products at once",
            f"We have not seen {exc.asin} yet, and we cannot look up more new products "
            f"right now. Try again in {max(1, lookup.retry_after_s // 60)} minute(s).",
            HTTP_429_TOO_MANY_REQUESTS,
        )
        page.headers["Retry-After"] = str(lookup.retry_after_s)
        return page
    return _page("queued.html", common, HTTP_404_NOT_FOUND)


class WebsiteController(Controller):
    include_in_schema = False

    @get("/", name="web:home")
    async def home(self) -> Template:
        return _page(
            "home.html",
            {"query": "", "market": "us", "markets": MARKET_CHOICES, "error": None},
            cache=PRODUCT_CACHE,
        )

    @get("/search", name="web:search")
    async def search(
        self, q: FromQuery[str] = "", market: FromQuery[str] = "us"
    ) -> Redirect | Template:
        try:
            ref = resolve_query(q, market)
        except SearchError as exc:
            # the visitor's text comes back in the box: nothing typed is lost
            return _page(
                "home.html",
                {
                    "query": q,
                    "market": market if market in MARKETS else "us",
                    "markets": MARKET_CHOICES,
                    "error": str(exc),
                },
                status_code=HTTP_400_BAD_REQUEST,
            )
        return Redirect(path=f"/p/{ref.market}/{ref.asin}", status_code=303)

    @get("/p/{market:str}/{asin:str}", name="web:product")
    async def product(
        self,
        request: Request[Any, Any, Any],
        market: FromPath[str],
        asin: FromPath[str],
        period: FromQuery[str] = DEFAULT_PERIOD,
    ) -> Template | Redirect:
        try:
            found = get_market(market.lower())
        except UnknownMarket:
            return _error(
                "Unknown marketplace",
                f"There is no Amazon marketplace {market!r}.",
                HTTP_404_NOT_FOUND,
            )
        canonical = asin.strip().upper()
        if not is_valid_asin(canonical):
            return _error("Not an ASIN", f"{asin!r} is not an Amazon ASIN.", HTTP_404_NOT_FOUND)
        if period not in PERIODS:
            return _error(
                "Unknown period",
                f"period must be one of {', '.join(PERIODS)}.",
                HTTP_400_BAD_REQUEST,
            )
        if (found.code, canonical) != (market, asin):
            return Redirect(path=f"/p/{found.code}/{canonical}", status_code=301)
        state: ApiState = request.app.state.api
        common = {
            "asin": canonical,
            "domain": found.domain,
            "amazon_url": found.product_url(canonical),
        }
        try:
            product: ProductOut = await product_view(state, found, canonical, client_ip(request))
        except UnknownProduct as exc:
            return _unknown_product(exc, common)
        return _page(
            "product.html",
            {
                **common,
                "product": product,
                "period": period,
                "periods": PERIODS,
                "channels": CHANNELS,
            },
            cache=PRODUCT_CACHE,
        )

    @get("/signin", name="web:signin")
    async def signin(self) -> Template:
        return _page(
            "signin.html",
            {"heading": "Sign in", "action": "signin", "min_password": 1, "password_rule": ""},
        )

    # the form shows the API's own password rule, so the two never disagree
    @get("/register", name="web:register")
    async def register(self) -> Template:
        return _page(
            "signin.html",
            {
                "heading": "Register",
                "action": "register",
                "min_password": MIN_PASSWORD_LENGTH,
                "password_rule": PASSWORD_RULE,
            },
        )

    @get("/alerts", name="web:alerts")
    async def alerts(self) -> Template:
        return _page("alerts.html", {})

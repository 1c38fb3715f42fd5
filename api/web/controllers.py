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

from litestar import Controller, get
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template
from litestar.status_codes import (
    HTTP_400_BAD_REQUEST,
    HTTP_404_NOT_FOUND,
    HTTP_429_TOO_MANY_REQUESTS,
)

from api.dependencies import Api, ClientIp
from api.schemas import NotificationType, ProductOut
from api.services.lookups import Lookup
from api.services.passwords import MIN_PASSWORD_LENGTH, PASSWORD_RULE
from api.services.pricing import DEFAULT_PERIOD, PERIODS_MS
from api.services.products import UnknownProduct, product_view
from api.web.pages import PRODUCT_CACHE, error_page, page
from api.web.search import SearchError, resolve_query
from pricewatch.asin import is_valid_asin
from pricewatch.markets import MARKETS, UnknownMarket, get_market
from pricewatch.money import currency_affixes

PERIODS = tuple(PERIODS_MS)
CHANNELS = (
    (NotificationType.EMAIL.value, "E-mail"),
    (NotificationType.SMS.value, "SMS"),
    (NotificationType.WEBHOOK.value, "Webhook"),
)
MARKET_CHOICES = tuple((m.code, m.domain) for m in MARKETS.values())
# how "my alerts" writes each marketplace and its money: format_money's rules, for the
# page script (alert-text.js) to write amounts as e-mails and product pages do
MARKET_FORMATS = {
    m.code: {
        "domain": m.domain,
        "currency": m.currency,
        "exponent": m.exponent,
        "decimal": m.decimal_sep,
        "group": m.group_sep,
        "affixes": currency_affixes(m.currency),
    }
    for m in MARKETS.values()
}


def _unknown_product(exc: UnknownProduct, common: dict[str, Any]) -> Template:
    lookup = exc.lookup
    if lookup.status is Lookup.NOT_FOUND:
        return error_page(
            "No such product",
            f"{common['domain']} has no product {exc.asin}: its page was not found when we "
            "last looked. Check the ASIN or paste the product's URL.",
            HTTP_404_NOT_FOUND,
        )
    if lookup.status is Lookup.LIMITED:
        limited = error_page(
            "Too many new products at once",
            f"We have not seen {exc.asin} yet, and we cannot look up more new products "
            f"right now. Try again in {max(1, lookup.retry_after_s // 60)} minute(s).",
            HTTP_429_TOO_MANY_REQUESTS,
        )
        limited.headers["Retry-After"] = str(lookup.retry_after_s)
        return limited
    return page("queued.html", common, HTTP_404_NOT_FOUND)


class WebsiteController(Controller):
    include_in_schema = False

    @get("/", name="web:home")
    async def home(self) -> Template:
        return page(
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
            return page(
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
        api: Api,
        client_ip: ClientIp,
        market: FromPath[str],
        asin: FromPath[str],
        period: FromQuery[str] = DEFAULT_PERIOD,
    ) -> Template | Redirect:
        try:
            found = get_market(market.lower())
        except UnknownMarket:
            return error_page(
                "Unknown marketplace",
                f"There is no Amazon marketplace {market!r}.",
                HTTP_404_NOT_FOUND,
            )
        canonical = asin.strip().upper()
        if not is_valid_asin(canonical):
            return error_page("Not an ASIN", f"{asin!r} is not an Amazon ASIN.", HTTP_404_NOT_FOUND)
        if period not in PERIODS:
            return error_page(
                "Unknown period",
                f"period must be one of {', '.join(PERIODS)}.",
                HTTP_400_BAD_REQUEST,
            )
        if (found.code, canonical) != (market, asin):
            return Redirect(path=f"/p/{found.code}/{canonical}", status_code=301)
        common = {
            "asin": canonical,
            "domain": found.domain,
            "amazon_url": found.product_url(canonical),
        }
        try:
            product: ProductOut = await product_view(api, found, canonical, client_ip)
        except UnknownProduct as exc:
            return _unknown_product(exc, common)
        return page(
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
        return page(
            "signin.html",
            {"heading": "Sign in", "action": "signin", "min_password": 1, "password_rule": ""},
        )

    # the form shows the API's own password rule, so the two never disagree
    @get("/register", name="web:register")
    async def register(self) -> Template:
        return page(
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
        return page("alerts.html", {"markets": MARKET_FORMATS})

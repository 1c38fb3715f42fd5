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

from typing import Annotated, Any

from litestar import Controller, get
from litestar.params import FromPath, FromQuery, QueryParameter
from litestar.response import Redirect, Template
from litestar.status_codes import (
    HTTP_400_BAD_REQUEST,
    HTTP_404_NOT_FOUND,
    HTTP_429_TOO_MANY_REQUESTS,
)

from api.dependencies import Api, ClientIp
from api.ratelimit import RateLimited
from api.schemas import NotificationType, ProductOut
from api.services import discovery
from api.services.lookups import Lookup
from api.services.passwords import MIN_PASSWORD_LENGTH, PASSWORD_RULE
from api.services.pricing import DEFAULT_PERIOD, PERIODS_MS
from api.services.products import UnknownProduct, product_view
from api.web import short_links
from api.web.pages import PRODUCT_CACHE, error_page, page
from api.web.search import ProductRef, SearchError, ShortLink, TitleWords, read_query
from pricewatch.asin import is_valid_asin
from pricewatch.markets import MARKETS, UnknownMarket, get_market
from pricewatch.money import currency_affixes
from pricewatch.storage.sql import QueryRefused

PERIODS = tuple(PERIODS_MS)
CHANNELS = (
    (NotificationType.EMAIL.value, "E-mail"),
    (NotificationType.SMS.value, "SMS"),
    (NotificationType.WEBHOOK.value, "Webhook"),
    (NotificationType.APPRISE.value, "Apprise: Telegram, ntfy…"),
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


def _home_context(query: str, market: str, error: str | None) -> dict[str, Any]:
    return {
        "query": query,
        "market": market if market in MARKETS else "us",
        "markets": MARKET_CHOICES,
        "error": error,
        "sections": None,
    }


def _result_page(text: str) -> int:
    """The results page asked for: a positive number, else the first."""
    return int(text) if text.isdigit() and 0 < len(text) < 4 else 1


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


async def _title_results(api: Api, words: TitleWords, page_number: int, client_ip: str) -> Template:
    market = get_market(words.market)
    context: dict[str, Any] = {
        **_home_context(words.text, market.code, None),
        "domain": market.domain,
        "results": None,
    }
    try:
        context["results"] = await discovery.search_products(
            api, words.text, market, page_number, client_ip
        )
    except QueryRefused as exc:
        context["error"] = str(exc)
        return page("results.html", context, status_code=HTTP_400_BAD_REQUEST)
    return page("results.html", context)


class WebsiteController(Controller):
    include_in_schema = False

    @get("/", name="web:home")
    async def home(self, api: Api, market: FromQuery[str | None] = None) -> Template:
        market = market.strip().lower() if market is not None else None
        if market is not None and market not in MARKETS:
            return error_page(
                "Unknown marketplace",
                f"There is no Amazon marketplace {market[:20]!r}.",
                HTTP_400_BAD_REQUEST,
            )
        # lists of a minute ago (Redis), computed at most once a minute
        sections = await discovery.home_sections(api, get_market(market or "us"))
        if market is None and sections.markets and "us" not in sections.markets:
            sections = await discovery.home_sections(
                api, discovery.default_market(sections.markets)
            )
        shown = get_market(sections.market)
        return page(
            "home.html",
            {
                **_home_context("", shown.code, None),
                "sections": sections,
                "domain": shown.domain,
                "market_tabs": [
                    (code, get_market(code).domain)
                    for code in sorted({*sections.markets, shown.code})
                    if code in MARKETS
                ],
            },
            cache=PRODUCT_CACHE,
        )

    @get("/search", name="web:search")
    async def search(
        self,
        api: Api,
        client_ip: ClientIp,
        q: FromQuery[str] = "",
        market: FromQuery[str] = "us",
        page_number: Annotated[str, QueryParameter(name="page")] = "1",
    ) -> Redirect | Template:
        try:
            found = read_query(q, market)
            if isinstance(found, TitleWords):
                return await _title_results(api, found, _result_page(page_number), client_ip)
            ref: ProductRef = (
                await short_links.resolve(api, found, client_ip)
                if isinstance(found, ShortLink)
                else found
            )
        except SearchError as exc:
            # the visitor's text comes back in the box: nothing typed is lost
            return page(
                "home.html", _home_context(q, market, str(exc)), status_code=HTTP_400_BAD_REQUEST
            )
        except RateLimited as exc:
            limited = page(
                "home.html",
                _home_context(q, market, "Too many searches from here; try again in a minute."),
                status_code=HTTP_429_TOO_MANY_REQUESTS,
            )
            limited.headers.update(exc.headers or {})
            return limited
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
                # the chart writes amounts with the marketplace's rules (format_money's)
                "money_rules": MARKET_FORMATS[found.code],
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

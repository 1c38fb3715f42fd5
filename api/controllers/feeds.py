"""Feeds and downloads: a product's history as CSV, its price drops as an Atom feed,
and an account's sent alerts as an Atom feed at a secret address."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Response, delete, get, post
from litestar.exceptions import NotFoundException
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, QueryParameter
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT

from api.controllers.accounts import BEARER
from api.controllers.products import (
    _LIMITED,
    _NOT_FOUND,
    MarketParam,
    Period,
    product_key,
    queued_response,
)
from api.dependencies import USER, Api, ClientIp, Me
from api.guards import bearer_present
from api.schemas import AlertFeedOut, PriceHistoryOut, QueuedOut
from api.services import alert_feed, feeds, products
from api.services.lookups import request_first_crawl
from api.services.pricing import DEFAULT_PERIOD, ChartWindow
from api.state import ApiState
from pricewatch.history import DAY_MS
from pricewatch.markets import Market
from pricewatch.models import Product, Series
from pricewatch.storage.clickhouse import PriceStore
from pricewatch.storage.clickhouse.product_facts import PriceMove

# a feed reader polls: let caches in between answer it for a while
FEED_MAX_AGE_S = 300


def _unknown(exc: products.UnknownProduct) -> Response[Any]:
    """The product API's 404/429 JSON answer, from a route whose own media type is not
    JSON."""
    answer = queued_response(exc)
    return Response(
        content=msgspec.json.encode(answer.content),
        status_code=answer.status_code,
        headers=dict(answer.headers),
        media_type="application/json",
    )


def _drops(
    prices: PriceStore, market: Market, asin: str, now_ms: int
) -> tuple[Product, list[PriceMove]] | None:
    product = prices.product(market.code, asin)
    if product is None:
        return None
    start = max(0, now_ms - feeds.DROPS_DAYS * DAY_MS)
    drops = prices.price_drops(
        market.code, asin, Series.BUYBOX, start, now_ms, feeds.MAX_DROP_ENTRIES
    )
    return product, drops


async def drops_feed(state: ApiState, market: Market, asin: str, client: str) -> bytes:
    """The Atom document; raises UnknownProduct like the product page."""
    found = await state.clickhouse(_drops, state.prices, market, asin, state.clock())
    if found is None:
        lookup = await request_first_crawl(state, market.code, asin, client)
        raise products.UnknownProduct(market.code, asin, lookup)
    product, drops = found
    base = state.settings.public_url.rstrip("/")
    feed = feeds.DropsFeed(
        market=market,
        asin=asin,
        title=product.title,
        currency=product.currency or market.currency,
        page_url=f"{base}/p/{market.code}/{asin}",
        self_url=f"{base}/products/{asin}/drops.atom?market={market.code}",
        first_seen_ms=product.first_seen if product.first_seen is not None else state.clock(),
    )
    return feeds.drops_atom(feed, drops)


class ProductFeedController(Controller):
    path = "/products"
    tags = ["products"]

    @get(
        "/{asin:str}/history.csv",
        summary="Price history as a CSV download",
        description=(
            "The chart of `GET /products/{asin}/price` for `period` as CSV: one row per "
            "change point or bucket (its time, ISO 8601 UTC), one column per series with "
            "the value in force then: money in major units (the currency in the column's "
            "name), the sales rank as an integer, empty while the series had no price."
        ),
        media_type="text/csv",
        response_description="CSV (RFC 4180), served as an attachment",
        responses={404: _NOT_FOUND, 429: _LIMITED},
    )
    async def history_csv(
        self,
        api: Api,
        client_ip: ClientIp,
        asin: FromPath[str],
        market: MarketParam = "us",
        period: Annotated[Period, QueryParameter()] = DEFAULT_PERIOD,  # type: ignore[assignment]
    ) -> Response[str]:
        found, asin = product_key(asin, market)
        req = products.ChartRequest(found, asin, ChartWindow(period, "auto", None, None))
        try:
            _, body, _ = await products.history(api, req, "api", client_ip)
        except products.UnknownProduct as exc:
            return _unknown(exc)
        chart = msgspec.json.decode(body, type=PriceHistoryOut)
        name = f"pricewatch-{found.code}-{asin}-{period}.csv"
        return Response(
            content=feeds.history_csv(chart),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    @get(
        "/{asin:str}/drops.atom",
        summary="The buy box's price drops of the last 90 days as an Atom feed",
        description=(
            f"An Atom feed (RFC 4287) of at most {feeds.MAX_DROP_ENTRIES} entries, newest "
            "first: each time the buy-box price fell from one available price to a "
            "lower one (an out-of-stock spell in between does not count as a price)."
        ),
        media_type=feeds.ATOM_TYPE,
        response_description="an Atom feed",
        responses={404: ResponseSpec(QueuedOut, description=_NOT_FOUND.description), 429: _LIMITED},
    )
    async def drops(
        self, api: Api, client_ip: ClientIp, asin: FromPath[str], market: MarketParam = "us"
    ) -> Response[bytes]:
        found, asin = product_key(asin, market)
        try:
            body = await drops_feed(api, found, asin, client_ip)
        except products.UnknownProduct as exc:
            return _unknown(exc)
        return Response(
            content=body,
            media_type=f"{feeds.ATOM_TYPE}; charset=utf-8",
            headers={"Cache-Control": f"public, max-age={FEED_MAX_AGE_S}"},
        )


class AlertFeedController(Controller):
    """An account's feed of sent alerts, for feed readers: no session, a secret address."""

    path = "/feeds"
    tags = ["accounts"]

    @get(
        "/alerts/{token:str}",
        summary="The alerts sent to an account, as an Atom feed (its secret address)",
        description=(
            f"At most {alert_feed.MAX_ALERT_ENTRIES} entries, newest first. The address "
            "comes from `POST /accounts/me/alerts-feed`; an unknown or replaced one is a 404."
        ),
        media_type=feeds.ATOM_TYPE,
        response_description="an Atom feed",
    )
    async def alerts(self, api: Api, token: FromPath[str]) -> Response[bytes]:
        # any wrong secret, however long, is the same "no such feed"
        user_id = await alert_feed.owner(api, token)
        if user_id is None:
            raise NotFoundException("no such feed")
        body = await alert_feed.alerts_feed(api, user_id, token)
        return Response(
            content=body,
            media_type=f"{feeds.ATOM_TYPE}; charset=utf-8",
            # the address is a secret: no shared cache keeps a copy
            headers={"Cache-Control": "private, max-age=60", "Referrer-Policy": "no-referrer"},
        )


class MyAlertFeedController(Controller):
    """The signed-in account's feed address."""

    path = "/accounts/me/alerts-feed"
    tags = ["accounts"]
    dependencies = USER
    guards = [bearer_present]
    security = BEARER

    @post(
        "/",
        status_code=HTTP_201_CREATED,
        summary="A new secret address of my alerts' Atom feed (the old one stops working)",
    )
    async def rotate(self, api: Api, user: Me) -> AlertFeedOut:
        token = await alert_feed.rotate(api, user.id)
        return AlertFeedOut(url=alert_feed.feed_url(api, token))

    @delete("/", status_code=HTTP_204_NO_CONTENT, summary="Turn my alerts' feed off")
    async def revoke(self, api: Api, user: Me) -> None:
        await alert_feed.revoke(api, user.id)

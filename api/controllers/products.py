"""Products and their price history (the chart endpoint is the API's hot path)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from litestar import Controller, Request, Response, get
from litestar.exceptions import ValidationException
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, HeaderParameter, QueryParameter

from api.dependencies import Api, ClientIp
from api.metrics import SKIP_REQUEST_METRICS
from api.schemas import PriceHistoryOut, ProductOut, QueuedOut
from api.services import products
from api.services.lookups import Lookup
from api.services.pricing import ChartWindow
from api.services.timefmt import parse_time
from api.services.views import SOURCES
from pricewatch.asin import is_valid_asin
from pricewatch.markets import Market, UnknownMarket, get_market

Period = Literal["7d", "30d", "90d", "1y", "2y", "all"]
GranularityParam = Literal["auto", "hourly", "daily", "weekly", "monthly"]
MarketParam = Annotated[
    str, QueryParameter(description="marketplace code (us, de, uk, jp...)", max_length=8)
]

_NOT_FOUND = ResponseSpec(
    QueuedOut,
    description="never seen: `status` is `queued` (a first crawl is queued) or "
    "`not_found` (a crawl found no such product page)",
)
_LIMITED = ResponseSpec(
    QueuedOut,
    description="never seen, and this client's (or everyone's) first crawls are used up "
    "for now: `status` is `limited`; retry after `Retry-After` seconds",
)


def product_key(asin: str, market: str) -> tuple[Market, str]:
    try:
        found = get_market(market.strip().lower())
    except UnknownMarket as exc:
        raise ValidationException(str(exc)) from None
    asin = asin.strip().upper()
    if not is_valid_asin(asin):
        raise ValidationException(f"{asin!r} is not a valid ASIN")
    return found, asin


def queued_response(exc: products.UnknownProduct) -> Response[QueuedOut]:
    product = f"product {exc.market}:{exc.asin}"
    lookup = exc.lookup
    headers: dict[str, str] = {}
    if lookup.status is Lookup.NOT_FOUND:
        detail = f"{product} does not exist: its page was not found when last crawled"
        status_code = 404
    elif lookup.status is Lookup.LIMITED:
        detail = (
            f"{product} is not known yet, and first crawls are used up for now; "
            f"try again in {lookup.retry_after_s} s"
        )
        status_code = 429
        headers["Retry-After"] = str(lookup.retry_after_s)
    else:
        detail = (
            f"{product} is not known yet; it is queued for a first crawl, "
            "try again in a few minutes"
        )
        status_code = 404
    return Response(
        QueuedOut(detail=detail, status=lookup.status.value, asin=exc.asin, market=exc.market),
        status_code=status_code,
        headers=headers,
    )


def _time_param(name: str, value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return parse_time(value)
    except ValueError as exc:
        raise ValidationException(f"{name}: {exc}") from None


class ProductController(Controller):
    path = "/products"
    tags = ["products"]

    @get(
        "/{asin:str}",
        summary="A product: its price, statistics, good-deal flag and every price series",
        responses={404: _NOT_FOUND, 429: _LIMITED},
    )
    async def product(
        self, api: Api, client_ip: ClientIp, asin: FromPath[str], market: MarketParam = "us"
    ) -> ProductOut | Response[QueuedOut]:
        found, asin = product_key(asin, market)
        try:
            return await products.product_view(api, found, asin, client_ip)
        except products.UnknownProduct as exc:
            return queued_response(exc)

    @get(
        "/{asin:str}/price",
        summary="Price history as chart buckets (step function, from the rollups)",
        description=(
            "Prices are JSON numbers in major units of `currency` (`exponent` gives the "
            "decimal places of its minor unit). Each point is a bucket starting at "
            "`timestamp`: `price` is the price in force at its end, `min`/`max` the band "
            "it moved in, null when there was no buy-box price. `lines` holds every price "
            "series with data in the window the same way (the buy box, Amazon, new, used, "
            "list, cheapest new, and the sales rank, an integer). Give `period` (relative "
            "to now) or `start`/`end` (ISO 8601 or epoch seconds/milliseconds). "
            "Responses carry an ETag; send it back in If-None-Match for a 304. Set "
            "X-Pricewatch-Client to web or extension so the view counts as interest."
        ),
        responses={
            304: ResponseSpec(None, description="not modified (If-None-Match matched)"),
            404: _NOT_FOUND,
            429: _LIMITED,
        },
        opt={SKIP_REQUEST_METRICS: True},
    )
    async def price_history(
        self,
        request: Request[Any, Any, Any],
        api: Api,
        client_ip: ClientIp,
        asin: FromPath[str],
        market: MarketParam = "us",
        period: Annotated[Period | None, QueryParameter()] = None,
        granularity: Annotated[GranularityParam, QueryParameter()] = "auto",
        start: Annotated[str | None, QueryParameter(max_length=40)] = None,
        end: Annotated[str | None, QueryParameter(max_length=40)] = None,
        client: Annotated[
            str | None, HeaderParameter(name="x-pricewatch-client", max_length=20)
        ] = None,
    ) -> Response[PriceHistoryOut]:
        found, asin = product_key(asin, market)
        window = ChartWindow(
            period, granularity, _time_param("start", start), _time_param("end", end)
        )
        req = products.ChartRequest(found, asin, window)
        source = client if client in SOURCES else "api"
        try:
            etag, body, _ = await products.history(api, req, source, client_ip)
        except products.UnknownProduct as exc:
            return queued_response(exc)  # type: ignore[return-value]
        headers = {
            "ETag": f'"{etag}"',
            "Cache-Control": f"public, max-age={api.settings.api_history_max_age_s}",
        }
        # The body is a PriceHistoryOut encoded once, when it was cached; the return
        # annotation documents it in the OpenAPI schema.
        if etag in request.headers.get("if-none-match", ""):
            return Response(content=b"", status_code=304, headers=headers)  # type: ignore[arg-type]
        return Response(
            content=body,  # type: ignore[arg-type]
            media_type="application/json",
            headers=headers,
        )

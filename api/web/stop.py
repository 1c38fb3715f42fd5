"""Stopping an alert from the message that carried it, without signing in.

Every alert's links carry a stop URL signed for its subscription
(``pricewatch.alert_links``). A GET shows what would stop and a button: mail
scanners and link previews fetch GET links on their own, so a GET never changes
anything. A POST stops at once; that is also RFC 8058's one-click unsubscribe,
which mail clients send (body ``List-Unsubscribe=One-Click``) when they see the
``List-Unsubscribe-Post`` header next to ``List-Unsubscribe``. Stopping pauses
the alert: it keeps its place in "My alerts" and can be resumed there.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, MediaType, Request, get, post
from litestar.datastructures import CacheControlHeader
from litestar.params import FromPath, FromQuery
from litestar.response import Template
from litestar.status_codes import HTTP_200_OK, HTTP_404_NOT_FOUND

from api.services.pricing import to_major
from api.state import ApiState
from pricewatch import alert_links
from pricewatch.markets import MARKETS
from pricewatch.storage import sql
from pricewatch.storage.sql import NotificationType, Subscription, SubscriptionStatus
from pricewatch.storage.sql_alerts import subscriptions_by_id

NO_STORE = CacheControlHeader(no_store=True)
_BY = {
    NotificationType.EMAIL: "by e-mail",
    NotificationType.SMS: "by SMS",
    NotificationType.WEBHOOK: "by webhook",
}
# ids beyond a signed 64-bit integer cannot exist
_MAX_ID = 2**63 - 1


def _page(context: dict[str, Any], status_code: int = HTTP_200_OK) -> Template:
    return Template(
        template_name="stop.html",
        context=context,
        status_code=status_code,
        media_type=MediaType.HTML,
        headers={NO_STORE.HEADER_NAME: NO_STORE.to_header()},
    )


async def _signed_subscription(
    state: ApiState, subscription_id: int, token: str
) -> Subscription | None:
    """The subscription the link was signed for; None for a forged or stale link."""
    if not 0 < subscription_id <= _MAX_ID or len(token) > 64:
        return None
    secret = alert_links.alert_secret(state.settings)
    if not alert_links.verify_stop_token(subscription_id, token, secret):
        return None
    sub = (await subscriptions_by_id(state.db, [subscription_id])).get(subscription_id)
    if sub is None or sub.status == SubscriptionStatus.DELETED:
        return None
    return sub


async def _describe(state: ApiState, sub: Subscription) -> dict[str, Any]:
    market = MARKETS[sub.market]
    product = await state.clickhouse(state.prices.product, sub.market, sub.asin)
    return {
        "product_name": (product.title if product and product.title else f"Product {sub.asin}"),
        "product_url": f"/p/{sub.market}/{sub.asin}",
        "domain": market.domain,
        "threshold": to_major(sub.threshold, market),
        "currency": sub.currency,
        "exponent": market.exponent,
        "channel": _BY[sub.notification_type],
    }


def _invalid() -> Template:
    return _page({"state": "invalid"}, HTTP_404_NOT_FOUND)


class StopController(Controller):
    path = "/alerts/{subscription_id:int}/stop"
    include_in_schema = False

    @get("/", name="web:stop")
    async def confirm(
        self,
        request: Request[Any, Any, Any],
        subscription_id: FromPath[int],
        token: FromQuery[str] = "",
    ) -> Template:
        state: ApiState = request.app.state.api
        sub = await _signed_subscription(state, subscription_id, token)
        if sub is None:
            return _invalid()
        stopped = sub.status not in (SubscriptionStatus.ACTIVE, SubscriptionStatus.UNCONFIRMED)
        return _page(
            {
                "state": "stopped" if stopped else "confirm",
                "token": token,
                "subscription_id": subscription_id,
                **await _describe(state, sub),
            }
        )

    @post("/", name="web:stop-now", status_code=HTTP_200_OK)
    async def stop(
        self,
        request: Request[Any, Any, Any],
        subscription_id: FromPath[int],
        token: FromQuery[str] = "",
    ) -> Template:
        # The body is ignored: the page's button and a mail client's one-click POST
        # ("List-Unsubscribe=One-Click") mean the same thing.
        state: ApiState = request.app.state.api
        sub = await _signed_subscription(state, subscription_id, token)
        if sub is None:
            return _invalid()
        if sub.status in (SubscriptionStatus.ACTIVE, SubscriptionStatus.UNCONFIRMED):
            await sql.update_subscription(
                state.db,
                sub.id,
                sub.user_id,
                status=SubscriptionStatus.PAUSED.value,
                now=state.clock(),
            )
        return _page(
            {"state": "done", "subscription_id": subscription_id, **await _describe(state, sub)}
        )

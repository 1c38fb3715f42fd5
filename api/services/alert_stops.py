"""Stopping an alert through the signed link its messages carry, without signing in
(``pricewatch.alert_links`` signs the links). Stopping pauses the alert: it keeps
its place in the user's list and can be resumed there.
"""

from __future__ import annotations

import dataclasses

from api.services.pricing import to_major
from api.state import ApiState
from pricewatch import alert_links
from pricewatch.markets import MARKETS
from pricewatch.series_names import series_name
from pricewatch.storage import sql
from pricewatch.storage.sql import (
    NotificationType,
    Subscription,
    SubscriptionKind,
    SubscriptionStatus,
)
from pricewatch.storage.sql_alerts import subscriptions_by_id

_BY = {
    NotificationType.EMAIL: "by e-mail",
    NotificationType.SMS: "by SMS",
    NotificationType.WEBHOOK: "by webhook",
    NotificationType.APPRISE: "through Apprise",
}
# ids beyond a signed 64-bit integer cannot exist
_MAX_ID = 2**63 - 1
# an alert in one of these may still send messages: stopping it pauses it
_SENDING = (SubscriptionStatus.ACTIVE, SubscriptionStatus.UNCONFIRMED)


@dataclasses.dataclass(frozen=True, slots=True)
class StoppableAlert:
    """The alert a stop link names, as its page describes it."""

    product_name: str
    product_url: str
    domain: str
    # what it watches: "back in stock", or a series' price ("used price") at or below
    # ``threshold``
    back_in_stock: bool
    watching: str
    threshold: float | None
    market: str
    currency: str
    # how its messages come ("by e-mail")
    channel: str
    # whether it was sending when the link was followed
    was_sending: bool


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


async def _describe(state: ApiState, sub: Subscription) -> StoppableAlert:
    market = MARKETS[sub.market]
    product = await state.clickhouse(state.prices.product, sub.market, sub.asin)
    return StoppableAlert(
        product_name=(product.title if product and product.title else f"Product {sub.asin}"),
        product_url=f"/p/{sub.market}/{sub.asin}",
        domain=market.domain,
        back_in_stock=sub.kind is SubscriptionKind.BACK_IN_STOCK,
        watching=series_name(sub.series).lower(),
        threshold=to_major(sub.threshold, market),
        market=sub.market,
        currency=sub.currency,
        channel=_BY[sub.notification_type],
        was_sending=sub.status in _SENDING,
    )


async def find(state: ApiState, subscription_id: int, token: str) -> StoppableAlert | None:
    """The alert a stop link names; None when the link is not one we signed, or its
    alert is deleted."""
    sub = await _signed_subscription(state, subscription_id, token)
    return None if sub is None else await _describe(state, sub)


async def stop(state: ApiState, subscription_id: int, token: str) -> StoppableAlert | None:
    """Pause the alert a stop link names (already stopped: nothing changes); None as
    for :func:`find`."""
    sub = await _signed_subscription(state, subscription_id, token)
    if sub is None:
        return None
    if sub.status in _SENDING:
        await sql.update_subscription(
            state.db, sub.id, sub.user_id, status=SubscriptionStatus.PAUSED.value, now=state.clock()
        )
    return await _describe(state, sub)

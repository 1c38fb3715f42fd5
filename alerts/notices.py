"""What one message says, as a :class:`Notice`, and how stored rows and stream
events become one (pure). ``alerts.rendering`` turns a Notice into an e-mail, an
SMS text or a webhook body.

The notification row says who and which event; the subscription says what it
watches (a series' price, or the product back in stock); the event itself (the
product's title, image, seller and rating, old price, refuted price) comes from the
stream message or, for a retry, from the copy kept in Redis. Without that copy
(expired) the row's own price is enough for a correct, if plainer, message.
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Any

from pricewatch import alert_links
from pricewatch.chart_png import ChartData
from pricewatch.models import PriceChange, PriceCorrection, Recheck
from pricewatch.storage.sql import (
    NotificationKind,
    NotificationType,
    Subscription,
    SubscriptionKind,
)


@dataclasses.dataclass(frozen=True, slots=True)
class Links:
    product_page: str
    amazon: str
    stop: str


@dataclasses.dataclass(frozen=True, slots=True)
class Notice:
    """One message to one subscriber about one event."""

    notification_id: int
    kind: NotificationKind
    notification_type: NotificationType
    subscription_id: int
    event_id: str
    market: str
    asin: str
    currency: str
    # what the subscription watches: a series' price, or (back in stock) the product's
    # availability, which has no threshold
    series: str
    alert_kind: SubscriptionKind
    threshold: int | None
    # e-mail address, phone number or webhook URL
    recipient: str
    links: Links
    # the product, as its page showed it (the image URL is vetted when rendered)
    title: str | None = None
    image: str | None = None
    sold_by: str | None = None
    rating: Decimal | None = None
    review_count: int | None = None
    # alert: the new price (and the one before it)
    new_price: int | None = None
    old_price: int | None = None
    # correction: the price we announced, and the one verified instead (if known)
    refuted_price: int | None = None
    actual_price: int | None = None
    observed_at: int | None = None
    # e-mail alerts: the series' last 30 days (threshold included) and the product's
    # other series as they are now, (series, price) in the order the site lists them;
    # added by the worker when the history could be read
    chart: ChartData | None = None
    others: tuple[tuple[str, int], ...] = ()

    @property
    def key(self) -> str:
        """The idempotency key: one message per (subscription, event, kind)."""
        return f"{self.subscription_id}:{self.event_id}:{self.kind.value}"


@dataclasses.dataclass(frozen=True, slots=True)
class LinkMaker:
    public_url: str
    secret: str

    def links(self, sub: Subscription) -> Links:
        return Links(
            product_page=alert_links.product_page_url(self.public_url, sub.market, sub.asin),
            amazon=alert_links.amazon_url(sub.market, sub.asin),
            stop=alert_links.stop_url(self.public_url, sub.id, self.secret),
        )


def recipient_of(sub: Subscription, emails: dict[int, str]) -> str:
    """Where the message goes: the subscription's own target, else (for
    e-mail) the account's address. Empty when there is none; the channel then
    fails the notification with a clear reason."""
    if sub.target:
        return sub.target
    if sub.notification_type == NotificationType.EMAIL:
        return emails.get(sub.user_id, "")
    return ""


def _addressed(
    notification_id: int, sub: Subscription, recipient: str, links: LinkMaker, event_id: str
) -> dict[str, Any]:
    """The fields of a notice that say who gets it and about which event; the
    builders below add what the kind of event says."""
    return {
        "notification_id": notification_id,
        "notification_type": sub.notification_type,
        "subscription_id": sub.id,
        "event_id": event_id,
        "market": sub.market,
        "asin": sub.asin,
        "series": sub.series,
        "alert_kind": sub.kind,
        "threshold": sub.threshold,
        "recipient": recipient,
        "links": links.links(sub),
    }


def _described(event: PriceChange | Recheck | None) -> dict[str, Any]:
    """The product's description an event carries (nothing without the event)."""
    if event is None:
        return {}
    return {
        "title": event.title,
        "image": event.image,
        "sold_by": event.sold_by,
        "rating": event.rating,
        "review_count": event.review_count,
    }


def alert_notice(
    notification_id: int,
    sub: Subscription,
    recipient: str,
    links: LinkMaker,
    *,
    event_id: str,
    change: PriceChange | None,
    price: int | None,
) -> Notice:
    return Notice(
        **_addressed(notification_id, sub, recipient, links, event_id),
        **_described(change),
        kind=NotificationKind.ALERT,
        currency=(change.currency if change and change.currency else sub.currency),
        new_price=change.new_price if change else price,
        old_price=change.old_price if change else None,
        observed_at=change.observed_at if change else None,
    )


def recheck_notice(
    notification_id: int,
    sub: Subscription,
    recipient: str,
    links: LinkMaker,
    *,
    event_id: str,
    recheck: Recheck | None,
    price: int | None,
) -> Notice:
    """An alert set up under a price already in force: the same price before and
    after, so it reads as that price, not as a drop. (A re-check carries the
    subscription's own currency.)"""
    in_force = recheck.price if recheck else price
    return Notice(
        **_addressed(notification_id, sub, recipient, links, event_id),
        **_described(recheck),
        kind=NotificationKind.ALERT,
        currency=sub.currency,
        new_price=in_force,
        old_price=in_force,
        observed_at=recheck.checked_at if recheck else None,
    )


def correction_notice(
    notification_id: int,
    sub: Subscription,
    recipient: str,
    links: LinkMaker,
    *,
    event_id: str,
    correction: PriceCorrection | None,
    price: int | None,
) -> Notice:
    return Notice(
        **_addressed(notification_id, sub, recipient, links, event_id),
        kind=NotificationKind.CORRECTION,
        currency=(correction.currency if correction and correction.currency else sub.currency),
        refuted_price=correction.refuted_price if correction else sub.last_fired_price,
        actual_price=correction.actual_price if correction else price,
    )

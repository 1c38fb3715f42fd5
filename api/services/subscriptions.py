"""Subscriptions for the signed-in user, plus the re-check that makes a new
subscription fire at once when the price is already at or below its threshold."""

from __future__ import annotations

from typing import Any

from api.schemas import SubscriptionIn, SubscriptionOut, SubscriptionPatch
from api.services.pricing import major_to_minor, to_major
from api.services.timefmt import iso
from api.state import ApiState
from pricewatch.keys import partition_of
from pricewatch.markets import MARKETS, Market, get_market
from pricewatch.models import Availability, CrawlTask, PriceChange, Series, Source, encode
from pricewatch.storage import sql
from pricewatch.storage.redis import FIELD
from pricewatch.storage.sql import Subscription


class PriceUnknown(ValueError):
    pass


def to_out(sub: Subscription) -> SubscriptionOut:
    market = MARKETS[sub.market]
    threshold = to_major(sub.threshold, market)
    assert threshold is not None
    return SubscriptionOut(
        subscription_id=sub.id,
        product_id=sub.asin,
        market=sub.market,
        currency=sub.currency,
        threshold=threshold,
        threshold_percent=sub.threshold_percent,
        base_price=to_major(sub.base_price, market),
        notification_type=sub.notification_type,
        target=sub.target,
        status=sub.status,
        armed=sub.armed,
        created_at=iso(sub.created_at),
        updated_at=iso(sub.updated_at),
    )


def recheck_event(sub: Subscription, price: int, availability: str, now_ms: int) -> PriceChange:
    """A price "change" from the current price to itself, so that the alerts consumer
    matches the new subscription against the price in force right now. The event id is
    derived from the subscription, so a retried publish is one event."""
    return PriceChange(
        event_id=f"recheck:{sub.id}",
        market=sub.market,
        asin=sub.asin,
        series=Series(sub.series),
        observed_at=now_ms,
        # the price being re-announced is what the crawler last stored
        source=Source.CRAWLER,
        new_price=price,
        old_price=price,
        currency=sub.currency,
        old_availability=Availability(availability),
        new_availability=Availability(availability),
    )


async def _current_price(state: ApiState, market: str, asin: str) -> tuple[int | None, str]:
    """(price, availability) in force for the product's buy box; price None if unknown."""
    key = (market, asin, Series.BUYBOX.value)
    found = await state.clickhouse(state.prices.last_accepted, [key])
    if key not in found:
        return None, Availability.UNKNOWN.value
    _, price, availability = found[key]
    return price, availability


async def create(state: ApiState, user_id: int, body: SubscriptionIn) -> Subscription:
    """Raises ValueError (bad input) or PriceUnknown (percent of an unknown price)."""
    market = get_market(body.market)
    if (body.threshold is None) == (body.threshold_percent is None):
        raise ValueError("give exactly one of threshold and thresholdPercent")
    price, availability = await _current_price(state, market.code, body.product_id)
    threshold = (
        major_to_minor(body.threshold, market, "threshold")
        if body.threshold is not None else None
    )
    if body.threshold_percent is not None and price is None:
        raise PriceUnknown(
            "thresholdPercent needs the current price, which is not known yet; "
            "give a threshold, or retry after the first crawl"
        )
    sub = await sql.create_subscription(
        state.db,
        user_id=user_id,
        market=market.code,
        asin=body.product_id,
        notification_type=body.notification_type.value,
        threshold=threshold,
        threshold_percent=body.threshold_percent,
        base_price=price,
        target=body.target,
        now=state.clock(),
    )
    if price is not None:
        event = recheck_event(sub, price, availability, state.clock())
        stream = state.keys.price_changes(
            partition_of(sub.market, sub.asin, state.settings.stream_partitions)
        )
        await state.redis.xadd(stream, {FIELD: encode(event)},
                               maxlen=state.settings.stream_maxlen, approximate=True)
    else:
        # nobody has seen its price: crawl it first; that crawl's change event fires alerts
        await state.frontier.push([CrawlTask(
            market=market.code, asin=body.product_id,
            priority=state.settings.api_first_crawl_priority,
        )])
    return sub


def patch_changes(patch: SubscriptionPatch, market: Market) -> dict[str, Any]:
    """The store's change set for a PATCH body (absent or null fields are left alone)."""
    changes: dict[str, Any] = {}
    if patch.threshold is not None:
        changes["threshold"] = major_to_minor(patch.threshold, market, "threshold")
    if patch.threshold_percent is not None:
        changes["threshold_percent"] = patch.threshold_percent
    if patch.notification_type is not None:
        changes["notification_type"] = patch.notification_type.value
    if patch.target is not None:
        changes["target"] = patch.target
    if patch.status is not None:
        changes["status"] = patch.status
    return changes

"""Re-checks: a subscription that makes a new promise meets the state already in force.
A price alert fires at once when the price in force of its series is at or below its
threshold; a back-in-stock alert is armed when the product is out of stock (and fires
if it was armed and the product is in stock: it came back while the alert was paused).

A :class:`~pricewatch.models.Recheck` names the subscription and the price in force; it
travels on the product's ``price-changes`` partition as an entry of kind ``RECHECK``,
so the alerts role takes it in order with the product's changes. The API publishes
one when a subscription is created, resumed or given a new threshold; confirming a
destination activates the subscriptions waiting on it, re-checked here by whichever
role confirmed it (the API for a link, the alerts role for a webhook challenge).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any

from pricewatch.keys import PRICE_CHANGES, RECHECK, Keys
from pricewatch.models import (
    Availability,
    LastState,
    Product,
    Recheck,
    Series,
    SeriesKey,
    SubscriptionKind,
)
from pricewatch.storage.sql_records import Subscription
from pricewatch.storage.streams import PartitionedStream

# (observed_at, price or None, availability) of the last accepted point per series
PriceLookup = Callable[[list[SeriesKey]], Awaitable[Mapping[SeriesKey, LastState]]]

_PREFIX = "recheck:"


def recheck_id(sub: Subscription) -> str:
    """One event per promise: a later change of the subscription (a new threshold, a
    resume, a confirmation) moves ``updated_at`` and is a new re-check; a repeated
    publish of the same one is not."""
    return f"{_PREFIX}{sub.id}:{sub.updated_at}"


def is_recheck(event_id: str) -> bool:
    return event_id.startswith(_PREFIX)


def recheck_event(
    sub: Subscription,
    price: int | None,
    availability: str,
    now_ms: int,
    product: Product | None = None,
) -> Recheck:
    """The re-check of ``sub`` against the state in force of the series it watches
    (``product``: the catalogue's description, for the message)."""
    return Recheck(
        event_id=recheck_id(sub),
        subscription_id=sub.id,
        market=sub.market,
        asin=sub.asin,
        series=Series(sub.series),
        price=price,
        currency=sub.currency,
        availability=Availability(availability),
        checked_at=now_ms,
        title=product.title if product else None,
        image=product.image if product else None,
        sold_by=product.sold_by if product else None,
        rating=product.rating if product else None,
        review_count=product.review_count if product else None,
    )


def watched(sub: Subscription) -> SeriesKey:
    """The series whose state in force a re-check of ``sub`` meets."""
    return SeriesKey(sub.market, sub.asin, sub.series)


def can_recheck(sub: Subscription, last: LastState | None) -> bool:
    """Whether the state in force ``last`` tells ``sub`` anything: a price for a price
    alert, any sighting (in stock or not) for a back-in-stock alert. When it does not,
    the next change event (the first crawl's) will."""
    if last is None:
        return False
    return sub.kind is SubscriptionKind.BACK_IN_STOCK or last.price is not None


def recheck_events(
    subs: Iterable[Subscription], prices: Mapping[SeriesKey, LastState], now_ms: int
) -> list[Recheck]:
    """The re-check of each subscription whose series has a state to meet (pure)."""
    events = []
    for sub in subs:
        found = prices.get(watched(sub))
        if found is None or not can_recheck(sub, found):
            continue
        events.append(recheck_event(sub, found.price, found.availability, now_ms))
    return events


def add_recheck(target: Any, keys: Keys, recheck: Recheck, *, partitions: int, maxlen: int) -> Any:
    """Add ``recheck`` to its product's partition of ``price-changes`` (``target`` as
    for :func:`pricewatch.storage.streams.add`: a client or pipeline, sync or asyncio)."""
    stream = PartitionedStream(keys, PRICE_CHANGES, partitions, maxlen)
    return stream.add(target, recheck.market, recheck.asin, recheck, kind=RECHECK)


async def queue_rechecks(
    pipe: Any,
    keys: Keys,
    subs: Sequence[Subscription],
    lookup: PriceLookup,
    *,
    partitions: int,
    maxlen: int,
    now_ms: int,
) -> int:
    """Look up the prices of ``subs`` and queue their re-checks on ``pipe`` (sync or
    asyncio; the caller executes it); returns how many."""
    if not subs:
        return 0
    wanted = sorted({watched(s) for s in subs})
    events = recheck_events(subs, await lookup(wanted), now_ms)
    for event in events:
        add_recheck(pipe, keys, event, partitions=partitions, maxlen=maxlen)
    return len(events)

"""Re-checks: make subscriptions that just became active fire at once when the price
in force is already at or below their threshold.

A re-check (:func:`recheck_event`) is the event the API publishes for a new
subscription: a price "change" from the current price to itself, with an id derived
from the subscription so that a repeated publish is one event for the alerts consumer.
Confirming a destination activates subscriptions created earlier; they get the same
event here, from whichever role confirmed it (the API for a link, the alerts role for
a webhook challenge).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence

import redis.asyncio

from pricewatch.keys import Keys, partition_of
from pricewatch.models import Availability, PriceChange, Series, Source, encode
from pricewatch.storage.redis import FIELD
from pricewatch.storage.sql_records import Subscription

PriceKey = tuple[str, str, str]
# PriceStore.last_accepted's answer: (observed_at, price or None, availability) per key
PriceLookup = Callable[[list[PriceKey]], Awaitable[Mapping[PriceKey, tuple[int, int | None, str]]]]


def recheck_event(sub: Subscription, price: int, availability: str, now_ms: int) -> PriceChange:
    return PriceChange(
        # one event per promise: a later change of the subscription (a new threshold,
        # a resume, a confirmation) is a new re-check, a repeated publish is not
        event_id=f"recheck:{sub.id}:{sub.updated_at}",
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


def recheck_events(
    subs: Iterable[Subscription],
    prices: Mapping[PriceKey, tuple[int, int | None, str]],
    now_ms: int,
) -> list[PriceChange]:
    """The re-check of each subscription whose product has a known price (pure)."""
    events = []
    for sub in subs:
        found = prices.get((sub.market, sub.asin, sub.series))
        if found is None or found[1] is None:
            continue  # no price yet: the first crawl's change event will do
        events.append(recheck_event(sub, found[1], found[2], now_ms))
    return events


async def publish_rechecks(
    client: redis.asyncio.Redis,
    keys: Keys,
    subs: Sequence[Subscription],
    lookup: PriceLookup,
    *,
    partitions: int,
    maxlen: int,
    now_ms: int,
) -> int:
    """Publish the re-checks of ``subs`` on the price-changes streams; returns how many."""
    if not subs:
        return 0
    wanted = sorted({(s.market, s.asin, s.series) for s in subs})
    events = recheck_events(subs, await lookup(wanted), now_ms)
    if not events:
        return 0
    pipe = client.pipeline(transaction=False)
    for event in events:
        stream = keys.price_changes(partition_of(event.market, event.asin, partitions))
        pipe.xadd(stream, {FIELD: encode(event)}, maxlen=maxlen, approximate=True)
    await pipe.execute()
    return len(events)

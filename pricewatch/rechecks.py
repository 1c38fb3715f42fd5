"""Re-checks: a subscription that makes a new promise meets the price already in force,
and fires at once when that price is at or below its threshold.

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
from pricewatch.models import Availability, LastState, Recheck, Series, SeriesKey
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


def recheck_event(sub: Subscription, price: int, availability: str, now_ms: int) -> Recheck:
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
    )


def recheck_events(
    subs: Iterable[Subscription], prices: Mapping[SeriesKey, LastState], now_ms: int
) -> list[Recheck]:
    """The re-check of each subscription whose product has a known price (pure)."""
    events = []
    for sub in subs:
        found = prices.get(SeriesKey(sub.market, sub.asin, sub.series))
        if found is None or found.price is None:
            continue  # no price yet: the first crawl's change event will do
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
    wanted = sorted({SeriesKey(s.market, s.asin, s.series) for s in subs})
    events = recheck_events(subs, await lookup(wanted), now_ms)
    for event in events:
        add_recheck(pipe, keys, event, partitions=partitions, maxlen=maxlen)
    return len(events)

"""When a subscription fires and when it re-arms: the rules, with no I/O.

A subscription promises one message per drop: it fires when the price is at
or below its threshold while it is armed, which disarms it; it is armed again
only once the price has gone back above the threshold. So the same price seen
twice (a re-check, a replay) never fires twice, and a subscription created
when the price is already below its threshold fires on the first price seen.
A missing price (out of stock, page gone) says nothing about the price and
changes nothing.

The worker applies these rules to thousands of rows at once through indexed
SQL (``due_subscriptions`` selects exactly the rows :func:`fires` accepts,
``rearm_above`` updates exactly those :func:`rearms` accepts); the functions
here are the specification those statements are tested against.
"""

from __future__ import annotations

import dataclasses

from pricewatch.models import PriceChange, Recheck


@dataclasses.dataclass(frozen=True, slots=True)
class SubscriptionState:
    """What matching needs to know about a subscription."""

    market: str
    asin: str
    series: str
    threshold: int
    armed: bool = True
    active: bool = True


def concerns(sub: SubscriptionState, change: PriceChange) -> bool:
    return (sub.market, sub.asin, sub.series) == (change.market, change.asin, change.series)


def fires(sub: SubscriptionState, change: PriceChange) -> bool:
    """True when ``change`` must notify ``sub`` (at or below the threshold, armed)."""
    return (
        change.new_price is not None
        and sub.active
        and sub.armed
        and concerns(sub, change)
        and change.new_price <= sub.threshold
    )


def fires_on_recheck(sub: SubscriptionState, recheck: Recheck) -> bool:
    """True when the price in force fires the subscription ``recheck`` names, which
    has just made a new promise (armed, active, at or below its threshold)."""
    return (
        sub.active
        and sub.armed
        and (sub.market, sub.asin, sub.series) == (recheck.market, recheck.asin, recheck.series)
        and recheck.price <= sub.threshold
    )


def rearms(sub: SubscriptionState, change: PriceChange) -> bool:
    """True when ``change`` lifts the price back above a fired subscription's threshold."""
    return (
        change.new_price is not None
        and not sub.armed
        and concerns(sub, change)
        and change.new_price > sub.threshold
    )


@dataclasses.dataclass(frozen=True, slots=True)
class Plan:
    """What one change asks of the store.

    ``rearm_above``: re-arm the product's fired subscriptions whose threshold
    is below this price. ``fire_at``: notify and disarm the armed ones whose
    threshold is at or above this price. The two sets are disjoint (threshold
    below vs at-or-above the same price), so their order does not matter.
    """

    rearm_above: int | None
    fire_at: int | None


def plan(change: PriceChange) -> Plan:
    if change.new_price is None:
        return Plan(rearm_above=None, fire_at=None)
    return Plan(rearm_above=change.new_price, fire_at=change.new_price)

"""When a subscription fires and when it re-arms: the rules, with no I/O.

A price alert watches one series of one product (the cheapest new price, Amazon's,
third-party new, used, the buy box...). It promises one message per drop: it fires
when that series' price is at or below its threshold while it is armed, which
disarms it; it is armed again only once the price has gone back above the
threshold. So the same price seen twice (a re-check, a replay) never fires twice,
and a subscription created when the price is already below its threshold fires on
the first price seen. A missing price (out of stock, page gone) says nothing about
the price and changes nothing.

A back-in-stock alert watches the product's availability, which is its buy box's
(the ``new_availability`` of buy-box changes). It is armed while the product is out
of stock or its page is gone, and fires when the buy box is in stock while it is
armed, which disarms it: once per return, however many prices the product then
shows. Since only "out of stock" or "unavailable" arms it, firing "in stock while
armed" is firing when availability turns to in stock. "Unknown" (a pre-order, a
page that would not say) neither arms nor fires. It starts disarmed and its first
check (the re-check of a new promise) arms it when the product is out of stock then:
made while the product is in stock, it has nothing to tell until the product goes.

Each subscription remembers the page time (``observed_at``) of the last change it
applied, the one it fired on or was re-armed by, and takes no change seen at or before
it. A series' changes arrive in time order, so only a replay brings one: a worker that
dies before acking a batch reads it again, and the changes of that batch would
otherwise meet the state its later changes left. A price already told of (95 while
disarmed) would meet the alert the next change re-armed (120) and be told as a drop; a
product still in stock would meet the alert its going out again re-armed. With the
mark, a replayed batch changes nothing. Re-checks are no changes and are not held to
it: each fires at most once per promise by its own event id.

The worker applies these rules to thousands of rows at once through indexed
SQL (``due_subscriptions`` and ``due_in_stock`` select exactly the rows
:func:`fires` accepts, ``rearm_above`` and ``rearm_out_of_stock`` update exactly
those :func:`rearms` accepts); the functions here are the specification those
statements are tested against.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Sequence

from pricewatch.models import STOCK_SERIES, Availability, PriceChange, Recheck, SubscriptionKind

# what arms a back-in-stock alert: nothing can be bought
GONE = frozenset({Availability.OUT_OF_STOCK, Availability.UNAVAILABLE})


@dataclasses.dataclass(frozen=True, slots=True)
class SubscriptionState:
    """What matching needs to know about a subscription."""

    market: str
    asin: str
    series: str
    # None for a back-in-stock alert
    threshold: int | None
    armed: bool = True
    active: bool = True
    kind: str = SubscriptionKind.PRICE
    # page time of the last change it fired on or was re-armed by (None: none yet)
    last_change_at: int | None = None


def _in_stock_alert(sub: SubscriptionState) -> bool:
    return sub.kind == SubscriptionKind.BACK_IN_STOCK


def concerns(sub: SubscriptionState, change: PriceChange) -> bool:
    """Whether ``change`` is about what ``sub`` watches: its series of its product, or
    (back in stock) its product's buy box."""
    if (sub.market, sub.asin) != (change.market, change.asin):
        return False
    if _in_stock_alert(sub):
        return change.series == STOCK_SERIES
    return sub.series == change.series


def after_last_change(sub: SubscriptionState, change: PriceChange) -> bool:
    """Whether ``change`` was seen after the last change ``sub`` applied: at or before
    it, it is a replay of a change already applied or passed over."""
    return sub.last_change_at is None or change.observed_at > sub.last_change_at


def fires(sub: SubscriptionState, change: PriceChange) -> bool:
    """True when ``change`` must notify ``sub``: armed and active, seen after the last
    change it applied, and the price at or below its threshold (price alert) or the
    product in stock (back in stock)."""
    if not (sub.active and sub.armed and concerns(sub, change) and after_last_change(sub, change)):
        return False
    if _in_stock_alert(sub):
        return change.new_availability == Availability.IN_STOCK
    return (
        change.new_price is not None
        and sub.threshold is not None
        and change.new_price <= sub.threshold
    )


def rearms(sub: SubscriptionState, change: PriceChange) -> bool:
    """True when ``change`` arms a disarmed ``sub`` again: seen after the last change it
    applied, and the price back above its threshold, or (back in stock) the product out
    of stock or gone."""
    if sub.armed or not (concerns(sub, change) and after_last_change(sub, change)):
        return False
    if _in_stock_alert(sub):
        return change.new_availability in GONE
    return (
        change.new_price is not None
        and sub.threshold is not None
        and change.new_price > sub.threshold
    )


def _named(sub: SubscriptionState, recheck: Recheck) -> bool:
    return (sub.market, sub.asin, sub.series) == (recheck.market, recheck.asin, recheck.series)


def fires_on_recheck(sub: SubscriptionState, recheck: Recheck) -> bool:
    """True when the state in force fires the subscription ``recheck`` names, which has
    just made a new promise: armed and active, and the price in force at or below its
    threshold, or (back in stock) the product in stock (it came back while the alert
    was paused or waiting for its destination's confirmation). The last change applied
    does not matter: a re-check is once per promise by its own id."""
    if not (sub.active and sub.armed and _named(sub, recheck)):
        return False
    if _in_stock_alert(sub):
        return recheck.availability == Availability.IN_STOCK
    return (
        recheck.price is not None and sub.threshold is not None and recheck.price <= sub.threshold
    )


def arms_on_recheck(sub: SubscriptionState, recheck: Recheck) -> bool:
    """True when a re-check arms the back-in-stock alert it names: the product is out of
    stock (or gone) as the alert makes its promise. (A price alert is armed when made.)"""
    return (
        _in_stock_alert(sub)
        and not sub.armed
        and _named(sub, recheck)
        and recheck.availability in GONE
    )


@dataclasses.dataclass(frozen=True, slots=True)
class Plan:
    """What one change asks of the store.

    ``rearm_above``: re-arm the series' fired price alerts whose threshold is below
    this price. ``fire_at``: notify and disarm the armed ones whose threshold is at or
    above this price. The two sets are disjoint (threshold below vs at-or-above the
    same price), so their order does not matter. ``rearm_in_stock``: arm the
    product's back-in-stock alerts (it is out of stock or gone); ``fire_in_stock``:
    notify and disarm the armed ones (it is in stock). At most one of the two holds.
    """

    rearm_above: int | None
    fire_at: int | None
    rearm_in_stock: bool = False
    fire_in_stock: bool = False

    @property
    def empty(self) -> bool:
        return self.fire_at is None and not (self.rearm_in_stock or self.fire_in_stock)


def plan(change: PriceChange) -> Plan:
    stock = change.series == STOCK_SERIES
    return Plan(
        rearm_above=change.new_price,
        fire_at=change.new_price,
        rearm_in_stock=stock and change.new_availability in GONE,
        fire_in_stock=stock and change.new_availability == Availability.IN_STOCK,
    )


def rounds(changes: Sequence[PriceChange]) -> list[list[PriceChange]]:
    """``changes`` in rounds that name each product at most once: a product's n-th
    change goes in the n-th round, so its changes keep their order, and changes to
    different products, which touch different rows, share a round."""
    out: list[list[PriceChange]] = []
    seen: Counter[tuple[str, str]] = Counter()
    for change in changes:
        key = (change.market, change.asin)
        if seen[key] == len(out):
            out.append([])
        out[seen[key]].append(change)
        seen[key] += 1
    return out

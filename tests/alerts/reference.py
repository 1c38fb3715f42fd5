"""The alert rules applied one subscription and one price at a time: the reference the
worker's set-at-a-time SQL is checked against."""

from __future__ import annotations

import dataclasses

from alerts.matching import SubscriptionState, fires, rearms
from pricewatch.models import PriceChange
from pricewatch.storage import sql


def apply(sub: SubscriptionState, change: PriceChange) -> tuple[SubscriptionState, bool]:
    """The subscription after ``change``, and whether it fired. Firing disarms it,
    re-arming arms it, and either remembers the change's page time."""
    if fires(sub, change):
        return dataclasses.replace(sub, armed=False, last_change_at=change.observed_at), True
    if rearms(sub, change):
        return dataclasses.replace(sub, armed=True, last_change_at=change.observed_at), False
    return sub, False


def state_of(sub: sql.Subscription) -> SubscriptionState:
    """A subscription as just made, in the reference's terms (active, as made)."""
    return SubscriptionState(
        market=sub.market,
        asin=sub.asin,
        series=sub.series,
        threshold=sub.threshold,
        armed=sub.armed,
        kind=sub.kind.value,
    )

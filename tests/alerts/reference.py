"""The alert rules applied one subscription and one price at a time: the reference the
worker's set-at-a-time SQL is checked against."""

from __future__ import annotations

import dataclasses

from alerts.matching import SubscriptionState, fires, rearms
from pricewatch.models import PriceChange


def apply(sub: SubscriptionState, change: PriceChange) -> tuple[SubscriptionState, bool]:
    """The subscription after ``change``, and whether it fired."""
    if fires(sub, change):
        return dataclasses.replace(sub, armed=False), True
    if rearms(sub, change):
        return dataclasses.replace(sub, armed=True), False
    return sub, False

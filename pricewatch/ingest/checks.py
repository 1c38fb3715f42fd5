"""The pluggable check every valid observation passes before it is accepted.

Trust-but-verify plugs in here: a check sees the observation and the last
accepted state of its series and says accept, hold (keep out of history until
verified) or reject.
"""

from __future__ import annotations

import enum
from collections.abc import Callable

import msgspec

from pricewatch.models import Observation


class Verdict(enum.Enum):
    ACCEPT = "accept"
    HOLD = "hold"
    REJECT = "reject"


class LastState(msgspec.Struct, frozen=True, array_like=True):
    """Last accepted sighting of one (market, asin, series)."""

    observed_at: int
    price: int | None
    availability: str


Check = Callable[[Observation, LastState | None], Verdict]


def accept_all(observation: Observation, last: LastState | None) -> Verdict:
    """The default check: every valid observation is accepted."""
    return Verdict.ACCEPT

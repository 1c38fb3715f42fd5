"""The pluggable gate every valid observation passes before it is accepted.

Trust-but-verify plugs in here. Per batch, the worker calls:

1. ``prepare(observations, state)`` — load whatever context the rules need
   (reputations, all-time lows, subscriber counts...): the I/O happens here,
   once per batch, never per observation;
2. ``check(observation, last)`` for each new observation — a pure verdict:
   accept, hold (keep out of history until verified) or reject;
3. ``settle(outcome, pipe)`` — record what was held or rejected and queue
   verification work, inside the same Redis transaction that acks the batch,
   so a crash can neither lose a held report nor hold it twice.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Protocol

import msgspec

from pricewatch.models import Observation

if TYPE_CHECKING:
    import redis

    from pricewatch.ingest.core import Outcome


class Verdict(enum.Enum):
    ACCEPT = "accept"
    HOLD = "hold"
    REJECT = "reject"


class LastState(msgspec.Struct, frozen=True, array_like=True, gc=False):
    """Last accepted sighting of one (market, asin, series)."""

    observed_at: int
    price: int | None
    availability: str


Check = Callable[[Observation, LastState | None], Verdict]


def accept_all(observation: Observation, last: LastState | None) -> Verdict:
    """The default check: every valid observation is accepted."""
    return Verdict.ACCEPT


class Gate(Protocol):
    def prepare(
        self, observations: Sequence[Observation], state: Mapping[str, LastState]
    ) -> None: ...

    def check(self, observation: Observation, last: LastState | None) -> Verdict: ...

    def settle(self, outcome: Outcome, pipe: redis.client.Pipeline) -> None: ...


class AcceptAll:
    """The gate with no judgement: what ingest does without trust-but-verify."""

    check = staticmethod(accept_all)

    def prepare(self, observations: Sequence[Observation], state: Mapping[str, LastState]) -> None:
        return None

    def settle(self, outcome: Outcome, pipe: redis.client.Pipeline) -> None:
        return None

"""The pluggable gate every valid observation passes before it is accepted, and the
types ingest and the gate share: a series' last state, a verdict, a batch's outcome.

Trust-but-verify (:mod:`pricewatch.trust`) plugs in here. Per batch, the worker calls:

1. ``prepare(observations, state)`` — load whatever context the rules need
   (reputations, all-time lows, subscriber counts...): the I/O happens here,
   once per batch, never per observation;
2. ``check(observation, last)`` for each new observation — a pure verdict:
   accept, hold (keep out of history until verified) or reject;
3. ``settle(outcome, pipes)`` — record what was held or rejected and queue
   verification work, inside the same Redis transaction that acks the batch
   (``pipes(market, asin)``: the transaction of the product's partition, see
   :mod:`pricewatch.storage.transactions`), so a crash can neither lose a held
   report nor hold it twice.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from pricewatch.models import LastState, Observation, PriceChange, Product
from pricewatch.storage.transactions import PipeFor


class Verdict(enum.Enum):
    ACCEPT = "accept"
    HOLD = "hold"
    REJECT = "reject"


Check = Callable[[Observation, LastState | None], Verdict]


def accept_all(observation: Observation, last: LastState | None) -> Verdict:
    """The default check: every valid observation is accepted."""
    return Verdict.ACCEPT


@dataclasses.dataclass
class Outcome:
    """What ingest makes of one batch (``pricewatch.ingest.core.process``)."""

    # accepted observations, in the order they should be stored
    accepted: list[Observation] = dataclasses.field(default_factory=list)
    changes: list[PriceChange] = dataclasses.field(default_factory=list)
    products: dict[tuple[str, str], Product] = dataclasses.field(default_factory=dict)
    # index of the message in the input batch, reason, offending payload
    dead: list[tuple[int, str, bytes]] = dataclasses.field(default_factory=list)
    # older than the series' state: to store unless the store already has them
    late: list[Observation] = dataclasses.field(default_factory=list)
    held: list[Observation] = dataclasses.field(default_factory=list)
    rejected: list[Observation] = dataclasses.field(default_factory=list)
    # extension reports on products no crawl has seen: never stored, never a product
    # (only a crawl grows the catalogue; the API asks for one, within its limits)
    unknown: list[Observation] = dataclasses.field(default_factory=list)
    # crawls that found no page for a product never seen: forgotten, not catalogued
    not_found: list[Observation] = dataclasses.field(default_factory=list)
    # products seen for the first time in this batch
    new_products: set[tuple[str, str]] = dataclasses.field(default_factory=set)
    # series_text -> new last state (only entries that moved)
    state: dict[str, LastState] = dataclasses.field(default_factory=dict)
    duplicates: int = 0


class Gate(Protocol):
    def prepare(
        self, observations: Sequence[Observation], state: Mapping[str, LastState]
    ) -> None: ...

    def check(self, observation: Observation, last: LastState | None) -> Verdict: ...

    def settle(self, outcome: Outcome, pipes: PipeFor) -> None: ...


class AcceptAll:
    """The gate with no judgement: what ingest does without trust-but-verify."""

    check = staticmethod(accept_all)

    def prepare(self, observations: Sequence[Observation], state: Mapping[str, LastState]) -> None:
        return None

    def settle(self, outcome: Outcome, pipes: PipeFor) -> None:
        return None

"""The pure heart of ingest: a batch of raw messages in, what to write out.

No I/O here. The worker feeds raw stream payloads plus the last accepted
state of the series they touch; this module validates, drops duplicates,
applies the check, detects price changes and returns rows, product updates,
change events, dead letters and the new state. Replaying a batch against the
state it produced yields nothing new, which is what makes crash replays safe.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import msgspec

from pricewatch.ingest.checks import Check, LastState, Verdict, accept_all
from pricewatch.markets import MARKETS
from pricewatch.models import (
    Availability,
    Observation,
    PriceChange,
    Product,
    change_event_id,
)

# An observation dated further than this in the future is a broken clock, not news.
MAX_CLOCK_SKEW_MS = 24 * 3600 * 1000

_decoder = msgspec.json.Decoder(Observation)


def series_key(market: str, asin: str, series: str) -> str:
    return f"{market}:{asin}:{series}"


class InvalidObservation(ValueError):
    pass


def validate(obs: Observation, now_ms: int) -> None:
    """Rules the schema cannot express; raises InvalidObservation with the reason."""
    market = MARKETS.get(obs.market)
    if market is None:
        raise InvalidObservation(f"unknown market {obs.market!r}")
    if obs.price is not None:
        if obs.currency is None:
            raise InvalidObservation("price without currency")
        if obs.currency != market.currency:
            raise InvalidObservation(
                f"currency {obs.currency} is not {market.code}'s currency {market.currency}"
            )
        if obs.availability == Availability.UNAVAILABLE:
            raise InvalidObservation("an unavailable product cannot have a price")
    if obs.observed_at > now_ms + MAX_CLOCK_SKEW_MS:
        raise InvalidObservation(f"observed_at {obs.observed_at} is in the future")


@dataclasses.dataclass
class Outcome:
    # accepted observations, in the order they should be stored
    accepted: list[Observation] = dataclasses.field(default_factory=list)
    changes: list[PriceChange] = dataclasses.field(default_factory=list)
    products: dict[tuple[str, str], Product] = dataclasses.field(default_factory=dict)
    # index of the message in the input batch, reason
    dead: list[tuple[int, str]] = dataclasses.field(default_factory=list)
    held: list[Observation] = dataclasses.field(default_factory=list)
    rejected: list[Observation] = dataclasses.field(default_factory=list)
    # series key -> new last state (only entries that moved)
    state: dict[str, LastState] = dataclasses.field(default_factory=dict)
    duplicates: int = 0


def decode_batch(payloads: Sequence[bytes], now_ms: int) -> tuple[list[tuple[int, Observation]], list[tuple[int, str]]]:
    good: list[tuple[int, Observation]] = []
    dead: list[tuple[int, str]] = []
    for i, raw in enumerate(payloads):
        try:
            obs = _decoder.decode(raw)
            validate(obs, now_ms)
        except (msgspec.DecodeError, msgspec.ValidationError, InvalidObservation) as exc:
            dead.append((i, str(exc) or type(exc).__name__))
            continue
        good.append((i, obs))
    return good, dead


def needed_keys(observations: Sequence[tuple[int, Observation]]) -> set[str]:
    return {series_key(o.market, o.asin, o.series) for _, o in observations}


def process(
    observations: Sequence[tuple[int, Observation]],
    state: Mapping[str, LastState],
    check: Check = accept_all,
) -> Outcome:
    """Dedupe, check and detect changes for decoded observations."""
    out = Outcome()
    # per series in time order; ties keep arrival order (sort is stable)
    ordered = sorted(observations, key=lambda io: io[1].observed_at)
    seen: set[tuple[object, ...]] = set()
    current: dict[str, LastState] = {}
    for _, obs in ordered:
        fingerprint = (obs.market, obs.asin, obs.series, obs.observed_at, obs.price,
                       obs.availability, obs.source, obs.reporter)
        if fingerprint in seen:
            out.duplicates += 1
            continue
        seen.add(fingerprint)
        skey = series_key(obs.market, obs.asin, obs.series)
        last = current.get(skey) or state.get(skey)
        if (
            last is not None
            and obs.observed_at <= last.observed_at
            and obs.price == last.price
            and obs.availability == last.availability
        ):
            # Nothing new: the series already holds this state at or after this
            # time (a replay, or a late echo of what we know).
            out.duplicates += 1
            continue
        verdict = check(obs, last)
        if verdict is Verdict.HOLD:
            out.held.append(obs)
            continue
        if verdict is Verdict.REJECT:
            out.rejected.append(obs)
            continue
        out.accepted.append(obs)
        if last is not None and obs.observed_at <= last.observed_at:
            continue  # a late sample: history, but not news
        if last is None or last.price != obs.price:
            out.changes.append(
                PriceChange(
                    event_id=change_event_id(obs.market, obs.asin, obs.series,
                                             obs.observed_at, obs.price),
                    market=obs.market,
                    asin=obs.asin,
                    series=obs.series,
                    observed_at=obs.observed_at,
                    source=obs.source,
                    new_price=obs.price,
                    old_price=None if last is None else last.price,
                    currency=obs.currency or MARKETS[obs.market].currency,
                    old_availability=None if last is None else Availability(last.availability),
                    new_availability=obs.availability,
                    title=obs.title,
                )
            )
        new_state = LastState(obs.observed_at, obs.price, obs.availability.value)
        current[skey] = new_state
        out.state[skey] = new_state
        _update_product(out.products, obs)
    return out


def _update_product(products: dict[tuple[str, str], Product], obs: Observation) -> None:
    pkey = (obs.market, obs.asin)
    product = products.get(pkey)
    if product is None:
        product = products[pkey] = Product(
            market=obs.market, asin=obs.asin,
            currency=MARKETS[obs.market].currency,
            first_seen=obs.observed_at,
        )
    if obs.title:
        product.title = obs.title
    if obs.image:
        product.image = obs.image
    if obs.series == "buybox":
        product.last_price = obs.price
        product.availability = obs.availability
    product.last_seen = obs.observed_at

"""The pure heart of ingest: a batch of raw messages in, what to write out.

No I/O here. The worker feeds raw stream payloads plus the last accepted
state of the series they touch; this module validates, drops duplicates,
applies the check, detects price changes and returns rows, product updates,
change events, dead letters and the new state. Replaying a batch against the
state it produced yields nothing new, which is what makes crash replays safe.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import msgspec

from pricewatch.ingest.gate import Check, LastState, Outcome, Verdict, accept_all
from pricewatch.markets import MARKETS
from pricewatch.models import (
    Availability,
    Observation,
    PriceChange,
    Product,
    Series,
    Source,
    change_event_id,
    decode_each,
    is_asin_shaped,
)

# An observation dated further than this in the future is a broken clock, not news.
MAX_CLOCK_SKEW_MS = 24 * 3600 * 1000


class InvalidObservation(ValueError):
    pass


_CURRENCY = {code: m.currency for code, m in MARKETS.items()}
_UNAVAILABLE = Availability.UNAVAILABLE
_BUYBOX = Series.BUYBOX
_SALES_RANK = Series.SALES_RANK
_EXTENSION = Source.EXTENSION
# sources that fetched the page themselves: only they may name a product or find it gone
_CRAWLS = frozenset({Source.CRAWLER, Source.VERIFICATION})


def validate(obs: Observation, now_ms: int) -> None:
    """Rules the schema cannot express; raises InvalidObservation with the reason."""
    currency = _CURRENCY.get(obs.market)
    if currency is None:
        raise InvalidObservation(f"unknown market {obs.market!r}")
    if not is_asin_shaped(obs.asin):
        raise InvalidObservation(f"{obs.asin!r} is not an ASIN (10 digits or capitals)")
    if obs.series is _SALES_RANK:
        if obs.currency is not None:
            raise InvalidObservation("a sales rank has no currency")
    elif obs.price is not None:
        if obs.currency != currency:
            raise InvalidObservation(
                "price without currency"
                if obs.currency is None
                else f"currency {obs.currency} is not {obs.market}'s currency {currency}"
            )
        if obs.availability is _UNAVAILABLE:
            raise InvalidObservation("an unavailable product cannot have a price")
    if obs.rating is not None and not (obs.rating.is_finite() and 0 <= obs.rating <= 5):
        raise InvalidObservation(f"rating {obs.rating} is not between 0 and 5")
    if obs.observed_at > now_ms + MAX_CLOCK_SKEW_MS:
        raise InvalidObservation(f"observed_at {obs.observed_at} is in the future")


def decode_batch(
    payloads: Sequence[bytes], now_ms: int
) -> tuple[list[tuple[int, Observation]], list[tuple[int, str, bytes]]]:
    """Decode stream payloads: one Observation, or a JSON array of them.

    Producers that see many products at once (the crawler's pipeline, bulk
    tools) send arrays, which cost one stream entry and one decode call for
    many observations. A bad item only dead-letters itself, with its reason.
    Returns (message index, observation) pairs and (message index, reason,
    offending bytes) triples.
    """
    good: list[tuple[int, Observation]] = []
    dead: list[tuple[int, str, bytes]] = []
    for i, raw in enumerate(payloads):
        for obs in _decode(raw, i, dead):
            try:
                validate(obs, now_ms)
            except InvalidObservation as exc:
                dead.append((i, str(exc), msgspec.json.encode(obs)))
                continue
            good.append((i, obs))
    return good, dead


def _decode(raw: bytes, index: int, dead: list[tuple[int, str, bytes]]) -> list[Observation]:
    """A message's observations; what does not decode is dead-lettered, an item of an
    array alone when only it is bad."""
    items, bad = decode_each(raw, Observation)
    dead.extend((index, reason, payload) for reason, payload in bad)
    return items


def _observed_at(item: tuple[int, Observation]) -> int:
    return item[1].observed_at


def process(
    observations: Sequence[tuple[int, Observation]],
    state: Mapping[str, LastState],
    check: Check = accept_all,
) -> Outcome:
    """Dedupe, check and detect changes for decoded observations."""
    out = Outcome()
    # per series in time order; ties keep arrival order (sort is stable)
    ordered = sorted(observations, key=_observed_at)
    # frozen Structs hash by value: an exact duplicate is an equal Observation
    seen: set[Observation] = set()
    current: dict[str, LastState] = {}
    # per product: first and latest accepted sighting, latest buy box, and what its
    # page says of it (title, image, seller, rating), newest last
    first: dict[tuple[str, str], int] = {}
    latest: dict[tuple[str, str], Observation] = {}
    buybox: dict[tuple[str, str], Observation] = {}
    described: dict[tuple[str, str], Observation] = {}
    # what moved, with the state it moved from (events are made once the batch's
    # pages have described their products)
    moved: list[tuple[Observation, LastState | None]] = []
    judged = check is not accept_all
    for _, obs in ordered:
        # one hash of the observation, not two: it went in only if the set grew
        before = len(seen)
        seen.add(obs)
        if len(seen) == before:
            out.duplicates += 1
            continue
        # series_text, spelled here: a call per observation costs as much as the rest
        skey = f"{obs.market}:{obs.asin}:{obs.series}"
        last = current.get(skey) or state.get(skey)
        if last is None:
            if obs.price is None and obs.series is not _BUYBOX:
                # A series the product has never shown (no used copy, no rank):
                # nothing to keep until it shows one (and nothing to count: every
                # crawled page speaks of every series).
                continue
            if obs.source is _EXTENSION:
                # Anyone can report any ASIN: a report alone never creates a product.
                out.unknown.append(obs)
                continue
            if obs.availability is _UNAVAILABLE and obs.source in _CRAWLS:
                # A page that does not exist, for a product never seen: an ASIN
                # someone made up. Remembered as missing, never catalogued.
                out.not_found.append(obs)
                continue
            out.new_products.add((obs.market, obs.asin))
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
        if judged:
            verdict = check(obs, last)
            if verdict is Verdict.HOLD:
                out.held.append(obs)
                continue
            if verdict is Verdict.REJECT:
                out.rejected.append(obs)
                continue
        if last is not None and obs.observed_at <= last.observed_at:
            # A late sample: history, but not news. It may also be a re-sent copy
            # of a stored row, which only the store can tell.
            out.late.append(obs)
            continue
        out.accepted.append(obs)
        if (
            last is None
            or last.price != obs.price
            # the buy box's availability is the product's: back-in-stock alerts hear of
            # it even when the price shown stays the same
            or (obs.series is _BUYBOX and last.availability != obs.availability)
        ):
            moved.append((obs, last))
        # Availability is a str enum: stored as it is, it compares equal to the str
        # a LastState read back from Redis holds.
        current[skey] = LastState(obs.observed_at, obs.price, obs.availability)
        pkey = (obs.market, obs.asin)
        first.setdefault(pkey, obs.observed_at)
        latest[pkey] = obs
        if obs.series is _BUYBOX:
            buybox[pkey] = obs
            # A product's name and picture come from its page, never from a report: a
            # reporter could otherwise rename any product (and the alerts that quote it).
            if obs.source is not _EXTENSION:
                described[pkey] = obs
    out.state = current
    out.changes.extend(
        _change(obs, last, described.get((obs.market, obs.asin))) for obs, last in moved
    )
    for pkey, obs in latest.items():
        bb = buybox.get(pkey)
        page = described.get(pkey)
        out.products[pkey] = Product(
            market=obs.market,
            asin=obs.asin,
            # None keeps what the catalogue knew (a page that lost its picture
            # for a moment does not erase it)
            title=page.title if page else None,
            image=page.image if page else None,
            sold_by=page.sold_by if page else None,
            rating=page.rating if page else None,
            review_count=page.review_count if page else None,
            currency=_CURRENCY[obs.market],
            # a sighting of another series says nothing of the buy box
            last_price=None if bb is None else bb.price,
            availability=Availability.UNKNOWN if bb is None else bb.availability,
            first_seen=first[pkey],
            last_seen=obs.observed_at,
        )
    return out


def _change(obs: Observation, last: LastState | None, page: Observation | None) -> PriceChange:
    """The event of ``obs`` moving from ``last``. The product is named as a page showed
    it: ``obs`` itself when it is a crawled buy box, else ``page``, the batch's latest
    crawled buy box of the product (a used-price change names the product too); never
    in a reporter's words."""
    if obs.source is not _EXTENSION and obs.series is _BUYBOX:
        page = obs
    return PriceChange(
        event_id=change_event_id(obs.market, obs.asin, obs.series, obs.observed_at, obs.price),
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
        title=None if page is None else page.title,
        image=None if page is None else page.image,
        sold_by=None if page is None else page.sold_by,
        rating=None if page is None else page.rating,
        review_count=None if page is None else page.review_count,
    )

"""Pure rules behind the product and chart endpoints: windows, granularity, wire prices,
statistics and the "good deal" flag. No I/O, no clock: callers pass ``now``."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator, Mapping, Sequence
from typing import TypeVar

from pricewatch.history import DAY_MS, HOUR_MS, Bucket, Granularity, floor_bucket
from pricewatch.markets import MARKETS, Market
from pricewatch.models import Series

PERIODS_MS: dict[str, int | None] = {
    "7d": 7 * DAY_MS,
    "30d": 30 * DAY_MS,
    "90d": 90 * DAY_MS,
    "1y": 365 * DAY_MS,
    "2y": 730 * DAY_MS,
    "all": None,
}
GRANULARITIES = ("auto", "hourly", "daily", "weekly", "monthly")
# What an "auto" chart serves when its window holds at most MAX_CHANGE_POINTS changes
# (all series together): the changes themselves, exact at any zoom, instead of buckets
# that hide when within an hour or a day a price moved. More than that would weigh more
# on the wire and the canvas than buckets, which then take over.
CHANGES = "changes"
MAX_CHANGE_POINTS = 1000
# ... and only over at most this much of the product's life: change points are read from
# prices_raw, every sighting of every series; a longer span (a 1y chart of a product
# tracked for years) goes straight to the rollups, one light query instead of a heavy
# scan that would mostly fall back to them anyway.
MAX_CHANGES_SPAN_MS = 92 * DAY_MS
DEFAULT_PERIOD = "30d"

T = TypeVar("T")

# The "good deal" rule, in words served with the flag so clients need not guess. Both
# figures are time-weighted (a price counts for as long as it was in force, out-of-stock
# time not at all), so a product crawled more often at one price does not tip them.
DEAL_WINDOW_DAYS = 90
PERCENTILE_DAYS = 365
# the share of the last year's prices (by time) the current price must undercut
DEAL_PERCENTILE = 80
DEAL_RULE = (
    f"good deal: the product is in stock, its current price is below its "
    f"{DEAL_WINDOW_DAYS}-day time-weighted average, and it is lower than at least "
    f"{DEAL_PERCENTILE} % of the last year's "
    "prices (by the time each price was in force, since the product was first seen)"
)


def auto_granularity(span_ms: int) -> Granularity:
    """About 100-800 points per chart: fine for short windows, coarse for long ones."""
    if span_ms <= 8 * DAY_MS:
        return Granularity.HOURLY
    if span_ms <= 400 * DAY_MS:
        return Granularity.DAILY
    if span_ms <= 5 * 366 * DAY_MS:
        return Granularity.WEEKLY
    return Granularity.MONTHLY


@dataclasses.dataclass(frozen=True)
class Window:
    start_ms: int
    end_ms: int
    granularity: Granularity


@dataclasses.dataclass(frozen=True, slots=True)
class ChartWindow:
    """What a chart request asks for: a ``period`` relative to now, or an explicit
    ``start_ms`` (and ``end_ms``, else now); and a ``granularity`` ("auto" picks one
    for the span)."""

    period: str | None
    granularity: str
    start_ms: int | None
    end_ms: int | None

    def check(self, now_ms: int | None = None) -> None:
        """Refuse contradictory or unknown parameters (``ValueError`` with the reason);
        with ``now_ms``, also a window that starts after now and ends there."""
        if self.granularity not in GRANULARITIES:
            raise ValueError(f"granularity must be one of {', '.join(GRANULARITIES)}")
        if self.start_ms is not None or self.end_ms is not None:
            if self.period is not None:
                raise ValueError("give either period or start/end, not both")
            if self.start_ms is None:
                raise ValueError("end needs a start")
            end = now_ms if self.end_ms is None else self.end_ms
            if end is not None and end <= self.start_ms:
                raise ValueError("end must be after start")
        elif self.period is not None and self.period not in PERIODS_MS:
            raise ValueError(f"period must be one of {', '.join(PERIODS_MS)}")

    def cache_field(self, now_ms: int) -> str:
        """The field naming this variant of a product's history in its cache hash.

        A window relative to now carries the hour it was computed in: when the clock
        enters a new hour the window has slid and a new variant is computed, whatever
        the cache TTL. An explicit, closed range names itself.
        """
        hour = floor_bucket(now_ms, Granularity.HOURLY)
        if self.start_ms is not None:
            end_tag = str(self.end_ms) if self.end_ms is not None else f"now{hour}"
            return f"r:{self.start_ms}:{end_tag}:{self.granularity}"
        return f"p:{self.period or DEFAULT_PERIOD}:{self.granularity}:{hour}"

    def resolve(self, now_ms: int, first_seen_ms: int | None) -> Window:
        """The time range and bucket size asked for (checked first, as by ``check``).
        ``first_seen_ms`` is only needed for ``period="all"``."""
        self.check()
        if self.start_ms is not None:
            start, end = self.start_ms, now_ms if self.end_ms is None else self.end_ms
            if end <= start:
                raise ValueError("end must be after start")
        else:
            span = PERIODS_MS[self.period or DEFAULT_PERIOD]
            if span is None:
                first = first_seen_ms if first_seen_ms is not None else now_ms - DAY_MS
                start = min(first, now_ms - HOUR_MS)
            else:
                start = now_ms - span
            start, end = max(start, 0), now_ms
        if self.granularity == "auto":
            return Window(start, end, auto_granularity(end - start))
        return Window(start, end, Granularity(self.granularity))


def to_major(minor: int | None, market: Market) -> float | None:
    """Minor units -> a JSON number in major units; exact for every price we store
    (at most 10**12 minor units, so at most 15 significant digits)."""
    if minor is None:
        return None
    return minor / 10**market.exponent


def is_rank(series: str) -> bool:
    """Whether a series holds a sales rank (an integer, lower is better) rather than money."""
    return series == Series.SALES_RANK


def wire_scale(series: str, market: Market) -> int | None:
    """What a stored value of ``series`` is divided by on the wire (as ``to_major``
    does), or None for a sales rank, served as the integer it is."""
    return None if is_rank(series) else 10**market.exponent


# what ClickHouse divides money by, by marketplace, and the series it serves as integers,
# when it writes chart points as ``wire_scale`` says (``PriceStore.chart_lines_of``)
WIRE_EXPONENTS: dict[str, int] = {code: market.exponent for code, market in MARKETS.items()}
RANK_SERIES: tuple[str, ...] = tuple(series.value for series in Series if is_rank(series))


def wire_value(value: int | None, series: str, market: Market) -> float | None:
    """A stored value on the wire: money in major units, a sales rank as the integer it is."""
    return value if is_rank(series) else to_major(value, market)


def in_series_order(found: Mapping[str, T]) -> list[tuple[Series, T]]:
    """The known series of ``found`` in the order of ``Series`` (buy box first), the way
    the API lists them; a name that is no series is left out."""
    return [(series, found[series.value]) for series in Series if series.value in found]


def major_to_minor(value: float, market: Market, field: str) -> int:
    """A major-unit number from a client -> minor units; refuses sub-cent precision."""
    scaled = round(value * 10**market.exponent, 6)
    if scaled != int(scaled):
        raise ValueError(
            f"{field} has more than {market.exponent} decimal places for {market.currency}"
        )
    return int(scaled)


@dataclasses.dataclass(frozen=True)
class Stats:
    lowest: tuple[int, int] | None  # (value, ms it was first in force in the window)
    highest: tuple[int, int] | None
    average: float | None  # time-weighted, in the series' stored unit (minor units)


NO_STATS = Stats(None, None, None)


def _spans(
    steps: Sequence[Bucket], start_ms: int, end_ms: int
) -> Iterator[tuple[Bucket, int, int]]:
    """Each step overlapping ``[start_ms, end_ms)`` with the part of the window it
    covers, ``(step, from_ms, to_ms)``.

    ``steps`` are chart points in time order, change points or buckets alike: a step's
    ``close`` holds from its ``start_ms`` until the next step starts (the last one until
    ``end_ms``). Of a daily bucket that is the price in force at the end of the day,
    standing for the whole day: the resolution daily rollups allow.
    """
    for i, step in enumerate(steps):
        until = steps[i + 1].start_ms if i + 1 < len(steps) else end_ms
        lo, hi = max(step.start_ms, start_ms), min(until, end_ms)
        if lo < hi:
            yield step, lo, hi


def time_weighted_stats(steps: Sequence[Bucket], start_ms: int, end_ms: int) -> Stats:
    """Lowest and highest (with when they were in force) and the time-weighted average
    of ``steps`` (see ``_spans``) over ``[start_ms, end_ms)``.

    Each price weighs as long as it was in force within the window; time before the
    first step (before the product was first seen: callers also start the window no
    earlier than that) and time without a price (out of stock) weigh nothing. The low
    and high come from each step's band (``min``/``max``: a daily bucket's band holds
    the prices seen within the day). Nothing priced in the window: no statistics.
    """
    lowest: tuple[int, int] | None = None
    highest: tuple[int, int] | None = None
    weighted = 0
    priced_ms = 0
    for step, lo, hi in _spans(steps, start_ms, end_ms):
        if step.min is not None and (lowest is None or step.min < lowest[0]):
            lowest = (step.min, lo)
        if step.max is not None and (highest is None or step.max > highest[0]):
            highest = (step.max, lo)
        if step.close is not None:
            weighted += step.close * (hi - lo)
            priced_ms += hi - lo
    average = weighted / priced_ms if priced_ms else None
    return Stats(lowest, highest, average)


def share_higher(steps: Sequence[Bucket], price: int, start_ms: int, end_ms: int) -> float | None:
    """The share (0..1) of the priced time in ``[start_ms, end_ms)`` during which the
    price in force was higher than ``price``; None when nothing was priced then.
    Out-of-stock time counts neither way."""
    higher_ms = priced_ms = 0
    for step, lo, hi in _spans(steps, start_ms, end_ms):
        if step.close is None:
            continue
        priced_ms += hi - lo
        if step.close > price:
            higher_ms += hi - lo
    return higher_ms / priced_ms if priced_ms else None


def percentile(share: float | None) -> int | None:
    """A share as the whole percent served and shown ("lower than 85% of the last year's
    prices"): rounded down, so the sentence never claims more than is true."""
    if share is None:
        return None
    # a float share of whole milliseconds can land a hair under an exact percent
    return min(100, math.floor(share * 100 + 1e-9))


def is_good_deal(
    current: int | None, in_stock: bool, window: Stats, percent_higher: int | None
) -> bool:
    """See ``DEAL_RULE``: ``window`` is the ``DEAL_WINDOW_DAYS`` statistics and
    ``percent_higher`` the ``percentile`` of the last ``PERCENTILE_DAYS``."""
    if current is None or not in_stock or window.average is None or percent_higher is None:
        return False
    return current < window.average and percent_higher >= DEAL_PERCENTILE

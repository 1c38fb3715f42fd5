"""Price history as chart buckets, from rollup rows (pure: no store, no clock).

A price is a step function: it holds from one observation until the next. A chart
bucket therefore reports the price in force at its end (``close``) and the band the
price moved in during it (``min``/``max``), where the band includes the price carried in
from the previous bucket. A bucket without observations repeats the carried price.

Conventions (callers and the API rely on them):

* Buckets are aligned on a UTC grid: hours, days, weeks starting on Monday, calendar
  months. A query ``[start, end)`` covers every bucket that overlaps it, whole: the
  first bucket is the one containing ``start``.
* The opening state is the last observation before the first bucket starts.
* Buckets before the first known observation are omitted, not filled with nulls.
* ``None`` is a state, "no buy-box price" (out of stock, gone). A bucket closing in it
  has ``close=None``; ``min``/``max`` span only the available prices seen in the bucket
  (including an available carried-in price) and are ``None`` when there were none.

When a window holds few changes a chart needs no buckets: ``change_points`` gives the
instants the state changed, each point holding its state from its timestamp on (a
zero-width bucket: ``close == min == max``), so a step through them is exact.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable, Iterator
from typing import Literal, NamedTuple


class Granularity(enum.StrEnum):
    HOURLY = "hourly"
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"


HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
WEEK_MS = 7 * DAY_MS
# 1970-01-01 was a Thursday: weeks start on Monday 1970-01-05, four days later.
_MONDAY_OFFSET_MS = 4 * DAY_MS
# A guard against requests that would build millions of buckets (ten years of hours).
MAX_BUCKETS = 100_000


class _NoState(enum.Enum):
    NO_STATE = "no state"


NO_STATE: Literal[_NoState.NO_STATE] = _NoState.NO_STATE
"""Opening state when nothing was observed before the first bucket."""

Opening = int | None | Literal[_NoState.NO_STATE]


class Bucket(NamedTuple):
    start_ms: int
    close: int | None
    min: int | None
    max: int | None


class RollupRow(NamedTuple):
    """One bucket's aggregate: min/max over available prices, the last state."""

    start_ms: int
    min: int | None
    max: int | None
    last: int | None


def parse_granularity(value: str | Granularity) -> Granularity:
    try:
        return Granularity(value)
    except ValueError:
        known = ", ".join(g.value for g in Granularity)
        raise ValueError(f"unknown granularity {value!r}; known: {known}") from None


def _month_index(ts_ms: int) -> int:
    day = dt.datetime.fromtimestamp(ts_ms / 1000, dt.UTC)
    return day.year * 12 + day.month - 1


def _month_start(index: int) -> int:
    year, month0 = divmod(index, 12)
    start = dt.datetime(year, month0 + 1, 1, tzinfo=dt.UTC)
    return int(start.timestamp()) * 1000


def floor_bucket(ts_ms: int, granularity: Granularity) -> int:
    """Start of the bucket containing ``ts_ms``."""
    if granularity is Granularity.HOURLY:
        return ts_ms - ts_ms % HOUR_MS
    if granularity is Granularity.DAILY:
        return ts_ms - ts_ms % DAY_MS
    if granularity is Granularity.WEEKLY:
        return ts_ms - (ts_ms - _MONDAY_OFFSET_MS) % WEEK_MS
    return _month_start(_month_index(ts_ms))


def next_bucket(start_ms: int, granularity: Granularity) -> int:
    """Start of the bucket after the one starting at ``start_ms``."""
    if granularity is Granularity.HOURLY:
        return start_ms + HOUR_MS
    if granularity is Granularity.DAILY:
        return start_ms + DAY_MS
    if granularity is Granularity.WEEKLY:
        return start_ms + WEEK_MS
    return _month_start(_month_index(start_ms) + 1)


# buckets of one width (months are not)
_WIDTH_MS = {Granularity.HOURLY: HOUR_MS, Granularity.DAILY: DAY_MS, Granularity.WEEKLY: WEEK_MS}


def check_range(start_ms: int, end_ms: int) -> None:
    if start_ms < 0 or end_ms <= start_ms:
        raise ValueError(f"empty or negative time range [{start_ms}, {end_ms})")


def bucket_span(start_ms: int, end_ms: int, granularity: Granularity) -> tuple[int, int]:
    """(start of the first bucket, start of the bucket after the last) of the buckets
    overlapping ``[start_ms, end_ms)``; ValueError for an empty range or one of more
    than ``MAX_BUCKETS`` buckets."""
    check_range(start_ms, end_ms)
    first = floor_bucket(start_ms, granularity)
    stop = next_bucket(floor_bucket(end_ms - 1, granularity), granularity)
    width = _WIDTH_MS.get(granularity)
    count = (stop - first) // width if width else _month_index(stop) - _month_index(first)
    if count > MAX_BUCKETS:
        raise ValueError(
            f"[{start_ms}, {end_ms}) spans more than {MAX_BUCKETS} {granularity} buckets"
        )
    return first, stop


def bucket_starts(start_ms: int, end_ms: int, granularity: Granularity) -> Iterator[int]:
    """Starts of the buckets overlapping ``[start_ms, end_ms)``, in order (checked
    first, as by ``bucket_span``)."""
    bucket, stop = bucket_span(start_ms, end_ms, granularity)
    width = _WIDTH_MS.get(granularity)
    if width is not None:
        yield from range(bucket, stop, width)
        return
    while bucket < stop:
        yield bucket
        bucket = next_bucket(bucket, granularity)


def fill_buckets(
    rows: Iterable[tuple[int, int | None, int | None, int | None]],
    *,
    start_ms: int,
    end_ms: int,
    granularity: Granularity,
    opening: Opening,
) -> list[Bucket]:
    """Chart buckets over ``[start_ms, end_ms)`` with step semantics (see module doc).

    ``rows`` are the rollup's non-empty buckets in the range (any order), as
    ``RollupRow`` or plain tuples of its shape; ``opening`` is the price in force before
    the first bucket, ``None`` if unavailable then, or ``NO_STATE`` if nothing had been
    observed yet.
    """
    first, stop = bucket_span(start_ms, end_ms, granularity)
    width = _WIDTH_MS.get(granularity)
    starts: range | list[int] = (
        range(first, stop, width) if width else list(bucket_starts(start_ms, end_ms, granularity))
    )
    by_start = {row[0]: row for row in rows}
    # a range answers "in it?" by arithmetic: no set of the grid to build
    grid = starts if width else set(starts)
    strays = [at for at in by_start if at not in grid]
    if strays:
        raise ValueError(
            f"rollup row at {min(strays)} is not a {granularity} bucket of [{start_ms}, {end_ms})"
        )

    # A chart miss fills hundreds of buckets per series: the loop stays plain, and
    # buckets are made by tuple.__new__, a C call, rather than by the NamedTuple's
    # constructor, a Python function (a third of the loop's time).
    carry = opening
    buckets: list[Bucket] = []
    add = buckets.append
    get = by_start.get
    new = tuple.__new__
    for start in starts:
        found = get(start)
        if found is None:
            if carry is not NO_STATE:
                add(new(Bucket, (start, carry, carry, carry)))
            continue
        _, low, high, last = found
        if low is None:  # one known bound is the whole band
            low = high
        elif high is None:
            high = low
        if isinstance(carry, int):  # the price in force when the bucket opened
            if low is None or carry < low:
                low = carry
            if high is None or carry > high:
                high = carry
        add(new(Bucket, (start, last, low, high)))
        carry = last
    return buckets


def change_points(
    changes: Iterable[tuple[int, int | None]], *, start_ms: int, opening: Opening
) -> list[Bucket]:
    """The state changes of one series from ``start_ms`` on, as points.

    ``opening`` is the state in force before ``start_ms`` (``NO_STATE``: nothing observed
    yet); when there is one it is the first point, at ``start_ms``. ``changes`` are
    ``(observed_at_ms, state)`` observations at or after ``start_ms``; an observation
    repeating the state in force is no change and is left out, and of two at one
    instant the later one given wins.
    """
    points: list[Bucket] = []
    current = opening
    if opening is not NO_STATE:
        points.append(Bucket(start_ms, opening, opening, opening))
    for at, state in sorted(changes, key=lambda change: change[0]):
        if at < start_ms:
            raise ValueError(f"change at {at} is before the window start {start_ms}")
        if state == current:
            continue
        if points and points[-1].start_ms == at:
            points.pop()
        if not points or points[-1].close != state:
            points.append(Bucket(at, state, state, state))
        current = state
    return points

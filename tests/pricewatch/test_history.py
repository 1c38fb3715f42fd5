"""Bucket filling with step semantics, against a brute-force reference on raw points."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pricewatch.history import (
    DAY_MS,
    HOUR_MS,
    MAX_BUCKETS,
    NO_STATE,
    Bucket,
    Granularity,
    Opening,
    RollupRow,
    bucket_span,
    bucket_starts,
    change_points,
    fill_buckets,
    floor_bucket,
    next_bucket,
    parse_granularity,
)

Point = tuple[int, int | None]  # (observed_at_ms, price or None when unavailable)


def _ms(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> int:
    return int(dt.datetime(year, month, day, hour, minute, tzinfo=dt.UTC).timestamp()) * 1000


# ----------------------------------------------------------------- brute-force reference


def _ref_floor(ts_ms: int, granularity: Granularity) -> dt.datetime:
    t = dt.datetime.fromtimestamp(ts_ms / 1000, dt.UTC)
    if granularity is Granularity.HOURLY:
        return t.replace(minute=0, second=0, microsecond=0)
    day = t.replace(hour=0, minute=0, second=0, microsecond=0)
    if granularity is Granularity.DAILY:
        return day
    if granularity is Granularity.WEEKLY:
        return day - dt.timedelta(days=day.weekday())
    return day.replace(day=1)


def _ref_next(t: dt.datetime, granularity: Granularity) -> dt.datetime:
    if granularity is Granularity.HOURLY:
        return t + dt.timedelta(hours=1)
    if granularity is Granularity.DAILY:
        return t + dt.timedelta(days=1)
    if granularity is Granularity.WEEKLY:
        return t + dt.timedelta(weeks=1)
    return (t + dt.timedelta(days=32)).replace(day=1)


def reference_buckets(
    points: Sequence[Point], start_ms: int, end_ms: int, granularity: Granularity
) -> list[Bucket]:
    """Evaluate the step function bucket by bucket, straight from the raw points."""
    points = sorted(points)
    out: list[Bucket] = []
    lo = _ref_floor(start_ms, granularity)
    while int(lo.timestamp() * 1000) < end_ms:
        hi = _ref_next(lo, granularity)
        lo_ms, hi_ms = int(lo.timestamp() * 1000), int(hi.timestamp() * 1000)
        before = [p for p in points if p[0] < lo_ms]
        inside = [p for p in points if lo_ms <= p[0] < hi_ms]
        if before or inside:
            states = ([before[-1][1]] if before else []) + [p[1] for p in inside]
            available = [s for s in states if s is not None]
            close = (inside or before)[-1][1]
            out.append(
                Bucket(
                    lo_ms,
                    close,
                    min(available) if available else None,
                    max(available) if available else None,
                )
            )
        lo = hi
    return out


def rollup_rows(points: Sequence[Point], granularity: Granularity) -> list[RollupRow]:
    """What a rollup table holds: per non-empty bucket, min/max available and last state."""
    groups: dict[int, list[Point]] = {}
    for point in sorted(points):
        groups.setdefault(floor_bucket(point[0], granularity), []).append(point)
    rows = []
    for start, group in groups.items():
        available = [p for _, p in group if p is not None]
        rows.append(
            RollupRow(
                start,
                min(available) if available else None,
                max(available) if available else None,
                group[-1][1],
            )
        )
    return rows


def opening_state(points: Sequence[Point], before_ms: int) -> Opening:
    earlier = [p for p in sorted(points) if p[0] < before_ms]
    return earlier[-1][1] if earlier else NO_STATE


def filled(
    points: Sequence[Point], start_ms: int, end_ms: int, granularity: Granularity
) -> list[Bucket]:
    """The production path, with the rollup and the opening lookup done in Python."""
    first = floor_bucket(start_ms, granularity)
    stop = next_bucket(floor_bucket(end_ms - 1, granularity), granularity)
    inside = [p for p in points if first <= p[0] < stop]
    return fill_buckets(
        rollup_rows(inside, granularity),
        start_ms=start_ms,
        end_ms=end_ms,
        granularity=granularity,
        opening=opening_state(points, first),
    )


# ------------------------------------------------------------------------------- grid


def test_weeks_start_on_monday_utc() -> None:
    wednesday = _ms(2024, 1, 3, 15, 30)
    assert floor_bucket(wednesday, Granularity.WEEKLY) == _ms(2024, 1, 1)
    assert floor_bucket(_ms(2024, 1, 1), Granularity.WEEKLY) == _ms(2024, 1, 1)
    assert floor_bucket(_ms(2023, 12, 31, 23, 59), Granularity.WEEKLY) == _ms(2023, 12, 25)


def test_months_are_calendar_months() -> None:
    assert floor_bucket(_ms(2024, 2, 29, 23), Granularity.MONTHLY) == _ms(2024, 2, 1)
    assert next_bucket(_ms(2024, 12, 1), Granularity.MONTHLY) == _ms(2025, 1, 1)
    assert next_bucket(_ms(2024, 1, 1), Granularity.MONTHLY) == _ms(2024, 2, 1)


def test_buckets_cover_partial_ends() -> None:
    hourly = Granularity.HOURLY
    starts = list(bucket_starts(_ms(2024, 1, 1, 10, 30), _ms(2024, 1, 1, 12, 1), hourly))
    assert starts == [_ms(2024, 1, 1, 10), _ms(2024, 1, 1, 11), _ms(2024, 1, 1, 12)]


@pytest.mark.parametrize("start,end", [(10, 10), (10, 5), (-1, 5)])
def test_empty_or_negative_range_is_rejected(start: int, end: int) -> None:
    with pytest.raises(ValueError, match="time range"):
        list(bucket_starts(start, end, Granularity.DAILY))


def test_too_many_buckets_is_rejected() -> None:
    with pytest.raises(ValueError, match="more than"):
        list(bucket_starts(0, _ms(2030, 1, 1), Granularity.HOURLY))


@pytest.mark.parametrize("granularity", list(Granularity))
def test_a_span_is_its_first_bucket_and_the_one_after_its_last(granularity: Granularity) -> None:
    rng = random.Random(4)
    for _ in range(300):
        start = rng.randrange(_ms(2020, 1, 1), _ms(2026, 1, 1))
        end = start + rng.choice((1, HOUR_MS, DAY_MS)) * rng.randint(1, 900)
        starts = list(bucket_starts(start, end, granularity))
        assert bucket_span(start, end, granularity) == (
            starts[0],
            next_bucket(starts[-1], granularity),
        )


def test_the_most_buckets_a_span_may_hold() -> None:
    start = _ms(2020, 1, 1)
    most = start + MAX_BUCKETS * HOUR_MS
    assert bucket_span(start, most, Granularity.HOURLY) == (start, most)
    with pytest.raises(ValueError, match="more than 100000 hourly"):
        bucket_span(start, most + 1, Granularity.HOURLY)


def test_unknown_granularity() -> None:
    assert parse_granularity("weekly") is Granularity.WEEKLY
    with pytest.raises(ValueError, match="unknown granularity 'yearly'"):
        parse_granularity("yearly")


# ------------------------------------------------------------------------------ filling

DAY = _ms(2024, 3, 4)  # a Monday


def test_empty_buckets_carry_the_previous_close() -> None:
    rows = [RollupRow(DAY, 900, 1000, 900)]
    buckets = fill_buckets(
        rows, start_ms=DAY, end_ms=DAY + 3 * 86_400_000, granularity=Granularity.DAILY, opening=1000
    )
    assert buckets == [
        Bucket(DAY, 900, 900, 1000),
        Bucket(DAY + 86_400_000, 900, 900, 900),
        Bucket(DAY + 2 * 86_400_000, 900, 900, 900),
    ]


def test_opening_price_widens_the_first_band() -> None:
    rows = [RollupRow(DAY, 500, 500, 500)]
    [bucket] = fill_buckets(
        rows, start_ms=DAY, end_ms=DAY + 1, granularity=Granularity.DAILY, opening=700
    )
    assert bucket == Bucket(DAY, 500, 500, 700)


def test_buckets_before_the_first_observation_are_omitted() -> None:
    rows = [RollupRow(DAY + 86_400_000, 500, 500, 500)]
    buckets = fill_buckets(
        rows,
        start_ms=DAY,
        end_ms=DAY + 2 * 86_400_000,
        granularity=Granularity.DAILY,
        opening=NO_STATE,
    )
    assert buckets == [Bucket(DAY + 86_400_000, 500, 500, 500)]


def test_unavailable_is_a_state() -> None:
    rows = [RollupRow(DAY, 500, 500, None)]
    buckets = fill_buckets(
        rows, start_ms=DAY, end_ms=DAY + 2 * 86_400_000, granularity=Granularity.DAILY, opening=None
    )
    assert buckets == [Bucket(DAY, None, 500, 500), Bucket(DAY + 86_400_000, None, None, None)]


def test_misaligned_rollup_rows_are_rejected() -> None:
    with pytest.raises(ValueError, match="not a daily bucket"):
        fill_buckets(
            [RollupRow(DAY + 1, 1, 1, 1)],
            start_ms=DAY,
            end_ms=DAY + 86_400_000,
            granularity=Granularity.DAILY,
            opening=NO_STATE,
        )


BASE = _ms(2024, 1, 29, 5, 17)  # a Monday, not aligned to anything coarser than minutes

points_strategy = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=120 * 86_400_000),
        st.one_of(st.none(), st.sampled_from([999, 1000, 1250, 1999, 2000])),
    ),
    max_size=40,
    unique_by=lambda p: p[0],
).map(lambda pts: [(BASE + t, p) for t, p in pts])


@settings(max_examples=300, deadline=None)
@given(
    points=points_strategy,
    granularity=st.sampled_from(list(Granularity)),
    start=st.integers(min_value=-10 * 86_400_000, max_value=130 * 86_400_000),
    length=st.integers(min_value=1, max_value=90 * 86_400_000),
)
def test_fill_matches_reference(
    points: list[Point], granularity: Granularity, start: int, length: int
) -> None:
    if granularity is Granularity.HOURLY:
        length = length // 30 + 1  # keep the hourly grid small
    start_ms, end_ms = BASE + start, BASE + start + length
    assert filled(points, start_ms, end_ms, granularity) == reference_buckets(
        points, start_ms, end_ms, granularity
    )


def test_change_points_open_with_the_state_in_force_and_keep_only_changes() -> None:
    changes = [(1_500, 900), (1_200, 1_000), (2_000, 900), (2_500, None), (3_000, None)]
    assert change_points(changes, start_ms=1_000, opening=1_000) == [
        Bucket(1_000, 1_000, 1_000, 1_000),
        Bucket(1_500, 900, 900, 900),
        Bucket(2_500, None, None, None),
    ]
    # nothing before the window: the first observation opens the line
    assert change_points(changes, start_ms=1_000, opening=NO_STATE)[0] == Bucket(
        1_200, 1_000, 1_000, 1_000
    )
    assert change_points([], start_ms=1_000, opening=NO_STATE) == []
    assert change_points([], start_ms=1_000, opening=None) == [Bucket(1_000, None, None, None)]


def test_a_change_at_the_window_start_replaces_the_opening() -> None:
    assert change_points([(1_000, 700)], start_ms=1_000, opening=800) == [
        Bucket(1_000, 700, 700, 700)
    ]
    # and one that restores the state before it is no point of its own
    assert change_points([(1_000, 700), (1_000, 800)], start_ms=1_000, opening=800) == [
        Bucket(1_000, 800, 800, 800)
    ]
    with pytest.raises(ValueError, match="before the window"):
        change_points([(999, 1)], start_ms=1_000, opening=NO_STATE)

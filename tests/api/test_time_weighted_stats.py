"""The time-weighted statistics, percentile and good-deal rule (pure: hand-computed)."""

from __future__ import annotations

import pytest

from api.services.pricing import (
    DEAL_PERCENTILE,
    DEAL_RULE,
    NO_STATS,
    Stats,
    is_good_deal,
    percentile,
    share_higher,
    time_weighted_stats,
)
from pricewatch.history import DAY_MS, HOUR_MS, Bucket

MINUTE = 60_000
T0 = 1_780_000_000_000


def point(at: int, price: int | None) -> Bucket:
    """A change point: the state from ``at`` on."""
    return Bucket(at, price, price, price)


def test_three_days_at_10_then_one_day_at_20_average_12_5() -> None:
    steps = [point(T0, 1000), point(T0 + 3 * DAY_MS, 2000)]
    stats = time_weighted_stats(steps, T0, T0 + 4 * DAY_MS)
    assert stats.average == 1250
    assert stats.lowest == (1000, T0)
    assert stats.highest == (2000, T0 + 3 * DAY_MS)
    # ... whereas an average of the two prices (or of daily closes) would say 15 / 12.5
    # only by luck of the grid: a window of 3 days at 10 and 1 hour at 20 is nearly 10
    short = time_weighted_stats(steps, T0, T0 + 3 * DAY_MS + HOUR_MS)
    assert short.average == pytest.approx((3 * 24 * 1000 + 2000) / (3 * 24 + 1))


def test_a_first_day_product_with_minute_level_changes() -> None:
    first = T0 + 5 * HOUR_MS
    steps = [
        point(first, 2000),  # 10 minutes
        point(first + 10 * MINUTE, 1500),  # 20 minutes
        point(first + 30 * MINUTE, 1800),  # 30 minutes, until now
    ]
    now = first + HOUR_MS
    stats = time_weighted_stats(steps, first, now)
    assert stats.average == pytest.approx((10 * 2000 + 20 * 1500 + 30 * 1800) / 60)
    assert stats.average != 1800, "the average is not the current price on day one"
    assert stats.lowest == (1500, first + 10 * MINUTE)
    assert stats.highest == (2000, first)
    # 1800 now: the 10 minutes at 20.00 were higher, of 60 priced minutes
    assert share_higher(steps, 1800, first, now) == pytest.approx(10 / 60)
    assert percentile(share_higher(steps, 1800, first, now)) == 16
    # a window reaching back a year counts only the hour since first seen
    year_ago = now - 365 * DAY_MS
    assert time_weighted_stats(steps, year_ago, now) == stats


def test_empty_windows_have_no_statistics() -> None:
    assert time_weighted_stats([], T0, T0 + DAY_MS) == NO_STATS
    assert share_higher([], 1000, T0, T0 + DAY_MS) is None
    assert percentile(None) is None
    steps = [point(T0, 1000)]
    # a window before the first sighting, and an empty one
    assert time_weighted_stats(steps, T0 - 2 * DAY_MS, T0 - DAY_MS) == NO_STATS
    assert time_weighted_stats(steps, T0, T0) == NO_STATS
    # a window that starts after the last change still has the price in force
    late = time_weighted_stats(steps, T0 + DAY_MS, T0 + 2 * DAY_MS)
    assert late == Stats((1000, T0 + DAY_MS), (1000, T0 + DAY_MS), 1000)


def test_out_of_stock_time_counts_for_nothing() -> None:
    steps = [
        point(T0, 1000),  # 1 day at 10
        point(T0 + DAY_MS, None),  # 5 days out of stock
        point(T0 + 6 * DAY_MS, 3000),  # 1 day at 30
    ]
    end = T0 + 7 * DAY_MS
    stats = time_weighted_stats(steps, T0, end)
    assert stats.average == 2000
    assert (stats.lowest, stats.highest) == ((1000, T0), (3000, T0 + 6 * DAY_MS))
    # at 20 now: higher half of the priced time, whatever the gap's length
    assert share_higher(steps, 2000, T0, end) == 0.5
    # only out of stock in the window: nothing to say
    gap = time_weighted_stats(steps, T0 + 2 * DAY_MS, T0 + 3 * DAY_MS)
    assert gap == NO_STATS
    assert share_higher(steps, 1000, T0 + 2 * DAY_MS, T0 + 3 * DAY_MS) is None


def test_window_cuts_the_step_in_force_at_its_start() -> None:
    steps = [point(T0, 5000), point(T0 + 10 * DAY_MS, 1000)]
    # from day 8: 2 days at 50, then 2 days at 10
    stats = time_weighted_stats(steps, T0 + 8 * DAY_MS, T0 + 12 * DAY_MS)
    assert stats.average == 3000
    assert stats.highest == (5000, T0 + 8 * DAY_MS)


def test_daily_buckets_weigh_each_day_with_its_close_and_band() -> None:
    day0 = T0 - T0 % DAY_MS
    first = day0 + 12 * HOUR_MS  # first seen at noon
    buckets = [
        Bucket(day0, 1000, 900, 1000),  # dipped to 9 within the day, closed at 10
        Bucket(day0 + DAY_MS, 1000, 1000, 1000),
        Bucket(day0 + 2 * DAY_MS, 2000, 1000, 2000),
    ]
    now = day0 + 2 * DAY_MS + 6 * HOUR_MS
    stats = time_weighted_stats(buckets, first, now)
    # half a day + one day at 10, six hours at 20 (the close of today)
    assert stats.average == pytest.approx((36 * 1000 + 6 * 2000) / 42)
    assert stats.lowest == (900, first)
    assert stats.highest == (2000, day0 + 2 * DAY_MS)


def test_percentile_rounds_down_and_exact_shares_stay_exact() -> None:
    assert percentile(0.8) == 80
    assert percentile(0.7999) == 79
    assert percentile(0.855) == 85
    assert percentile(1.0) == 100
    assert percentile(0.0) == 0
    # 4 of 5 equal spans higher: exactly 80%, not 79.99...
    steps = [point(T0 + i * 7 * MINUTE, p) for i, p in enumerate([50, 40, 30, 20, 10])]
    share = share_higher(steps, 10, T0, T0 + 35 * MINUTE)
    assert percentile(share) == 80


def test_equal_prices_are_not_higher() -> None:
    steps = [point(T0, 1000), point(T0 + DAY_MS, 1200)]
    assert share_higher(steps, 1000, T0, T0 + 2 * DAY_MS) == 0.5
    assert share_higher(steps, 1200, T0, T0 + 2 * DAY_MS) == 0.0


def test_good_deal_rule() -> None:
    window = Stats((1000, T0), (3000, T0), 2000.0)
    assert is_good_deal(1500, True, window, DEAL_PERCENTILE)
    assert is_good_deal(1500, True, window, 100)
    # not lower than enough of the last year's prices
    assert not is_good_deal(1500, True, window, DEAL_PERCENTILE - 1)
    # not below the average (equal is not below)
    assert not is_good_deal(2000, True, window, 95)
    assert not is_good_deal(2500, True, window, 95)
    # out of stock, no price, no statistics, no percentile
    assert not is_good_deal(1500, False, window, 95)
    assert not is_good_deal(None, True, window, 95)
    assert not is_good_deal(1500, True, NO_STATS, 95)
    assert not is_good_deal(1500, True, window, None)
    # the words say what the code does
    assert f"{DEAL_PERCENTILE} %" in DEAL_RULE and "90-day time-weighted average" in DEAL_RULE


def test_a_first_day_product_at_one_price_is_no_deal() -> None:
    steps = [point(T0, 1999)]
    now = T0 + 3 * HOUR_MS
    stats = time_weighted_stats(steps, T0, now)
    assert stats.average == 1999
    share = share_higher(steps, 1999, T0, now)
    assert share == 0.0
    assert not is_good_deal(1999, True, stats, percentile(share))

"""The freshness sentence every client shows (pure)."""

from __future__ import annotations

import pytest

from api.services.freshness import ago, change_words, changes_per_week, due_in, freshness
from pricewatch.history import DAY_MS, HOUR_MS

MINUTE = 60_000
NOW = 1_780_000_000_000


@pytest.mark.parametrize(
    ("ms", "words"),
    [
        (0, "just now"),
        (59_999, "just now"),
        (MINUTE, "1 min ago"),
        (12 * MINUTE + 59_000, "12 min ago"),
        (HOUR_MS, "1 h ago"),
        (47 * HOUR_MS, "47 h ago"),
        (2 * DAY_MS, "2 days ago"),
        (40 * DAY_MS, "40 days ago"),
    ],
)
def test_ago(ms: int, words: str) -> None:
    assert ago(ms) == words


@pytest.mark.parametrize(
    ("ms", "words"),
    [
        (-5 * MINUTE, "due now"),
        (0, "due now"),
        (30_000, "in under a minute"),
        (MINUTE, "in about 1 min"),
        (20 * MINUTE, "in about 20 min"),
        (3 * HOUR_MS - 10 * MINUTE, "in about 3 h"),
        (30 * HOUR_MS, "in about 30 h"),
        (DAY_MS * 3, "in about 3 days"),
    ],
)
def test_due_in(ms: int, words: str) -> None:
    assert due_in(ms) == words


@pytest.mark.parametrize(
    ("changes", "tracked", "words"),
    [
        (0, 10 * DAY_MS, "has not changed since first seen"),
        (0, 90 * DAY_MS, "has not changed in 90 days"),
        (26, 90 * DAY_MS, "changes about twice a week"),
        (13, 90 * DAY_MS, "changes about once a week"),
        (40, 10 * DAY_MS, "changes about 4 times a day"),
        (20, 10 * DAY_MS, "changes about twice a day"),
        (10, 10 * DAY_MS, "changes about once a day"),
        (4, 7 * DAY_MS, "changes about 4 times a week"),
        (3, 90 * DAY_MS, "changes about once a month"),
        (6, 90 * DAY_MS, "changes about twice a month"),
        (1, 90 * DAY_MS, "changes less than once a month"),
    ],
)
def test_change_words(changes: int, tracked: int, words: str) -> None:
    assert change_words(changes, tracked) == words


def test_too_short_a_life_says_nothing_of_the_rate() -> None:
    assert change_words(5, 3 * HOUR_MS) is None
    assert changes_per_week(5, 3 * HOUR_MS) is None
    assert changes_per_week(26, 91 * DAY_MS) == 2.0


def test_the_sentence() -> None:
    found = freshness(
        now_ms=NOW,
        checked_at_ms=NOW - 12 * MINUTE,
        next_check_ms=NOW + 3 * HOUR_MS,
        changes=26,
        tracked_ms=91 * DAY_MS,
    )
    assert found.text == "checked 12 min ago · next check in about 3 h · changes about twice a week"
    assert found.changes_per_week == 2.0
    assert (found.checked_at_ms, found.next_check_ms) == (NOW - 12 * MINUTE, NOW + 3 * HOUR_MS)


def test_unknown_parts_are_left_out() -> None:
    found = freshness(
        now_ms=NOW, checked_at_ms=NOW, next_check_ms=None, changes=2, tracked_ms=HOUR_MS
    )
    assert found.text == "checked just now"
    assert found.changes_per_week is None
    nothing = freshness(
        now_ms=NOW, checked_at_ms=None, next_check_ms=None, changes=None, tracked_ms=0
    )
    assert nothing.text == ""

"""How fresh a product's price is, in the words every client shows: when it was last
checked, when the next check is due, how often the price changes (pure: no I/O, no
clock; callers pass ``now``).

"checked 12 min ago · next check in about 3 h · changes about twice a week"
"""

from __future__ import annotations

import dataclasses

from pricewatch.history import DAY_MS, HOUR_MS, WEEK_MS

MINUTE_MS = 60_000
# the change frequency is counted over the product's tracked life, at most this long
CHANGES_WINDOW_MS = 90 * DAY_MS
# below this much tracked time a rate says more about chance than about the product
MIN_TRACKED_MS = DAY_MS
SEPARATOR = " · "


@dataclasses.dataclass(frozen=True)
class Freshness:
    checked_at_ms: int | None
    next_check_ms: int | None
    changes_per_week: float | None
    text: str


def _count(n: int, unit: str) -> str:
    return f"{n} {unit}" if n == 1 else f"{n} {unit}s"


def ago(ms: int) -> str:
    """How long ago, roughly: "just now", "12 min ago", "3 h ago", "2 days ago"."""
    if ms < MINUTE_MS:
        return "just now"
    if ms < HOUR_MS:
        return f"{ms // MINUTE_MS} min ago"
    if ms < 2 * DAY_MS:
        return f"{ms // HOUR_MS} h ago"
    return f"{_count(ms // DAY_MS, 'day')} ago"


def due_in(ms: int) -> str:
    """How long until, rounded to the nearest unit: "due now", "in about 20 min"..."""
    if ms <= 0:
        return "due now"
    if ms < MINUTE_MS:
        return "in under a minute"
    if ms < HOUR_MS:
        return f"in about {max(1, round(ms / MINUTE_MS))} min"
    if ms < 2 * DAY_MS:
        return f"in about {round(ms / HOUR_MS)} h"
    return f"in about {_count(round(ms / DAY_MS), 'day')}"


def _times(n: int) -> str:
    return {1: "once", 2: "twice"}.get(n, f"{n} times")


def change_words(changes: int, tracked_ms: int) -> str | None:
    """How often the price changed over ``tracked_ms`` (at most ``CHANGES_WINDOW_MS``);
    None when tracked too briefly to say."""
    if tracked_ms < MIN_TRACKED_MS:
        return None
    if changes == 0:
        if tracked_ms >= CHANGES_WINDOW_MS:
            return "has not changed in 90 days"
        return "has not changed since first seen"
    per_day = changes * DAY_MS / tracked_ms
    if per_day >= 1.5:
        return f"changes about {_times(round(per_day))} a day"
    if per_day >= 0.75:
        return "changes about once a day"
    per_week = per_day * 7
    if per_week >= 0.75:
        return f"changes about {_times(max(1, round(per_week)))} a week"
    per_month = per_day * 30
    if per_month >= 0.75:
        return f"changes about {_times(max(1, round(per_month)))} a month"
    return "changes less than once a month"


def changes_per_week(changes: int, tracked_ms: int) -> float | None:
    if tracked_ms < MIN_TRACKED_MS:
        return None
    return round(changes * WEEK_MS / tracked_ms, 2)


def freshness(
    *,
    now_ms: int,
    checked_at_ms: int | None,
    next_check_ms: int | None,
    changes: int | None,
    tracked_ms: int,
) -> Freshness:
    """The facts and their sentence. ``changes`` are the price changes counted over the
    last ``tracked_ms`` (the tracked life, at most ``CHANGES_WINDOW_MS``); None: unknown.
    A part that is unknown is left out of the sentence."""
    parts: list[str] = []
    if checked_at_ms is not None:
        parts.append(f"checked {ago(max(0, now_ms - checked_at_ms))}")
    if next_check_ms is not None:
        parts.append(f"next check {due_in(next_check_ms - now_ms)}")
    rate: float | None = None
    if changes is not None:
        words = change_words(changes, tracked_ms)
        if words is not None:
            parts.append(words)
        rate = changes_per_week(changes, tracked_ms)
    return Freshness(checked_at_ms, next_check_ms, rate, SEPARATOR.join(parts))

"""A product card's sparkline: daily closes as the points of an inline SVG polyline,
with the same story in words for whoever cannot see it (pure).

Server-rendered: the home page needs no script, and the SVG is a few hundred bytes.
A day without a price (out of stock) breaks the line: each run of priced days is a
polyline of its own, as the product page's chart leaves a gap. A product seen on one
day only draws its hours instead (``unit="hour"``), spread over the whole width: its
life so far.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Literal

from pricewatch.markets import Market
from pricewatch.money import format_money

WIDTH = 120
HEIGHT = 32
# room for the stroke at the top and bottom edges
PAD = 2


@dataclasses.dataclass(frozen=True)
class Sparkline:
    # one "x,y x,y ..." per run of priced days
    lines: tuple[str, ...]
    # the line in words (the SVG's title and aria-label)
    text: str
    width: int = WIDTH
    height: int = HEIGHT


def _coordinate(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


Unit = Literal["day", "hour"]


def sparkline(
    closes: Sequence[int | None], market: Market, days: int = 30, *, unit: Unit = "day"
) -> Sparkline | None:
    """The sparkline of ``closes`` (one per day, oldest first, minor units; None: no
    price that day) spread over ``days`` slots and right-aligned, so today is always at
    the right edge. Hourly ``closes`` fill the width whatever their number. None when
    fewer than two closes have a price: one point draws no line."""
    closes = list(closes)[-days:]
    priced = [c for c in closes if c is not None]
    if len(priced) < 2:
        return None
    if unit == "hour":
        days = len(closes)
    low, high = min(priced), max(priced)
    span = high - low
    step = (WIDTH - 2 * PAD) / max(1, days - 1)
    offset = days - len(closes)
    runs: list[list[str]] = []
    current: list[str] = []
    for i, close in enumerate(closes):
        if close is None:
            if current:
                runs.append(current)
            current = []
            continue
        x = PAD + (offset + i) * step
        # a flat line sits in the middle
        share = 0.5 if span == 0 else (close - low) / span
        y = HEIGHT - PAD - share * (HEIGHT - 2 * PAD)
        current.append(f"{_coordinate(x)},{_coordinate(y)}")
    if current:
        runs.append(current)
    # a single priced day is a dot: repeat it so the polyline has a length to draw
    lines = tuple(" ".join(run if len(run) > 1 else run * 2) for run in runs)
    return Sparkline(lines=lines, text=describe(closes, market, unit=unit))


def describe(closes: Sequence[int | None], market: Market, *, unit: Unit = "day") -> str:
    """The sparkline in words: where the price started and ended, its low and high."""
    priced = [c for c in closes if c is not None]
    if not priced:
        return "No price in the last 30 days."
    first, last = priced[0], priced[-1]
    count = len(closes)
    if unit == "hour":
        span = "the last hour" if count == 1 else f"the last {count} hours"
    else:
        span = "today" if count == 1 else f"the last {count} days"

    def money(minor: int) -> str:
        return format_money(minor, market)

    if min(priced) == max(priced):
        return f"Price over {span}: steady at {money(last)}."
    return (
        f"Price over {span}: from {money(first)} to {money(last)}, "
        f"low {money(min(priced))}, high {money(max(priced))}."
    )

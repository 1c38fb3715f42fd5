"""What the product chart should draw of an API chart answer, for the browser tests:
a step function through the answer's points over its window (see
``api/shared-js/history.js``, ``stepColumns``)."""

from __future__ import annotations

import datetime as dt
from typing import Any


def seconds(text: str) -> float:
    """An API timestamp as uPlot's time scale holds it: seconds since the epoch."""
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def in_force(points: list[dict[str, Any]], at_s: float, granularity: str) -> float | None:
    """The price a line of ``granularity`` shows at ``at_s``: of the last change at or
    before it, or of the last bucket ended by it (a bucket's price is the price in force
    at its end). None before the line's first."""
    if granularity == "changes":
        started = [p["price"] for p in points if seconds(p["timestamp"]) <= at_s]
    else:
        started = [p["price"] for p in points if seconds(p["timestamp"]) < at_s]
    return started[-1] if started else None


def drawn_xs(answer: dict[str, Any]) -> list[float]:
    """The x values drawn: the instants each price came into force, then the window's
    end (change points at their timestamps, buckets at their ends)."""
    xs = sorted({seconds(p["timestamp"]) for line in answer["lines"] for p in line["points"]})
    if not xs:
        return []
    if answer["granularity"] == "changes":
        return [*xs, seconds(answer["end"])]
    return [*xs[1:], seconds(answer["end"])]

"""Times at the wire edge: integer ms inside, ISO 8601 UTC strings outside."""

from __future__ import annotations

import datetime as dt
import math

# 1e11 seconds is the year 5138: a larger epoch number is milliseconds.
_MS_THRESHOLD = 1e11


def iso(ms: int) -> str:
    """``1700000000000`` -> ``"2023-11-14T22:13:20Z"`` (milliseconds kept when present)."""
    moment = dt.datetime.fromtimestamp(ms / 1000, dt.UTC)
    text = moment.isoformat(timespec="milliseconds" if ms % 1000 else "seconds")
    return text.replace("+00:00", "Z")


def maybe_iso(ms: int | None) -> str | None:
    """``iso`` of a time that may be unknown (None stays None)."""
    return None if ms is None else iso(ms)


def parse_time(value: str | float | int) -> int:
    """ISO 8601 (naive means UTC) or epoch seconds / milliseconds -> ms.

    Raises ``ValueError`` saying what was expected.
    """
    if isinstance(value, str):
        text = value.strip()
        try:
            number = float(text)
        except ValueError:
            try:
                moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
            except ValueError:
                raise ValueError(f"{value!r} is not an ISO 8601 time or an epoch number") from None
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=dt.UTC)
            return int(moment.timestamp() * 1000)
    else:
        number = float(value)
    if not math.isfinite(number) or number < 0:
        raise ValueError(f"{value!r} is not a time: expected a non-negative epoch number")
    ms = number if number >= _MS_THRESHOLD else number * 1000
    if ms > 253402300799999:  # 9999-12-31T23:59:59.999Z
        raise ValueError(f"{value!r} is beyond the year 9999")
    return int(ms)

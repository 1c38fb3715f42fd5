"""Observations for tests: a US buy-box price by the crawler unless told otherwise."""

from __future__ import annotations

from typing import Any

from pricewatch.models import Observation


def observation(at: int, price: int | None = 1999, **fields: Any) -> Observation:
    """No price means out of stock, with no currency (as the parser reports it)."""
    values: dict[str, Any] = {
        "market": "us",
        "asin": "B07CLN88MV",
        "observed_at": at,
        "source": "crawler",
        "price": price,
        "availability": "in_stock" if price is not None else "out_of_stock",
        "currency": "USD" if price is not None else None,
    }
    values.update(fields)
    return Observation(**values)

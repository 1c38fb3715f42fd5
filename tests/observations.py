"""Observations, price changes and raw price rows for tests (a US buy-box price by the
crawler unless told otherwise), and products seeded into the price store with a
history of them."""

from __future__ import annotations

from typing import Any

import msgspec

from pricewatch.ingest.core import process
from pricewatch.models import Availability, Observation, PriceChange, Product, Series, Source
from pricewatch.page_series import PageFacts, series_observations
from pricewatch.storage.clickhouse import PriceStore

ASIN = "B07CLN88MV"


def observation(at: int, price: int | None = 1999, **fields: Any) -> Observation:
    """No price means out of stock, with no currency (as the parser reports it)."""
    values: dict[str, Any] = {
        "market": "us",
        "asin": ASIN,
        "observed_at": at,
        "source": "crawler",
        "price": price,
        "availability": "in_stock" if price is not None else "out_of_stock",
        "currency": "USD" if price is not None else None,
    }
    values.update(fields)
    return Observation(**values)


def price_row(
    asin: str,
    at: int,
    price: int | None,
    *,
    availability: str = "in_stock",
    source: str = "crawler",
    market: str = "us",
) -> list[Any]:
    """A prices_raw row: ``asin``'s buy-box on ``market`` at ``price`` cents at ``at``."""
    return [market, asin, "buybox", at, price, "USD", availability, source, ""]


def observation_of_row(row: list[Any]) -> Observation:
    """The observation a prices_raw row (``price_row``'s columns) stores."""
    market, asin, series, at, price, currency, availability, source, reporter = row
    return Observation(
        market=market,
        asin=asin,
        series=series,
        observed_at=at,
        price=price,
        currency=currency if price is not None else None,
        availability=availability,
        source=source,
        reporter=reporter or None,
    )


def price_change(new: int | None, old: int | None = None, **fields: Any) -> PriceChange:
    """What ingest publishes when the accepted price moves from ``old`` to ``new``
    (no ``old``: a first sighting; ``new`` None: out of stock)."""
    values: dict[str, Any] = {
        "event_id": f"ev-{new}-{old}",
        "market": "us",
        "asin": ASIN,
        "series": Series.BUYBOX,
        "observed_at": 1,
        "source": Source.CRAWLER,
        "new_price": new,
        "old_price": old,
        "currency": "USD",
    }
    values.update(fields)
    return PriceChange(**values)


def seed_product(
    store: PriceStore,
    *,
    asin: str,
    prices: list[tuple[int, int | None]],
    market: str = "us",
    title: str | None = "Widget",
    currency: str = "USD",
) -> None:
    """Store a price history [(observed_at_ms, minor|None)], the changes ingest would
    have published of it, and its catalogue row."""
    observations = [
        observation(
            at, price, market=market, asin=asin, currency=currency if price is not None else None
        )
        for at, price in prices
    ]
    store.insert_observations(observations)
    store.insert_changes(changes_of(observations))
    first, last = observations[0], observations[-1]
    product = Product(
        market=market,
        asin=asin,
        title=title,
        currency=currency,
        last_price=last.price,
        availability=Availability(last.availability),
        first_seen=first.observed_at,
        last_seen=last.observed_at,
    )
    store.upsert_products([product])


def changes_of(history: list[Observation]) -> list[PriceChange]:
    """The changes ingest publishes of ``history`` as one batch into an empty store
    (its own core decides them)."""
    return process(list(enumerate(history)), {}).changes


def page_observations(
    at: int, facts: PageFacts, asin: str = ASIN, **attributes: Any
) -> list[Observation]:
    """What the crawler makes of one US product page saying ``facts`` at ``at``: an
    observation per series (``pricewatch.page_series``); the buy box's also carries the
    seller and the product's ``attributes`` (title, image, rating, review_count)."""
    described = {"sold_by": facts.sold_by, **attributes}
    observations = series_observations(
        facts, market="us", asin=asin, observed_at=at, source=Source.CRAWLER, currency="USD"
    )
    return [
        msgspec.structs.replace(obs, **described) if obs.series is Series.BUYBOX else obs
        for obs in observations
    ]

"""Bulk backfill of price history from CSV (``pricewatch import-csv FILE``).

Columns (header required, order free): ``market, asin, observed_at, price``
and optionally ``currency, availability, series``. ``observed_at`` is ISO 8601
(naive means UTC) or Unix seconds/milliseconds; ``price`` is a decimal in the
market's major unit ("12.99") or a price text ("12,99 €"); an empty price
means out of stock. ``series`` is any of ``pricewatch.models.Series`` (empty:
``buybox``); a ``sales_rank`` row's price is the rank ("1234", "#1,234"), with no
currency. Rows go straight to ClickHouse in large inserts: a backfill is history,
not news, so it publishes no price changes.

The catalogue row of a product follows its buy box only: its price and
availability are the buy box's, and the other series say nothing of them. Its
first sighting is the earliest row of any series, so that charts over "all"
time start with the imported history.
"""

from __future__ import annotations

import csv
import dataclasses
import logging
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import msgspec

from pricewatch.ingest.core import InvalidObservation, validate
from pricewatch.keys import DEFAULT_KEYS, Keys, partition_of
from pricewatch.markets import MARKETS, get_market
from pricewatch.models import Availability, Observation, Product, Series, Source, series_text

log = logging.getLogger(__name__)

CHUNK = 200_000
REQUIRED = ("market", "asin", "observed_at", "price")


@dataclasses.dataclass
class ImportResult:
    rows: int = 0
    series: int = 0
    rejected: int = 0
    errors: list[str] = dataclasses.field(default_factory=list)


def parse_time(text: str) -> int:
    text = text.strip()
    try:
        number = float(text)
    except ValueError:
        moment = datetime.fromisoformat(text)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return int(moment.timestamp() * 1000)
    # 1e11 seconds is the year 5138; anything larger is milliseconds
    return int(number if number >= 1e11 else number * 1000)


def parse_price(text: str, market_code: str) -> int | None:
    text = text.strip()
    if not text:
        return None
    market = get_market(market_code)
    try:
        return market.to_minor(str(Decimal(text)))
    except InvalidOperation:
        from pricewatch.money import parse_money

        money = parse_money(text, market)
        if money is None:
            raise ValueError(f"no price in {text!r}") from None
        if money.currency != market.currency:
            raise ValueError(f"{text!r} is {money.currency}, not {market.currency}") from None
        return money.minor


def parse_rank(text: str) -> int | None:
    """A sales rank as printed ("1234", "#1,234", "1.234"); empty means none shown."""
    digits = text.strip().lstrip("#").replace(",", "").replace(".", "").replace(" ", "")
    if not digits:
        return None
    if not (digits.isascii() and digits.isdigit()):
        raise ValueError(f"no sales rank in {text!r}")
    return int(digits)


def _series(text: str) -> Series:
    try:
        return Series(text.strip() or Series.BUYBOX)
    except ValueError:
        known = ", ".join(s.value for s in Series)
        raise ValueError(f"unknown series {text.strip()!r} (known: {known})") from None


def row_to_observation(row: dict[str, str], default_market: str | None, now_ms: int) -> Observation:
    market = (row.get("market") or default_market or "").strip().lower()
    if market not in MARKETS:
        raise ValueError(f"unknown market {market!r}")
    series = _series(row.get("series") or "")
    currency = (row.get("currency") or "").strip().upper() or None
    if series is Series.SALES_RANK:
        price = parse_rank(row.get("price") or "")
        if currency is not None:
            raise ValueError("a sales rank has no currency")
    else:
        price = parse_price(row.get("price") or "", market)
        if currency is None and price is not None:
            currency = MARKETS[market].currency
    availability = (row.get("availability") or "").strip() or (
        Availability.IN_STOCK if price is not None else Availability.OUT_OF_STOCK
    )
    fields: dict[str, Any] = {
        "market": market,
        "asin": (row.get("asin") or "").strip().upper(),
        "observed_at": parse_time(row.get("observed_at") or ""),
        "availability": availability,
        "source": Source.IMPORT,
        "series": series,
        "price": price,
        "currency": currency,
    }
    obs = msgspec.convert(fields, Observation)
    validate(obs, now_ms)
    return obs


def _lines(path: Path, bar: Any) -> Iterator[str]:
    with path.open(newline="", encoding="utf-8") as f:
        for line in f:
            if bar is not None:
                bar.update(len(line.encode()))
            yield line


def import_csv(
    path: Path,
    client: Any,
    *,
    redis_url: str | None = None,
    keys: Keys = DEFAULT_KEYS,
    partitions: int = 4,
    default_market: str | None = None,
    progress: bool = True,
    database: str = "pricewatch",
) -> ImportResult:
    from pricewatch.storage.clickhouse import PriceStore

    store = PriceStore(client, database=database)
    result = ImportResult()
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(
            total=path.stat().st_size, unit="B", unit_scale=True, desc=path.name, file=sys.stderr
        )
    now_ms = int(datetime.now(UTC).timestamp() * 1000)
    reader = csv.DictReader(_lines(path, bar))
    missing = [
        c
        for c in REQUIRED
        if c not in (reader.fieldnames or []) and not (c == "market" and default_market)
    ]
    if missing:
        raise ValueError(f"{path}: missing column(s) {', '.join(missing)}")
    chunk: list[Observation] = []
    touched: set[tuple[str, str, str]] = set()
    latest: dict[tuple[str, str], Product] = {}
    earliest: dict[tuple[str, str], int] = {}
    for line_no, row in enumerate(reader, start=2):
        try:
            obs = row_to_observation(row, default_market, now_ms)
        except (ValueError, msgspec.ValidationError, InvalidObservation) as exc:
            result.rejected += 1
            if len(result.errors) < 20:
                result.errors.append(f"line {line_no}: {exc}")
            continue
        chunk.append(obs)
        touched.add((obs.market, obs.asin, obs.series))
        pkey = (obs.market, obs.asin)
        earliest[pkey] = min(earliest.get(pkey, obs.observed_at), obs.observed_at)
        if obs.series is Series.BUYBOX:
            p = latest.get(pkey)
            if p is None or (p.last_seen or 0) <= obs.observed_at:
                latest[pkey] = Product(
                    market=obs.market,
                    asin=obs.asin,
                    currency=obs.currency,
                    last_price=obs.price,
                    availability=obs.availability,
                    last_seen=obs.observed_at,
                )
        if len(chunk) >= CHUNK:
            store.insert_observations(chunk, dedup_token=None)
            result.rows += len(chunk)
            chunk = []
    if chunk:
        store.insert_observations(chunk, dedup_token=None)
        result.rows += len(chunk)
    if bar is not None:
        bar.close()
    if latest:
        store.upsert_products(
            [msgspec.structs.replace(p, first_seen=earliest[k]) for k, p in latest.items()]
        )
    result.series = len(touched)
    if redis_url and touched:
        _forget_cached_state(redis_url, keys, partitions, touched)
    return result


def _forget_cached_state(
    redis_url: str, keys: Keys, partitions: int, touched: set[tuple[str, str, str]]
) -> None:
    """Ingest caches the last price per series; make it re-read ClickHouse. The API
    caches charts, which the imported history changes: drop them too."""
    from pricewatch.storage.redis import connect, drop_histories

    client = connect(redis_url)
    pipe = client.pipeline(transaction=False)
    for market, asin, series in touched:
        pipe.hdel(
            keys.last_price(partition_of(market, asin, partitions)),
            series_text(market, asin, series),
        )
    drop_histories(pipe, keys, {(market, asin) for market, asin, _ in touched})
    pipe.execute()

"""The catalogue: one ``products`` row per (market, asin), merged on write.

``products`` is a ReplacingMergeTree(last_seen) (migration 0004): an upsert is an
insert, and readers use FINAL on a point key.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Sequence

import msgspec
from clickhouse_connect.driver.client import Client

from pricewatch.models import Availability, Product
from pricewatch.schema.clickhouse_migrations import DEFAULT_DATABASE
from pricewatch.storage.clickhouse.tables import Tables

_PRODUCT_COLUMNS = (
    "market",
    "asin",
    "title",
    "image",
    "sold_by",
    "rating",
    "review_count",
    "currency",
    "last_price",
    "availability",
    "first_seen",
    "last_seen",
)


class Catalogue(Tables):
    """Catalogue rows: sparse upserts that never lose a known field, and point reads."""

    # Products this store wrote lately, kept to merge the next upsert without
    # reading ClickHouse back: one writer (the ingest consumer of a partition)
    # owns a product, so its own last write is the stored row.
    WRITTEN_CACHE_SIZE = 200_000

    def __init__(self, client: Client, database: str = DEFAULT_DATABASE) -> None:
        super().__init__(client, database)
        self._written: OrderedDict[tuple[str, str], Product] = OrderedDict()

    def upsert_products(self, products: Sequence[Product]) -> int:
        """Insert or update catalogue rows; returns the number written.

        ``last_seen`` is the row version and is required. Fields left ``None`` keep their
        stored value, and ``first_seen`` never moves later, so a sparse update (say, a
        report without a title) loses nothing.
        """
        for product in products:
            if product.last_seen is None:
                raise ValueError(f"{product.market}:{product.asin}: last_seen is required")
        if not products:
            return 0
        keys = {(p.market, p.asin) for p in products}
        stored = {k: self._written[k] for k in keys if k in self._written}
        if len(stored) < len(keys):
            stored.update(self._products(keys - stored.keys()))
        rows = []
        for product in products:
            merged = _merge_product(stored.get((product.market, product.asin)), product)
            stored[(product.market, product.asin)] = merged
            rows.append(
                [
                    merged.market,
                    merged.asin,
                    merged.title,
                    merged.image,
                    merged.sold_by,
                    merged.rating,
                    merged.review_count,
                    merged.currency,
                    merged.last_price,
                    str(merged.availability),
                    merged.first_seen,
                    merged.last_seen,
                ]
            )
        self.client.insert(f"{self.database}.products", rows, column_names=_PRODUCT_COLUMNS)
        for key in keys:
            self._written[key] = stored[key]
            self._written.move_to_end(key)
        while len(self._written) > self.WRITTEN_CACHE_SIZE:
            self._written.popitem(last=False)
        return len(rows)

    def product(self, market: str, asin: str) -> Product | None:
        return self._products({(market, asin)}).get((market, asin))

    def products(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], Product]:
        """The catalogue rows of (market, asin) ``keys`` in one query; unknown ones are
        absent."""
        return self._products(set(keys))

    def _products(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], Product]:
        keys = list(keys)
        if not keys:
            return {}
        result = self.client.query(
            f"""
            SELECT market, asin, title, image, sold_by, rating, review_count, currency,
                   last_price, availability,
                   toUnixTimestamp64Milli(first_seen), toUnixTimestamp64Milli(last_seen)
            FROM {self.database}.products FINAL
            WHERE (market, asin) IN {{keys:Array(Tuple(String, String))}}
            """,
            parameters={"keys": keys},
        )
        found = {}
        for row in result.result_rows:
            values = dict(zip(_PRODUCT_COLUMNS, row, strict=True))
            values["availability"] = Availability(values["availability"])
            found[(row[0], row[1])] = Product(**values)
        return found


def _merge_product(stored: Product | None, update: Product) -> Product:
    if stored is None:
        first_seen = update.first_seen if update.first_seen is not None else update.last_seen
        return msgspec.structs.replace(update, first_seen=first_seen)
    assert update.last_seen is not None and stored.last_seen is not None
    newer = update if update.last_seen >= stored.last_seen else stored
    older = stored if newer is update else update
    # whoever saw it earliest, even in a stale update, bounds first_seen
    seen = [t for p in (stored, update) for t in (p.first_seen, p.last_seen) if t is not None]
    return Product(
        market=update.market,
        asin=update.asin,
        title=newer.title if newer.title is not None else older.title,
        image=newer.image if newer.image is not None else older.image,
        sold_by=newer.sold_by if newer.sold_by is not None else older.sold_by,
        rating=newer.rating if newer.rating is not None else older.rating,
        review_count=newer.review_count if newer.review_count is not None else older.review_count,
        currency=newer.currency if newer.currency is not None else older.currency,
        last_price=newer.last_price,
        availability=newer.availability,
        first_seen=min(seen),
        last_seen=newer.last_seen,
    )

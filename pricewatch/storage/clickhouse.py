"""ClickHouse access: one client function (embedded chDB or a server) and the price store.

``get_clickhouse(url)`` returns a clickhouse-connect client for either
``chdb:///abs/path`` (an embedded engine in this process, the single-machine default)
or ``http(s)://user:password@host:port/database`` (a server or cluster). The SQL is the
same for both. chDB runs one engine per process and a shared client serialises
queries; it has no async client, so async callers use ``asyncio.to_thread``.

Every table name is qualified with the database, so one client can serve several
databases (production, and one per test).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import clickhouse_connect
from clickhouse_connect.driver.client import Client

from pricewatch.history import (
    DAY_MS,
    NO_STATE,
    Bucket,
    Granularity,
    Opening,
    RollupRow,
    bucket_starts,
    check_range,
    fill_buckets,
    next_bucket,
    parse_granularity,
)
from pricewatch.models import Availability, Observation, Product
from pricewatch.schema.clickhouse_migrations import DEFAULT_DATABASE, check_database_name, migrate

__all__ = [
    "DEFAULT_DATABASE",
    "PRICE_COLUMNS",
    "ClickHouseTarget",
    "PriceStore",
    "database_from_url",
    "get_clickhouse",
    "migrate",
    "parse_clickhouse_url",
]

# ---------------------------------------------------------------------------- client


@dataclasses.dataclass(frozen=True, kw_only=True)
class ClickHouseTarget:
    """Where a ClickHouse URL points: an embedded data directory or a server."""

    kind: str  # "chdb" or "http"
    path: Path | None = None
    host: str | None = None
    port: int | None = None
    username: str = "default"
    password: str = ""
    database: str | None = None
    secure: bool = False


def parse_clickhouse_url(url: str) -> ClickHouseTarget:
    """``chdb:///abs/path`` or ``http(s)://user:pass@host:port/database`` -> target."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "chdb":
        if parts.netloc or not parts.path.startswith("/"):
            raise ValueError(f"chDB URL must be chdb:///absolute/path, got {url!r}")
        return ClickHouseTarget(kind="chdb", path=Path(unquote(parts.path)))
    if scheme in ("http", "https"):
        if not parts.hostname:
            raise ValueError(f"ClickHouse URL has no host: {url!r}")
        secure = scheme == "https"
        try:
            port = parts.port
        except ValueError as exc:
            raise ValueError(f"ClickHouse URL has an invalid port: {url!r}") from exc
        database = unquote(parts.path.strip("/")) or None
        if database is not None:
            check_database_name(database)
        return ClickHouseTarget(
            kind="http",
            host=parts.hostname,
            port=port or (8443 if secure else 8123),
            username=unquote(parts.username) if parts.username else "default",
            password=unquote(parts.password) if parts.password else "",
            database=database,
            secure=secure,
        )
    raise ValueError(f"unsupported ClickHouse URL scheme {parts.scheme!r} in {url!r}")


def database_from_url(url: str) -> str:
    """The database a URL names, or the default one (chDB URLs name a directory only)."""
    return parse_clickhouse_url(url).database or DEFAULT_DATABASE


def get_clickhouse(url: str) -> Client:
    """A clickhouse-connect client for ``url`` (see ``parse_clickhouse_url``).

    For chDB the data directory is created. The client is not bound to the URL's
    database: the database may not exist before ``migrate`` runs, and all our SQL
    qualifies table names anyway.
    """
    target = parse_clickhouse_url(url)
    if target.kind == "chdb":
        assert target.path is not None
        target.path.mkdir(parents=True, exist_ok=True)
        return clickhouse_connect.get_client(dsn=f"chdb://{target.path}")
    return clickhouse_connect.get_client(
        host=target.host,
        port=target.port,
        username=target.username,
        password=target.password,
        secure=target.secure,
    )


# ----------------------------------------------------------------------------- store

PRICE_COLUMNS: tuple[str, ...] = (
    "market",
    "asin",
    "series",
    "observed_at",
    "price",
    "currency",
    "availability",
    "source",
    "reporter",
)
"""Column order of ``PriceStore.insert_prices`` rows (observed_at in integer ms)."""

_OBSERVED_AT = PRICE_COLUMNS.index("observed_at")
_PRICE = PRICE_COLUMNS.index("price")
_ASIN = PRICE_COLUMNS.index("asin")
_MAX_PRICE = 10**12

PriceKey = tuple[str, str, str]
LastState = tuple[int, int | None, str]

_PRODUCT_COLUMNS = (
    "market",
    "asin",
    "title",
    "image",
    "currency",
    "last_price",
    "availability",
    "first_seen",
    "last_seen",
)


def _utc_date(ts_ms: int) -> dt.date:
    return dt.datetime.fromtimestamp(ts_ms // 1000, dt.UTC).date()


def _validate_price_columns(columns: Sequence[Sequence[Any]]) -> None:
    """Cheap checks that catch a wrong column order or unit before anything is written."""
    if len(columns) != len(PRICE_COLUMNS):
        raise ValueError(f"expected {len(PRICE_COLUMNS)} columns {PRICE_COLUMNS}")
    lengths = {len(column) for column in columns}
    if len(lengths) != 1:
        raise ValueError(f"price columns have different lengths: {sorted(lengths)}")
    for i, value in enumerate(columns[_OBSERVED_AT]):
        if type(value) is not int or value < 0:
            raise ValueError(f"row {i}: observed_at must be integer milliseconds, got {value!r}")
    for i, value in enumerate(columns[_PRICE]):
        if value is not None and (type(value) is not int or not 0 <= value <= _MAX_PRICE):
            raise ValueError(f"row {i}: price must be minor units or None, got {value!r}")
    for i, value in enumerate(columns[_ASIN]):
        if type(value) is not str or len(value) != 10:
            raise ValueError(f"row {i}: asin must be a 10-character string, got {value!r}")


class PriceStore:
    """Price history, latest states and catalogue rows in one ClickHouse database.

    The schema must exist (``migrate(client, database)``). Methods are blocking.
    """

    # Products this store wrote lately, kept to merge the next upsert without
    # reading ClickHouse back: one writer (the ingest consumer of a partition)
    # owns a product, so its own last write is the stored row.
    WRITTEN_CACHE_SIZE = 200_000

    def __init__(self, client: Client, database: str = DEFAULT_DATABASE) -> None:
        self.client = client
        self.database = check_database_name(database)
        self._written: OrderedDict[tuple[str, str], Product] = OrderedDict()

    # -- prices

    def insert_prices(
        self,
        rows: Sequence[Sequence[Any]] | Mapping[str, Sequence[Any]],
        dedup_token: str | None = None,
    ) -> int:
        """Store accepted prices; returns the number of rows sent.

        ``rows`` is either a sequence of rows in ``PRICE_COLUMNS`` order (market, asin,
        series, observed_at_ms, price|None, currency, availability, source, reporter), or
        a mapping from each of those column names to a sequence of values (columnar,
        the fastest: about 1 M rows/s on chDB against about 0.3 M/s for rows).

        ``dedup_token`` identifies the batch: inserting again with the same token (a
        replay after a crash) stores nothing, in prices_raw and in its rollups alike.
        Invalid input raises ``ValueError`` before anything is written.
        """
        if isinstance(rows, Mapping):
            missing = set(PRICE_COLUMNS) - set(rows)
            if missing:
                raise ValueError(f"missing price columns: {sorted(missing)}")
            columns: Sequence[Sequence[Any]] = [rows[name] for name in PRICE_COLUMNS]
        else:
            if not rows:
                return 0
            for i, row in enumerate(rows):
                if len(row) != len(PRICE_COLUMNS):
                    raise ValueError(
                        f"row {i} has {len(row)} values, expected {len(PRICE_COLUMNS)} "
                        f"{PRICE_COLUMNS}"
                    )
            columns = list(zip(*rows, strict=True))
        _validate_price_columns(columns)
        return self._insert_price_columns(columns, dedup_token)

    def _insert_price_columns(
        self, columns: Sequence[Sequence[Any]], dedup_token: str | None
    ) -> int:
        count = len(columns[0])
        if count == 0:
            return 0
        settings: dict[str, Any] = {"deduplicate_blocks_in_dependent_materialized_views": 1}
        if dedup_token is not None:
            settings["insert_deduplication_token"] = dedup_token
        self.client.insert(
            f"{self.database}.prices_raw",
            columns,
            column_names=PRICE_COLUMNS,
            column_oriented=True,
            settings=settings,
        )
        return count

    def insert_observations(
        self, observations: Sequence[Observation], dedup_token: str | None = None
    ) -> int:
        """Store accepted observations; see ``insert_prices``.

        The models were validated when decoded, so the per-value checks of
        ``insert_prices`` are skipped: this is ingest's hot path. Enum members
        are str subclasses and go in as they are.
        """
        if not observations:
            return 0
        columns: list[list[Any]] = [
            [o.market for o in observations],
            [o.asin for o in observations],
            [o.series for o in observations],
            [o.observed_at for o in observations],
            [o.price for o in observations],
            [o.currency or "" for o in observations],
            [o.availability for o in observations],
            [o.source for o in observations],
            [o.reporter or "" for o in observations],
        ]
        return self._insert_price_columns(columns, dedup_token)

    def last_accepted(self, keys: Sequence[PriceKey]) -> dict[PriceKey, LastState]:
        """Last stored state per (market, asin, series): (observed_at_ms, price, availability).

        Keys never seen are absent from the result. Reads the small prices_latest table.
        """
        if not keys:
            return {}
        result = self.client.query(
            f"""
            SELECT market, asin, series,
                   toUnixTimestamp64Milli(max(observed_at)),
                   argMax(tuple(price, availability), observed_at)
            FROM {self.database}.prices_latest
            WHERE (market, asin, series) IN {{keys:Array(Tuple(String, String, String))}}
            GROUP BY market, asin, series
            """,
            parameters={"keys": [tuple(key) for key in keys]},
        )
        return {
            (market, asin, series): (at, state[0], state[1])
            for market, asin, series, at, state in result.result_rows
        }

    def existing_points(
        self, points: Sequence[tuple[str, str, str, int]]
    ) -> dict[tuple[str, str, str, int], int | None]:
        """Which of these (market, asin, series, observed_at_ms) are stored, with their price."""
        if not points:
            return {}
        result = self.client.query(
            f"""
            SELECT market, asin, series, toUnixTimestamp64Milli(observed_at), any(price)
            FROM {self.database}.prices_raw
            WHERE (market, asin, series) IN {{keys:Array(Tuple(String, String, String))}}
              AND (market, asin, series, toUnixTimestamp64Milli(observed_at))
                  IN {{points:Array(Tuple(String, String, String, Int64))}}
            GROUP BY market, asin, series, observed_at
            """,
            parameters={
                "keys": sorted({p[:3] for p in points}),
                "points": [tuple(p) for p in points],
            },
        )
        return {(m, a, s, at): price for m, a, s, at, price in result.result_rows}

    def last_accepted_before(self, cutoffs: Mapping[PriceKey, int]) -> dict[PriceKey, LastState]:
        """Last stored state per key strictly before that key's cutoff (ms).

        Ingest asks this when it replays messages after a crash: the rows the
        crashed attempt already wrote are at or after the batch's observations,
        so the state before them is what the replay must compare against.
        """
        if not cutoffs:
            return {}
        keys = list(cutoffs)
        result = self.client.query(
            f"""
            SELECT market, asin, series,
                   toUnixTimestamp64Milli(max(observed_at)),
                   argMax(tuple(price, availability), observed_at)
            FROM {self.database}.prices_raw
            WHERE (market, asin, series) IN {{keys:Array(Tuple(String, String, String))}}
              AND toUnixTimestamp64Milli(observed_at) < transform(
                    concat(market, '|', asin, '|', series),
                    {{names:Array(String)}}, {{cuts:Array(Int64)}}, toInt64(0))
            GROUP BY market, asin, series
            """,
            parameters={
                "keys": [tuple(key) for key in keys],
                "names": ["|".join(key) for key in keys],
                "cuts": [cutoffs[key] for key in keys],
            },
        )
        return {
            (market, asin, series): (at, state[0], state[1])
            for market, asin, series, at, state in result.result_rows
        }

    def price_before(self, market: str, asin: str, series: str, before_ms: int) -> Opening:
        """The state in force just before ``before_ms``: a price, None, or NO_STATE."""
        result = self.client.query(
            f"""
            SELECT price
            FROM {self.database}.prices_raw
            WHERE market = {{market:String}} AND asin = {{asin:String}}
              AND series = {{series:String}}
              AND observed_at < fromUnixTimestamp64Milli({{before:Int64}}, 'UTC')
            ORDER BY observed_at DESC
            LIMIT 1
            """,
            parameters={"market": market, "asin": asin, "series": series, "before": before_ms},
        )
        rows = result.result_rows
        return rows[0][0] if rows else NO_STATE

    def history(
        self,
        market: str,
        asin: str,
        series: str,
        start_ms: int,
        end_ms: int,
        granularity: str | Granularity,
    ) -> list[Bucket]:
        """Chart buckets ``(bucket_start_ms, close, min, max)`` over ``[start_ms, end_ms)``.

        Step semantics, bucket alignment, omitted leading buckets and the meaning of
        ``None`` are described in ``pricewatch.history``. Hourly buckets come from
        prices_hourly; daily, weekly (Monday, UTC) and monthly from prices_daily.
        """
        granularity = parse_granularity(granularity)
        check_range(start_ms, end_ms)
        starts = list(bucket_starts(start_ms, end_ms, granularity))
        first, stop = starts[0], next_bucket(starts[-1], granularity)
        opening = self.price_before(market, asin, series, first)
        rows = self._rollup_rows(market, asin, series, first, stop, granularity)
        return fill_buckets(
            rows, start_ms=start_ms, end_ms=end_ms, granularity=granularity, opening=opening
        )

    def _rollup_rows(
        self,
        market: str,
        asin: str,
        series: str,
        first_ms: int,
        stop_ms: int,
        granularity: Granularity,
    ) -> list[RollupRow]:
        # Buckets are returned as integers (seconds or days since the epoch): chDB may drop
        # the zone of DateTime('UTC') values, integers cannot be misread.
        params: dict[str, Any] = {"market": market, "asin": asin, "series": series}
        if granularity is Granularity.HOURLY:
            table, key, unit_ms = "prices_hourly", "toUInt32(bucket)", 1000
            where = (
                "bucket >= toDateTime({lo:UInt32}, 'UTC') "
                "AND bucket < toDateTime({hi:UInt32}, 'UTC')"
            )
            params |= {"lo": first_ms // 1000, "hi": stop_ms // 1000}
        else:
            table, unit_ms = "prices_daily", DAY_MS
            key = {
                Granularity.DAILY: "toUInt16(bucket)",
                Granularity.WEEKLY: "toUInt16(toMonday(bucket))",
                Granularity.MONTHLY: "toUInt16(toStartOfMonth(bucket))",
            }[granularity]
            where = "bucket >= {lo:Date} AND bucket < {hi:Date}"
            params |= {"lo": _utc_date(first_ms), "hi": _utc_date(stop_ms)}
        result = self.client.query(
            f"""
            SELECT {key} AS slot, min(min_price), max(max_price),
                   nullIf(argMaxMerge(last_state), -1)
            FROM {self.database}.{table}
            WHERE market = {{market:String}} AND asin = {{asin:String}}
              AND series = {{series:String}} AND {where}
            GROUP BY slot
            ORDER BY slot
            """,
            parameters=params,
        )
        return [
            RollupRow(slot * unit_ms, low, high, last)
            for slot, low, high, last in result.result_rows
        ]

    # -- products

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

    def _products(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], Product]:
        keys = list(keys)
        if not keys:
            return {}
        result = self.client.query(
            f"""
            SELECT market, asin, title, image, currency, last_price, availability,
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

    # -- views

    def record_views(self, views: Sequence[tuple[str, str, int, str]]) -> int:
        """Store page views as (market, asin, at_ms, source); counted per day."""
        if not views:
            return 0
        for i, view in enumerate(views):
            if len(view) != 4 or type(view[2]) is not int:
                raise ValueError(f"view {i} must be (market, asin, at_ms, source), got {view!r}")
        self.client.insert(
            f"{self.database}.views",
            [list(view) for view in views],
            column_names=("market", "asin", "at", "source"),
            settings={"deduplicate_blocks_in_dependent_materialized_views": 1},
        )
        return len(views)

    def daily_views(self, market: str, asin: str, since_ms: int) -> dict[int, int]:
        """Views per UTC day (day start in ms) from ``since_ms`` on."""
        result = self.client.query(
            f"""
            SELECT toUInt16(day), sum(views)
            FROM {self.database}.views_daily
            WHERE market = {{market:String}} AND asin = {{asin:String}}
              AND day >= {{since:Date}}
            GROUP BY day
            ORDER BY day
            """,
            parameters={"market": market, "asin": asin, "since": _utc_date(since_ms)},
        )
        return {day * DAY_MS: count for day, count in result.result_rows}


def _merge_product(stored: Product | None, update: Product) -> Product:
    if stored is None:
        first_seen = update.first_seen if update.first_seen is not None else update.last_seen
        return Product(
            market=update.market,
            asin=update.asin,
            title=update.title,
            image=update.image,
            currency=update.currency,
            last_price=update.last_price,
            availability=update.availability,
            first_seen=first_seen,
            last_seen=update.last_seen,
        )
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
        currency=newer.currency if newer.currency is not None else older.currency,
        last_price=newer.last_price,
        availability=newer.availability,
        first_seen=min(seen),
        last_seen=newer.last_seen,
    )

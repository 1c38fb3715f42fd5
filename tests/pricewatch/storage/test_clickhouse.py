"""ClickHouse store on a real embedded chDB engine, one fresh database per test."""

from __future__ import annotations

import random
from decimal import Decimal
from pathlib import Path

import pytest

from pricewatch.history import DAY_MS, HOUR_MS, Granularity
from pricewatch.models import Availability, LastState, Observation, Product, Series, Source
from pricewatch.schema.clickhouse_migrations import applied_versions, load_migrations, migrate
from pricewatch.storage.clickhouse import (
    PRICE_COLUMNS,
    PriceStore,
    another_handle,
    database_from_url,
    embedded,
    parse_clickhouse_url,
)
from tests.pricewatch.test_history import Point, reference_buckets

pytestmark = pytest.mark.clickhouse

T0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z, a Monday


def _row(asin: str, at: int, price: int | None, series: str = "buybox") -> tuple:
    availability = "in_stock" if price is not None else "out_of_stock"
    return ("us", asin, series, at, price, "USD", availability, "crawler", "")


def _count(store: PriceStore, sql: str) -> int:
    return store.client.query(sql.format(db=store.database)).result_rows[0][0]


# ------------------------------------------------------------------------------- URLs


def test_parse_chdb_url() -> None:
    target = parse_clickhouse_url("chdb:///var/lib/pricewatch/clickhouse")
    assert target.kind == "chdb"
    assert target.path == Path("/var/lib/pricewatch/clickhouse")
    assert database_from_url("chdb:///var/lib/pricewatch/clickhouse") == "pricewatch"


def test_parse_http_url() -> None:
    target = parse_clickhouse_url("http://ingest:s%40cret@ch.internal:9000/prices")
    assert (target.kind, target.host, target.port) == ("http", "ch.internal", 9000)
    assert (target.username, target.password) == ("ingest", "s@cret")
    assert (target.database, target.secure) == ("prices", False)


def test_parse_https_url_defaults() -> None:
    target = parse_clickhouse_url("https://ch.example.org")
    assert (target.port, target.secure, target.username, target.password) == (
        8443,
        True,
        "default",
        "",
    )
    assert target.database is None
    assert parse_clickhouse_url("http://localhost").port == 8123


@pytest.mark.parametrize(
    "url,message",
    [
        ("chdb://relative/path", "absolute"),
        ("chdb:relative", "absolute"),
        ("postgres://host/db", "unsupported"),
        ("http:///db", "no host"),
        ("http://host/bad-name;DROP", "invalid ClickHouse database name"),
        ("http://host:99999/db", "invalid port"),
    ],
)
def test_bad_urls_are_rejected(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_clickhouse_url(url)


# ------------------------------------------------------------------------- migrations


def test_migrations_apply_in_order_once(clickhouse_client, clickhouse_database: str) -> None:
    shipped = load_migrations()
    assert [m.version for m in shipped] == list(range(1, len(shipped) + 1))

    applied = migrate(clickhouse_client, clickhouse_database)
    assert [m.version for m in applied] == [m.version for m in shipped]
    assert applied_versions(clickhouse_client, clickhouse_database) == [m.version for m in shipped]
    recorded = clickhouse_client.query(
        f"SELECT version, name FROM {clickhouse_database}.schema_migrations ORDER BY version"
    ).result_rows
    assert recorded == [(m.version, m.name) for m in shipped]
    tables = {
        row[0]
        for row in clickhouse_client.query(
            f"SELECT name FROM system.tables WHERE database = '{clickhouse_database}'"
        ).result_rows
    }
    assert {"prices_raw", "prices_hourly", "prices_daily", "products", "views"} <= tables

    assert migrate(clickhouse_client, clickhouse_database) == []
    assert len(
        clickhouse_client.query(
            f"SELECT * FROM {clickhouse_database}.schema_migrations"
        ).result_rows
    ) == len(shipped)


def test_another_handle_queries_beside_its_client(price_store: PriceStore) -> None:
    client = price_store.client
    other = another_handle(client)
    if not embedded(client.uri):  # a server's client already queries side by side
        assert other is client
        return
    try:
        assert other is not client
        price_store.insert_prices([_row("B0HANDLE01", T0, 1999)])
        with client.query_row_block_stream("SELECT number FROM numbers(100000)") as stream:
            next(iter(stream))
            # the client's own handle is held by its open stream; the other's is free
            # and reaches the same engine and data
            with pytest.raises(Exception, match="stream"):
                client.query("SELECT 1")
            counted = other.query(
                f"SELECT count() FROM {price_store.database}.prices_raw WHERE asin = 'B0HANDLE01'"
            )
            assert counted.result_rows == [(1,)]
    finally:
        other.close()


def test_migrate_rejects_unsafe_database_names(clickhouse_client) -> None:
    with pytest.raises(ValueError, match="invalid ClickHouse database name"):
        migrate(clickhouse_client, "x; DROP DATABASE pricewatch")


# ---------------------------------------------------------------------------- history


def _random_series(rng: random.Random, start: int, days: int) -> list[Point]:
    """Irregular sampling, bursts, gaps of days, repeating prices and NULL stretches."""
    points: list[Point] = []
    t = start + rng.randrange(DAY_MS)
    price: int | None = rng.choice([1999, 2499, 999])
    end = start + days * DAY_MS
    while t < end:
        if rng.random() < 0.15:
            price = rng.choice([None, 899, 999, 1299, 1999, 2499, 2500])
        points.append((t, price))
        gap = rng.choice(
            [
                rng.randrange(1, 60_000),
                rng.randrange(HOUR_MS),
                rng.randrange(8 * HOUR_MS),
                rng.randrange(5 * DAY_MS),
            ]
        )
        t += gap + 1
    return points


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_history_matches_reference(price_store: PriceStore, seed: int) -> None:
    rng = random.Random(seed)
    series = {
        f"B{seed:02d}{i:07d}": _random_series(rng, T0, rng.choice([3, 20, 100])) for i in range(4)
    }
    rows = [_row(asin, t, p) for asin, points in series.items() for t, p in points]
    rng.shuffle(rows)
    # several inserts: readers must merge partial aggregate states themselves
    for i in range(0, len(rows), max(1, len(rows) // 3)):
        price_store.insert_prices(rows[i : i + max(1, len(rows) // 3)])

    for asin, points in series.items():
        for granularity in Granularity:
            span = {"hourly": 3 * DAY_MS, "daily": 40 * DAY_MS}.get(granularity, 150 * DAY_MS)
            for _ in range(3):
                start = T0 + rng.randrange(-5 * DAY_MS, 105 * DAY_MS)
                end = start + rng.randrange(1, span)
                got = price_store.history("us", asin, "buybox", start, end, granularity)
                assert got == reference_buckets(points, start, end, granularity), (
                    asin,
                    granularity,
                    start,
                    end,
                )


def test_history_keeps_series_apart(price_store: PriceStore) -> None:
    price_store.insert_prices(
        [_row("B000000001", T0, 1000), _row("B000000001", T0 + 1, 500, series="used")]
    )
    got = price_store.history("us", "B000000001", "buybox", T0, T0 + DAY_MS, "daily")
    assert [tuple(b) for b in got] == [(T0, 1000, 1000, 1000)]


def test_history_rejects_bad_requests(price_store: PriceStore) -> None:
    with pytest.raises(ValueError, match="unknown granularity"):
        price_store.history("us", "B000000001", "buybox", T0, T0 + 1, "yearly")
    with pytest.raises(ValueError, match="time range"):
        price_store.history("us", "B000000001", "buybox", T0, T0, "daily")


# ----------------------------------------------------------------------- dedup tokens


def test_replayed_batch_is_stored_once(price_store: PriceStore) -> None:
    batch = [_row("B000000001", T0 + i * HOUR_MS, 1000 + i % 3) for i in range(50)]
    assert price_store.insert_prices(batch, dedup_token="stream-0:1-0") == 50
    price_store.insert_prices(batch, dedup_token="stream-0:1-0")

    assert _count(price_store, "SELECT count() FROM {db}.prices_raw") == 50
    assert _count(price_store, "SELECT sum(samples) FROM {db}.prices_hourly") == 50
    assert _count(price_store, "SELECT sum(samples) FROM {db}.prices_daily") == 50
    assert _count(price_store, "SELECT count() FROM {db}.prices_latest") == 1

    # a different batch under its own token is stored
    later = [_row("B000000001", T0 + 100 * HOUR_MS, 900)]
    price_store.insert_prices(later, dedup_token="stream-0:2-0")
    assert _count(price_store, "SELECT count() FROM {db}.prices_raw") == 51
    assert _count(price_store, "SELECT sum(samples) FROM {db}.prices_daily") == 51


def test_exact_duplicate_rows_collapse_on_merge(price_store: PriceStore) -> None:
    row = _row("B000000001", T0, 1000)
    price_store.insert_prices([row], dedup_token="a")
    price_store.insert_prices([row], dedup_token="b")
    assert _count(price_store, "SELECT count() FROM {db}.prices_raw") == 2
    price_store.client.command(f"OPTIMIZE TABLE {price_store.database}.prices_raw FINAL")
    assert _count(price_store, "SELECT count() FROM {db}.prices_raw") == 1


# ------------------------------------------------------------------------ insert input


def test_columnar_insert(price_store: PriceStore) -> None:
    rows = [_row("B000000001", T0 + i, 1000 + i) for i in range(3)]
    columns = {name: [row[i] for row in rows] for i, name in enumerate(PRICE_COLUMNS)}
    assert price_store.insert_prices(columns) == 3
    assert price_store.last_accepted([("us", "B000000001", "buybox")]) == {
        ("us", "B000000001", "buybox"): LastState(T0 + 2, 1002, "in_stock")
    }


@pytest.mark.parametrize(
    "bad,message",
    [
        (("us", "B000000001", "buybox", T0, 1000), "has 5 values"),
        (
            ("us", "B000000001", "buybox", T0 / 1000, 1000, "USD", "in_stock", "crawler", ""),
            "observed_at must be integer milliseconds",
        ),
        (
            ("us", "B000000001", "buybox", T0, "10.00", "USD", "in_stock", "crawler", ""),
            "price must be minor units",
        ),
        (
            ("us", "B00001", "buybox", T0, 1000, "USD", "in_stock", "crawler", ""),
            "asin must be a 10-character string",
        ),
    ],
)
def test_bad_rows_are_rejected_and_nothing_is_written(
    price_store: PriceStore, bad: tuple, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        price_store.insert_prices([_row("B000000002", T0, 1000), bad])
    assert _count(price_store, "SELECT count() FROM {db}.prices_raw") == 0


# ----------------------------------------------------------------------- last_accepted


def test_last_accepted_for_a_batch_of_keys(price_store: PriceStore) -> None:
    price_store.insert_prices(
        [
            _row("B000000001", T0 + 2000, 1500),
            _row("B000000001", T0 + 1000, 1400),
            _row("B000000001", T0 + 3000, 800, series="used"),
            _row("B000000002", T0 + 5000, None),
        ]
    )
    # an older observation arriving late must not become the last state
    price_store.insert_prices([_row("B000000001", T0 + 500, 1300)])
    got = price_store.last_accepted(
        [
            ("us", "B000000001", "buybox"),
            ("us", "B000000001", "used"),
            ("us", "B000000002", "buybox"),
            ("us", "B000000009", "buybox"),
        ]
    )
    assert got == {
        ("us", "B000000001", "buybox"): LastState(T0 + 2000, 1500, "in_stock"),
        ("us", "B000000001", "used"): LastState(T0 + 3000, 800, "in_stock"),
        ("us", "B000000002", "buybox"): LastState(T0 + 5000, None, "out_of_stock"),
    }
    assert price_store.last_accepted([]) == {}


# ---------------------------------------------------------------------------- products


def test_upsert_products_merges_sparse_updates(price_store: PriceStore) -> None:
    assert price_store.product("us", "B000000001") is None
    price_store.upsert_products(
        [
            Product(
                market="us",
                asin="B000000001",
                title="Kettle",
                image="https://img/1.jpg",
                sold_by="Amazon.com",
                rating=Decimal("4.5"),
                review_count=1234,
                currency="USD",
                last_price=2999,
                availability=Availability.IN_STOCK,
                last_seen=T0,
            )
        ]
    )
    # a later report without title/image, now out of stock
    price_store.upsert_products(
        [
            Product(
                market="us",
                asin="B000000001",
                availability=Availability.OUT_OF_STOCK,
                last_seen=T0 + DAY_MS,
            )
        ]
    )
    # a stale update arriving late must not win
    price_store.upsert_products(
        [Product(market="us", asin="B000000001", title="Old title", last_price=1, last_seen=T0 - 1)]
    )
    assert price_store.product("us", "B000000001") == Product(
        market="us",
        asin="B000000001",
        title="Kettle",
        image="https://img/1.jpg",
        sold_by="Amazon.com",
        rating=Decimal("4.5"),
        review_count=1234,
        currency="USD",
        last_price=None,
        availability=Availability.OUT_OF_STOCK,
        first_seen=T0 - 1,
        last_seen=T0 + DAY_MS,
    )


def test_upsert_requires_last_seen(price_store: PriceStore) -> None:
    with pytest.raises(ValueError, match="last_seen is required"):
        price_store.upsert_products([Product(market="us", asin="B000000001")])


# ------------------------------------------------------------------------------- views


def test_views_are_counted_per_day(price_store: PriceStore) -> None:
    # recent enough that the raw-event TTL does not drop them
    import time

    today = int(time.time() * 1000) // DAY_MS * DAY_MS
    price_store.record_views(
        [
            ("us", "B000000001", today + 1, "web"),
            ("us", "B000000001", today + 2, "extension"),
            ("us", "B000000001", today - DAY_MS + 5, "web"),
            ("us", "B000000002", today + 3, "web"),
        ]
    )
    assert price_store.daily_views("us", "B000000001", today - DAY_MS) == {
        today - DAY_MS: 1,
        today: 2,
    }


def test_insert_observations(price_store: PriceStore) -> None:
    observations = [
        Observation(
            market="de",
            asin="B000000001",
            observed_at=T0 + i,
            availability=Availability.IN_STOCK if i else Availability.OUT_OF_STOCK,
            source=Source.EXTENSION,
            series=Series.NEW,
            price=1000 + i if i else None,
            currency="EUR",
            reporter="install-1",
        )
        for i in range(3)
    ]
    assert price_store.insert_observations(observations, dedup_token="t") == 3
    price_store.insert_observations(observations, dedup_token="t")
    stored = price_store.client.query(
        f"SELECT market, asin, series, toUnixTimestamp64Milli(observed_at), price, currency,"
        f" availability, source, reporter FROM {price_store.database}.prices_raw"
        " ORDER BY observed_at"
    ).result_rows
    assert stored == [
        ("de", "B000000001", "new", T0, None, "EUR", "out_of_stock", "extension", "install-1"),
        ("de", "B000000001", "new", T0 + 1, 1001, "EUR", "in_stock", "extension", "install-1"),
        ("de", "B000000001", "new", T0 + 2, 1002, "EUR", "in_stock", "extension", "install-1"),
    ]


def test_histories_of_every_series_at_once_match_each_series_alone(price_store: PriceStore) -> None:
    rng = random.Random(5)
    asin = "B0SERIES01"
    names = ["buybox", "amazon", "new", "used", "list", "sales_rank"]
    points = {name: _random_series(rng, T0 + i * 3 * DAY_MS, 40) for i, name in enumerate(names)}
    rows = [_row(asin, t, p, series=name) for name, pts in points.items() for t, p in pts]
    # another product's rows must stay out
    rows += [_row("B0SERIES02", T0 + HOUR_MS, 1, series="new")]
    rng.shuffle(rows)
    for i in range(0, len(rows), len(rows) // 3 + 1):
        price_store.insert_prices(rows[i : i + len(rows) // 3 + 1])

    for granularity in Granularity:
        span = {"hourly": 3 * DAY_MS, "daily": 40 * DAY_MS}.get(granularity, 150 * DAY_MS)
        for _ in range(4):
            start = T0 + rng.randrange(-5 * DAY_MS, 45 * DAY_MS)
            end = start + rng.randrange(1, span)
            got = price_store.histories("us", asin, start, end, granularity)
            expected = {
                name: reference_buckets(pts, start, end, granularity)
                for name, pts in points.items()
            }
            assert got == {name: b for name, b in expected.items() if b}, (granularity, start)
            for name, buckets in got.items():
                assert buckets == price_store.history("us", asin, name, start, end, granularity)
    # a series seen only before the range is carried into it; ``series`` narrows the answer
    late = T0 + 60 * DAY_MS
    narrowed = price_store.histories("us", asin, late, late + DAY_MS, "daily", ["used", "gone"])
    assert list(narrowed) == ["used"]
    assert narrowed["used"][0].close == points["used"][-1][1]
    assert price_store.histories("us", "B0NOTHERE0", T0, T0 + DAY_MS, "hourly") == {}

"""Storage benchmark: bytes per price point and history() latency on embedded chDB.

Synthetic but realistic data: each product is crawled every 3-8 hours (its own rate)
with a few minutes of jitter, its price changes every few days (a random walk of
discounts and rises) and it is occasionally out of stock for a while, so most samples
repeat the previous price, as on Amazon. The data goes into a fresh chDB directory
through ``PriceStore.insert_prices`` (columnar), tables are merged (OPTIMIZE FINAL) and
the active parts measured.

    .venv/bin/python bench/storage.py [--products 10000] [--days 730] [--compare-layouts]

``--compare-layouts`` also copies prices_raw into a monthly-partitioned table and into
one with the default index granularity, and times the point lookup on each: the
figures behind the layout chosen in pricewatch/schema/clickhouse/0001_prices_raw.sql.
The home page's biggest drops are timed too: found from the window's price changes
(what ingest writes to price_changes, derived here from the same data) against a scan
of the marketplace's whole buy-box history, the way they were first computed.
The last line is ``bytes_per_point=X`` (goal: 3 or less).
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from pricewatch.history import DAY_MS, HOUR_MS
from pricewatch.models import Availability, Product
from pricewatch.storage.clickhouse import PriceStore, get_clickhouse, migrate
from pricewatch.storage.clickhouse.discovery import biggest_drops, drop_of, exact_drops
from pricewatch.storage.clickhouse.prices import CHANGE_COLUMNS

T0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z
MINUTE_MS = 60_000


def product_series(
    rng: np.random.Generator, days: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(observed_at_ms, price, unavailable mask) of one product's buy-box series."""
    interval = rng.uniform(3, 8) * HOUR_MS
    n = int(days * DAY_MS / interval)
    steps = interval + rng.integers(-10 * MINUTE_MS, 10 * MINUTE_MS, n)
    times = T0 + np.cumsum(steps).astype(np.int64)
    times = times[times < T0 + days * DAY_MS]

    change_count = max(1, int(days / rng.uniform(2, 6)))
    change_at = np.sort(rng.integers(T0, T0 + days * DAY_MS, change_count))
    base = int(rng.choice([999, 1499, 1999, 2999, 4999, 9999, 24999]))
    factors = np.clip(1 + np.cumsum(rng.normal(0, 0.04, change_count)), 0.5, 1.5)
    levels = np.round(base * factors).astype(np.int64)
    levels = (levels // 10) * 10 + 9  # prices end in 9, as they do
    out_of_stock = rng.random(change_count) < 0.05

    idx = np.searchsorted(change_at, times, side="right") - 1
    prices = np.where(idx >= 0, levels[np.maximum(idx, 0)], base)
    unavailable = np.where(idx >= 0, out_of_stock[np.maximum(idx, 0)], False)
    return times, prices, unavailable


def generate_batch(rng: np.random.Generator, first: int, count: int, days: int) -> dict[str, list]:
    asins: list[str] = []
    times: list[np.ndarray] = []
    prices: list[np.ndarray] = []
    masks: list[np.ndarray] = []
    for i in range(first, first + count):
        t, p, m = product_series(rng, days)
        asins.extend([f"B{i:09d}"] * len(t))
        times.append(t)
        prices.append(p)
        masks.append(m)
    all_times = np.concatenate(times).tolist()
    all_prices = np.concatenate(prices).tolist()
    all_masks = np.concatenate(masks).tolist()
    n = len(all_times)
    return {
        "market": ["us"] * n,
        "asin": asins,
        "series": ["buybox"] * n,
        "observed_at": all_times,
        "price": [None if gone else p for p, gone in zip(all_prices, all_masks, strict=True)],
        "currency": ["USD"] * n,
        "availability": ["out_of_stock" if gone else "in_stock" for gone in all_masks],
        "source": ["crawler"] * n,
        "reporter": [""] * n,
    }


def _batch_arrays(batch: dict[str, list]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(asin, observed_at, price with -1 for none) of a batch, in its row order."""
    asin = np.asarray(batch["asin"])
    at = np.asarray(batch["observed_at"], dtype=np.int64)
    price = np.asarray([-1 if p is None else p for p in batch["price"]], dtype=np.int64)
    return asin, at, price


def store_changes(store: PriceStore, batch: dict[str, list]) -> int:
    """Store the price changes ingest would have published of a batch (the first
    sighting, then every move of price or availability); returns how many."""
    asin, at, price = _batch_arrays(batch)
    first = np.r_[True, asin[1:] != asin[:-1]]
    moved = np.flatnonzero(first | np.r_[True, price[1:] != price[:-1]])
    before = np.r_[-1, price[:-1]][moved]
    before[first[moved]] = -1
    after = price[moved]
    store.client.insert(
        f"{store.database}.price_changes",
        [
            ["us"] * len(moved),
            ["buybox"] * len(moved),
            at[moved].tolist(),
            asin[moved].tolist(),
            [None if b < 0 else int(b) for b in before],
            [None if a < 0 else int(a) for a in after],
        ],
        column_names=CHANGE_COLUMNS,
        column_oriented=True,
    )
    return len(moved)


def store_catalogue(store: PriceStore, batch: dict[str, list]) -> None:
    """Each product's catalogue row as ingest leaves it after the batch's rows."""
    asin, at, price = _batch_arrays(batch)
    starts = np.flatnonzero(np.r_[True, asin[1:] != asin[:-1]])
    ends = np.r_[starts[1:] - 1, len(asin) - 1]
    store.upsert_products(
        [
            Product(
                market="us",
                asin=str(asin[e]),
                currency="USD",
                last_price=None if price[e] < 0 else int(price[e]),
                availability=Availability.OUT_OF_STOCK if price[e] < 0 else Availability.IN_STOCK,
                first_seen=int(at[s]),
                last_seen=int(at[e]),
            )
            for s, e in zip(starts, ends, strict=True)
        ]
    )


def time_home_drops(store: PriceStore, end: int) -> None:
    """The home page's biggest drops at ``end``: from the window's changes, and by a
    scan of the whole history; they must agree."""
    window = 30 * DAY_MS
    in_window = store.client.query(
        f"SELECT count(), uniqExact(asin) FROM {store.database}.price_changes"
        " WHERE observed_at >= fromUnixTimestamp64Milli({start:Int64}, 'UTC')",
        parameters={"start": end - window},
    ).result_rows[0]
    print(f"home drops: {in_window[0]} changes of {in_window[1]} products in the 30-day window")

    def scan() -> list:
        found = exact_drops(store, "us", end, window, 0.03, DAY_MS, None)
        return sorted(found, key=lambda d: (-drop_of(d), d.asin))[:12]

    def from_changes() -> list:
        return biggest_drops(store, "us", end)

    if from_changes() != scan():
        raise SystemExit("home drops: the two ways disagree")
    time_calls("home drops, from the window's changes", [from_changes], 5)
    time_calls("home drops, scanning the history", [scan], 5)


def table_size(store: PriceStore, table: str) -> tuple[int, int]:
    rows, size = store.client.query(
        "SELECT sum(rows), sum(bytes_on_disk) FROM system.parts"
        " WHERE database = {db:String} AND table = {t:String} AND active",
        parameters={"db": store.database, "t": table},
    ).result_rows[0]
    return int(rows), int(size)


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def time_calls(label: str, calls: list, repeat: int = 1) -> None:
    samples = []
    for call in calls:
        for _ in range(repeat):
            started = time.perf_counter()
            call()
            samples.append((time.perf_counter() - started) * 1000)
    print(
        f"{label}: p50={statistics.median(samples):.2f} ms "
        f"p99={percentile(samples, 0.99):.2f} ms (n={len(samples)})"
    )


def lookup_query(table: str) -> str:
    return (
        f"SELECT price FROM {table} WHERE market = 'us' AND asin = {{asin:String}}"
        " AND series = 'buybox' AND observed_at < fromUnixTimestamp64Milli({before:Int64}, 'UTC')"
        " ORDER BY observed_at DESC LIMIT 1"
    )


def compare_layouts(store: PriceStore, products: int, days: int, rng: random.Random) -> None:
    db = store.database
    variants = {
        "monthly partitions, granularity 1024": "PARTITION BY toYYYYMM(observed_at) "
        "ORDER BY (market, asin, series, observed_at) SETTINGS index_granularity = 1024",
        "unpartitioned, granularity 8192": "ORDER BY (market, asin, series, observed_at) "
        "SETTINGS index_granularity = 8192",
    }
    picks = [
        (f"B{rng.randrange(products):09d}", T0 + rng.randrange(30, days) * DAY_MS)
        for _ in range(300)
    ]
    tables = {"chosen: unpartitioned, granularity 1024": f"{db}.prices_raw"}
    for n, (label, layout) in enumerate(variants.items()):
        table = f"{db}.layout_{n}"
        store.client.command(f"CREATE TABLE {table} AS {db}.prices_raw ENGINE = MergeTree {layout}")
        store.client.command(f"INSERT INTO {table} SELECT * FROM {db}.prices_raw")
        store.client.command(f"OPTIMIZE TABLE {table} FINAL")
        tables[label] = table
    for label, table in tables.items():
        sql = lookup_query(table)
        rows, size = table_size(store, table.split(".", 1)[1])
        time_calls(
            f"price-before lookup, {label} ({size / rows:.2f} B/row)",
            [
                lambda a=asin, b=before, s=sql: store.client.query(  # noqa: B023
                    s, parameters={"asin": a, "before": b}
                )
                for asin, before in picks
            ],
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=730)
    parser.add_argument("--batch-products", type=int, default=500)
    parser.add_argument("--dir", type=Path, default=None, help="chDB directory (default: temp)")
    parser.add_argument("--compare-layouts", action="store_true")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="pricewatch-bench-") as tmp:
        directory = args.dir or Path(tmp) / "clickhouse"
        client = get_clickhouse(f"chdb://{directory.resolve()}")
        migrate(client, "bench")
        store = PriceStore(client, "bench")
        rng = np.random.default_rng(args.seed)

        total, changes, insert_s, generate_s = 0, 0, 0.0, 0.0
        for first in range(0, args.products, args.batch_products):
            count = min(args.batch_products, args.products - first)
            started = time.perf_counter()
            batch = generate_batch(rng, first, count, args.days)
            generate_s += time.perf_counter() - started
            started = time.perf_counter()
            total += store.insert_prices(batch)
            insert_s += time.perf_counter() - started
            changes += store_changes(store, batch)
            store_catalogue(store, batch)
        print(f"points={total} products={args.products} days={args.days} changes={changes}")
        print(
            f"insert: {total / insert_s:,.0f} rows/s "
            f"({insert_s:.1f} s; generate {generate_s:.1f} s)"
        )

        started = time.perf_counter()
        for table in ("prices_raw", "prices_hourly", "prices_daily", "prices_latest"):
            client.command(f"OPTIMIZE TABLE bench.{table} FINAL")
        client.command("OPTIMIZE TABLE bench.price_changes FINAL")
        print(f"optimize final: {time.perf_counter() - started:.1f} s")

        for table in ("prices_hourly", "prices_daily", "prices_latest", "price_changes"):
            rows, size = table_size(store, table)
            print(f"{table}: rows={rows} bytes={size} bytes_per_row={size / max(rows, 1):.2f}")
        columns = client.query(
            "SELECT name, data_compressed_bytes, data_uncompressed_bytes FROM system.columns"
            " WHERE database = 'bench' AND table = 'prices_raw' ORDER BY position"
        ).result_rows
        for name, compressed, uncompressed in columns:
            print(
                f"prices_raw.{name}: {compressed / total:.3f} B/point compressed "
                f"({uncompressed / max(compressed, 1):.0f}x)"
            )

        rng_q = random.Random(args.seed)
        picks = [f"B{rng_q.randrange(args.products):09d}" for _ in range(300)]
        end = T0 + args.days * DAY_MS
        time_calls(
            "history daily, 1 year",
            [
                lambda a=a: store.history("us", a, "buybox", end - 365 * DAY_MS, end, "daily")
                for a in picks
            ],
        )
        time_calls(
            "history hourly, 7 days",
            [
                lambda a=a: store.history("us", a, "buybox", end - 7 * DAY_MS, end, "hourly")
                for a in picks
            ],
        )
        time_calls(
            "history monthly, 2 years",
            [lambda a=a: store.history("us", a, "buybox", T0, end, "monthly") for a in picks],
        )
        time_home_drops(store, end)
        keys = [("us", f"B{rng_q.randrange(args.products):09d}", "buybox") for _ in range(1000)]
        time_calls("last_accepted, 1000 keys", [lambda: store.last_accepted(keys)], repeat=5)
        if args.compare_layouts:
            compare_layouts(store, args.products, args.days, rng_q)

        rows, size = table_size(store, "prices_raw")
        print(f"prices_raw: rows={rows} bytes={size}")
        client.close()
        print(f"bytes_per_point={size / rows:.3f}")


if __name__ == "__main__":
    main()

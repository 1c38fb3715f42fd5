"""Ingest throughput: observations XADDed -> all stored and all changes published.

Starts its own Redis and chDB in a temp dir (``--redis-url`` names another Redis or
a Redis Cluster instead; its ``bench:`` keys are emptied first). A producer process XADDs N
observations (10,000 products, prices moving now and then) while this process
runs the ingest worker; the clock stops when every observation is stored and
every change is on the price-changes stream. Then the same rows go through a
raw clickhouse-connect columnar insert for comparison.

Last line: ``ingest_obs_per_s=N raw_insert_rows_per_s=M ratio=R``.
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import sys
import time
from pathlib import Path

import msgspec

from pricewatch.gc_tuning import freeze_heap
from pricewatch.ingest.worker import IngestWorker
from pricewatch.keys import OBSERVATIONS, PRICE_CHANGES, Keys, partition_of
from pricewatch.models import Observation, PriceChange, decode_many, encode
from pricewatch.storage.clickhouse import PRICE_COLUMNS, migrate
from pricewatch.storage.redis import connect
from pricewatch.storage.streams import FIELD, PartitionedStream

# Run as a script, this file's folder (bench/) comes first on sys.path: the repository
# root takes its place, so that ``bench.common`` imports.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from bench.common import chdb_store, scratch, sighting  # noqa: E402

PARTITIONS = 4


def make_observations(n: int, products: int, seed: int = 1) -> list[Observation]:
    rng = random.Random(seed)
    asins = [f"B{i:09d}" for i in range(products)]
    prices = {a: rng.randint(500, 50_000) for a in asins}
    start = int(time.time() * 1000) - n * 10
    out = []
    for i in range(n):
        asin = asins[i % products]
        if rng.random() < 0.1:  # one sighting in ten sees a new price
            prices[asin] = max(100, prices[asin] + rng.randint(-500, 500))
        out.append(sighting(asin, prices[asin], start + i * 10))
    return out


def group_payloads(
    observations: list[Observation], per_message: int
) -> list[tuple[str, str, bytes]]:
    """Stream entries of ``per_message`` observations each, grouped by partition
    (the producer-side batching the crawler's pipeline does)."""
    if per_message <= 1:
        return [(o.market, o.asin, encode(o)) for o in observations]
    by_partition: dict[int, list[Observation]] = {}
    out: list[tuple[str, str, bytes]] = []
    for o in observations:
        group = by_partition.setdefault(partition_of(o.market, o.asin, PARTITIONS), [])
        group.append(o)
        if len(group) == per_message:
            out.append((o.market, o.asin, msgspec.json.encode(group)))
            group.clear()
    for group in by_partition.values():
        if group:
            out.append((group[0].market, group[0].asin, msgspec.json.encode(group)))
    return out


KEYS = Keys(prefix="bench:")


def produce(url: str, payloads: list[tuple[str, str, bytes]]) -> None:
    stream = PartitionedStream(KEYS, OBSERVATIONS, PARTITIONS, maxlen=10_000_000)
    client = connect(url)
    for i in range(0, len(payloads), 2000):
        stream.publish(client, payloads[i : i + 2000])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--observations", type=int, default=500_000)
    ap.add_argument("--products", type=int, default=10_000)
    ap.add_argument(
        "--per-message",
        type=int,
        default=100,
        help="observations per stream entry (1 = one entry each)",
    )
    ap.add_argument("--redis-url", help="an existing Redis or Redis Cluster")
    args = ap.parse_args()

    observations = make_observations(args.observations, args.products)
    expected_changes = 0
    last: dict[str, int] = {}
    for o in observations:
        if last.get(o.asin) != o.price:
            expected_changes += 1
            last[o.asin] = o.price
    payloads = group_payloads(observations, args.per_message)

    with scratch() as (tmp, url):
        url = args.redis_url or url
        store = chdb_store(tmp / "ch", "bench")
        client = store.client
        redis_client = connect(url)
        for key in list(redis_client.scan_iter(match=f"{KEYS.prefix}*")):
            redis_client.delete(key)
        worker = IngestWorker(
            redis_client,
            KEYS,
            store,
            partitions=PARTITIONS,
            consumer="bench",
            batch_size=50_000,
            batch_ms=100,
            maxlen=10_000_000,
        )
        changes = PartitionedStream(KEYS, PRICE_CHANGES, PARTITIONS)
        producer = multiprocessing.get_context("fork").Process(target=produce, args=(url, payloads))
        freeze_heap()  # as the ingest role does once its worker is built
        started = time.perf_counter()
        producer.start()
        accepted = 0
        while accepted < len(observations):
            batch = worker.next_batch()
            if batch:
                accepted += worker.process_batch(batch).accepted
        elapsed = time.perf_counter() - started
        producer.join()
        produced = sum(
            len(decode_many(fields[FIELD], PriceChange))
            for key in changes.stream_keys()
            for _, fields in redis_client.xrange(key)
        )
        assert produced == expected_changes, (produced, expected_changes)
        assert worker.reader.pending_count() == 0
        stored = client.query("SELECT count() FROM bench.prices_raw").result_rows[0][0]
        assert stored == len(observations), stored
        ingest_rate = len(observations) / elapsed
        print(
            f"ingest: {len(observations)} observations in {len(payloads)} stream entries, "
            f"{expected_changes} changes in {elapsed:.2f}s"
        )

        migrate(client, "bench_raw")
        columns = {
            "market": [o.market for o in observations],
            "asin": [o.asin for o in observations],
            "series": ["buybox"] * len(observations),
            "observed_at": [o.observed_at for o in observations],
            "price": [o.price for o in observations],
            "currency": ["USD"] * len(observations),
            "availability": ["in_stock"] * len(observations),
            "source": ["crawler"] * len(observations),
            "reporter": [""] * len(observations),
        }
        started = time.perf_counter()
        client.insert(
            "bench_raw.prices_raw",
            [columns[c] for c in PRICE_COLUMNS],
            column_names=PRICE_COLUMNS,
            column_oriented=True,
        )
        raw_rate = len(observations) / (time.perf_counter() - started)
        client.close()
    print(
        f"ingest_obs_per_s={ingest_rate:.0f} raw_insert_rows_per_s={raw_rate:.0f} "
        f"ratio={ingest_rate / raw_rate:.2f}"
    )


if __name__ == "__main__":
    main()

"""Alerts benchmark: observation-to-inbox latency and the fan-out of one drop.

1. Latency: ``--events`` products with one subscriber each. For each, an
   observation with a price below the threshold is XADDed to ``observations``;
   the IngestWorker (chDB) turns it into a PriceChange, the alerts worker sends
   the e-mail, and an SMTP sink in another process notes when it accepted it.
   Latency = acceptance time - XADD time (p50, p99; goal p99 < 3,000 ms).
2. Fan-out: one product with ``--fanout`` subscribers (SQLite) drops below all
   thresholds; the time from XADD of the change to the sink having accepted
   every e-mail (goal <= 30 s).

    .venv/bin/python bench/alerts.py [--events 1000] [--rate 50] [--fanout 100000]

The last line is ``alert_p50_ms=A alert_p99_ms=B fanout_100k_s=C``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import threading
import time
from pathlib import Path

import msgspec

from pricewatch.ingest.worker import IngestWorker
from pricewatch.keys import OBSERVATIONS, PRICE_CHANGES, Keys
from pricewatch.models import PriceChange
from pricewatch.storage.redis import connect
from pricewatch.storage.streams import PartitionedStream

# Run as a script, this file's folder (bench/) comes first on sys.path, where this
# module, alerts.py, would shadow the ``alerts`` package it measures: the repository
# root takes its place (and makes ``bench.common`` importable).
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from bench import common  # noqa: E402

PARTITIONS = 4


# --- 1. latency -------------------------------------------------------------------------------


def bench_latency(tmp: Path, redis_url: str, events: int, rate: float) -> tuple[float, float]:
    sink = common.Sink.start(record_times=True)
    settings = common.alerts_settings(tmp, "lat", sink.port, partitions=PARTITIONS)
    keys = Keys(settings.key_prefix)
    asins = [f"B{i:09d}" for i in range(events)]
    by_sub = asyncio.run(
        common.seed_subscriptions(
            settings.database_url, "bench@example.com", asins, threshold=100_00
        )
    )
    client = connect(redis_url)
    store = common.chdb_store(tmp / "ch", "bench")
    ingest = IngestWorker(client, keys, store, partitions=PARTITIONS, consumer="bench", batch_ms=20)
    observations = PartitionedStream(keys, OBSERVATIONS, PARTITIONS)
    t0 = int(time.time() * 1000) - 10 * 60_000

    def observe(asin: str, price: int, at: int) -> None:
        sighting = common.sighting(asin, price, at, title=f"Product {asin}")
        observations.publish(client, [(common.MARKET, asin, sighting)])

    # every product first seen above its threshold (no alert)
    for asin in asins:
        observe(asin, 150_00, t0)
    seeded = 0
    while seeded < events:
        seeded += ingest.process_batch(ingest.next_batch()).messages
    stop_ingest = threading.Event()
    ingest_thread = threading.Thread(target=ingest.run, args=(stop_ingest,), daemon=True)
    ingest_thread.start()
    sent_at: dict[str, float] = {}
    received: dict[str, float] = {}
    with common.alerts_role(settings, redis_url):
        for i, asin in enumerate(asins):
            sent_at[asin] = time.time()
            observe(asin, 90_00, t0 + 60_000 + i)
            time.sleep(1 / rate)
        deadline = time.time() + 60
        while len(received) < events and time.time() < deadline:
            try:
                key, at = sink.times.get(timeout=1)
            except Exception:
                continue
            received[by_sub[int(key.split(":")[0])]] = at
        # Stream entry ids are XADD times in ms: split the latency at price-changes.
        change_at: dict[str, float] = {}
        for key in PartitionedStream(keys, PRICE_CHANGES, PARTITIONS).stream_keys():
            for entry_id, fields in client.xrange(key):
                change = msgspec.json.decode(fields[b"d"], type=PriceChange)
                if change.new_price == 90_00:
                    change_at[change.asin] = int(entry_id.split(b"-")[0]) / 1000
        split = sorted(
            ((change_at[a] - sent_at[a]) * 1000, (received[a] - change_at[a]) * 1000)
            for a in received
            if a in change_at
        )
        if split:
            ingest_ms = statistics.median(x for x, _ in split)
            alerts_ms = statistics.median(y for _, y in split)
            print(
                f"p50 observation->change {ingest_ms:.0f} ms, change->accepted {alerts_ms:.0f} ms"
            )
    stop_ingest.set()
    ingest_thread.join(30)
    sink.stop()
    store.client.close()
    if len(received) < events:
        print(f"only {len(received)} of {events} alerts arrived within 60 s")
    latencies = [(received[a] - sent_at[a]) * 1000 for a in received]
    p50, p99 = common.p50_p99(latencies)
    print(
        f"latency over {len(latencies)} alerts: p50 {p50:.0f} ms, p99 {p99:.0f} ms, "
        f"max {max(latencies):.0f} ms"
    )
    return p50, p99


# --- 2. fan-out -------------------------------------------------------------------------------


def bench_fanout(tmp: Path, redis_url: str, subscribers: int) -> float:
    sink = common.Sink.start(record_times=False)
    settings = common.alerts_settings(
        tmp,
        "fan",
        sink.port,
        partitions=PARTITIONS,
        PRICEWATCH_SMTP_CONNECTIONS="16",
        PRICEWATCH_ALERT_CONCURRENCY="64",
    )
    asin = "B0FANOUT01"
    t = time.perf_counter()
    asyncio.run(
        common.seed_subscriptions(
            settings.database_url, "bench@example.com", [asin] * subscribers, threshold=100_00
        )
    )
    print(f"{subscribers} subscriptions created in {time.perf_counter() - t:.1f} s")
    client = connect(redis_url)
    with common.alerts_role(settings, redis_url):
        start = common.publish_drop(client, settings, asin, new_price=89_99, old_price=120_00)
        deadline = start + 600
        last_report = start
        while sink.count.value < subscribers and time.time() < deadline:
            time.sleep(0.05)
            if time.time() - last_report > 5:
                last_report = time.time()
                print(f"  {sink.count.value} sent after {last_report - start:.0f} s")
        elapsed = time.time() - start
        print(
            f"fan-out: {sink.count.value} e-mails in {elapsed:.1f} s "
            f"({sink.count.value / elapsed:.0f}/s)"
        )
    sink.stop()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--fanout", type=int, default=100_000)
    # drops per second; the design's average is ~12 notifications/s (1 M/day)
    parser.add_argument("--rate", type=float, default=50.0)
    args = parser.parse_args()
    with common.scratch() as (tmp, redis_url):
        # --events 0 measures the fan-out alone (for profiling it)
        p50, p99 = (
            bench_latency(tmp, redis_url, args.events, args.rate) if args.events else (0.0, 0.0)
        )
        fanout = bench_fanout(tmp, redis_url, args.fanout)
    print(f"alert_p50_ms={p50:.0f} alert_p99_ms={p99:.0f} fanout_100k_s={fanout:.1f}")


if __name__ == "__main__":
    main()

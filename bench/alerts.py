"""Alerts benchmark: observation-to-inbox latency and the fan-out of one drop.

1. Latency: ``--events`` products with one subscriber each. For each, an
   observation with a price below the threshold is XADDed to ``observations``;
   the IngestWorker (chDB) turns it into a PriceChange, the alerts worker sends
   the e-mail, and an SMTP sink in another process notes when it accepted it.
   Latency = acceptance time - XADD time (p50, p99; goal p99 < 3,000 ms), measured
   once the alerts worker has handled the products' first sightings. As
   ``pricewatch up`` runs them, ingest and the alerts role share this process's chDB
   client, and e-mails carry their price chart (``--no-charts``: without). Hooks
   around the workers' steps (installed by this benchmark only) time each alert's
   way; the slowest 1 % are printed segment by segment, with the garbage
   collector's pauses.
2. Fan-out: one product with ``--fanout`` subscribers (SQLite) drops below all
   thresholds; the time from XADD of the change to the sink having accepted
   every e-mail (goal <= 30 s).

    .venv/bin/python bench/alerts.py [--events 1000] [--rate 50] [--fanout 100000]
        [--no-charts]

The last line is ``p50_ms=A p99_ms=B fanout_100k_s=C`` and the mean of each segment
over the slowest 1 % of alerts, ``tail_<segment>_ms=...`` (see ``SEGMENTS``), with
``tail_gc_ms``, the collector's pauses during them.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import gc
import statistics
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import msgspec
import redis

from pricewatch.ingest.worker import IngestWorker
from pricewatch.keys import ALERTS_GROUP, INGEST_GROUP, OBSERVATIONS, PRICE_CHANGES, Keys
from pricewatch.models import PriceChange, decode_many
from pricewatch.settings import Settings
from pricewatch.storage.clickhouse import DEFAULT_DATABASE, PriceStore
from pricewatch.storage.redis import connect
from pricewatch.storage.streams import GroupReader, Message, PartitionedStream

# Run as a script, this file's folder (bench/) comes first on sys.path, where this
# module, alerts.py, would shadow the ``alerts`` package it measures: the repository
# root takes its place (and makes ``bench.common`` importable).
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from bench import common  # noqa: E402

PARTITIONS = 4
# the price every product drops to, below its subscriber's threshold
DROP = 90_00


# --- where the time goes -----------------------------------------------------------------

# (segment, stage it starts at, stage it ends at), in the order an alert passes them
SEGMENTS: tuple[tuple[str, str, str], ...] = (
    # XADD of the observation until ingest's read returns it
    ("stream", "sent", "ingest_read"),
    # decode, state from Redis, checks and change detection
    ("prep", "ingest_read", "insert_start"),
    # prices_raw and its materialized views
    ("insert", "insert_start", "insert_end"),
    # the catalogue row
    ("upsert", "insert_end", "upsert_end"),
    # the transaction that publishes the change and acks the observation
    ("publish", "upsert_end", "published"),
    # the change on price-changes until the alerts worker's read returns it
    ("read", "published", "alerts_read"),
    # behind what was read before it in its batch (a re-check ends a run of changes)
    ("behind", "alerts_read", "match_start"),
    # its run of changes matched until its alert is claimed: the rounds' transactions
    # (re-arm, due pages, claim, disarm) up to its own
    ("match", "match_start", "match_end"),
    # in the e-mail queue until a sender takes it
    ("queue", "match_end", "deliver"),
    # the history read for the e-mail's chart
    ("chart", "deliver", "chart_end"),
    # the message rendered (the chart's PNG with it)
    ("render", "chart_end", "rendered"),
    # SMTP until the sink accepted it
    ("smtp", "rendered", "accepted"),
)


class Trace:
    """When each traced product's alert passed each stage (``time.time()``), from hooks
    the latency benchmark puts around the workers' steps; and the garbage collector's
    pauses in this process. Only the benchmark installs it: the code measured is
    unchanged."""

    def __init__(self, price: int) -> None:
        # only the changes to this price are traced (not the first sightings)
        self.price = price
        self.at: dict[str, dict[str, float]] = collections.defaultdict(dict)
        self.on = False
        self.gc_pauses: list[tuple[float, float]] = []
        self._gc_start = 0.0

    def mark(self, priced: Iterable[tuple[str, int | None]], stage: str) -> None:
        """``stage`` passed now by the (asin, price) of ``priced`` at the traced price."""
        if not self.on:
            return
        at = time.time()
        for asin, price in priced:
            if price != self.price:
                continue
            # the first time counts (a replay or a retry would come later)
            self.at[asin].setdefault(stage, at)

    def _gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._gc_start = time.perf_counter()
        elif self.on:
            self.gc_pauses.append((time.time(), time.perf_counter() - self._gc_start))

    def segments(self, asin: str) -> dict[str, float] | None:
        """Milliseconds spent in each segment by ``asin``'s alert; None when a stage is
        missing (a chart not read counts 0)."""
        at = dict(self.at.get(asin, {}))
        at.setdefault("chart_end", at.get("deliver", 0.0))
        if any(stage not in at for _, start, end in SEGMENTS for stage in (start, end)):
            return None
        return {name: (at[end] - at[start]) * 1000 for name, start, end in SEGMENTS}

    def gc_ms(self, start: float, end: float) -> float:
        """Milliseconds of collector pauses that ended between ``start`` and ``end``."""
        return sum(d for at, d in self.gc_pauses if start <= at <= end) * 1000

    @contextlib.contextmanager
    def installed(self, store: PriceStore) -> Iterator[None]:
        """The hooks, on the classes (and ``store``) for the duration of the block."""
        from alerts.channels import email
        from alerts.charts import ChartReader
        from alerts.worker import AlertsWorker

        trace = self
        patches: list[tuple[Any, str, Any]] = []

        def patch(owner: Any, name: str, wrapper: Any) -> None:
            patches.append((owner, name, getattr(owner, name)))
            setattr(owner, name, wrapper)

        read_next = GroupReader.next

        def next_(reader: GroupReader) -> list[Message]:
            messages = read_next(reader)
            if messages and reader.group in (INGEST_GROUP, ALERTS_GROUP):
                stage = "ingest_read" if reader.group == INGEST_GROUP else "alerts_read"
                trace.mark((p for m in messages for p in _priced(m.data, stage)), stage)
            return messages

        patch(GroupReader, "next", next_)

        insert = store.insert_observations
        upsert = store.upsert_products

        def insert_observations(observations: Sequence[Any], dedup_token: str | None = None) -> int:
            priced = [(o.asin, o.price) for o in observations]
            trace.mark(priced, "insert_start")
            try:
                return insert(observations, dedup_token)
            finally:
                trace.mark(priced, "insert_end")

        def upsert_products(products: Sequence[Any]) -> int:
            try:
                return upsert(products)
            finally:
                trace.mark(((p.asin, p.last_price) for p in products), "upsert_end")

        patch(store, "insert_observations", insert_observations)
        patch(store, "upsert_products", upsert_products)

        commit = IngestWorker.commit

        def commit_(worker: IngestWorker, messages: Sequence[Message], outcome: Any) -> None:
            commit(worker, messages, outcome)
            trace.mark(((c.asin, c.new_price) for c in outcome.changes), "published")

        patch(IngestWorker, "commit", commit_)

        handle_changes = AlertsWorker.handle_changes

        async def handle_changes_(worker: AlertsWorker, changes: Sequence[PriceChange]) -> int:
            trace.mark(((c.asin, c.new_price) for c in changes), "match_start")
            return await handle_changes(worker, changes)

        patch(AlertsWorker, "handle_changes", handle_changes_)

        enqueue = AlertsWorker._enqueue

        async def enqueue_(worker: AlertsWorker, jobs: Sequence[Any]) -> int:
            # a change's alerts are claimed once its round's transaction commits
            trace.mark(((j.notice.asin, j.notice.new_price) for j in jobs), "match_end")
            return await enqueue(worker, jobs)

        patch(AlertsWorker, "_enqueue", enqueue_)

        deliver = AlertsWorker.deliver

        async def deliver_(worker: AlertsWorker, job: Any) -> str:
            trace.mark([(job.notice.asin, job.notice.new_price)], "deliver")
            return await deliver(worker, job)

        patch(AlertsWorker, "deliver", deliver_)

        with_chart = ChartReader.with_chart

        async def with_chart_(reader: ChartReader, notice: Any) -> Any:
            try:
                return await with_chart(reader, notice)
            finally:
                trace.mark([(notice.asin, notice.new_price)], "chart_end")

        patch(ChartReader, "with_chart", with_chart_)

        email_bytes = email.email_bytes

        def email_bytes_(notice: Any, *args: Any, **kwargs: Any) -> bytes:
            try:
                return email_bytes(notice, *args, **kwargs)
            finally:
                trace.mark([(notice.asin, notice.new_price)], "rendered")

        patch(email, "email_bytes", email_bytes_)
        gc.callbacks.append(self._gc)
        try:
            yield
        finally:
            gc.callbacks.remove(self._gc)
            for owner, name, original in reversed(patches):
                if owner is store:
                    delattr(store, name)
                else:
                    setattr(owner, name, original)


def _priced(data: bytes, stage: str) -> list[tuple[str, int | None]]:
    """(asin, price) of the observations or (at ``alerts_read``) the price changes an
    entry holds (one, or an array of them)."""
    if stage == "alerts_read":
        return [(c.asin, c.new_price) for c in decode_many(data, _Change)]
    return [(o.asin, o.price) for o in decode_many(data, _Observed)]


class _Observed(msgspec.Struct):
    asin: str
    price: int | None = None


class _Change(msgspec.Struct):
    asin: str
    new_price: int | None = None


def breakdown(trace: Trace, sent_at: dict[str, float], received: dict[str, float]) -> str:
    """Mean milliseconds per segment over the slowest 1 % of alerts (at least one),
    and the median over all, as ``name=ms`` pairs; printed with the worst ones."""
    for asin, at in sent_at.items():
        trace.at[asin]["sent"] = at
    for asin, at in received.items():
        trace.at[asin]["accepted"] = at
    traced = {a: s for a in received if (s := trace.segments(a)) is not None}
    if not traced:
        return ""
    slowest = sorted(traced, key=lambda a: received[a] - sent_at[a])
    tail = slowest[-max(1, len(slowest) // 100) :]
    names = [name for name, _, _ in SEGMENTS]
    print(
        f"median over {len(traced)} alerts (ms): "
        + "  ".join(f"{n} {statistics.median(traced[a][n] for a in traced):.0f}" for n in names)
    )
    print(f"slowest {len(tail)} (ms): total = " + " + ".join(names) + " | gc pauses")
    for asin in tail:
        s = traced[asin]
        print(
            f"  {(received[asin] - sent_at[asin]) * 1000:6.0f} = "
            + " ".join(f"{s[n]:.0f}" for n in names)
            + f" | gc {trace.gc_ms(sent_at[asin], received[asin]):.0f}"
        )
    gc_total = sum(d for _, d in trace.gc_pauses) * 1000
    longest = max((d for _, d in trace.gc_pauses), default=0) * 1000
    print(f"gc: {len(trace.gc_pauses)} pauses, {gc_total:.0f} ms in all, longest {longest:.0f} ms")
    means = {n: statistics.mean(traced[a][n] for a in tail) for n in names}
    gc_tail = statistics.mean(trace.gc_ms(sent_at[a], received[a]) for a in tail)
    return " ".join(f"tail_{n}_ms={means[n]:.0f}" for n in names) + f" tail_gc_ms={gc_tail:.0f}"


@contextlib.contextmanager
def alerts_role(settings: Settings, redis_url: str, clickhouse_client: Any) -> Iterator[None]:
    """``common.alerts_role`` with this process's ClickHouse client handed over, as
    ``pricewatch up`` does (the e-mails' charts read it)."""
    from alerts.service import run

    stop = threading.Event()
    thread = threading.Thread(
        target=run, args=(settings, redis_url, stop, clickhouse_client), daemon=True
    )
    thread.start()
    # the consumer groups exist once the worker has read once
    time.sleep(2.0)
    try:
        yield
    finally:
        stop.set()
        thread.join(60)


def wait_handled(client: redis.Redis, keys: Keys, timeout_s: float = 300.0) -> None:
    """Until the alerts worker has read and acked everything on price-changes."""
    stream = PartitionedStream(keys, PRICE_CHANGES, PARTITIONS)
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        groups = [g for key in stream.stream_keys() for g in client.xinfo_groups(key)]
        alerts = [g for g in groups if g["name"] in (ALERTS_GROUP, ALERTS_GROUP.encode())]
        if alerts and all(g["lag"] == 0 and g["pending"] == 0 for g in alerts):
            return
        time.sleep(0.2)
    raise RuntimeError("the alerts worker did not catch up with the first sightings")


# --- 1. latency -------------------------------------------------------------------------------


def bench_latency(
    tmp: Path, redis_url: str, events: int, rate: float, charts: bool
) -> tuple[float, float, str]:
    sink = common.Sink.start(record_times=True)
    settings = common.alerts_settings(
        tmp,
        "lat",
        sink.port,
        partitions=PARTITIONS,
        PRICEWATCH_CLICKHOUSE_URL=f"chdb://{tmp / 'ch'}",
    )
    keys = Keys(settings.key_prefix)
    asins = [f"B{i:09d}" for i in range(events)]
    by_sub = asyncio.run(
        common.seed_subscriptions(
            settings.database_url, "bench@example.com", asins, threshold=100_00
        )
    )
    client = connect(redis_url)
    store = common.chdb_store(tmp / "ch", DEFAULT_DATABASE)
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
    trace = Trace(DROP)
    stop_ingest = threading.Event()
    ingest_thread = threading.Thread(target=ingest.run, args=(stop_ingest,), daemon=True)
    sent_at: dict[str, float] = {}
    received: dict[str, float] = {}
    with trace.installed(store), alerts_role(settings, redis_url, store.client if charts else None):
        ingest_thread.start()
        # the first sightings' changes are setup, not load: handled before the clock starts
        wait_handled(client, keys)
        trace.on = True
        for i, asin in enumerate(asins):
            sent_at[asin] = time.time()
            observe(asin, DROP, t0 + 60_000 + i)
            time.sleep(1 / rate)
        deadline = time.time() + 60
        while len(received) < events and time.time() < deadline:
            try:
                key, at = sink.times.get(timeout=1)
            except Exception:
                continue
            received[by_sub[int(key.split(":")[0])]] = at
        trace.on = False
        stop_ingest.set()
        ingest_thread.join(30)
    sink.stop()
    store.client.close()
    if len(received) < events:
        print(f"only {len(received)} of {events} alerts arrived within 60 s")
    latencies = [(received[a] - sent_at[a]) * 1000 for a in received]
    p50, p99 = common.p50_p99(latencies)
    print(
        f"latency over {len(latencies)} alerts{'' if charts else ' (no charts)'}: "
        f"p50 {p50:.0f} ms, p99 {p99:.0f} ms, max {max(latencies):.0f} ms"
    )
    return p50, p99, breakdown(trace, sent_at, received)


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
    parser.add_argument(
        "--no-charts", dest="charts", action="store_false", help="e-mails without their chart"
    )
    args = parser.parse_args()
    with common.scratch() as (tmp, redis_url):
        # --events 0 measures the fan-out alone (for profiling it), --fanout 0 the latency
        p50, p99, tail = (
            bench_latency(tmp, redis_url, args.events, args.rate, args.charts)
            if args.events
            else (0.0, 0.0, "")
        )
        fanout = bench_fanout(tmp, redis_url, args.fanout) if args.fanout else 0.0
    print(f"p50_ms={p50:.0f} p99_ms={p99:.0f} fanout_100k_s={fanout:.1f} {tail}".rstrip())


if __name__ == "__main__":
    main()

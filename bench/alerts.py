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
import dataclasses
import multiprocessing as mp
import socket
import statistics
import sys
import tempfile
import threading
import time
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path
from typing import Any

import msgspec

from pricewatch.ingest.worker import IngestWorker
from pricewatch.keys import OBSERVATIONS, PRICE_CHANGES, Keys
from pricewatch.models import Availability, Observation, PriceChange, Series, Source
from pricewatch.settings import load_settings
from pricewatch.storage import sql
from pricewatch.storage.clickhouse import PriceStore, get_clickhouse, migrate
from pricewatch.storage.local_redis import local_redis
from pricewatch.storage.redis import connect
from pricewatch.storage.sql_schema import subscriptions
from pricewatch.storage.sql_subscriptions import new_subscription_values
from pricewatch.storage.streams import PartitionedStream

# Run as a script, this file's folder (bench/) comes first on sys.path, and
# this module, alerts.py, would shadow the ``alerts`` package it measures.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path.pop(0)

PARTITIONS = 4
KEY_HEADER = b"X-Pricewatch-Key: "


# --- the SMTP sink (its own process) ------------------------------------------------------


class _SinkProtocol(asyncio.Protocol):
    """Just enough SMTP to accept mail fast: the sink must not be what is
    measured (aiosmtpd tops out near 600 messages/s on one core here)."""

    def __init__(self, count: Synchronized[int], times: Any) -> None:
        self.count = count
        self.times = times
        self.buffer = b""
        self.in_data = False

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        transport.write(b"220 sink ESMTP\r\n")

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        replies: list[bytes] = []
        while True:
            if self.in_data:
                end = self.buffer.find(b"\r\n.\r\n")
                if end < 0:
                    break
                self._accept(self.buffer[:end])
                self.buffer = self.buffer[end + 5 :]
                self.in_data = False
                replies.append(b"250 OK\r\n")
                continue
            line_end = self.buffer.find(b"\r\n")
            if line_end < 0:
                break
            verb = self.buffer[:4].upper()
            self.buffer = self.buffer[line_end + 2 :]
            if verb in (b"EHLO", b"HELO"):
                replies.append(b"250-sink\r\n250-PIPELINING\r\n250 8BITMIME\r\n")
            elif verb == b"DATA":
                self.in_data = True
                replies.append(b"354 go ahead\r\n")
            elif verb == b"QUIT":
                replies.append(b"221 bye\r\n")
                self.transport.write(b"".join(replies))
                self.transport.close()
                return
            else:
                replies.append(b"250 OK\r\n")
        if replies:
            self.transport.write(b"".join(replies))

    def _accept(self, content: bytes) -> None:
        if self.times is not None:
            start = content.find(KEY_HEADER)
            if start >= 0:
                end = content.find(b"\r\n", start)
                self.times.put((content[start + len(KEY_HEADER) : end].decode(), time.time()))
        with self.count.get_lock():
            self.count.value += 1


def _sink(port: int, count: Synchronized[int], times: Any, ready: Any) -> None:
    async def serve() -> None:
        loop = asyncio.get_running_loop()
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        server = await loop.create_server(
            lambda: _SinkProtocol(count, times), sock=sock, backlog=512
        )
        ready.set()
        async with server:
            await server.serve_forever()

    asyncio.run(serve())


@dataclasses.dataclass
class Sink:
    port: int
    count: Synchronized[int]
    times: Any
    process: mp.Process

    @classmethod
    def start(cls, record_times: bool) -> Sink:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        ctx = mp.get_context("spawn")
        count = ctx.Value("q", 0)
        times = ctx.Queue() if record_times else None
        ready = ctx.Event()
        process = ctx.Process(target=_sink, args=(port, count, times, ready), daemon=True)
        process.start()
        if not ready.wait(30):
            raise RuntimeError("the SMTP sink did not start")
        return cls(port, count, times, process)

    def stop(self) -> None:
        self.process.terminate()
        self.process.join(5)


# --- helpers --------------------------------------------------------------------------------


def _settings(tmp: Path, name: str, sink_port: int, **extra: str) -> Any:
    env = {
        "PRICEWATCH_DATA_DIR": str(tmp / name),
        "PRICEWATCH_DATABASE_URL": f"sqlite+aiosqlite:///{tmp / name}/pw.db",
        "PRICEWATCH_STREAM_PARTITIONS": str(PARTITIONS),
        "PRICEWATCH_KEY_PREFIX": f"{name}:",
        "PRICEWATCH_SMTP_HOST": "127.0.0.1",
        "PRICEWATCH_SMTP_PORT": str(sink_port),
        "PRICEWATCH_SMTP_TLS": "none",
        "PRICEWATCH_ALERT_SECRET": "bench",
        "PRICEWATCH_ALERTS_CONSUMER": "bench",
        **extra,
    }
    return load_settings(env)


async def _subscribe(
    url: str, asins: list[str], per_product: int, threshold: int
) -> dict[int, str]:
    """Bulk-insert subscriptions; returns subscription id -> asin."""
    await sql.migrate_sql_async(url)
    engine = sql.create_engine(url)
    try:
        user = await sql.create_user(engine, "bench@example.com", "h")
        now = int(time.time() * 1000)
        rows = [
            new_subscription_values(
                user_id=user.id,
                market="us",
                asin=asin,
                notification_type="EMAIL",
                threshold=threshold,
                now=now,
            )
            for asin in asins
            for _ in range(per_product)
        ]
        async with engine.begin() as conn:
            for start in range(0, len(rows), 2_000):
                await conn.execute(subscriptions.insert(), rows[start : start + 2_000])
        async with engine.connect() as conn:
            result = await conn.exec_driver_sql("SELECT id, asin FROM subscriptions")
            return {int(r[0]): str(r[1]) for r in result}
    finally:
        await engine.dispose()


def _start_alerts(settings: Any, redis_url: str) -> tuple[threading.Thread, threading.Event]:
    from alerts.service import run

    stop = threading.Event()
    thread = threading.Thread(target=run, args=(settings, redis_url, stop), daemon=True)
    thread.start()
    return thread, stop


# --- 1. latency -------------------------------------------------------------------------------


def bench_latency(tmp: Path, redis_url: str, events: int, rate: float) -> tuple[float, float]:
    sink = Sink.start(record_times=True)
    settings = _settings(tmp, "lat", sink.port)
    keys = Keys(settings.key_prefix)
    asins = [f"B{i:09d}" for i in range(events)]
    by_sub = asyncio.run(_subscribe(settings.database_url, asins, 1, 100_00))
    client = connect(redis_url)
    ch = get_clickhouse(f"chdb://{tmp}/ch")
    migrate(ch, "bench")
    ingest = IngestWorker(
        client, keys, PriceStore(ch, "bench"), partitions=PARTITIONS, consumer="bench", batch_ms=20
    )
    observations = PartitionedStream(keys, OBSERVATIONS, PARTITIONS)
    t0 = int(time.time() * 1000) - 10 * 60_000

    def observe(asin: str, price: int, at: int) -> None:
        obs = Observation(
            market="us",
            asin=asin,
            observed_at=at,
            availability=Availability.IN_STOCK,
            source=Source.CRAWLER,
            price=price,
            currency="USD",
            title=f"Product {asin}",
        )
        observations.publish(client, [("us", asin, obs)])

    # every product first seen above its threshold (no alert)
    for asin in asins:
        observe(asin, 150_00, t0)
    seeded = 0
    while seeded < events:
        seeded += ingest.process_batch(ingest.next_batch()).messages
    stop_ingest = threading.Event()
    ingest_thread = threading.Thread(target=ingest.run, args=(stop_ingest,), daemon=True)
    ingest_thread.start()
    alerts_thread, stop_alerts = _start_alerts(settings, redis_url)
    time.sleep(2.0)  # both consumers up (the first change stream read creates the group)

    sent_at: dict[str, float] = {}
    for i, asin in enumerate(asins):
        sent_at[asin] = time.time()
        observe(asin, 90_00, t0 + 60_000 + i)
        time.sleep(1 / rate)
    received: dict[str, float] = {}
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
        print(f"p50 observation->change {ingest_ms:.0f} ms, change->accepted {alerts_ms:.0f} ms")
    stop_alerts.set()
    stop_ingest.set()
    alerts_thread.join(30)
    ingest_thread.join(30)
    sink.stop()
    ch.close()
    if len(received) < events:
        print(f"only {len(received)} of {events} alerts arrived within 60 s")
    latencies = sorted((received[a] - sent_at[a]) * 1000 for a in received)
    p50 = statistics.median(latencies)
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    print(
        f"latency over {len(latencies)} alerts: p50 {p50:.0f} ms, p99 {p99:.0f} ms, "
        f"max {latencies[-1]:.0f} ms"
    )
    return p50, p99


# --- 2. fan-out -------------------------------------------------------------------------------


def bench_fanout(tmp: Path, redis_url: str, subscribers: int) -> float:
    sink = Sink.start(record_times=False)
    settings = _settings(
        tmp, "fan", sink.port, PRICEWATCH_SMTP_CONNECTIONS="16", PRICEWATCH_ALERT_CONCURRENCY="64"
    )
    keys = Keys(settings.key_prefix)
    asin = "B0FANOUT01"
    t = time.perf_counter()
    asyncio.run(_subscribe(settings.database_url, [asin], subscribers, 100_00))
    print(f"{subscribers} subscriptions created in {time.perf_counter() - t:.1f} s")
    client = connect(redis_url)
    alerts_thread, stop_alerts = _start_alerts(settings, redis_url)
    time.sleep(2.0)
    change = PriceChange(
        event_id="fanout-1",
        market="us",
        asin=asin,
        series=Series.BUYBOX,
        observed_at=int(time.time() * 1000),
        source=Source.CRAWLER,
        new_price=89_99,
        old_price=120_00,
        currency="USD",
        title="A very popular product",
    )
    start = time.time()
    PartitionedStream(keys, PRICE_CHANGES, PARTITIONS).publish(client, [("us", asin, change)])
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
    stop_alerts.set()
    alerts_thread.join(60)
    sink.stop()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--fanout", type=int, default=100_000)
    # drops per second; the design's average is ~12 notifications/s (1 M/day)
    parser.add_argument("--rate", type=float, default=50.0)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as tmp_dir,
        local_redis(Path(tmp_dir) / "redis", persist=False) as redis_url,
    ):
        tmp = Path(tmp_dir)
        # --events 0 measures the fan-out alone (for profiling it)
        p50, p99 = (
            bench_latency(tmp, redis_url, args.events, args.rate) if args.events else (0.0, 0.0)
        )
        fanout = bench_fanout(tmp, redis_url, args.fanout)
    print(f"alert_p50_ms={p50:.0f} alert_p99_ms={p99:.0f} fanout_100k_s={fanout:.1f}")


if __name__ == "__main__":
    main()

"""What the benchmarks share: a scratch Redis and chDB, the alerts role in a thread,
an SMTP sink fast enough not to be what is measured, subscriptions seeded in bulk,
sightings and price drops as the crawler and ingest make them, and percentiles.

The benchmarks run as scripts (``python bench/alerts.py``); each one puts the
repository root in place of its own folder on ``sys.path`` first, so that this module
imports as ``bench.common`` and ``bench/alerts.py`` does not shadow the ``alerts``
package.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import multiprocessing as mp
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path
from typing import Any

import redis
from sqlalchemy import select

from pricewatch.keys import PRICE_CHANGES, Keys
from pricewatch.models import Availability, Observation, PriceChange, Series, Source
from pricewatch.settings import Settings, load_settings
from pricewatch.storage import sql
from pricewatch.storage.clickhouse import PriceStore, get_clickhouse, migrate
from pricewatch.storage.local_redis import local_redis
from pricewatch.storage.sql_schema import subscriptions
from pricewatch.storage.sql_subscriptions import new_subscription_values
from pricewatch.storage.streams import PartitionedStream

# every benchmark's products are on amazon.com
MARKET = "us"
CURRENCY = "USD"
# rows per INSERT when seeding subscriptions
_SEED_CHUNK = 2_000


# --- scratch stores ---------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def scratch() -> Iterator[tuple[Path, str]]:
    """A temporary folder, and the URL of a Redis server of its own in it (nothing
    persisted); both are gone afterwards."""
    with (
        tempfile.TemporaryDirectory() as tmp,
        local_redis(Path(tmp) / "redis", persist=False) as redis_url,
    ):
        yield Path(tmp), redis_url


def chdb_store(directory: Path, database: str) -> PriceStore:
    """An embedded chDB in ``directory`` with ``database`` migrated; the caller closes
    ``store.client``."""
    client = get_clickhouse(f"chdb://{directory}")
    migrate(client, database)
    return PriceStore(client, database)


# --- the alerts role ----------------------------------------------------------------------


def alerts_settings(
    tmp: Path, name: str, smtp_port: int, *, partitions: int, **env: str
) -> Settings:
    """Settings of an alerts role named ``name`` (its key prefix, and its folder in
    ``tmp`` with the SQLite database) that mails the SMTP server on ``smtp_port``
    without TLS; ``env`` adds or overrides ``PRICEWATCH_*`` variables."""
    return load_settings(
        {
            "PRICEWATCH_DATA_DIR": str(tmp / name),
            "PRICEWATCH_DATABASE_URL": f"sqlite+aiosqlite:///{tmp / name}/pw.db",
            "PRICEWATCH_STREAM_PARTITIONS": str(partitions),
            "PRICEWATCH_KEY_PREFIX": f"{name}:",
            "PRICEWATCH_SMTP_HOST": "127.0.0.1",
            "PRICEWATCH_SMTP_PORT": str(smtp_port),
            "PRICEWATCH_SMTP_TLS": "none",
            "PRICEWATCH_ALERT_SECRET": "bench",
            "PRICEWATCH_ALERTS_CONSUMER": "bench",
            **env,
        }
    )


@contextlib.contextmanager
def alerts_role(settings: Settings, redis_url: str) -> Iterator[None]:
    """The alerts role as ``pricewatch up`` runs it (``alerts.service.run``), in a
    thread of this process, from when its consumer groups exist until the block ends."""
    # imported here: only the alerts benchmarks load the role
    from alerts.service import run

    stop = threading.Event()
    thread = threading.Thread(target=run, args=(settings, redis_url, stop), daemon=True)
    thread.start()
    # the consumer groups exist once the worker has read once
    time.sleep(2.0)
    try:
        yield
    finally:
        stop.set()
        thread.join(60)


async def seed_subscriptions(
    database_url: str,
    email: str,
    asins: Sequence[str],
    *,
    threshold: int,
    notification_type: str = "EMAIL",
    targets: Sequence[str] | None = None,
) -> dict[int, str]:
    """A new user ``email`` with a subscription to each of ``asins`` (listed twice,
    subscribed twice), going to ``targets[i]`` when given, else to the account's
    e-mail; inserted in bulk, after migrating the database. Returns subscription id
    -> ASIN."""
    await sql.migrate_sql_async(database_url)
    engine = sql.create_engine(database_url)
    try:
        user = await sql.create_user(engine, email, "h")
        now = int(time.time() * 1000)
        rows = [
            new_subscription_values(
                user_id=user.id,
                market=MARKET,
                asin=asin,
                # the benches publish buy-box changes
                series="buybox",
                notification_type=notification_type,
                threshold=threshold,
                target=None if targets is None else targets[i],
                now=now,
            )
            for i, asin in enumerate(asins)
        ]
        async with engine.begin() as conn:
            for start in range(0, len(rows), _SEED_CHUNK):
                await conn.execute(subscriptions.insert(), rows[start : start + _SEED_CHUNK])
            columns = subscriptions.c
            result = await conn.execute(
                select(columns.id, columns.asin).where(columns.user_id == user.id)
            )
            return {int(sub_id): str(asin) for sub_id, asin in result}
    finally:
        await engine.dispose()


# --- what the crawler and ingest produce -----------------------------------------------------


def sighting(asin: str, price: int, at: int, title: str | None = None) -> Observation:
    """The crawler saw ``asin`` in stock at ``price`` cents at ``at`` (epoch ms)."""
    return Observation(
        market=MARKET,
        asin=asin,
        observed_at=at,
        availability=Availability.IN_STOCK,
        source=Source.CRAWLER,
        price=price,
        currency=CURRENCY,
        title=title,
    )


def publish_drop(
    client: redis.Redis, settings: Settings, asin: str, *, new_price: int, old_price: int
) -> float:
    """Put a drop of ``asin``'s buy-box price on the price-changes stream, as ingest
    does; returns when (``time.time()``), for the delays measured from it."""
    change = PriceChange(
        event_id=f"drop-{asin}-{new_price}",
        market=MARKET,
        asin=asin,
        series=Series.BUYBOX,
        observed_at=int(time.time() * 1000),
        source=Source.CRAWLER,
        new_price=new_price,
        old_price=old_price,
        currency=CURRENCY,
        title=f"Product {asin}",
    )
    stream = PartitionedStream(Keys(settings.key_prefix), PRICE_CHANGES, settings.stream_partitions)
    published = time.time()
    stream.publish(client, [(MARKET, asin, change)])
    return published


# --- the SMTP sink (its own process) --------------------------------------------------------

KEY_HEADER = b"X-Pricewatch-Key: "


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
    """An SMTP server in a process of its own: ``count`` messages accepted so far and,
    when recorded, ``times``, a queue of (notification key, acceptance time)."""

    port: int
    count: Synchronized[int]
    times: Any
    process: mp.Process

    @classmethod
    def start(cls, record_times: bool) -> Sink:
        port = free_port()
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


# --- figures ------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def p50_p99(values: Sequence[float]) -> tuple[float, float]:
    return statistics.median(values), percentile(values, 0.99)


# --- the page corpus and the other benchmarks' figures -------------------------------------

DEFAULT_CORPUS = Path(
    os.environ.get("PRICEWATCH_CORPUS")
    or Path(__file__).resolve().parent.parent.parent / "shared" / "corpus" / "amazon"
)
BENCH_DIR = Path(__file__).resolve().parent


@dataclasses.dataclass(frozen=True)
class CorpusPage:
    """A saved Amazon page: its bytes, its marketplace's home URL (what the parser
    needs to know the market) and its entry in ``truth.json``."""

    body: bytes
    url: str
    truth: dict[str, Any]


def corpus_pages(corpus: Path = DEFAULT_CORPUS) -> list[CorpusPage]:
    """Every page ``corpus/truth.json`` lists; FileNotFoundError without one."""
    truth_path = corpus / "truth.json"
    if not truth_path.is_file():
        raise FileNotFoundError(f"{truth_path} not found")
    return [
        CorpusPage((corpus / e["file"]).read_bytes(), f"https://www.{e['marketplace']}/", e)
        for e in json.loads(truth_path.read_text(encoding="utf-8"))
    ]


def parse_rate(pages: Sequence[CorpusPage], seconds: float) -> tuple[float, int]:
    """Pages parsed per second on one core, every page over and over for about
    ``seconds``; returns (pages/s, pages parsed)."""
    from crawler.parsing import parse_page

    parsed = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        for page in pages:
            parse_page(page.body, page.url)
        parsed += len(pages)
    return parsed / (time.perf_counter() - start), parsed


def used_memory(client: redis.Redis) -> int:
    """Bytes Redis holds for data and overhead (INFO memory ``used_memory``)."""
    return int(client.info("memory")["used_memory"])


_FIGURE = re.compile(r"([a-z_0-9]+)=([-+0-9.eE]+)")


def run_bench(script: str, *args: str, timeout_s: float = 600.0) -> tuple[dict[str, float], str]:
    """Runs ``bench/<script>`` with this interpreter; returns the ``name=number`` figures
    of its output (later lines win) and the output. A failed run raises with its
    output."""
    done = subprocess.run(
        [sys.executable, str(BENCH_DIR / script), *args],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        cwd=BENCH_DIR.parent,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{script} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    figures: dict[str, float] = {}
    for line in done.stdout.splitlines():
        figures.update((name, float(value)) for name, value in _FIGURE.findall(line))
    return figures, done.stdout

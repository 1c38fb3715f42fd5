"""Fleet test: Pricewatch as separate processes on one machine, on a Redis Cluster.

A 3-master Redis Cluster and a PostgreSQL of its own; a local Amazon-like marketplace
behind 4 local proxies; and, as separate OS processes: ``pricewatch roles ingest api
scheduler`` (embedded chDB opens in one process only), a second ``pricewatch
scheduler`` (with a chDB of its own: it stands by, or leads and plans what its own
history knows), 2 ``pricewatch alerts`` and N ``scrapy crawl product`` workers.

Every product of the marketplace is queued once; some of them have a subscriber. Once
most are observed, one crawler is SIGKILLed. Then the subscribed products' prices drop
and their pages are queued again; meanwhile one alerts process and the scheduler
leader are SIGKILLed. The e-mails go to a local SMTP sink, which counts them by the
key each carries (one per subscription and event). Last line:

    products_observed=N/M lost_tasks=L duplicate_alerts=D missed_alerts=X
    min_gap_per_ip_s=G leader_failover_s=F

    .venv/bin/python bench/cluster.py [--products 500] [--subscribed 60] [--crawlers 4]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

# The repository root first, for ``bench.common`` and the test services it starts.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from bench import common  # noqa: E402
from pricewatch.devtools import services  # noqa: E402
from pricewatch.devtools.marketplace import Catalog, Marketplace, demo_catalog, min_gap_per_ip  # noqa: E402
from pricewatch.devtools.proxies import ProxyPool  # noqa: E402
from pricewatch.frontier import Frontier  # noqa: E402
from pricewatch.keys import Keys  # noqa: E402
from pricewatch.markets import get_market  # noqa: E402
from pricewatch.models import Availability, CrawlTask  # noqa: E402
from pricewatch.storage.redis import connect  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PARTITIONS = 4
PREFIX = "fleet:"
KEYS = Keys(prefix=PREFIX)
PROXY_INTERVAL_S = 1.0


class Fleet:
    """The processes of the run, each with its own log file."""

    def __init__(self, workdir: Path, env: Mapping[str, str]) -> None:
        self.workdir = workdir
        self.env = dict(env)
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        (workdir / "logs").mkdir(parents=True, exist_ok=True)

    def start(self, name: str, argv: list[str], **extra: str) -> subprocess.Popen[bytes]:
        env = {**self.env, "PRICEWATCH_DATA_DIR": str(self.workdir / "data" / name), **extra}
        with (self.workdir / "logs" / f"{name}.log").open("wb") as log:
            proc = subprocess.Popen(
                argv, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        self.procs[name] = proc
        return proc

    def kill(self, name: str) -> None:
        self.procs[name].send_signal(signal.SIGKILL)
        self.procs[name].wait(30)

    def log(self, name: str, lines: int = 30) -> str:
        text = (self.workdir / "logs" / f"{name}.log").read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def check_alive(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None and proc.returncode != -signal.SIGKILL:
                raise SystemExit(f"{name} exited ({proc.returncode}):\n{self.log(name)}")

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(40)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


def wait_for(what: str, done: Callable[[], bool], fleet: Fleet, timeout_s: float) -> float:
    """Seconds until ``done()``; SystemExit naming ``what`` after ``timeout_s``."""
    started = time.monotonic()
    while not done():
        fleet.check_alive()
        if time.monotonic() - started > timeout_s:
            raise SystemExit(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(0.2)
    return time.monotonic() - started


def observed(client: object, products: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """The products ingest holds a state for (a field per series in ``last-price``)."""
    seen: set[tuple[str, str]] = set()
    for n in range(PARTITIONS):
        for field in client.hkeys(KEYS.last_price(n)):  # type: ignore[attr-defined]
            market, asin, _ = field.decode().split(":", 2)
            seen.add((market, asin))
    return seen & products


def leader(client: object) -> str | None:
    raw = client.get(KEYS.scheduler_leader)  # type: ignore[attr-defined]
    return None if raw is None else raw.decode().partition("\t")[0]


@contextlib.contextmanager
def stores(workdir: Path) -> Iterator[tuple[str, str]]:
    """A Redis Cluster and a PostgreSQL database: their URLs."""
    with (
        services.redis_cluster(workdir / "redis") as redis_url,
        services.postgres_server(workdir / "postgres") as pg_server,
    ):
        name = f"fleet_{uuid.uuid4().hex[:8]}"
        asyncio.run(services.postgres_admin(pg_server, f'CREATE DATABASE "{name}"'))
        yield redis_url, services.database_url(pg_server, name)


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="pricewatch-fleet-"))
    try:
        run(tmp)
    except BaseException:
        print(f"the processes' logs are kept in {tmp / 'logs'}", file=sys.stderr)
        raise
    shutil.rmtree(tmp, ignore_errors=True)


def run(tmp: Path) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--products", type=int, default=500)
    ap.add_argument("--subscribed", type=int, default=60)
    ap.add_argument("--crawlers", type=int, default=4)
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds for each phase")
    args = ap.parse_args()

    catalog = Catalog(demo_catalog(args.products, seed=11).products())
    products = catalog.products()
    everything = {p.key for p in products}
    markets = sorted({p.market for p in products})
    # subscribers watch in-stock products with a price on the page
    watched = [
        p
        for p in catalog.products(common.MARKET)
        if p.shows_price and p.price and p.availability == Availability.IN_STOCK
    ][: args.subscribed]
    sink = common.Sink.start(record_times=True)
    with (
        stores(tmp) as (redis_url, database_url),
        Marketplace(catalog, tls=False, log_file=tmp / "requests.jsonl") as site,
        ProxyPool(4, route=site.upstream) as pool,
    ):
        client = connect(redis_url)
        env = {k: v for k, v in os.environ.items() if not k.startswith("PRICEWATCH_")}
        env.update(
            PRICEWATCH_REDIS_URL=redis_url,
            PRICEWATCH_DATABASE_URL=database_url,
            PRICEWATCH_CLICKHOUSE_URL=f"chdb://{tmp / 'chdb-core'}",
            PRICEWATCH_KEY_PREFIX=PREFIX,
            PRICEWATCH_STREAM_PARTITIONS=str(PARTITIONS),
            PRICEWATCH_API_PORT=str(common.free_port()),
            PRICEWATCH_PROXIES=",".join(proxy.url for proxy in pool.proxies),
            PRICEWATCH_PROXY_INTERVAL_S=str(PROXY_INTERVAL_S),
            PRICEWATCH_MARKET_ORIGINS=",".join(
                f"{m}=http://www.{get_market(m).domain}" for m in markets
            ),
            PRICEWATCH_CRAWL_LEASE_MS="10000",
            PRICEWATCH_CRAWL_CONCURRENCY="4",
            PRICEWATCH_CLAIM_IDLE_MS="5000",
            PRICEWATCH_SMTP_HOST="127.0.0.1",
            PRICEWATCH_SMTP_PORT=str(sink.port),
            PRICEWATCH_SMTP_TLS="none",
            PRICEWATCH_VERIFY_TARGETS="false",
            PRICEWATCH_ALERT_SECRET="fleet",
            SCRAPY_SETTINGS_MODULE="crawler.settings",
        )
        fleet = Fleet(tmp, env)
        pricewatch = [sys.executable, "-m", "pricewatch.cli"]
        try:
            migrated = subprocess.run(
                [*pricewatch, "migrate"], env={**env, "PRICEWATCH_DATA_DIR": str(tmp / "data")},
                cwd=ROOT, capture_output=True, text=True, timeout=300,
            )  # fmt: skip
            if migrated.returncode:
                raise SystemExit(f"migrate failed:\n{migrated.stdout}{migrated.stderr}")
            # one threshold under every watched price: the first crawls fire nothing,
            # the drop to under it fires each subscription once
            threshold = min(p.price or 0 for p in watched) - 1
            subscriptions = asyncio.run(
                common.seed_subscriptions(
                    database_url, "fleet@example.org", [p.asin for p in watched],
                    threshold=threshold,
                )
            )  # fmt: skip
            # the standby scheduler first, so that it leads; the core's stands by
            fleet.start(
                "scheduler-b", [*pricewatch, "scheduler"],
                PRICEWATCH_CLICKHOUSE_URL=f"chdb://{tmp / 'chdb-scheduler-b'}",
            )  # fmt: skip
            wait_for("a scheduler leader", lambda: leader(client) is not None, fleet, 120)
            first_leader = leader(client)
            fleet.start("core", [*pricewatch, "roles", "ingest", "api", "scheduler"])
            for i in range(2):
                fleet.start(f"alerts-{i}", [*pricewatch, "alerts"])
            frontier = Frontier(client, KEYS, partitions=PARTITIONS)
            frontier.push(CrawlTask(market=p.market, asin=p.asin) for p in products)
            for i in range(args.crawlers):
                fleet.start(f"crawler-{i}", [sys.executable, "-m", "scrapy", "crawl", "product"])

            # one crawler dies once a third is observed
            wait_for(
                "a third of the products observed",
                lambda: len(observed(client, everything)) >= len(everything) // 3,
                fleet,
                args.timeout,
            )
            fleet.kill("crawler-0")
            wait_for(
                "every product observed",
                lambda: observed(client, everything) == everything,
                fleet,
                args.timeout,
            )

            # the watched products drop; once a third of their alerts are out, an alerts
            # process and the scheduler leader die
            expected = set(subscriptions)
            received: collections.Counter[int] = collections.Counter()

            def receive() -> set[int]:
                with contextlib.suppress(queue.Empty):
                    while True:
                        key, _ = sink.times.get_nowait()
                        received[int(key.split(":", 1)[0])] += 1
                return set(received)

            for p in watched:
                catalog.set_price(p.market, p.asin, threshold - 1)
            frontier.push(CrawlTask(market=p.market, asin=p.asin) for p in watched)
            wait_for(
                "a third of the alerts",
                lambda: len(receive()) >= len(expected) // 3,
                fleet,
                args.timeout,
            )
            fleet.kill("alerts-0")
            fleet.kill("scheduler-b")
            failover_s = wait_for(
                "a new scheduler leader",
                lambda: leader(client) not in (None, first_leader),
                fleet,
                120,
            )
            with contextlib.suppress(SystemExit):
                wait_for("every alert", lambda: receive() >= expected, fleet, args.timeout)
            time.sleep(10.0)  # late duplicates, if any, arrive now
            receive()
            seen = observed(client, everything)
            leftover = frontier.size() + frontier.inflight_size()
            records = site.log.records()
        finally:
            fleet.stop()
            sink.stop()
            client.close()
    gaps = min_gap_per_ip(records)
    duplicates = sum(n - 1 for n in received.values() if n > 1)
    missed = len(expected - set(received))
    lost = len(everything - seen)
    print(
        f"{len(everything)} products over {len(markets)} markets, {len(expected)} subscribed, "
        f"{args.crawlers} crawlers, 2 alerts, 2 schedulers; {len(records)} requests through "
        f"{len(gaps)} proxy IPs; at the end the frontier holds {leftover} tasks the "
        f"scheduler queued since"
    )
    print(
        f"products_observed={len(seen)}/{len(everything)} lost_tasks={lost} "
        f"duplicate_alerts={duplicates} missed_alerts={missed} "
        f"min_gap_per_ip_s={min(gaps.values()):.3f} leader_failover_s={failover_s:.1f}"
    )


if __name__ == "__main__":
    main()

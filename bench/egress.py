"""Egress benchmark: one user's webhooks to a tarpit, another user's e-mail.

A user has ``--webhooks`` webhook subscriptions (300) to a server that accepts
connections and never answers; another user has one e-mail subscription to
the same product. One price drop fires them all. The alerts role runs as
``pricewatch up`` runs it (``alerts.service.run``, settings from the
environment, default egress limits) against a Redis started here, SQLite and
an SMTP sink in another process. The figure is the e-mail's delay from the
drop's XADD to the sink accepting it, and how many webhooks were still
pending at that moment (all of them, if none slipped through the tarpit).

``--hosts N`` spreads the webhooks over N loopback addresses (127.0.x.y), so
the per-host limits do not apply and only the separate senders per
notification type keep the e-mail moving.

    .venv/bin/python bench/egress.py [--webhooks 300] [--hosts 1]

The last line is ``email_delay_ms=D webhooks_pending=P``.
"""

from __future__ import annotations

import argparse
import asyncio
import queue
import sys
import threading
from pathlib import Path

from pricewatch.settings import Settings
from pricewatch.storage import sql
from pricewatch.storage.redis import connect

# Run as a script, this file's folder (bench/) comes first on sys.path, where
# bench/alerts.py would shadow the ``alerts`` package this bench runs: the
# repository root takes its place (and makes ``bench.common`` importable).
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

from bench import common  # noqa: E402

PARTITIONS = 2
ASIN = "B0TARPIT01"


class Tarpit:
    """Accepts every connection on every local address and never answers."""

    def __init__(self) -> None:
        self.connections = 0
        self.port = 0
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> Tarpit:
        self._thread.start()
        self._ready.wait(10)
        return self

    def _run(self) -> None:
        pit = self

        class Hold(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                pit.connections += 1

        async def serve() -> None:
            loop = asyncio.get_running_loop()
            server = await loop.create_server(Hold, "0.0.0.0", 0, backlog=4096)
            self.port = server.sockets[0].getsockname()[1]
            self._ready.set()
            async with server:
                await server.serve_forever()

        asyncio.run(serve())


def _target(i: int, hosts: int, port: int) -> str:
    n = 1 + i % hosts  # 127.0.0.1, 127.0.0.2, ... 127.0.1.0, ...
    return f"http://127.0.{n // 256}.{n % 256}:{port}/hook"


async def _subscribe(settings: Settings, webhooks: int, hosts: int, port: int) -> None:
    url = settings.database_url
    targets = [_target(i, hosts, port) for i in range(webhooks)]
    await common.seed_subscriptions(
        url,
        "mallory@example.com",
        [ASIN] * webhooks,
        threshold=100_00,
        notification_type="WEBHOOK",
        targets=targets,
    )
    # the highest threshold comes last in the claim order: the worst case for the e-mail
    await common.seed_subscriptions(url, "anna@example.com", [ASIN], threshold=200_00)


async def _pending_webhooks(settings: Settings) -> int:
    engine = sql.create_engine(settings.database_url)
    try:
        async with engine.connect() as conn:
            result = await conn.exec_driver_sql(
                "SELECT count(*) FROM notifications n JOIN subscriptions s "
                "ON s.id = n.subscription_id "
                "WHERE s.notification_type = 'WEBHOOK' AND n.status = 'pending'"
            )
            return int(result.scalar_one())
    finally:
        await engine.dispose()


def bench(tmp: Path, redis_url: str, webhooks: int, hosts: int) -> tuple[float, int]:
    pit = Tarpit().start()
    sink = common.Sink.start(record_times=True)
    settings = common.alerts_settings(
        tmp,
        "egress",
        sink.port,
        partitions=PARTITIONS,
        # the tarpit is on loopback: the operator allows it, as for a LAN receiver
        PRICEWATCH_EGRESS_ALLOW="127.0.0.0/8",
        PRICEWATCH_LOG_LEVEL="ERROR",
    )
    asyncio.run(_subscribe(settings, webhooks, hosts, pit.port))
    client = connect(redis_url)
    with common.alerts_role(settings, redis_url):
        published = common.publish_drop(client, settings, ASIN, new_price=90_00, old_price=250_00)
        try:
            _, accepted = sink.times.get(timeout=300)
            delay_ms = (accepted - published) * 1000
        except queue.Empty:
            delay_ms = float("inf")
        pending = asyncio.run(_pending_webhooks(settings))
        print(
            f"e-mail accepted {delay_ms:.0f} ms after the drop; tarpit connections so far: "
            f"{pit.connections}; webhooks pending: {pending} of {webhooks}"
        )
    sink.stop()
    client.close()
    return delay_ms, pending


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--webhooks", type=int, default=300)
    parser.add_argument("--hosts", type=int, default=1)
    args = parser.parse_args()
    with common.scratch() as (tmp, redis_url):
        delay_ms, pending = bench(tmp, redis_url, args.webhooks, args.hosts)
    print(f"email_delay_ms={delay_ms:.0f} webhooks_pending={pending}")


if __name__ == "__main__":
    main()

"""Egress benchmark: one user's webhooks to a tarpit, another user's e-mail.

A user has ``--webhooks`` webhook subscriptions (300) to a server that accepts
connections and never answers; another user has one e-mail subscription to
the same product. One price drop fires them all. The alerts role runs as
``pricewatch up`` runs it (``alerts.service.run``, settings from the
environment, default egress limits) against a Redis started here, SQLite and
an SMTP server (aiosmtpd). The figure is the e-mail's delay from the drop's
XADD to the SMTP server accepting it, and how many webhooks were still
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
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

from pricewatch.keys import PRICE_CHANGES, Keys
from pricewatch.models import PriceChange, Series, Source
from pricewatch.settings import Settings, load_settings
from pricewatch.storage import sql
from pricewatch.storage.local_redis import local_redis
from pricewatch.storage.redis import connect
from pricewatch.storage.streams import PartitionedStream

# Run as a script, this file's folder (bench/) comes first on sys.path, where
# bench/alerts.py would shadow the ``alerts`` package this bench runs.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path.pop(0)

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


class Inbox:
    """aiosmtpd handler noting when each message was accepted."""

    def __init__(self) -> None:
        self.accepted: list[float] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.accepted.append(time.time())
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _target(i: int, hosts: int, port: int) -> str:
    n = 1 + i % hosts  # 127.0.0.1, 127.0.0.2, ... 127.0.1.0, ...
    return f"http://127.0.{n // 256}.{n % 256}:{port}/hook"


async def _subscribe(settings: Settings, webhooks: int, hosts: int, port: int) -> None:
    await sql.migrate_sql_async(settings.database_url)
    engine = sql.create_engine(settings.database_url)
    try:
        mallory = await sql.create_user(engine, "mallory@example.com", "h")
        for i in range(webhooks):
            await sql.create_subscription(
                engine,
                user_id=mallory.id,
                market="us",
                asin=ASIN,
                notification_type="WEBHOOK",
                threshold=100_00,
                target=_target(i, hosts, port),
            )
        anna = await sql.create_user(engine, "anna@example.com", "h")
        # the highest threshold comes last in the claim order: the worst case for the e-mail
        await sql.create_subscription(
            engine,
            user_id=anna.id,
            market="us",
            asin=ASIN,
            notification_type="EMAIL",
            threshold=200_00,
        )
    finally:
        await engine.dispose()


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
    from alerts.service import run

    pit = Tarpit().start()
    inbox = Inbox()
    smtp_port = _free_port()
    smtp = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
    smtp.start()
    settings = load_settings(
        {
            "PRICEWATCH_DATA_DIR": str(tmp / "data"),
            "PRICEWATCH_DATABASE_URL": f"sqlite+aiosqlite:///{tmp}/pw.db",
            "PRICEWATCH_STREAM_PARTITIONS": str(PARTITIONS),
            "PRICEWATCH_KEY_PREFIX": "egress:",
            "PRICEWATCH_SMTP_HOST": "127.0.0.1",
            "PRICEWATCH_SMTP_PORT": str(smtp_port),
            "PRICEWATCH_SMTP_TLS": "none",
            "PRICEWATCH_ALERT_SECRET": "bench",
            "PRICEWATCH_ALERTS_CONSUMER": "bench",
            # the tarpit is on loopback: the operator allows it, as for a LAN receiver
            "PRICEWATCH_EGRESS_ALLOW": "127.0.0.0/8",
            "PRICEWATCH_LOG_LEVEL": "ERROR",
        }
    )
    asyncio.run(_subscribe(settings, webhooks, hosts, pit.port))
    stop = threading.Event()
    alerts = threading.Thread(target=run, args=(settings, redis_url, stop), daemon=True)
    alerts.start()
    time.sleep(2.0)  # the consumer group exists once the worker has read once

    client = connect(redis_url)
    change = PriceChange(
        event_id="tarpit-1",
        market="us",
        asin=ASIN,
        series=Series.BUYBOX,
        observed_at=int(time.time() * 1000),
        source=Source.CRAWLER,
        new_price=90_00,
        old_price=250_00,
        currency="USD",
        title="A product somebody hooked to a tarpit",
    )
    published = time.time()
    PartitionedStream(Keys(settings.key_prefix), PRICE_CHANGES, PARTITIONS).publish(
        client, [("us", ASIN, change)]
    )
    deadline = published + 300
    while not inbox.accepted and time.time() < deadline:
        time.sleep(0.005)
    pending = asyncio.run(_pending_webhooks(settings))
    delay_ms = (inbox.accepted[0] - published) * 1000 if inbox.accepted else float("inf")
    print(
        f"e-mail accepted {delay_ms:.0f} ms after the drop; tarpit connections so far: "
        f"{pit.connections}; webhooks pending: {pending} of {webhooks}"
    )
    stop.set()
    alerts.join(60)
    smtp.stop()
    client.close()
    return delay_ms, pending


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--webhooks", type=int, default=300)
    parser.add_argument("--hosts", type=int, default=1)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as tmp_dir,
        local_redis(Path(tmp_dir) / "redis", persist=False) as redis_url,
    ):
        delay_ms, pending = bench(Path(tmp_dir), redis_url, args.webhooks, args.hosts)
    print(f"email_delay_ms={delay_ms:.0f} webhooks_pending={pending}")


if __name__ == "__main__":
    main()

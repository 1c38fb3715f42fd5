"""Exactly once across crashes: the alerts worker runs as a separate process
and is killed with SIGKILL several times while 200 changes flow through (the buy
box going out of and back into stock, the used price moving); every notification
the rules expect (price alerts on either series, back-in-stock alerts) must reach
the SMTP server, and none twice.

SMTP leaves one window no protocol can close: the server accepted a message
and the worker died before recording it. Such a message is sent again, so a
duplicate is allowed only when its first copy was accepted just before a
kill; any other duplicate fails the test.
"""

from __future__ import annotations

import asyncio
import collections
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from alerts.matching import SubscriptionState
from pricewatch.keys import PRICE_CHANGES, Keys
from pricewatch.models import Availability, PriceChange, Series
from pricewatch.storage import sql
from pricewatch.storage.redis import connect
from pricewatch.storage.streams import PartitionedStream
from tests.alerts.reference import apply, state_of
from tests.mail import parse_email, smtp_server
from tests.observations import price_change
from tests.sql_store import engine_on, subscribe

pytestmark = [pytest.mark.redis, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
PRODUCTS = 20
# 5 steps a product, each a change of the buy box and one of the used price: 200 events.
# The buy box goes out of stock and back twice (None: out of stock).
BUYBOX = [None, 90_00, None, 80_00, 70_00]
USED = [90_00, 120_00, 80_00, 130_00, 70_00]
THRESHOLDS = [100_00, 85_00, 75_00]
SERIES = {Series.BUYBOX: BUYBOX, Series.USED: USED}
# a first copy accepted this long before a kill may not have been recorded yet (on a
# loaded machine the worker's "sent" write can trail the SMTP acceptance by a second)
WINDOW_S = 2.0


class Arrivals:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.seen: list[tuple[str, float]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        await asyncio.sleep(0.005)  # a server that takes a moment, as real ones do
        message = parse_email(envelope.content)
        with self.lock:
            self.seen.append((str(message["X-Pricewatch-Key"]), time.monotonic()))
        return "250 OK"

    def keys(self) -> collections.Counter[str]:
        with self.lock:
            return collections.Counter(k for k, _ in self.seen)


async def _setup(url: str) -> dict[int, SubscriptionState]:
    """Subscriptions by id, as the matching rules see them when made."""
    await sql.migrate_sql_async(url)
    subs: dict[int, SubscriptionState] = {}
    async with engine_on(url) as engine:
        user = await sql.create_user(engine, "crash@example.com", "h")
        for p in range(PRODUCTS):
            asin = f"B0CRASH{p:03d}"
            made = [
                await subscribe(engine, user, asin, threshold, series=series.value)
                for series in SERIES
                for threshold in THRESHOLDS
            ]
            made.append(await subscribe(engine, user, asin, None, kind="back_in_stock"))
            for s in made:
                subs[s.id] = state_of(s)
    return subs


def _availability(price: int | None) -> Availability:
    return Availability.IN_STOCK if price is not None else Availability.OUT_OF_STOCK


def _events() -> list[PriceChange]:
    events = []
    for step in range(len(BUYBOX)):
        for p in range(PRODUCTS):
            for series, prices in SERIES.items():
                old = prices[step - 1] if step else None
                events.append(
                    price_change(
                        prices[step],
                        old,
                        event_id=f"crash-{p}-{step}-{series.value}",
                        asin=f"B0CRASH{p:03d}",
                        series=series,
                        observed_at=1_700_000_000_000 + step,
                        new_availability=_availability(prices[step]),
                        old_availability=_availability(old) if step else None,
                        title=f"Product {p}",
                    )
                )
    return events


def _expected(subs: dict[int, SubscriptionState], events: list[PriceChange]) -> set[str]:
    """What the matching rules say must be sent, one key per notification."""
    states = dict(subs)
    keys = set()
    for event in events:
        for sid, state in states.items():
            states[sid], fired = apply(state, event)
            if fired:
                keys.add(f"{sid}:{event.event_id}:alert")
    return keys


def _start(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "alerts"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def test_sigkilled_workers_send_every_notification_exactly_once(
    tmp_path: Path, redis_url: str, redis_client: Any, keys: Keys
) -> None:
    db_url = f"sqlite+aiosqlite:///{tmp_path}/pw.db"
    subs = asyncio.run(_setup(db_url))
    events = _events()
    expected = _expected(subs, events)
    assert len(expected) > 200  # the run is worth something
    # back-in-stock alerts among them: two returns of each product
    assert sum(subs[int(k.split(":")[0])].kind == "back_in_stock" for k in expected) == 40

    arrivals = Arrivals()
    with smtp_server(arrivals) as port:
        env = {
            **os.environ,
            "PRICEWATCH_DATA_DIR": str(tmp_path / "data"),
            "PRICEWATCH_DATABASE_URL": db_url,
            "PRICEWATCH_REDIS_URL": redis_url,
            "PRICEWATCH_KEY_PREFIX": keys.prefix,
            "PRICEWATCH_STREAM_PARTITIONS": "2",
            "PRICEWATCH_SMTP_HOST": "127.0.0.1",
            "PRICEWATCH_SMTP_PORT": str(port),
            "PRICEWATCH_SMTP_TLS": "none",
            "PRICEWATCH_ALERTS_CONSUMER": "alerts-crash",
            "PRICEWATCH_ALERT_SEND_TIMEOUT_S": "0.5",
            # a claim outlives a dead sender this long: far above a live worker's claim
            # to "sent" (milliseconds; a second or two on a loaded machine, where a
            # shorter lease let the worker's own sweep send a slow one again)
            "PRICEWATCH_ALERT_LEASE_MS": "4000",
            "PRICEWATCH_ALERT_SWEEP_MS": "100",
            "PRICEWATCH_ALERT_RETRY_BASE_MS": "100",
            "PRICEWATCH_CLAIM_IDLE_MS": "1000",
            "PRICEWATCH_ALERT_SECRET": "s",
            "PRICEWATCH_LOG_LEVEL": "WARNING",
        }
        log = tmp_path / "alerts.log"
        stream, client = PartitionedStream(keys, PRICE_CHANGES, 2), connect(redis_url)
        kills: list[float] = []
        worker = _start(env, log)
        try:
            # publish in small bursts while the worker is killed and restarted
            for i in range(0, len(events), 5):
                stream.publish(client, ((e.market, e.asin, e) for e in events[i : i + 5]))
                time.sleep(0.05)
                if i % 25 == 20:
                    time.sleep(0.3)  # let it get going, then pull the plug mid-flight
                    worker.send_signal(signal.SIGKILL)
                    worker.wait()
                    kills.append(time.monotonic())
                    worker = _start(env, log)
            deadline = time.monotonic() + 60
            while set(arrivals.keys()) != expected and time.monotonic() < deadline:
                time.sleep(0.1)
            time.sleep(5.0)  # leases run out: anything sent twice would show up now
        finally:
            worker.terminate()
            worker.wait(15)

    counts = arrivals.keys()
    assert len(kills) >= 3
    missing = expected - set(counts)
    assert not missing, f"never sent: {sorted(missing)[:5]} ... (log: {log.read_text()[-2000:]})"
    assert set(counts) == expected, f"unexpected: {sorted(set(counts) - expected)[:5]}"
    first_seen: dict[str, float] = {}
    for key, at in arrivals.seen:
        first_seen.setdefault(key, at)
    unexplained = [
        key
        for key, n in counts.items()
        if n > 1 and not any(0 <= kill - first_seen[key] <= WINDOW_S for kill in kills)
    ]
    assert unexplained == [], f"sent twice outside any crash window: {unexplained}"
    assert all(n <= 2 for n in counts.values())

"""Leader election: one scheduler plans at a time, a standby takes over when the leader
stops or dies, and a replaced leader's writes are refused by their fencing token.

Real Redis throughout. Lease TTLs are short (a second or two) and every wait is a
generous deadline on a condition: nothing here asserts how long anything took.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis as redis_lib
import redis.asyncio

from pricewatch.frontier import AsyncFrontier, Frontier
from pricewatch.keys import Keys
from pricewatch.leader import Elector, FencedOut, Lease, NotLeader, Term
from pricewatch.models import CrawlTask
from pricewatch.settings import load_settings
from pricewatch.storage.clickhouse import PriceStore, migrate
from pricewatch.storage.redis import connect_async
from pricewatch.storage.sql import migrate_sql
from scheduler.jobs import CrawlScheduler
from scheduler.service import run
from tests.observations import price_row
from tests.scheduler.conftest import NOW

pytestmark = pytest.mark.redis

# generous: two cores shared with other work
DEADLINE_S = 60.0


def wait_for(check: Callable[[], Any], what: str, timeout: float = DEADLINE_S) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := check()):
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.05)
    return result


def task(n: int) -> CrawlTask:
    return CrawlTask(market="us", asin=f"B{n:09d}", priority=1.0)


class FakeClock:
    """Monotonic time that moves only when the test says so."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def test_a_term_ends_before_the_lease_would() -> None:
    term = Term.granted(7, asked_at=100.0, ttl_s=10.0)
    assert term.token == 7
    assert term.valid(100.0)
    assert term.valid(107.9)
    # the lease lives until at least 110 in Redis; the holder stops acting earlier
    assert not term.valid(108.0)


def test_one_holder_at_a_time_and_every_acquisition_a_new_token(
    redis_client: redis_lib.Redis, keys: Keys
) -> None:
    a = Lease(redis_client, keys, "a", ttl_s=30, partitions=1)
    b = Lease(redis_client, keys, "b", ttl_s=30, partitions=1)
    first = a.acquire()
    assert first is not None
    assert b.acquire() is None
    assert a.acquire() is None  # not re-entrant: a holder renews
    assert b.holder() == "a"
    assert a.renew(first)
    assert not b.renew(first)  # compare-and-extend: only the holder's value extends
    assert not b.release(first)
    assert a.holder() == "a"
    assert a.release(first)
    second = b.acquire()
    assert second is not None and second > first
    assert not a.renew(first)  # the old holder cannot extend the new lease
    assert b.holder() == "b"


def test_a_leader_stops_acting_when_its_term_runs_out_by_its_own_clock(
    redis_client: redis_lib.Redis, keys: Keys
) -> None:
    clock = FakeClock()
    elector = Elector(Lease(redis_client, keys, "a", ttl_s=30, partitions=1), clock=clock)
    with pytest.raises(NotLeader):
        elector.token()
    assert elector.step()
    token = elector.token()
    clock.now += 23.0  # < 0.8 TTL
    assert elector.token() == token
    clock.now += 2.0  # the renewals did not happen (a pause): no more writes
    assert not elector.leading()
    with pytest.raises(NotLeader):
        elector.token()
    # a renewal that still finds the lease ours starts a new term with the same token
    assert elector.step()
    assert elector.token() == token


def test_a_stale_token_cannot_push_but_the_current_one_and_unfenced_pushes_can(
    redis_client: redis_lib.Redis, keys: Keys
) -> None:
    frontier = Frontier(redis_client, keys, partitions=1)
    old, new = (
        Lease(redis_client, keys, "old", ttl_s=30, partitions=1),
        Lease(redis_client, keys, "new", 30, partitions=1),
    )
    old_token = old.acquire()
    assert old_token is not None
    assert frontier.push([task(1)], token=old_token) == 1
    # the old leader pauses, its lease is gone, another leader is elected
    redis_client.delete(keys.scheduler_leader)
    new_token = new.acquire()
    assert new_token is not None

    with pytest.raises(FencedOut):
        frontier.push([task(2), task(3)], token=old_token)
    assert frontier.size() == 1
    assert frontier.push([task(2)], token=new_token) == 1
    # pushes that are not the scheduler's (a lookup, a verification) carry no token
    assert frontier.push([task(3)]) == 1
    assert sorted(t.asin or "" for t in frontier.pop("w", count=10)) == [
        task(1).asin,
        task(2).asin,
        task(3).asin,
    ]


async def test_the_async_frontier_refuses_a_stale_token_too(
    redis_url: str, redis_client: redis_lib.Redis, keys: Keys
) -> None:
    lease = Lease(redis_client, keys, "x", ttl_s=30, partitions=1)
    stale = lease.acquire()
    assert stale is not None
    lease.release(stale)
    assert lease.acquire() is not None
    client = connect_async(redis_url)
    try:
        frontier = AsyncFrontier(client, keys, partitions=1)
        with pytest.raises(FencedOut):
            await frontier.push([task(1)], token=stale)
        assert await frontier.size() == 0
    finally:
        await client.aclose()


@pytest.mark.clickhouse
async def test_a_stale_leader_cannot_rewrite_the_budget_levels(
    make_scheduler: Callable[..., CrawlScheduler], redis_client: redis_lib.Redis, keys: Keys
) -> None:
    old, new = (
        Lease(redis_client, keys, "old", ttl_s=30, partitions=1),
        Lease(redis_client, keys, "new", 30, partitions=1),
    )
    stale = old.acquire()
    assert stale is not None
    old.release(stale)
    current = new.acquire()
    assert current is not None

    woken = dataclasses.replace(make_scheduler(), fence=lambda: stale)
    with pytest.raises(FencedOut):
        await woken.rescore_all(NOW)
    assert not redis_client.exists(keys.scheduler_state)

    leader = dataclasses.replace(make_scheduler(), fence=lambda: current)
    await leader.rescore_all(NOW)
    assert redis_client.hget(keys.scheduler_state, "level:*") is not None


def test_a_standby_takes_over_when_the_leader_stops_renewing(
    redis_client: redis_lib.Redis, keys: Keys
) -> None:
    a = Elector(Lease(redis_client, keys, "a", ttl_s=1.0, partitions=1))
    b = Elector(Lease(redis_client, keys, "b", ttl_s=1.0, partitions=1))
    assert a.step()
    assert not b.step()
    old_token = a.token()
    # a stops stepping (hung); b keeps polling
    wait_for(b.step, "the standby takes over")
    assert b.token() > old_token
    with pytest.raises(FencedOut):
        Frontier(redis_client, keys, partitions=1).push([task(1)], token=old_token)
    # a wakes up: its renewal fails and it steps down
    assert not a.step()
    with pytest.raises(NotLeader):
        a.token()


# A scheduler's election loop alone, as a process of its own: it prints each token it
# leads with.
_CHILD = textwrap.dedent("""
    import sys, time
    from pricewatch.keys import Keys
    from pricewatch.leader import Elector, Lease
    from pricewatch.storage.redis import connect

    lease = Lease(connect(sys.argv[1]), Keys(prefix=sys.argv[2]), "child", 1.0, partitions=1)
    elector = Elector(lease)
    said = None
    while True:
        if elector.step() and elector.token() != said:
            said = elector.token()
            print("leading", said, flush=True)
        time.sleep(elector.poll_s)
""")


@pytest.fixture
def child_leader(redis_url: str, keys: Keys) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-c", _CHILD, redis_url, keys.prefix],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=DEADLINE_S)


def test_a_standby_takes_over_from_a_killed_leader_process(
    child_leader: subprocess.Popen[str], redis_client: redis_lib.Redis, keys: Keys
) -> None:
    assert child_leader.stdout is not None
    line = child_leader.stdout.readline()  # blocks until the child leads (or dies)
    assert line.startswith("leading"), line
    child_token = int(line.split()[1])
    standby = Elector(Lease(redis_client, keys, "standby", ttl_s=1.0, partitions=1))
    assert not standby.step()

    os.kill(child_leader.pid, signal.SIGKILL)
    child_leader.wait(DEADLINE_S)
    wait_for(standby.step, "the standby takes over from the killed leader")
    assert standby.token() > child_token
    with pytest.raises(FencedOut):
        Frontier(redis_client, keys, partitions=1).push([task(1)], token=child_token)


@pytest.mark.clickhouse
def test_two_schedulers_only_the_leader_plans_and_the_other_takes_over(
    redis_url: str,
    redis_client: redis_lib.Redis,
    clickhouse_client: Any,
    clickhouse_database: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="scheduler")
    caplog.set_level(logging.DEBUG, logger="pricewatch.leader")
    settings = dataclasses.replace(
        load_settings({"PRICEWATCH_DATA_DIR": str(tmp_path)}),
        # the URL only names the database here: the engine is the one passed in
        clickhouse_url=f"http://127.0.0.1:9/{clickhouse_database}",
        database_url=f"sqlite+aiosqlite:///{tmp_path}/service.db",
        key_prefix="two:",
        scheduler_refill_s=0.2,
        scheduler_rescore_s=0.2,
        scheduler_discovery_markets=("de",),
        scheduler_lease_ttl_s=1.5,
    )
    migrate(clickhouse_client, clickhouse_database)
    # each scheduler migrates at start: one SQLite file must not see two at once
    migrate_sql(settings.database_url)
    now = int(time.time() * 1000)
    PriceStore(clickhouse_client, clickhouse_database).insert_prices(
        [price_row("B0LEADER01", now - 40 * 86_400_000, 100)]
    )
    stops = {"sched-a": threading.Event(), "sched-b": threading.Event()}
    errors: list[BaseException] = []

    def serve(stop: threading.Event) -> None:
        try:
            run(settings, redis_url, stop, clickhouse_client=clickhouse_client)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = {
        name: threading.Thread(target=serve, args=(stop,), name=name, daemon=True)
        for name, stop in stops.items()
    }

    def planners() -> dict[str, int]:
        """Re-scoring passes logged per scheduler thread."""
        counts: dict[str, int] = {}
        for record in caplog.records:
            if record.name == "scheduler.jobs" and record.getMessage().startswith(
                ("scored", "re-scored")
            ):
                counts[record.threadName] = counts.get(record.threadName, 0) + 1
        return counts

    def stood_by() -> bool:
        return any(r.getMessage().startswith("standing by") for r in caplog.records)

    def started() -> int:
        return sum(r.getMessage().startswith("scheduler running") for r in caplog.records)

    try:
        # one after the other: alembic's migration context is process-global, and
        # each scheduler migrates (a no-op here) as it starts
        for count, thread in enumerate(threads.values(), 1):
            thread.start()
            wait_for(lambda: errors or started() >= count, "a scheduler starts")  # noqa: B023
        wait_for(
            lambda: errors or (stood_by() and max(planners().values(), default=0) >= 5), "planning"
        )
        assert errors == []
        counts = planners()
        assert len(counts) == 1, counts
        (leader,) = counts
        (standby,) = set(stops) - {leader}
        # the leader stops (and gives the lease up); the standby plans from then on
        stops[leader].set()
        threads[leader].join(DEADLINE_S)
        assert not threads[leader].is_alive()
        wait_for(lambda: planners().get(standby, 0) >= 1, "the standby plans")
    finally:
        for stop in stops.values():
            stop.set()
        for thread in threads.values():
            thread.join(DEADLINE_S)
    assert errors == []
    assert not any(t.is_alive() for t in threads.values())

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections import Counter

import pytest
import redis as redis_lib
import redis.asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pricewatch.frontier import AsyncFrontier, Frontier, task_key, tasks_for_inputs
from pricewatch.keys import Keys
from pricewatch.models import CrawlTask, TaskKind
from pricewatch.storage.redis import connect, connect_async

pytestmark = pytest.mark.redis

NOW = 1_700_000_000_000
LEASE = 60_000


def asin(n: int) -> str:
    return f"B{n:09d}"


def product(n: int, priority: float = 1.0, market: str = "us") -> CrawlTask:
    return CrawlTask(market=market, asin=asin(n), priority=priority)


def verify(n: int, priority: float = 0.0, report_id: str = "r1") -> CrawlTask:
    return CrawlTask(
        market="us", asin=asin(n), kind=TaskKind.VERIFY, priority=priority, report_id=report_id
    )


@pytest.fixture
def frontier(redis_client: redis_lib.Redis, keys: Keys) -> Frontier:
    return Frontier(redis_client, keys, lease_ms=LEASE, partitions=1)


def drain(frontier: Frontier, worker: str = "w", now: int = NOW) -> list[CrawlTask]:
    out: list[CrawlTask] = []
    while batch := frontier.pop(worker, 100, now=now):
        out += batch
    return out


# --- dedup, ordering, lanes ------------------------------------------------------


def test_push_twice_keeps_one_entry_with_higher_priority_and_its_payload(frontier: Frontier):
    assert frontier.push([product(1, 2.0)]) == 1
    lower = CrawlTask(market="us", asin=asin(1), priority=1.0, url="https://low")
    higher = CrawlTask(market="us", asin=asin(1), priority=5.0, url="https://high")
    assert frontier.push([lower]) == 0
    assert frontier.push([higher, product(1, 3.0)]) == 0
    assert frontier.size() == 1
    assert frontier.pop("w", 10, now=NOW) == [higher]
    assert frontier.pop("w", 10, now=NOW) == []


def test_equal_priority_keeps_the_entry_already_queued(frontier: Frontier):
    first = CrawlTask(market="us", asin=asin(1), priority=1.0, url="https://first")
    frontier.push([first, CrawlTask(market="us", asin=asin(1), priority=1.0, url="https://b")])
    assert frontier.pop("w", now=NOW) == [first]


def test_same_asin_in_two_markets_are_two_entries(frontier: Frontier):
    assert frontier.push([product(1, market="us"), product(1, market="de")]) == 2
    assert {t.market for t in drain(frontier)} == {"us", "de"}


def test_discovery_tasks_are_keyed_by_url(frontier: Frontier):
    a = CrawlTask(market="us", kind=TaskKind.DISCOVER, url="https://www.amazon.com/bestsellers")
    b = CrawlTask(market="us", kind=TaskKind.DISCOVER, url="https://www.amazon.com/new-releases")
    assert frontier.push([a, b, a]) == 2
    assert sorted(t.url or "" for t in drain(frontier)) == sorted([a.url or "", b.url or ""])


def test_pop_returns_highest_priority_first(frontier: Frontier):
    priorities = [0.5, 9.0, -3.0, 2.25, 7.0, 0.1]
    frontier.push([product(i, p) for i, p in enumerate(priorities)])
    popped = [t.priority for t in drain(frontier)]
    assert popped == sorted(priorities, reverse=True)
    assert frontier.pop("w", 2, now=NOW) == []


def test_pop_count_limits_the_batch(frontier: Frontier):
    frontier.push([product(i, float(i)) for i in range(10)])
    assert [t.asin for t in frontier.pop("w", 3, now=NOW)] == [asin(9), asin(8), asin(7)]
    assert frontier.size() == 7
    assert frontier.inflight_size() == 3


def test_verification_lane_goes_first_whatever_the_priority(frontier: Frontier):
    frontier.push([product(1, 1000.0), product(2, 500.0)])
    frontier.push([verify(3, -5.0), verify(4, 0.0)])
    popped = frontier.pop("w", 3, now=NOW)
    assert [(t.kind, t.asin) for t in popped] == [
        (TaskKind.VERIFY, asin(4)),
        (TaskKind.VERIFY, asin(3)),
        (TaskKind.PRODUCT, asin(1)),
    ]


def test_verification_of_a_queued_product_replaces_it_and_jumps_the_queue(frontier: Frontier):
    frontier.push([product(1, 100.0), product(2, 50.0)])
    assert frontier.push([verify(2, 0.0)]) == 0
    assert frontier.size() == 2
    first = frontier.pop("w", now=NOW)
    assert first == [verify(2, 0.0)]
    # a later ordinary push does not demote a queued verification
    frontier.push([verify(3, 0.0)])
    frontier.push([product(3, 999.0)])
    assert frontier.pop("w", now=NOW) == [verify(3, 0.0)]


def test_trim_drops_lowest_ordinary_priorities_beyond_the_window(
    redis_client: redis_lib.Redis, keys: Keys
):
    bounded = Frontier(redis_client, keys, lease_ms=LEASE, max_size=3, partitions=1)
    bounded.push([product(i, float(i)) for i in range(6)])
    bounded.push([verify(10, -1.0), verify(11, -2.0)])
    assert bounded.size() == 5  # 3 ordinary + both verifications: that lane is never trimmed
    assert [t.asin for t in drain(bounded)] == [asin(10), asin(11), asin(5), asin(4), asin(3)]
    # payloads of trimmed entries are gone too
    assert redis_client.hlen(keys.frontier_tasks(0)) == 0


# --- leases ---------------------------------------------------------------------


def test_ack_removes_the_task_for_good(frontier: Frontier):
    frontier.push([product(1), product(2)])
    popped = frontier.pop("w", 2, now=NOW)
    assert frontier.ack("w", popped) == 2
    assert frontier.inflight_size() == 0
    assert frontier.requeue_expired(now=NOW + 10 * LEASE) == 0
    assert frontier.size() == 0


def test_ack_by_another_worker_is_refused(frontier: Frontier):
    frontier.push([product(1)])
    popped = frontier.pop("w1", now=NOW)
    assert frontier.ack("w2", popped) == 0
    assert frontier.inflight_size() == 1
    assert frontier.ack("w1", [task_key(popped[0])]) == 1


def test_nack_puts_the_task_back_with_its_priority(frontier: Frontier):
    frontier.push([product(1, 5.0), product(2, 3.0), verify(3, 1.0)])
    taken = frontier.pop("w", 2, now=NOW)
    assert [t.asin for t in taken] == [asin(3), asin(1)]
    assert frontier.nack("w", taken) == 2
    assert frontier.inflight_size() == 0
    # back in their lanes, with their priorities
    assert [t.asin for t in drain(frontier)] == [asin(3), asin(1), asin(2)]


def test_expired_lease_returns_the_task_to_the_frontier(frontier: Frontier):
    frontier.push([product(1, 7.0), verify(2, 0.5)])
    frontier.pop("dead-worker", 2, now=NOW)
    assert frontier.size() == 0
    assert frontier.requeue_expired(now=NOW + LEASE - 1) == 0
    assert frontier.requeue_expired(now=NOW + LEASE + 1) == 2
    assert frontier.inflight_size() == 0
    assert drain(frontier, "other") == [verify(2, 0.5), product(1, 7.0)]
    # the dead worker's late ack no longer applies
    assert frontier.ack("dead-worker", [product(1)]) == 0


def test_lease_expiry_with_server_time(redis_client: redis_lib.Redis, keys: Keys):
    short = Frontier(redis_client, keys, lease_ms=50, partitions=1)
    short.push([product(1)])
    assert len(short.pop("w")) == 1
    assert short.requeue_expired() == 0
    time.sleep(0.2)
    assert short.requeue_expired() == 1
    assert short.pop("w2") == [product(1)]


def test_heartbeat_extends_only_that_workers_leases(frontier: Frontier):
    frontier.push([product(1), product(2)])
    frontier.pop("alive", now=NOW)
    frontier.pop("dead", now=NOW)
    assert frontier.heartbeat("alive", now=NOW + LEASE - 10) == 1
    assert frontier.requeue_expired(now=NOW + LEASE + 10) == 1
    assert frontier.inflight_size() == 1
    assert frontier.size() == 1
    assert frontier.ack("alive", [product(1)]) + frontier.ack("alive", [product(2)]) == 1
    assert frontier.heartbeat("alive", now=NOW) == 0


def test_requeue_handles_more_than_one_batch(frontier: Frontier):
    frontier.push([product(i) for i in range(25)])
    frontier.pop("w", 25, now=NOW)
    assert frontier.requeue_expired(now=NOW + LEASE + 1, batch=10) == 25
    assert frontier.size() == 25


# --- a key pushed again while it is in flight -----------------------------------


def test_push_while_in_flight_waits_for_the_ack(frontier: Frontier):
    frontier.push([product(1, 1.0)])
    frontier.pop("w", now=NOW)
    again = CrawlTask(market="us", asin=asin(1), priority=2.0, url="https://again")
    assert frontier.push([again]) == 1
    assert frontier.push([product(1, 0.5)]) == 0  # merged into the deferred entry
    # never handed to a second worker while the first crawls it
    assert frontier.size() == 0
    assert frontier.pop("w2", now=NOW) == []
    assert frontier.ack("w", [again]) == 1
    assert frontier.pop("w2", now=NOW) == [again]


def test_push_while_in_flight_merges_on_nack_and_on_expiry(frontier: Frontier):
    frontier.push([product(1, 9.0), product(2, 1.0)])
    frontier.pop("w", 2, now=NOW)
    frontier.push([product(1, 3.0), product(2, 4.0)])
    assert frontier.nack("w", [product(1)]) == 1
    assert frontier.requeue_expired(now=NOW + LEASE + 1) == 1
    # one entry each, the higher rank kept
    assert [(t.asin, t.priority) for t in drain(frontier)] == [(asin(1), 9.0), (asin(2), 4.0)]


def test_verification_pushed_while_the_product_is_in_flight_is_kept(frontier: Frontier):
    frontier.push([product(1, 100.0)])
    frontier.pop("w", now=NOW)
    frontier.push([verify(1, 0.0, report_id="rep-7")])
    frontier.nack("w", [product(1)])
    assert frontier.pop("w", 5, now=NOW) == [verify(1, 0.0, report_id="rep-7")]


# --- concurrency ----------------------------------------------------------------


def test_concurrent_poppers_never_share_a_task_and_together_get_all(
    redis_url: str, redis_client: redis_lib.Redis, keys: Keys
):
    total, workers = 3_000, 6
    Frontier(redis_client, keys, partitions=1).push(
        [product(i, float(i % 97)) for i in range(total)]
    )
    got: dict[str, list[str]] = {}
    start = threading.Barrier(workers)

    def work(name: str) -> None:
        client = connect(redis_url)
        mine = Frontier(client, keys, partitions=1)
        got[name] = []
        start.wait()
        while batch := mine.pop(name, 7):
            got[name] += [t.asin or "" for t in batch]
            mine.ack(name, batch)
        client.close()

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    counts = Counter(a for batch in got.values() for a in batch)
    assert len(counts) == total
    assert set(counts.values()) == {1}
    assert sum(1 for v in got.values() if v) > 1  # really concurrent, not one thread
    f = Frontier(redis_client, keys, partitions=1)
    assert f.size() == f.inflight_size() == 0


# --- bad input --------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        CrawlTask(market="usa", asin=asin(1)),
        CrawlTask(market="us", asin="short"),
        CrawlTask(market="us"),
        CrawlTask(market="us", kind=TaskKind.DISCOVER),
        CrawlTask(market="us", asin=asin(1), priority=float("nan")),
        CrawlTask(market="us", asin=asin(1), priority=float("inf")),
    ],
)
def test_bad_task_is_refused_and_nothing_of_the_batch_is_written(frontier: Frontier, bad):
    with pytest.raises(ValueError, match="task|priority"):
        frontier.push([product(1), bad])
    assert frontier.size() == 0


def test_bad_worker_names_and_settings_are_refused(redis_client: redis_lib.Redis, keys: Keys):
    f = Frontier(redis_client, keys, partitions=1)
    for worker in ("", "a\tb"):
        with pytest.raises(ValueError, match="worker"):
            f.pop(worker)
    with pytest.raises(ValueError, match="lease_ms"):
        Frontier(redis_client, keys, lease_ms=0, partitions=1)
    with pytest.raises(ValueError, match="max_size"):
        Frontier(redis_client, keys, max_size=0, partitions=1)


# --- tasks_for_inputs / track ----------------------------------------------------


def test_tasks_for_inputs_reads_urls_asins_and_product_keys():
    tasks = tasks_for_inputs(
        [
            "https://www.amazon.de/Some-Slug/dp/B07XJ8C8F5/ref=sr_1_1?th=1",
            " b000000001 ",
            "amazon.co.jp/gp/product/B000000002",
            "fr:B000000003",
            "https://www.amazon.de/dp/B07XJ8C8F5",  # the same product again
        ],
        priority=4.5,
        default_market="uk",
    )
    assert [(t.market, t.asin, t.priority, t.kind) for t in tasks] == [
        ("de", "B07XJ8C8F5", 4.5, TaskKind.PRODUCT),
        ("uk", "B000000001", 4.5, TaskKind.PRODUCT),
        ("jp", "B000000002", 4.5, TaskKind.PRODUCT),
        ("fr", "B000000003", 4.5, TaskKind.PRODUCT),
    ]


def test_tasks_for_inputs_names_every_bad_input():
    with pytest.raises(ValueError) as err:
        tasks_for_inputs(
            [
                "B000000001",
                "https://example.com/dp/B000000002",
                "https://www.amazon.com/gp/help",
                "",
                "xx:B000000003",
                "hello",
            ],
            priority=1.0,
        )
    message = str(err.value)
    for shown in ("example.com", "gp/help", "''", "xx:B000000003", "'hello'"):
        assert shown in message
    assert "B000000001" not in message


def test_tasks_for_inputs_refuses_unknown_default_market_and_bad_priority():
    with pytest.raises(ValueError, match="unknown market"):
        tasks_for_inputs(["B000000001"], 1.0, default_market="zz")
    with pytest.raises(ValueError, match="priority"):
        tasks_for_inputs(["B000000001"], float("nan"))


def test_track_queues_the_inputs(frontier: Frontier):
    tasks = frontier.track(["https://www.amazon.com/dp/B000000001", "B000000002"], 3.0)
    assert len(tasks) == 2
    assert sorted(t.asin or "" for t in drain(frontier)) == ["B000000001", "B000000002"]


# --- asyncio variant --------------------------------------------------------------


async def test_async_frontier_round_trip(redis_url: str, redis_client: redis_lib.Redis, keys: Keys):
    client = connect_async(redis_url)
    try:
        f = AsyncFrontier(client, keys, lease_ms=LEASE, partitions=1)
        assert await f.push([product(1, 1.0), product(2, 2.0), verify(3)]) == 3
        assert await f.size() == 3
        popped = await f.pop("w", 2, now=NOW)
        assert [t.asin for t in popped] == [asin(3), asin(2)]
        assert await f.heartbeat("w", now=NOW) == 2
        assert await f.ack("w", popped[:1]) == 1
        assert await f.nack("w", popped[1:]) == 1
        f2 = await f.pop("w", 5, now=NOW)
        assert [t.asin for t in f2] == [asin(2), asin(1)]
        assert await f.requeue_expired(now=NOW + LEASE + 1) == 2
        assert await f.inflight_size() == 0
    finally:
        await client.aclose()


# --- properties -------------------------------------------------------------------

ranked_pushes = st.lists(
    st.tuples(
        st.integers(0, 5),
        st.booleans(),
        st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False),
    ),
    max_size=30,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(pushes=ranked_pushes)
def test_any_push_sequence_keeps_the_best_rank_per_product(
    redis_client: redis_lib.Redis, keys: Keys, pushes: list[tuple[int, bool, float]]
):
    redis_client.flushdb()
    f = Frontier(redis_client, keys, lease_ms=LEASE, partitions=1)
    best: dict[str, tuple[bool, float]] = {}
    for n, is_verify, priority in pushes:
        task = verify(n, priority) if is_verify else product(n, priority)
        f.push([task])
        key = asin(n)
        if key not in best or (is_verify, priority) > best[key]:
            best[key] = (is_verify, priority)
    popped = drain(f)
    assert {t.asin: (t.kind is TaskKind.VERIFY, t.priority) for t in popped} == best
    assert len(popped) == len(best)
    ranks = [(t.kind is TaskKind.VERIFY, t.priority) for t in popped]
    assert ranks == sorted(ranks, reverse=True)


# --- a worker process killed mid-crawl ----------------------------------------------


def test_task_of_a_killed_worker_process_is_requeued(
    redis_url: str, frontier: Frontier, keys: Keys
):
    frontier.push([product(1, 3.0)])
    script = (
        "import sys, time\n"
        "from pricewatch.storage.redis import connect\n"
        "from pricewatch.frontier import Frontier\n"
        "from pricewatch.keys import Keys\n"
        f"client = connect({redis_url!r})\n"
        f"f = Frontier(client, Keys(prefix={keys.prefix!r}), lease_ms={LEASE}, partitions=1)\n"
        f"print(len(f.pop('doomed', 5, now={NOW})), flush=True)\n"
        "time.sleep(60)\n"
    )
    with subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True
    ) as proc:
        try:
            assert proc.stdout is not None
            assert proc.stdout.readline().strip() == "1"
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
    assert frontier.inflight_size() == 1
    assert frontier.requeue_expired(now=NOW + LEASE + 1) == 1
    assert frontier.pop("survivor", now=NOW) == [product(1, 3.0)]

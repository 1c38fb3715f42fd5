import asyncio
import logging
import threading
import time

import pytest

from pricewatch.keys import RECHECK, partition_of
from pricewatch.storage.streams import (
    GroupReader,
    Message,
    PartitionedStream,
    consume,
    consume_async,
    dead_letter,
)

pytestmark = pytest.mark.redis


def items(n, market="us"):
    return [(market, f"B{i:09d}", f"payload-{i}".encode()) for i in range(n)]


def reader(redis_client, stream, consumer="c1", **kw):
    options = {"count": 100, "wait_ms": 50, "claim_idle_ms": 60_000, **kw}
    found = stream.reader(redis_client, "g", consumer, **options)
    found.ensure_group()
    return found


def test_messages_land_in_their_product_partition(redis_client, keys):
    stream = PartitionedStream(keys, "observations", partitions=4)
    stream.publish(redis_client, items(200))
    lengths = [redis_client.xlen(k) for k in stream.stream_keys()]
    assert sum(lengths) == 200 and all(n > 0 for n in lengths)
    expected = {p: 0 for p in range(4)}
    for market, asin, _ in items(200):
        expected[partition_of(market, asin, 4)] += 1
    assert lengths == [expected[p] for p in range(4)]


def test_an_entry_of_another_model_says_its_kind(redis_client, keys):
    stream = PartitionedStream(keys, "price-changes", partitions=2)
    stream.add(redis_client, "us", "B000000001", b"own")
    stream.add(redis_client, "us", "B000000001", b"other", kind=RECHECK)
    got = reader(redis_client, stream).next()
    assert [(m.data, m.kind) for m in got] == [(b"own", ""), (b"other", RECHECK)]


def test_group_read_ack_and_pending(redis_client, keys):
    stream = PartitionedStream(keys, "observations", partitions=3)
    first = reader(redis_client, stream)
    first.ensure_group()  # idempotent
    stream.publish(redis_client, items(30))
    got = first.next()
    assert sorted(m.data for m in got) == sorted(p for _, _, p in items(30))
    assert all(m.deliveries == 1 for m in got)
    assert first.pending_count() == 30
    first.ack(got[:10])
    assert first.pending_count() == 20
    # the same consumer restarting replays exactly what it left unacked, then reads on
    again = reader(redis_client, stream)
    replayed = again.next()
    assert sorted(m.id for m in replayed) == sorted(m.id for m in got[10:])
    assert all(m.deliveries == 2 for m in replayed)
    assert again.next() == []


def test_own_pending_entries_are_replayed_in_rounds_until_none_is_left(redis_client, keys):
    stream = PartitionedStream(keys, "observations", partitions=1)
    stream.publish(redis_client, items(25))
    first = reader(redis_client, stream)
    assert len(first.next()) == 25
    # left pending (a sender waiting to try again): replayed once, not forever
    again = reader(redis_client, stream, replay_count=10)
    rounds = [len(again.next()) for _ in range(4)]
    assert rounds == [10, 10, 5, 0]
    # after a failed round the next one replays them again
    again.rewind()
    assert len(again.next()) == 10


def test_entries_trimmed_away_while_pending_are_acked_not_handed_out(redis_client, keys):
    stream = PartitionedStream(keys, "observations", partitions=1)
    stream.publish(redis_client, items(6))
    got = reader(redis_client, stream).next()
    redis_client.xdel(stream.stream_keys()[0], *[m.id for m in got[:4]])
    replayed = reader(redis_client, stream).next()
    assert [m.id for m in replayed] == [m.id for m in got[4:]]
    assert reader(redis_client, stream).pending_count() == 2


def test_idle_entries_of_a_dead_consumer_are_claimed(redis_client, keys):
    stream = PartitionedStream(keys, "observations", partitions=2)
    stream.publish(redis_client, items(10))
    dead = reader(redis_client, stream, consumer="dead").next()
    assert len(dead) == 10
    assert reader(redis_client, stream, consumer="alive").claim_idle() == []
    time.sleep(0.05)
    alive = reader(redis_client, stream, consumer="alive", claim_idle_ms=20)
    claimed = alive.next()
    assert sorted(m.id for m in claimed) == sorted(m.id for m in dead)
    # the second delivery, counted by the server
    assert all(m.deliveries == 2 for m in claimed)
    assert alive.next() == []  # the next claim waits claim_idle_ms / 2


def test_length_is_bounded(redis_client, keys):
    stream = PartitionedStream(keys, "observations", partitions=1, maxlen=100)
    for _ in range(5):
        stream.publish(redis_client, items(1000))
    # MAXLEN ~ trims whole macro nodes: bounded near the cap, never the full 5000
    assert stream.length(redis_client) < 1000


def test_a_dead_letter_says_why_who_where_and_what(redis_client, keys):
    message = Message("pw:observations:0", b"1-0", b"[1, 2]")
    dead_letter(redis_client, keys, message, "item 2 is bad", role="ingest", payload=b"2")
    dead_letter(redis_client, keys, message, "all bad", role="alerts")
    records = [fields for _, fields in redis_client.xrange(keys.dead_letter)]
    assert records == [
        {
            b"reason": b"item 2 is bad",
            b"role": b"ingest",
            b"stream": b"pw:observations:0",
            b"id": b"1-0",
            b"d": b"2",
        },
        {
            b"reason": b"all bad",
            b"role": b"alerts",
            b"stream": b"pw:observations:0",
            b"id": b"1-0",
            b"d": b"[1, 2]",
        },
    ]


class Flaky:
    """Fails its first ``failures`` rounds, then acks what it is given."""

    def __init__(self, group_reader: GroupReader, failures: int) -> None:
        self.reader = group_reader
        self.failures = failures
        self.seen: list[bytes] = []

    def __call__(self, messages: list[Message]) -> None:
        self.seen += [m.data for m in messages]
        if self.failures:
            self.failures -= 1
            raise OSError("disk full")
        self.reader.ack(messages)


def test_a_failed_round_is_replayed_after_a_wait(redis_client, keys, caplog):
    stream = PartitionedStream(keys, "observations", partitions=2)
    stream.publish(redis_client, items(3))
    group_reader = reader(redis_client, stream)
    handle = Flaky(group_reader, failures=1)
    stop = threading.Event()
    worker = threading.Thread(
        target=consume,
        args=(group_reader, handle, stop),
        kwargs={"log": logging.getLogger("test.streams"), "what": "test round"},
    )
    with caplog.at_level(logging.INFO, logger="test.streams"):
        worker.start()
        deadline = time.monotonic() + 10
        # read, failed, replayed, acked
        while (len(handle.seen) < 6 or group_reader.pending_count()) and (
            time.monotonic() < deadline
        ):
            time.sleep(0.05)
        stop.set()
        worker.join(10)
    assert group_reader.pending_count() == 0
    assert sorted(handle.seen) == sorted(2 * [p for _, _, p in items(3)])
    messages = [r.getMessage() for r in caplog.records]
    assert any("test round failed; retrying in 0.5 s" in m for m in messages)
    assert any("test round goes on after 1 failed attempts" in m for m in messages)


async def test_the_asyncio_loop_reads_on_a_thread_and_stops_when_asked(redis_client, keys):
    stream = PartitionedStream(keys, "observations", partitions=2)
    stream.publish(redis_client, items(4))
    group_reader = reader(redis_client, stream)
    seen: list[bytes] = []
    stop = asyncio.Event()

    async def handle(messages: list[Message]) -> None:
        seen.extend(m.data for m in messages)
        group_reader.ack(messages)
        stop.set()

    log = logging.getLogger("test.streams")
    await asyncio.wait_for(consume_async(group_reader, handle, stop, log=log, what="t"), 10)
    assert sorted(seen) == sorted(p for _, _, p in items(4))
    assert group_reader.pending_count() == 0

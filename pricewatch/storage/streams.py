"""Redis streams: how every role publishes, consumes and dead-letters entries.

A logical stream (``observations``, ``price-changes``...) is split into ``partitions``
Redis streams by a stable hash of (market, asin): one product always lands in one
partition, so per-product order holds while consumers scale out, one per partition
at most.

An entry holds the msgspec JSON of one model, or of an array of them (a producer
that emits many at once: the crawler's pages, ingest's changes), in field ``d``;
consumers read either (:func:`pricewatch.models.decode_many`). A stream that carries
more than one model marks the others with their kind in field ``k``
(``pricewatch.keys.RECHECK``); an entry without one holds the stream's own model.
Every write is :func:`add`, on a client or a pipeline, sync or asyncio alike.

A consumer (:class:`GroupReader`) reads in a consumer group, each round from the
first of: its own pending entries (read before a crash or a failed round, never
acked), entries a dead consumer left idle, new entries. :func:`consume` and
:func:`consume_async` run the rounds and wait longer after each failed one. An entry
no handler will ever take goes to the dead-letter stream (:func:`dead_letter`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

import msgspec
import redis
import redis.cluster

from pricewatch.keys import Keys, partition_of
from pricewatch.models import encode
from pricewatch.retry import FailedRounds

log = logging.getLogger(__name__)

FIELD = b"d"
KIND = b"k"
DEFAULT_MAXLEN = 1_000_000
DEAD_LETTER_MAXLEN = 100_000
# On a Redis Cluster a consumer of streams in several slots blocks on one of them at a
# time, this long at most, before it looks at the others again.
SLOT_POLL_MS = 50

# a model, or its JSON already encoded (and checked) by the caller
Payload = bytes | msgspec.Struct


@dataclasses.dataclass(frozen=True, slots=True)
class Message:
    stream: str
    id: bytes
    data: bytes
    # how many times this entry has been delivered (1 for a fresh read)
    deliveries: int = 1
    # what the entry holds when it is not the stream's own model ("" when it is)
    kind: str = ""


def add(target: Any, stream: str, payload: Payload, *, maxlen: int, kind: str = "") -> Any:
    """XADD one entry to ``stream``, bounded by an approximate MAXLEN.

    ``target`` is a client or a pipeline, sync or asyncio (a pipeline queues the
    command without I/O either way); its reply is returned as it comes, so an
    asyncio client's is awaited by the caller.
    """
    fields = {FIELD: payload if isinstance(payload, bytes) else encode(payload)}
    if kind:
        fields[KIND] = kind.encode()
    return target.xadd(stream, fields, maxlen=maxlen, approximate=True)


def dead_letter(
    target: Any, keys: Keys, message: Message, reason: str, *, role: str, payload: bytes = b""
) -> Any:
    """XADD the record of an entry no handler will ever take: why, which role gave up
    on it, where it was, and what it held (``payload``, when only part of the entry
    is bad). ``target`` as for :func:`add`."""
    fields = {
        b"reason": reason.encode(),
        b"role": role.encode(),
        b"stream": message.stream.encode(),
        b"id": message.id,
        FIELD: payload or message.data,
    }
    return target.xadd(keys.dead_letter, fields, maxlen=DEAD_LETTER_MAXLEN, approximate=True)


@dataclasses.dataclass(frozen=True)
class PartitionedStream:
    keys: Keys
    name: str
    partitions: int
    maxlen: int = DEFAULT_MAXLEN

    def stream_keys(self) -> list[str]:
        return [self.keys.stream(self.name, p) for p in range(self.partitions)]

    def key_for(self, market: str, asin: str) -> str:
        return self.keys.stream(self.name, partition_of(market, asin, self.partitions))

    def add(self, target: Any, market: str, asin: str, payload: Payload, kind: str = "") -> Any:
        """:func:`add` to the product's partition."""
        return add(target, self.key_for(market, asin), payload, maxlen=self.maxlen, kind=kind)

    def add_many(self, pipe_of: Callable[[int], Any], items: Sequence[Any], per_entry: int) -> None:
        """Queue ``items`` (models with a market and an ASIN) as entries of up to
        ``per_entry`` each, a JSON array per entry, every item in its product's
        partition: ``pipe_of(partition)`` names the pipeline of each. A consumer reads
        one or many alike (:func:`pricewatch.models.decode_many`)."""
        by_partition: dict[int, list[Any]] = {}
        for item in items:
            p = partition_of(item.market, item.asin, self.partitions)
            by_partition.setdefault(p, []).append(item)
        for p, group in by_partition.items():
            key = self.keys.stream(self.name, p)
            for start in range(0, len(group), per_entry):
                chunk = group[start : start + per_entry]
                add(pipe_of(p), key, encode(chunk), maxlen=self.maxlen)

    def publish(self, client: redis.Redis, items: Iterable[tuple[str, str, Payload]]) -> None:
        """XADD (market, asin, payload) items in one round trip."""
        pipe = client.pipeline(transaction=False)
        for market, asin, payload in items:
            self.add(pipe, market, asin, payload)
        pipe.execute()

    def length(self, client: redis.Redis) -> int:
        return sum(int(client.xlen(k)) for k in self.stream_keys())

    def reader(
        self,
        client: redis.Redis,
        group: str,
        consumer: str,
        *,
        only: Sequence[int] = (),
        **options: Any,
    ) -> GroupReader:
        """A consumer of every partition, or of the partitions ``only`` names."""
        wanted = set(only)
        if not wanted <= set(range(self.partitions)):
            raise ValueError(
                f"partitions {sorted(wanted)} asked of {self.name}, which has "
                f"{self.partitions} (0 to {self.partitions - 1})"
            )
        keys = [k for p, k in enumerate(self.stream_keys()) if not wanted or p in wanted]
        return GroupReader(client, keys, group, consumer, name=self.name, **options)


class GroupReader:
    """One consumer of a consumer group over some streams (a sync client).

    Each :meth:`next` is one round, from the first of: this consumer's own pending
    entries (at start and after :meth:`rewind`), taken in id order until none is
    left; entries left pending and idle ``claim_idle_ms`` (by a consumer that died,
    or by one that leaves them to try again later, this one included), looked for
    every ``claim_idle_ms / 2``; new entries, up to ``count``, waiting at most
    ``wait_ms`` for the first.
    """

    def __init__(
        self,
        client: redis.Redis,
        streams: Sequence[str],
        group: str,
        consumer: str,
        *,
        count: int,
        wait_ms: int,
        claim_idle_ms: int,
        replay_count: int | None = None,
        name: str = "",
    ) -> None:
        self.client = client
        self.streams = list(streams)
        # what the logs call the streams
        self.name = name or ", ".join(self.streams)
        self.group = group
        self.consumer = consumer
        self.count = count
        self.wait_ms = wait_ms
        self.claim_idle_ms = claim_idle_ms
        self.replay_count = replay_count or count
        # stream -> id of the last entry replayed; None once nothing is left to replay
        self._replay_from: dict[Any, Any] | None = None
        self._last_claim = float("-inf")
        # the streams by cluster slot: one XREADGROUP may only name keys of one slot
        self._slots = _by_slot(client, self.streams)
        self._next_slot = 0
        self.rewind()

    def ensure_group(self, start: str = "0") -> None:
        for key in self.streams:
            try:
                self.client.xgroup_create(key, self.group, id=start, mkstream=True)
            except redis.ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    def rewind(self) -> None:
        """Replay this consumer's own pending entries first: after a failed round what
        it held was never acked."""
        self._replay_from = dict.fromkeys(self.streams, b"0")

    def next(self) -> list[Message]:
        if self._replay_from is not None:
            replayed = self.replay_own_pending()
            if replayed:
                log.info(
                    "%s/%s: replaying %d pending entries (read before a crash or a failed "
                    "round, never acked)",
                    self.name,
                    self.group,
                    len(replayed),
                )
                return replayed
            self._replay_from = None
        now = time.monotonic()
        if now - self._last_claim >= self.claim_idle_ms / 2000:
            self._last_claim = now
            claimed = self.claim_idle()
            if claimed:
                log.info("%s/%s: claimed %d entries left idle", self.name, self.group, len(claimed))
                return claimed
        return self.read_new()

    def replay_own_pending(self) -> list[Message]:
        """The next of this consumer's own pending entries, after those replayed so far."""
        cursors = self._replay_from if self._replay_from is not None else {}
        while cursors:
            entries = self._read(cursors, self.replay_count, None)
            if not entries:
                return []
            for stream, entry_id, _ in entries:
                cursors[stream] = entry_id
            messages = self._keep(entries)
            if messages:
                return self._with_deliveries(messages)
        return []

    def claim_idle(self) -> list[Message]:
        """Take over the entries left pending and idle ``claim_idle_ms``."""
        pipe = self.client.pipeline(transaction=False)
        for key in self.streams:
            pipe.xautoclaim(key, self.group, self.consumer, self.claim_idle_ms, "0-0", self.count)
        entries: list[tuple[str, bytes, dict[bytes, bytes] | None]] = []
        gone: list[tuple[str, bytes, None]] = []
        # each reply: [next start, [(id, fields), ...], ids deleted while pending]
        for key, (_, claimed, deleted) in zip(self.streams, pipe.execute(), strict=True):
            entries += [(key, entry_id, fields) for entry_id, fields in claimed]
            gone += [(key, entry_id, None) for entry_id in deleted]
        self._keep(gone)
        return self._with_deliveries(self._keep(entries))

    def read_new(self) -> list[Message]:
        """New entries: up to ``count``, waiting at most ``wait_ms`` for the first."""
        batch: list[Message] = []
        deadline = time.monotonic() + self.wait_ms / 1000
        while len(batch) < self.count:
            left_ms = int((deadline - time.monotonic()) * 1000)
            entries = self._read(
                dict.fromkeys(self.streams, ">"),
                self.count - len(batch),
                None if batch or left_ms <= 0 else left_ms,
            )
            got = self._keep(entries)
            batch += got
            if not got and (batch or left_ms <= 0):
                break
        return batch

    def _read(
        self, cursors: dict[Any, Any], count: int, block_ms: int | None
    ) -> list[tuple[str, bytes, dict[bytes, bytes] | None]]:
        """One XREADGROUP of ``cursors`` (stream -> id); on a Redis Cluster one per
        slot, starting one slot further each time so that no partition waits behind
        the others. Only one of them may block (a blocked read waits on one node),
        for at most ``SLOT_POLL_MS``: an entry elsewhere is read on the next turn."""
        if len(self._slots) == 1:
            return _entries(
                self.client.xreadgroup(self.group, self.consumer, cursors, count, block_ms)
            )
        start = self._next_slot
        self._next_slot = (start + 1) % len(self._slots)
        order = self._slots[start:] + self._slots[:start]
        # each slot's share of the cursors, in this turn's order
        turns: list[dict[Any, Any]] = [
            w for w in ({s: cursors[s] for s in slot if s in cursors} for slot in order) if w
        ]
        out: list[tuple[str, bytes, dict[bytes, bytes] | None]] = []
        for wanted in turns:
            reply = self.client.xreadgroup(
                self.group, self.consumer, wanted, count - len(out), None
            )
            out += _entries(reply)
            if len(out) >= count:
                return out
        if out or block_ms is None or not turns:
            return out
        reply = self.client.xreadgroup(
            self.group, self.consumer, turns[0], count, min(block_ms, SLOT_POLL_MS)
        )
        return _entries(reply)

    def ack(self, messages: Sequence[Message], pipe: redis.client.Pipeline | None = None) -> None:
        """XACK ``messages``; on ``pipe`` to make it part of the caller's transaction."""
        by_stream: dict[str, list[bytes]] = {}
        for m in messages:
            by_stream.setdefault(m.stream, []).append(m.id)
        p = self.client.pipeline(transaction=False) if pipe is None else pipe
        for stream, ids in by_stream.items():
            p.xack(stream, self.group, *ids)
        if pipe is None:
            p.execute()

    def pending_count(self) -> int:
        total = 0
        for key in self.streams:
            with contextlib.suppress(redis.ResponseError):
                total += int(self.client.xpending(key, self.group)["pending"])
        return total

    def _keep(
        self, entries: Sequence[tuple[str, bytes, dict[bytes, bytes] | None]]
    ) -> list[Message]:
        """The entries as messages. Those trimmed away while pending (redis-py reads
        them with no fields) hold nothing left to handle, and are acked."""
        trimmed = [Message(s, i, b"") for s, i, fields in entries if not fields]
        if trimmed:
            self.ack(trimmed)
        return [
            Message(s, i, fields.get(FIELD, b""), 1, fields.get(KIND, b"").decode())
            for s, i, fields in entries
            if fields
        ]

    def _with_deliveries(self, messages: list[Message]) -> list[Message]:
        """``messages`` with how often each was delivered (replays and claims only: both
        are rare, and a sender that gives up after some attempts needs the count)."""
        if not messages:
            return messages
        pipe = self.client.pipeline(transaction=False)
        for m in messages:
            pipe.xpending_range(m.stream, self.group, min=m.id, max=m.id, count=1)
        counts = [int(found[0]["times_delivered"]) if found else 2 for found in pipe.execute()]
        # at least 2: a replay is a replay, whatever the server counted
        return [
            dataclasses.replace(m, deliveries=max(2, n))
            for m, n in zip(messages, counts, strict=True)
        ]


def _by_slot(client: Any, streams: Sequence[str]) -> list[list[str]]:
    """``streams`` grouped by Redis Cluster slot; all in one group on a single server."""
    if not isinstance(client, redis.cluster.RedisCluster):
        return [list(streams)]
    slots: dict[int, list[str]] = {}
    for key in streams:
        slots.setdefault(client.keyslot(key), []).append(key)
    return list(slots.values()) or [[]]


def _entries(reply: Any) -> list[tuple[str, bytes, dict[bytes, bytes] | None]]:
    # redis-py (RESP2): [[stream, [(id, {field: value} or None), ...]], ...]
    out: list[tuple[str, bytes, dict[bytes, bytes] | None]] = []
    for stream, entries in reply or []:
        name = stream.decode() if isinstance(stream, bytes) else stream
        out += [(name, entry_id, fields) for entry_id, fields in entries]
    return out


def consume(
    reader: GroupReader,
    handle: Callable[[list[Message]], object],
    stop: threading.Event,
    *,
    log: logging.Logger,
    what: str,
    on_ok: Callable[[], None] | None = None,
    on_error: Callable[[Exception], None] | None = None,
) -> None:
    """Run rounds until ``stop`` is set: read, then ``handle`` the entries (it acks what
    it is done with). A failed round leaves its entries pending; the next round, after
    a wait that grows while the failures last, replays them."""
    rounds = FailedRounds(log, what)
    while not stop.is_set():
        try:
            messages = reader.next()
            if messages:
                handle(messages)
        except Exception as exc:
            reader.rewind()
            if on_error is not None:
                on_error(exc)
            stop.wait(rounds.failed(exc))
            continue
        rounds.ok()
        if on_ok is not None:
            on_ok()


async def consume_async(
    reader: GroupReader,
    handle: Callable[[list[Message]], Awaitable[object]],
    stop: asyncio.Event,
    *,
    log: logging.Logger,
    what: str,
    executor: concurrent.futures.Executor | None = None,
) -> None:
    """:func:`consume` in an asyncio role. The reads run on a worker thread: the
    client is sync, and a blocking read must not hold up the event loop. ``executor``
    gives a role's own threads, when the default pool may be busy with slow work."""
    rounds = FailedRounds(log, what)
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        try:
            messages = await loop.run_in_executor(executor, reader.next)
            if messages:
                await handle(messages)
        except Exception as exc:
            reader.rewind()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=rounds.failed(exc))
            continue
        rounds.ok()

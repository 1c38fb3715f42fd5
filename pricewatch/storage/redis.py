"""Partitioned Redis streams with consumer groups.

Each logical stream (``observations``, ``price-changes``...) is split into
``partitions`` Redis streams by a stable hash of (market, asin): one product
always lands in one partition, so per-product order holds while consumers
scale out, one per partition at most.

Messages carry a single field ``d``: the msgspec-JSON of a model.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any

import redis
import redis.asyncio
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff

from pricewatch.keys import Keys, partition_of

FIELD = b"d"


def connect(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_keepalive=True, health_check_interval=30)


def connect_async(url: str, **options: Any) -> redis.asyncio.Redis:
    """An asyncio client for request handlers.

    A pooled connection that Redis closed (it restarted) fails its next command;
    one immediate retry on a fresh connection spares that request, and still
    fails at once while Redis is down. (The workers' sync clients do not retry:
    their loops replay a failed round, which keeps a transaction from running
    twice when its reply was lost.)"""
    return redis.asyncio.Redis.from_url(url, retry=AsyncRetry(NoBackoff(), 1), **options)


@dataclasses.dataclass(frozen=True, slots=True)
class Message:
    stream: str
    id: bytes
    data: bytes
    # how many times this message has been delivered (1 for a fresh read)
    deliveries: int = 1


@dataclasses.dataclass
class PartitionedStream:
    client: redis.Redis
    keys: Keys
    name: str
    partitions: int
    maxlen: int = 1_000_000

    def stream_keys(self) -> list[str]:
        return [self.keys.stream(self.name, p) for p in range(self.partitions)]

    def key_for(self, market: str, asin: str) -> str:
        return self.keys.stream(self.name, partition_of(market, asin, self.partitions))

    def publish(
        self, items: Iterable[tuple[str, str, bytes]], pipe: redis.client.Pipeline | None = None
    ) -> None:
        """XADD (market, asin, payload) items; bounded with an approximate MAXLEN.

        Pass ``pipe`` to make the XADDs part of a caller's transaction.
        """
        own = pipe is None
        p = self.client.pipeline(transaction=False) if pipe is None else pipe
        for market, asin, payload in items:
            p.xadd(
                self.key_for(market, asin), {FIELD: payload}, maxlen=self.maxlen, approximate=True
            )
        if own:
            p.execute()

    def ensure_group(self, group: str, start: str = "0") -> None:
        for key in self.stream_keys():
            try:
                self.client.xgroup_create(key, group, id=start, mkstream=True)
            except redis.ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    def read(self, group: str, consumer: str, count: int, block_ms: int | None) -> list[Message]:
        """New messages for this consumer across all partitions."""
        streams: dict[str | bytes | memoryview, str | int | bytes | memoryview] = {
            k: ">" for k in self.stream_keys()
        }
        reply = self.client.xreadgroup(group, consumer, streams, count=count, block=block_ms)
        return _messages(reply)

    def read_own_pending(self, group: str, consumer: str, count: int) -> list[Message]:
        """Messages delivered to this consumer earlier and never acked (a crash)."""
        streams: dict[str | bytes | memoryview, str | int | bytes | memoryview] = {
            k: "0" for k in self.stream_keys()
        }
        reply = self.client.xreadgroup(group, consumer, streams, count=count)
        return _messages(reply, redelivered=True)

    def claim_idle(self, group: str, consumer: str, min_idle_ms: int, count: int) -> list[Message]:
        """Take over messages another consumer left pending for ``min_idle_ms``."""
        out: list[Message] = []
        for key in self.stream_keys():
            if len(out) >= count:
                break
            reply = self.client.xautoclaim(
                key, group, consumer, min_idle_ms, "0-0", count=count - len(out)
            )
            # reply: [next_start, [(id, fields), ...], deleted_ids]
            for msg_id, fields in reply[1]:
                if fields is None:  # trimmed away while pending
                    continue
                out.append(Message(key, msg_id, fields.get(FIELD, b""), deliveries=2))
            if reply[2]:
                # entries deleted by MAXLEN while pending: nothing left to process
                self.client.xack(key, group, *reply[2])
        return out

    def ack(
        self, group: str, messages: Sequence[Message], pipe: redis.client.Pipeline | None = None
    ) -> None:
        by_stream: dict[str, list[bytes]] = {}
        for m in messages:
            by_stream.setdefault(m.stream, []).append(m.id)
        own = pipe is None
        p = self.client.pipeline(transaction=False) if pipe is None else pipe
        for stream, ids in by_stream.items():
            p.xack(stream, group, *ids)
        if own:
            p.execute()

    def pending_count(self, group: str) -> int:
        total = 0
        for key in self.stream_keys():
            try:
                total += int(self.client.xpending(key, group)["pending"])
            except redis.ResponseError:
                continue
        return total

    def length(self) -> int:
        return sum(int(self.client.xlen(k)) for k in self.stream_keys())


def _messages(reply: Any, redelivered: bool = False) -> list[Message]:
    out: list[Message] = []
    if not reply:
        return out
    # redis-py returns [[stream, [(id, {field: value}), ...]], ...] for RESP2
    for stream, entries in reply:
        name = stream.decode() if isinstance(stream, bytes) else stream
        for msg_id, fields in entries:
            if fields is None:
                continue
            out.append(Message(name, msg_id, fields.get(FIELD, b""), 2 if redelivered else 1))
    return out


def drop_histories(pipe: Any, keys: Keys, products: Iterable[tuple[str, str]]) -> None:
    """Queue on ``pipe`` what makes the cached chart histories of ``products``
    stale everywhere: DEL of each product's hash in Redis, and a message on
    ``history_invalidations`` for the copies API processes hold in memory."""
    for market, asin in products:
        key = keys.history_cache(market, asin)
        pipe.delete(key)
        pipe.publish(keys.history_invalidations, key)

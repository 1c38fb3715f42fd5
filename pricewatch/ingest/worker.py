"""Ingest worker: the I/O shell around ``ingest.core``.

One batch is in flight at a time. Its messages stay pending in the consumer
group until the batch is fully written, and the last step is one Redis
transaction that publishes the change events, moves the per-series state and
acks the messages together. A crash before that transaction leaves the
messages pending: the restarted worker (same consumer name) re-reads exactly
its pending messages first, or another worker claims them once idle, and
replays them (:class:`~pricewatch.storage.streams.GroupReader`). The ClickHouse
insert carries a deduplication token derived from the message ids, so a
replayed batch is not stored twice; since the state did not move, its changes
are published exactly once.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import msgspec
import redis

from pricewatch.health import INGEST, HealthReporter
from pricewatch.ingest import metrics
from pricewatch.ingest.core import decode_batch, process
from pricewatch.ingest.gate import AcceptAll, Gate, Outcome
from pricewatch.keys import INGEST_GROUP, OBSERVATIONS, PRICE_CHANGES, Keys, partition_of
from pricewatch.models import LastState, Observation, PriceChange, Product, SeriesKey, series_text
from pricewatch.storage.redis import drop_histories
from pricewatch.storage.streams import Message, PartitionedStream, consume, dead_letter
from pricewatch.storage.transactions import BatchTransactions
from pricewatch.summaries import Tally

log = logging.getLogger(__name__)

_state_encoder = msgspec.json.Encoder()
_state_decoder = msgspec.json.Decoder(LastState)


class HistoryStore(Protocol):
    def insert_observations(
        self, observations: Sequence[Observation], dedup_token: str | None = None
    ) -> int: ...

    def insert_changes(
        self, changes: Sequence[PriceChange], dedup_token: str | None = None
    ) -> int: ...

    def upsert_products(self, products: Sequence[Product]) -> int: ...

    # (observed_at, price, availability) of the last accepted point per series
    def last_accepted(self, keys: Sequence[SeriesKey]) -> Mapping[SeriesKey, LastState]: ...

    def existing_points(
        self, points: Sequence[tuple[str, str, str, int]]
    ) -> Mapping[tuple[str, str, str, int], int | None]: ...

    def last_accepted_before(
        self, cutoffs: Mapping[SeriesKey, int]
    ) -> Mapping[SeriesKey, LastState]: ...


class BatchStats(msgspec.Struct):
    messages: int = 0
    accepted: int = 0
    changes: int = 0
    dead: int = 0
    duplicates: int = 0
    held: int = 0


_ABSENT = object()

# A batch's changes go out as entries of up to this many, in order, per partition: one
# XADD (and one encoding) each, rather than one per change. With a DEL and a PUBLISH per
# product that moved, those had made the transaction that commits a batch a quarter of
# ingest's time (1.7-2.3 s of every 500,000 observations; 0.3-0.4 s now). The alerts
# worker matches a read's changes at most its read_count at a time.
CHANGES_PER_ENTRY = 100


def batch_token(messages: Sequence[Message]) -> str:
    """Same messages -> same token, whatever order they were read in."""
    h = hashlib.blake2b(digest_size=16)
    for stream, msg_id in sorted((m.stream, m.id) for m in messages):
        h.update(stream.encode())
        h.update(b"/")
        h.update(msg_id)
        h.update(b";")
    return h.hexdigest()


def ingest_consumer_name(host: str, owned: Sequence[int] = ()) -> str:
    """The consumer name of an ingest process: stable across its restarts, so that a
    restarted one replays what it read and never acked first, and distinct for each
    partition set, so that processes on one host never share a name."""
    if not owned:
        return f"ingest-{host}"
    return f"ingest-{host}-p{'.'.join(map(str, sorted(owned)))}"


@dataclasses.dataclass(eq=False)
class IngestWorker:
    client: redis.Redis
    keys: Keys
    store: HistoryStore
    _: dataclasses.KW_ONLY
    partitions: int
    consumer: str
    batch_size: int = 20_000
    batch_ms: int = 200
    claim_idle_ms: int = 30_000
    maxlen: int = 1_000_000
    not_found_ttl_s: int = 7 * 86400
    gate: Gate = dataclasses.field(default_factory=AcceptAll)
    clock: Callable[[], float] = time.time
    # the partitions this worker reads (empty: all), when several processes share them
    owned: Sequence[int] = ()

    def __post_init__(self) -> None:
        self.changes = PartitionedStream(self.keys, PRICE_CHANGES, self.partitions, self.maxlen)
        self.reader = PartitionedStream(self.keys, OBSERVATIONS, self.partitions).reader(
            self.client,
            INGEST_GROUP,
            self.consumer,
            only=self.owned,
            count=self.batch_size,
            wait_ms=self.batch_ms,
            claim_idle_ms=self.claim_idle_ms,
            # the whole batch a crash left pending comes back as one: its ClickHouse
            # deduplication token is derived from its message ids
            replay_count=10 * self.batch_size,
        )
        self.reader.ensure_group()
        # an entry is acked in the transaction of its stream's partition
        self._stream_partition = {self.keys.observations(p): p for p in range(self.partitions)}
        self.health = HealthReporter(self.client, self.keys.health(INGEST))
        self.tally = Tally()

    def next_batch(self) -> list[Message]:
        return self.reader.next()

    # -- state -------------------------------------------------------------
    def load_state(
        self, decoded: Sequence[tuple[int, Observation]], replay: bool = False
    ) -> dict[str, LastState]:
        """Last accepted state of every series the batch touches.

        Redis holds it; on a miss (a product's first sighting, or a Redis that
        lost its data) ClickHouse knows. When the batch is a replay after a
        crash, ClickHouse may already hold this very batch's rows, so it is
        asked for the state *before* each series' earliest observation here.
        """
        earliest: dict[str, int] = {}
        for _, obs in decoded:
            skey = series_text(obs.market, obs.asin, obs.series)
            if obs.observed_at < earliest.get(skey, obs.observed_at + 1):
                earliest[skey] = obs.observed_at
        by_partition: dict[int, list[str]] = {}
        for skey in earliest:
            market, asin, _ = skey.split(":", 2)
            by_partition.setdefault(partition_of(market, asin, self.partitions), []).append(skey)
        pipe = self.client.pipeline(transaction=False)
        order: list[list[str]] = []
        for p, fields in by_partition.items():
            pipe.hmget(self.keys.last_price(p), fields)
            order.append(fields)
        state: dict[str, LastState] = {}
        missing: list[str] = []
        for fields, values in zip(order, pipe.execute(), strict=True):
            for field, raw in zip(fields, values, strict=True):
                if raw is None:
                    missing.append(field)
                else:
                    state[field] = _state_decoder.decode(raw)
        if missing:
            series = [SeriesKey.parse(k) for k in missing]
            if replay:
                found = self.store.last_accepted_before(
                    {key: earliest[k] for key, k in zip(series, missing, strict=True)}
                )
            else:
                found = self.store.last_accepted(series)
            for key, last in found.items():
                state[series_text(*key)] = last
        return state

    # -- one round ---------------------------------------------------------
    def process_batch(self, messages: Sequence[Message]) -> BatchStats:
        stats = BatchStats(messages=len(messages))
        if not messages:
            return stats
        now_ms = int(self.clock() * 1000)
        decoded, dead = decode_batch([m.data for m in messages], now_ms)
        replay = any(m.deliveries > 1 for m in messages)
        state = self.load_state(decoded, replay=replay)
        self.gate.prepare([o for _, o in decoded], state)
        outcome = process(decoded, state, self.gate.check)
        outcome.dead.extend(dead)
        if replay:
            # A replay may hold a batch that reached ClickHouse before, read in another
            # grouping (part of a dead consumer's pending entries taken over, a replay
            # longer than replay_count): its batch token differs, so rows are matched.
            outcome.accepted, stored = self._not_stored(outcome.accepted)
            outcome.duplicates += stored
        if outcome.late:
            late, stored = self._not_stored(outcome.late)
            outcome.accepted.extend(late)
            outcome.duplicates += stored
        token = batch_token(messages)
        if outcome.accepted:
            self.store.insert_observations(outcome.accepted, dedup_token=token)
        if outcome.changes:
            # before the commit that publishes them: a batch replayed after a crash
            # yields the same changes again, and the token keeps them from doubling
            self.store.insert_changes(outcome.changes, dedup_token=token)
        if outcome.products:
            self.store.upsert_products(list(outcome.products.values()))
        self.commit(messages, outcome)
        stats.accepted = len(outcome.accepted)
        stats.changes = len(outcome.changes)
        stats.dead = len(outcome.dead)
        stats.duplicates = outcome.duplicates
        stats.held = len(outcome.held)
        return stats

    def _not_stored(self, observations: list[Observation]) -> tuple[list[Observation], int]:
        """``observations`` less those ClickHouse holds (same point, same price), and
        how many those were."""
        if not observations:
            return observations, 0
        stored = self.store.existing_points(
            [(o.market, o.asin, o.series, o.observed_at) for o in observations]
        )
        fresh = [
            o
            for o in observations
            if stored.get((o.market, o.asin, o.series, o.observed_at), _ABSENT) != o.price
        ]
        return fresh, len(observations) - len(fresh)

    def commit(self, messages: Sequence[Message], outcome: Outcome) -> None:
        """Changes, state, dead letters and acks in one transaction (on a Redis Cluster,
        one per partition: :mod:`pricewatch.storage.transactions`)."""
        tx = BatchTransactions(self.client, self.partitions)
        self.changes.add_many(tx.of_partition, outcome.changes, CHANGES_PER_ENTRY)
        by_partition: dict[int, dict[Any, bytes]] = {}
        for skey, st in outcome.state.items():
            market, asin, _ = skey.split(":", 2)
            by_partition.setdefault(partition_of(market, asin, self.partitions), {})[skey] = (
                _state_encoder.encode(st)
            )
        for p, mapping in by_partition.items():
            tx.of_partition(p).hset(self.keys.last_price(p), mapping=mapping)
        outside = tx.outside()
        # cached chart histories of a product whose price moved are stale now
        drop_histories(outside, self.keys, {(c.market, c.asin) for c in outcome.changes})
        # an ASIN whose page does not exist is not queued again for a while; one that
        # turned out to exist after all is no longer missing
        for o in outcome.not_found:
            outside.set(self.keys.not_found(o.market, o.asin), b"1", ex=self.not_found_ttl_s)
        for market, asin in outcome.new_products:
            outside.delete(self.keys.not_found(market, asin))
        for index, reason, payload in outcome.dead:
            dead_letter(outside, self.keys, messages[index], reason, role=INGEST, payload=payload)
        self.gate.settle(outcome, tx.of_product)
        by_stream: dict[str, list[Message]] = {}
        for m in messages:
            by_stream.setdefault(m.stream, []).append(m)
        for stream, acked in by_stream.items():
            self.reader.ack(acked, pipe=tx.of_partition(self._stream_partition[stream]))
        tx.execute()

    def run(self, stop: threading.Event) -> None:
        log.info(
            "ingest consumer %s on partitions %s of %d",
            self.consumer,
            ", ".join(map(str, self.owned)) if self.owned else "all",
            self.partitions,
        )
        consume(
            self.reader,
            self._round,
            stop,
            log=log,
            what="ingest batch",
            on_ok=self.health.ok,
            on_error=self._failed,
        )
        self.health.withdraw()

    def _round(self, messages: Sequence[Message]) -> None:
        stats = self.process_batch(messages)
        log.debug("batch %s", stats)
        if stats.messages:
            metrics.BATCH_MESSAGES.observe(stats.messages)
            metrics.ACCEPTED.inc(stats.accepted)
            metrics.DUPLICATE.inc(stats.duplicates)
            metrics.HELD.inc(stats.held)
            metrics.CHANGES.inc(stats.changes)
            metrics.DEAD_LETTERS.inc(stats.dead)
        due = self.tally.add(self.clock(), observations=stats.accepted, changes=stats.changes)
        if due:
            log.info(
                "ingested %d observations, %d changes in the last minute",
                due["observations"],
                due["changes"],
            )

    def _failed(self, exc: Exception) -> None:
        metrics.FAILED_BATCHES.inc()
        self.health.error(f"batch not written, kept pending: {type(exc).__name__}: {exc}")


__all__ = ["BatchStats", "HistoryStore", "IngestWorker", "batch_token"]

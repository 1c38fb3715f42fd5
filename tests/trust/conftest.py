"""Trust-but-verify against real services: Redis, chDB, and SQLite (PostgreSQL where marked)."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from pricewatch.frontier import Frontier
from pricewatch.ingest.worker import IngestWorker
from pricewatch.keys import (
    INGEST_GROUP,
    OBSERVATIONS,
    PRICE_CHANGES,
    PRICE_CORRECTIONS,
    Keys,
    partition_of,
)
from pricewatch.models import Observation, PriceChange, PriceCorrection, Series, decode_many
from pricewatch.storage import sql
from pricewatch.storage.clickhouse import PriceStore, all_time_lows
from pricewatch.storage.sql_blocking import BlockingSql
from pricewatch.storage.streams import PartitionedStream
from pricewatch.trust import TrustGate, TrustPolicy
from tests.clock import ManualClock
from tests.observations import observation
from tests.sql_store import subscribed

PARTITIONS = 2
ASIN = "B07CLN88MV"
# the partition of the tests' product: its trust records live there
PARTITION = partition_of("us", ASIN, PARTITIONS)


@pytest.fixture
def blocking_sql(sql_url: str) -> Iterator[BlockingSql]:
    runner = BlockingSql(sql_url)
    yield runner
    runner.close()


@dataclasses.dataclass
class Env:
    client: redis.Redis
    keys: Keys
    store: PriceStore
    sql: BlockingSql
    # the time every component of one test reads
    clock: ManualClock
    gate: TrustGate
    worker: IngestWorker
    frontier: Frontier

    def obs(
        self,
        price: int | None = 10_000,
        *,
        source: str = "extension",
        reporter: str | None = "install:aaaaaaaa:ip1",
        at: int | None = None,
        asin: str = ASIN,
        series: Series = Series.BUYBOX,
    ) -> Observation:
        return observation(
            self.clock.ms if at is None else at,
            price,
            asin=asin,
            source=source,
            reporter=reporter if source == "extension" else None,
            series=series,
        )

    def publish(self, *observations: Observation) -> None:
        PartitionedStream(self.keys, OBSERVATIONS, PARTITIONS).publish(
            self.client, ((o.market, o.asin, o) for o in observations)
        )

    def drain(self) -> int:
        """Ingest until the group has been handed every message (re-publishes included)."""
        held = 0
        while self.unread():
            batch = self.worker.next_batch()
            if batch:
                held += self.worker.process_batch(batch).held
        return held

    def unread(self) -> bool:
        for key in PartitionedStream(self.keys, OBSERVATIONS, PARTITIONS).stream_keys():
            if not self.client.exists(key):
                continue
            last = self.client.xinfo_stream(key)["last-generated-id"]
            for group in self.client.xinfo_groups(key):
                if group["name"] == INGEST_GROUP.encode() and group["last-delivered-id"] != last:
                    return True
        return False

    def ingest(self, *observations: Observation, step_ms: int = 1_000) -> int:
        self.clock.ms += step_ms
        self.publish(*observations)
        return self.drain()

    def _stream(self, name: str, type_: Any) -> list[Any]:
        out = []
        for key in PartitionedStream(self.keys, name, PARTITIONS).stream_keys():
            out += [e for _, f in self.client.xrange(key) for e in decode_many(f[b"d"], type_)]
        return out

    def changes(self) -> list[PriceChange]:
        return sorted(self._stream(PRICE_CHANGES, PriceChange), key=lambda c: c.observed_at)

    def corrections(self) -> list[PriceCorrection]:
        return self._stream(PRICE_CORRECTIONS, PriceCorrection)

    def stored(self, asin: str = ASIN) -> list[tuple[int, int | None, str]]:
        return [
            tuple(r)
            for r in self.store.client.query(
                f"SELECT toUnixTimestamp64Milli(observed_at), price, source "
                f"FROM {self.store.database}.prices_raw WHERE asin = {{a:String}} "
                "ORDER BY observed_at",
                parameters={"a": asin},
            ).result_rows
        ]

    def subscribe(
        self, threshold: int, asin: str = ASIN, email: str | None = None, series: str = "buybox"
    ) -> int:
        async def work(db: Any) -> int:
            address = email or f"{threshold}-{asin}@example.com"
            return (await subscribed(db, address, asin, threshold, series=series)).id

        return self.sql.run(work)

    def vouch(self, reporter: str, confirmed: int = 2) -> None:
        async def work(db: Any) -> None:
            for _ in range(confirmed):
                await sql.record_verdict(db, reporter, True)

        self.sql.run(work)

    def reporter(self, reporter: str) -> Any:
        return self.sql.run(lambda db: sql.get_reporter(db, reporter))


def ingest_worker(
    client: redis.Redis, keys: Keys, store: PriceStore, gate: TrustGate, clock: ManualClock
) -> IngestWorker:
    """The ingest worker of the trust tests (consumer c1, batches as they come) with
    ``gate`` in front of ``store``, on the test's clock."""
    return IngestWorker(
        client,
        keys,
        store,
        partitions=PARTITIONS,
        consumer="c1",
        batch_size=1000,
        batch_ms=5,
        gate=gate,
        clock=clock.seconds,
    )


@pytest.fixture
def make_env(
    redis_client: redis.Redis,
    keys: Keys,
    price_store: PriceStore,
    sql_url: str,
    blocking_sql: BlockingSql,
) -> Iterator[Any]:
    made: list[TrustGate] = []

    def make(policy: TrustPolicy | None = None, **gate_kw: Any) -> Env:
        clock = ManualClock(int(time.time() * 1000) - 3_600_000)
        gate = TrustGate(
            redis_client,
            keys,
            partitions=PARTITIONS,
            sql=BlockingSql(sql_url),
            lows=lambda series: all_time_lows(price_store, series),
            frontier=Frontier(redis_client, keys, partitions=PARTITIONS),
            policy=policy or TrustPolicy(),
            clock=clock.seconds,
            **gate_kw,
        )
        made.append(gate)
        worker = ingest_worker(redis_client, keys, price_store, gate, clock)
        frontier = Frontier(redis_client, keys, partitions=PARTITIONS)
        return Env(redis_client, keys, price_store, blocking_sql, clock, gate, worker, frontier)

    yield make
    for gate in made:
        gate.sql.close()

"""The transactions of one ingest batch: one MULTI per Redis Cluster slot it touches.

A batch holds entries of several stream partitions. On a single Redis it commits in
one MULTI, as ever. On a Redis Cluster a MULTI may only hold keys of one slot, so
every key a batch writes for a product carries its partition's hash tag
(:mod:`pricewatch.keys`) and each partition commits its own MULTI: its changes,
state, trust records, verification crawls and acks together, or not at all. Writes
that belong to no partition (dead letters, dropped chart caches) go first in a plain
pipeline there; each is harmless when a replay of the batch repeats it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import redis
import redis.cluster

from pricewatch.keys import partition_of

# the pipeline that writes for a product (market, asin)
PipeFor = Callable[[str, str], Any]


class BatchTransactions:
    def __init__(self, client: redis.Redis, partitions: int) -> None:
        self.client = client
        self.partitions = partitions
        self.cluster = isinstance(client, redis.cluster.RedisCluster)
        self._by_partition: dict[int, Any] = {}
        self._outside: Any = None

    def of_partition(self, partition: int) -> Any:
        """The transaction of ``partition`` (the only one, on a single Redis)."""
        slot = partition if self.cluster else 0
        pipe = self._by_partition.get(slot)
        if pipe is None:
            pipe = self._by_partition[slot] = self.client.pipeline(transaction=True)
        return pipe

    def of_product(self, market: str, asin: str) -> Any:
        return self.of_partition(partition_of(market, asin, self.partitions))

    def outside(self) -> Any:
        """For writes of no partition: the one transaction on a single Redis; on a
        cluster a plain pipeline that runs before the transactions."""
        if not self.cluster:
            return self.of_partition(0)
        if self._outside is None:
            self._outside = self.client.pipeline(transaction=False)
        return self._outside

    def execute(self) -> None:
        if self._outside is not None:
            self._outside.execute()
        for pipe in self._by_partition.values():
            pipe.execute()

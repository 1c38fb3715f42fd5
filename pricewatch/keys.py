"""Every Redis key and stream name, in one module.

Nobody else writes a key string. Keys carry a common prefix so one Redis can
host several deployments (and tests can isolate themselves).
"""

from __future__ import annotations

import dataclasses
import zlib

# Stream names (per partition: "<prefix>observations:<n>")
OBSERVATIONS = "observations"
PRICE_CHANGES = "price-changes"
PRICE_CORRECTIONS = "price-corrections"
DEAD_LETTER = "dead-letter"

# Consumer groups
INGEST_GROUP = "ingest"
ALERTS_GROUP = "alerts"


def partition_of(market: str, asin: str, partitions: int) -> int:
    """Stable partition for a product: same product, same partition, same order.

    crc32 is stable across processes and languages (Python's hash() is not).
    """
    return zlib.crc32(f"{market}:{asin}".encode()) % partitions


@dataclasses.dataclass(frozen=True)
class Keys:
    prefix: str = "pw:"

    def stream(self, name: str, partition: int) -> str:
        return f"{self.prefix}{name}:{partition}"

    def observations(self, partition: int) -> str:
        return self.stream(OBSERVATIONS, partition)

    def price_changes(self, partition: int) -> str:
        return self.stream(PRICE_CHANGES, partition)

    def price_corrections(self, partition: int) -> str:
        return self.stream(PRICE_CORRECTIONS, partition)

    @property
    def dead_letter(self) -> str:
        return f"{self.prefix}{DEAD_LETTER}"

    # ingest: last accepted state per (market, asin, series), a hash field per product
    def last_price(self, partition: int) -> str:
        return f"{self.prefix}last-price:{partition}"

    # crawl frontier (sorted set of product keys by priority) + task payloads
    @property
    def frontier(self) -> str:
        return f"{self.prefix}frontier"

    @property
    def frontier_tasks(self) -> str:
        return f"{self.prefix}frontier:tasks"

    @property
    def frontier_verify(self) -> str:
        return f"{self.prefix}frontier:verify"

    @property
    def frontier_inflight(self) -> str:
        return f"{self.prefix}frontier:inflight"

    def proxy_next_slot(self, proxy: str) -> str:
        return f"{self.prefix}politeness:{proxy}"

    def proxy_ban(self, proxy: str) -> str:
        return f"{self.prefix}proxy-ban:{proxy}"

    def views(self, market: str, asin: str) -> str:
        return f"{self.prefix}views:{market}:{asin}"

    @property
    def views_dirty(self) -> str:
        return f"{self.prefix}views:dirty"

    def history_cache(self, market: str, asin: str, variant: str) -> str:
        return f"{self.prefix}history:{market}:{asin}:{variant}"

    def history_cache_index(self, market: str, asin: str) -> str:
        return f"{self.prefix}history-index:{market}:{asin}"

    def rate_limit(self, scope: str, ident: str) -> str:
        return f"{self.prefix}rate:{scope}:{ident}"


DEFAULT_KEYS = Keys()

"""What every request handler reaches: the stores and caches, built once per
application.

Handlers ask for it as the ``api`` dependency (``api.dependencies``). ClickHouse
calls are blocking (chDB has no async client), so they go through ``clickhouse()``,
which runs them on a small thread pool and never on the event loop.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import redis.asyncio
from sqlalchemy.ext.asyncio import AsyncEngine

from api.services.chart_reads import ChartReads
from api.services.history_cache import HistoryCache
from api.services.views import ViewTally
from pricewatch.egress import EgressPolicy
from pricewatch.frontier import AsyncFrontier
from pricewatch.keys import Keys
from pricewatch.settings import Settings
from pricewatch.storage.clickhouse import PriceStore

T = TypeVar("T")


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclasses.dataclass
class ApiState:
    settings: Settings
    keys: Keys
    redis: redis.asyncio.Redis
    db: AsyncEngine
    prices: PriceStore
    executor: ThreadPoolExecutor
    frontier: AsyncFrontier
    # computed charts: this process's near cache in front of Redis
    history: HistoryCache
    clock: Callable[[], int] = wall_clock_ms
    # one per chart query that may run at once (see ChartReads); none: ``prices`` alone
    chart_stores: list[PriceStore] = dataclasses.field(default_factory=list)
    # chart views not yet added to the Redis counters
    views: ViewTally = dataclasses.field(default_factory=ViewTally)
    # what webhook URLs users give may point at; built from the settings on first use
    # (tests set one whose resolver stands in for DNS)
    egress: EgressPolicy | None = None
    # chart misses' ClickHouse reads, gathered into shared queries
    chart_reads: ChartReads = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        self.chart_reads = ChartReads(self.chart_stores or [self.prices], self.clickhouse)

    def egress_policy(self) -> EgressPolicy:
        if self.egress is None:
            self.egress = EgressPolicy(self.settings.egress_allow)
        return self.egress

    async def clickhouse(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a blocking PriceStore call off the event loop."""
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

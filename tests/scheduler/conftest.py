from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import redis as redis_lib
from sqlalchemy.ext.asyncio import AsyncEngine

from pricewatch.frontier import Frontier
from pricewatch.keys import Keys
from pricewatch.storage.clickhouse import PriceStore
from pricewatch.storage.sql import create_engine, create_user, migrate_sql_async
from scheduler.jobs import CrawlScheduler, SchedulerConfig

DAY = 86_400_000
# Midnight UTC today: the views table's TTL runs on the real clock, so test times must
# be recent; a day boundary keeps "the last 7 days" exact.
NOW = int(time.time() * 1000) // DAY * DAY


@pytest.fixture
async def sql_db(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path}/pricewatch.db")
    await migrate_sql_async(engine)
    yield engine
    await engine.dispose()


@pytest.fixture
async def user_id(sql_db: AsyncEngine) -> int:
    user = await create_user(sql_db, "shopper@example.com", "hash", now=NOW - 40 * DAY)
    return user.id


@pytest.fixture
def make_scheduler(
    price_store: PriceStore, sql_db: AsyncEngine, redis_client: redis_lib.Redis, keys: Keys
) -> Any:
    def make(**config: Any) -> CrawlScheduler:
        options: dict[str, Any] = {"budget": 1.0, "window_s": 3600.0, "frontier_max": 1000}
        options.update(config)
        cfg = SchedulerConfig(**options)
        return CrawlScheduler(
            clickhouse=price_store.client,
            database=price_store.database,
            db=sql_db,
            redis_client=redis_client,
            keys=keys,
            frontier=Frontier(redis_client, keys, max_size=cfg.frontier_max, partitions=1),
            config=cfg,
        )

    return make

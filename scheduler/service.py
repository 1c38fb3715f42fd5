"""Running the scheduler until told to stop.

``pricewatch up`` calls :func:`run` in a thread of the process that owns the embedded
chDB engine (and passes that engine's client in); ``pricewatch scheduler`` calls it in
the foreground. The jobs run on an APScheduler ``AsyncIOScheduler`` inside a private
event loop on the calling thread; blocking store calls go to worker threads.

Any number of schedulers may run; the jobs run only in the one that holds the lease
(``pricewatch.leader``): the others keep theirs paused and poll, and the first to see
the lease free (its holder stopped, or died and stopped renewing) takes over.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.schedulers.base import STATE_PAUSED

from pricewatch.frontier import Frontier
from pricewatch.keys import Keys
from pricewatch.leader import Elector, Lease, default_owner
from pricewatch.settings import Settings
from pricewatch.storage.clickhouse import database_from_url, get_clickhouse, migrate
from pricewatch.storage.redis import connect
from pricewatch.storage.sql import create_engine, migrate_sql
from scheduler.jobs import CrawlScheduler, JobIntervals, SchedulerConfig, add_jobs
from scheduler.scoring import ScoringParams, fleet_budget

log = logging.getLogger(__name__)

_POLL_S = 0.2


def config_from_settings(settings: Settings) -> SchedulerConfig:
    """The jobs' configuration: the fleet budget follows the proxies."""
    budget = fleet_budget(
        proxies=len(settings.proxies),
        proxy_interval_s=settings.proxy_interval_s,
        verify_share=settings.scheduler_verify_share,
        direct_interval_s=settings.direct_interval_s,
    )
    return SchedulerConfig(
        budget=budget,
        market_budgets=dict(settings.scheduler_market_budgets),
        params=ScoringParams(
            min_interval_s=settings.scheduler_min_interval_s,
            max_interval_s=settings.scheduler_max_interval_s,
        ),
        window_s=settings.scheduler_window_s,
        frontier_max=settings.scheduler_frontier_max,
        discovery_markets=settings.scheduler_discovery_markets,
    )


def intervals_from_settings(settings: Settings) -> JobIntervals:
    return JobIntervals(
        refill_s=settings.scheduler_refill_s,
        rescore_s=settings.scheduler_rescore_s,
        full_rescore_s=settings.scheduler_full_rescore_s,
        discovery_s=settings.scheduler_discovery_s,
    )


def _clock_ms() -> int:
    return int(time.time() * 1000)


def _follow(aps: AsyncIOScheduler, leading: bool) -> None:
    """Run the jobs while leading, pause them otherwise. A job already running finishes
    on its own; its fenced writes are refused once another scheduler leads."""
    paused = aps.state == STATE_PAUSED
    if leading and paused:
        aps.resume()
    elif not leading and not paused:
        aps.pause()
        log.info("scheduler jobs paused: another scheduler leads")


async def _serve(
    settings: Settings, redis_url: str, stop: threading.Event, client: Any, database: str
) -> None:
    # APScheduler logs two lines per job run and more as it adds them: the jobs say
    # what they did themselves, and failures are warnings either way. Its chatter
    # shows when our own debug lines do.
    logging.getLogger("apscheduler").setLevel(
        logging.DEBUG if log.isEnabledFor(logging.DEBUG) else logging.WARNING
    )
    config = config_from_settings(settings)
    engine = create_engine(settings.database_url)
    redis_client = connect(redis_url)
    keys = Keys(prefix=settings.key_prefix)
    lease = Lease(
        redis_client,
        keys,
        default_owner(),
        ttl_s=settings.scheduler_lease_ttl_s,
        partitions=settings.stream_partitions,
    )
    elector = Elector(lease)
    scheduler = CrawlScheduler(
        clickhouse=client,
        database=database,
        db=engine,
        redis_client=redis_client,
        keys=keys,
        frontier=Frontier(
            redis_client, keys, max_size=config.frontier_max, partitions=settings.stream_partitions
        ),
        config=config,
        fence=elector.token,
    )
    aps = AsyncIOScheduler(event_loop=asyncio.get_running_loop(), timezone="UTC")
    add_jobs(aps, scheduler, intervals_from_settings(settings), _clock_ms)
    aps.start(paused=True)
    log.info("scheduler running: budget %.2f crawls/s", config.budget)
    try:
        next_step = 0.0
        while not stop.is_set():
            if time.monotonic() >= next_step:
                await asyncio.to_thread(elector.step)
                next_step = time.monotonic() + elector.poll_s
            # between steps too: a term that ran out (Redis away) pauses the jobs
            _follow(aps, elector.leading())
            await asyncio.sleep(_POLL_S)
    finally:
        # Let running jobs finish first: shutting down cancels their tasks, but not the
        # worker threads they wait on, which would go on using connections closed below.
        aps.pause()
        running = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        await asyncio.gather(*running, return_exceptions=True)
        aps.shutdown(wait=False)
        # at once rather than after the TTL: a standby takes over without a gap
        await asyncio.to_thread(elector.resign)
        await engine.dispose()
        redis_client.close()


def run(
    settings: Settings, redis_url: str, stop: threading.Event, clickhouse_client: Any = None
) -> None:
    """Migrate the stores (idempotent), then run the jobs whenever this scheduler leads,
    until ``stop`` is set."""
    cluster = settings.clickhouse_cluster
    client = clickhouse_client or get_clickhouse(settings.clickhouse_url, cluster=cluster)
    database = database_from_url(settings.clickhouse_url)
    try:
        migrate(client, database, cluster=cluster)
        migrate_sql(settings.database_url)
        asyncio.run(_serve(settings, redis_url, stop, client, database))
    finally:
        if clickhouse_client is None:
            client.close()

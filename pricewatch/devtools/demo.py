"""Demo mode (``pricewatch up --demo``): Pricewatch against a local marketplace.

A few dozen made-up products whose prices move every minute are served by
local marketplace servers (one per market, so each knows its market without
DNS). The crawler is pointed at them through market origins, and the demo
keeps every product on the frontier, so a new user sees charts fill and alerts
fire without touching Amazon.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import threading
import time
from collections.abc import Iterator

import redis

from pricewatch.devtools.marketplace import DemoCatalog, Marketplace, demo_catalog
from pricewatch.frontier import Frontier
from pricewatch.models import CrawlTask

log = logging.getLogger(__name__)

# How often the demo moves prices forward and queues every product again.
TICK_S = 20.0


@dataclasses.dataclass(frozen=True)
class Demo:
    # market -> origin of its local marketplace (PRICEWATCH_MARKET_ORIGINS)
    origins: dict[str, str]
    tasks: list[CrawlTask]

    @property
    def origins_setting(self) -> str:
        return ",".join(f"{market}={origin}" for market, origin in self.origins.items())


@contextlib.contextmanager
def demo_marketplace(products: int = 36, seed: int = 0) -> Iterator[Demo]:
    """Start the demo marketplaces and the clock that moves their prices."""
    catalog = demo_catalog(products, seed=seed)
    with contextlib.ExitStack() as stack:
        origins = {}
        for market in sorted({p.market for p in catalog.products()}):
            site = stack.enter_context(Marketplace(catalog, tls=False, default_market=market))
            origins[market] = site.base_url.rstrip("/")
        stop = threading.Event()
        stack.callback(stop.set)
        threading.Thread(target=_tick, args=(catalog, stop), name="demo-clock", daemon=True).start()
        log.info("demo marketplace: %d products on %s", products, ", ".join(origins.values()))
        yield Demo(
            origins,
            [CrawlTask(market=p.market, asin=p.asin, priority=1.0) for p in catalog.products()],
        )


def _tick(catalog: DemoCatalog, stop: threading.Event) -> None:
    while not stop.is_set():
        catalog.tick(time.time())
        stop.wait(TICK_S)


def keep_queued(frontier: Frontier, tasks: list[CrawlTask], stop: threading.Event) -> None:
    """The scheduler spends the crawl budget by interest; the demo wants every
    product re-crawled often, so it queues them all again every tick (the
    frontier keeps one entry per product)."""
    while not stop.is_set():
        try:
            frontier.push(tasks)
        except redis.RedisError as exc:
            # Redis restarting: the next tick queues them again
            log.warning("cannot queue the demo products: %s", exc)
        stop.wait(TICK_S)

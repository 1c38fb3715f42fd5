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
from pathlib import Path

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
def demo_marketplace(
    products: int = 36, seed: int = 0, *, state_file: Path | None = None
) -> Iterator[Demo]:
    """Start the demo marketplaces and the clock that moves their prices.

    With ``state_file`` the prices carry on across restarts from where they were
    (saved there every tick and on the way out), rather than starting their story
    again: a restart then sees what a shopper would see now, and no drop that never was.
    """
    catalog = demo_catalog(products, seed=seed)
    if state_file is not None and state_file.exists():
        if catalog.resume(state_file.read_bytes()):
            log.info("demo marketplace: prices carry on from %s", state_file)
        else:
            log.warning("demo marketplace: %s is not this demo's; prices start afresh", state_file)
    with contextlib.ExitStack() as stack:
        origins = {}
        for market in sorted({p.market for p in catalog.products()}):
            site = stack.enter_context(Marketplace(catalog, tls=False, default_market=market))
            origins[market] = site.base_url.rstrip("/")
        stop = threading.Event()
        clock = threading.Thread(
            target=_tick, args=(catalog, stop, state_file), name="demo-clock", daemon=True
        )
        clock.start()
        # last out: the clock stopped, the walk saved where it stands
        if state_file is not None:
            stack.callback(_save, catalog, state_file)
        stack.callback(clock.join, 5.0)
        stack.callback(stop.set)
        log.info(
            "demo marketplace: %d products in %d markets on %s",
            len(catalog),
            len(origins),
            ", ".join(origins.values()),
        )
        yield Demo(
            origins,
            [CrawlTask(market=p.market, asin=p.asin, priority=1.0) for p in catalog.products()],
        )


def _tick(catalog: DemoCatalog, stop: threading.Event, state_file: Path | None) -> None:
    while not stop.is_set():
        catalog.tick(time.time())
        if state_file is not None:
            _save(catalog, state_file)
        stop.wait(TICK_S)


def _save(catalog: DemoCatalog, state_file: Path) -> None:
    """Replace the saved state whole (a crash mid-write leaves the previous one)."""
    try:
        state_file.parent.mkdir(parents=True, exist_ok=True)
        partial = state_file.with_name(state_file.name + ".partial")
        partial.write_bytes(catalog.state())
        partial.replace(state_file)
    except OSError as exc:
        log.warning("demo marketplace: cannot save its prices to %s: %s", state_file, exc)


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

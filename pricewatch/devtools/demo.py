"""Demo mode (``pricewatch up --demo``): Pricewatch against a local marketplace.

A few dozen made-up products whose prices move every minute are served by
local marketplace servers (one per market, so each knows its market without
DNS). The crawler is pointed at them through market origins, and the demo
keeps every product on the frontier, so a new user sees charts fill and alerts
fire without touching Amazon.

With ``tls_dir`` the same catalog is also served over TLS on one more loopback
port, under the Amazon host names of the demo's markets, with a certificate from
a local CA kept in ``tls_dir``: what the demo browser (``pricewatch.devtools.browser``)
opens as www.amazon.com, www.amazon.de, ...
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

from pricewatch.devtools.browser import DemoSite
from pricewatch.devtools.marketplace import DemoCatalog, Marketplace, RequestLog, demo_catalog
from pricewatch.devtools.tls import local_ca
from pricewatch.frontier import Frontier
from pricewatch.markets import get_market
from pricewatch.models import CrawlTask

log = logging.getLogger(__name__)

# How often the demo moves prices forward and queues every product again.
TICK_S = 20.0


@dataclasses.dataclass(frozen=True)
class Demo:
    # market -> origin of its local marketplace (PRICEWATCH_MARKET_ORIGINS)
    origins: dict[str, str]
    tasks: list[CrawlTask]
    # the TLS marketplace under the Amazon names (with ``tls_dir``), else None, and
    # every request it served
    site: DemoSite | None = None
    site_requests: RequestLog | None = None
    # what the marketplaces sell, prices as they stand now
    catalog: DemoCatalog | None = None

    @property
    def origins_setting(self) -> str:
        return ",".join(f"{market}={origin}" for market, origin in self.origins.items())


@contextlib.contextmanager
def demo_marketplace(
    products: int = 36,
    seed: int = 0,
    *,
    state_file: Path | None = None,
    tls_dir: Path | None = None,
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
        tls_site, tls_log = None, None
        if tls_dir is not None and len(catalog):
            tls_site, tls_log = _tls_site(stack, catalog, tls_dir)
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
            tls_site,
            tls_log,
            catalog,
        )


def demo_hostnames(markets: list[str]) -> tuple[str, ...]:
    """The Amazon names of ``markets``, www first: www.amazon.com, amazon.com, ..."""
    names: list[str] = []
    for code in markets:
        domain = get_market(code).domain
        names += [f"www.{domain}", domain]
    return tuple(dict.fromkeys(names))


def _tls_site(
    stack: contextlib.ExitStack, catalog: DemoCatalog, tls_dir: Path
) -> tuple[DemoSite, RequestLog]:
    """One more marketplace, over TLS, for every demo market at once (the market comes
    from the Host header); its certificate is issued afresh by the kept CA."""
    products = catalog.products()
    markets = sorted({p.market for p in products}, key=lambda m: (m != "us", m))
    ca = local_ca(tls_dir)
    hostnames = demo_hostnames(markets)
    site = stack.enter_context(
        Marketplace(catalog, tls=True, default_market=markets[0], certificate=ca.issue(hostnames))
    )
    first = next(p for p in products if p.market == markets[0])
    start_url = get_market(first.market).product_url(first.asin)
    log.info("demo marketplace over TLS on 127.0.0.1:%d as %s", site.tls_port, start_url)
    return DemoSite(site.tls_port, hostnames, ca.spki_sha256, start_url), site.log


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

"""The crawler fleet end to end: 3 worker processes, 4 proxies, 200 products, one
proxy served robot checks, one worker killed mid-run."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import redis as redis_lib

from pricewatch.devtools.marketplace import Catalog, Marketplace, demo_catalog, min_gap_per_ip
from pricewatch.devtools.proxies import ProxyPool
from pricewatch.frontier import Frontier
from pricewatch.keys import Keys
from pricewatch.markets import get_market
from pricewatch.models import CrawlTask
from tests.crawler.conftest import WARNING_LINE, Workers, read_observations
from tests.frontiers import inflight_entries

PRODUCTS = 200
PARTITIONS = 4
# half the default second between two requests of one IP: politeness is held just the
# same, and the crawl takes half as long
INTERVAL_S = 0.5


def leased_by(client: redis_lib.Redis, frontier: Frontier, pid: int) -> set[str]:
    """Task keys currently leased to the worker process ``pid``."""
    entries = inflight_entries(client, frontier.keys, len(frontier.partitions))
    return {
        key.decode()
        for key, entry in entries.items()
        if f"-{pid}-" in entry.decode().split("\t", 1)[0]
    }


@pytest.mark.slow
@pytest.mark.redis
def test_fleet_observes_every_product_politely_through_proxies(
    redis_client: redis_lib.Redis, redis_url: str, keys: Keys, workers: Workers, tmp_path: Path
) -> None:
    # a plain catalog (prices hold still) of demo products over five markets
    catalog = Catalog(demo_catalog(PRODUCTS, seed=7).products())
    products = catalog.products()
    markets = sorted({p.market for p in products})
    frontier = Frontier(redis_client, keys, partitions=PARTITIONS)
    frontier.push(CrawlTask(market=p.market, asin=p.asin) for p in products)

    # the request log is kept beside the worker logs, to read when this fails
    with (
        Marketplace(catalog, tls=False, log_file=tmp_path / "requests.jsonl") as site,
        ProxyPool(4, route=site.upstream) as pool,
    ):
        proxy_ips = {proxy.ip for proxy in pool.proxies}
        captcha_ip = pool.proxies[0].ip
        site.captcha_ips.add(captcha_ip)
        env = {
            "PRICEWATCH_REDIS_URL": redis_url,
            "PRICEWATCH_KEY_PREFIX": keys.prefix,
            "PRICEWATCH_STREAM_PARTITIONS": str(PARTITIONS),
            "PRICEWATCH_PROXIES": ",".join(proxy.url for proxy in pool.proxies),
            "PRICEWATCH_PROXY_INTERVAL_S": str(INTERVAL_S),
            # plain http through the proxies, which send Amazon hosts to the marketplace
            "PRICEWATCH_MARKET_ORIGINS": ",".join(
                f"{m}=http://www.{get_market(m).domain}" for m in markets
            ),
            "PRICEWATCH_CRAWL_LEASE_MS": "10000",
            "PRICEWATCH_CRAWL_CONCURRENCY": "4",
            "PRICEWATCH_CRAWL_IDLE_CLOSE_S": "3",
        }
        started = time.monotonic()
        fleet = [workers.start(env) for _ in range(3)]
        victim = fleet[0]

        # kill one worker once the crawl is well under way, while it holds leases
        deadline = time.monotonic() + 120
        while len(read_observations(redis_client, keys, PARTITIONS)) < PRODUCTS // 4:
            assert time.monotonic() < deadline, victim.output()
            assert victim.proc.poll() is None, victim.output()
            time.sleep(0.2)
        lost = leased_by(redis_client, frontier, victim.proc.pid)
        victim.kill()
        assert lost, "the killed worker held no lease"

        for worker in fleet[1:]:
            worker.proc.wait(240)
        elapsed = time.monotonic() - started
        records = site.log.records()
        served_captchas = site.log.for_ip(captcha_ip)

    survivors = [worker.output() for worker in fleet[1:]]
    for worker, output in zip(fleet[1:], survivors, strict=True):
        assert worker.proc.returncode == 0, output
        assert not WARNING_LINE.search(output), output
    # the survivors returned the dead worker's expired leases to the frontier
    assert "expired tasks to the frontier" in "".join(survivors)

    # every product observed, with the catalog's price; no robot check became one
    observations = read_observations(redis_client, keys, PARTITIONS)
    seen = {(o.market, o.asin): o for o in observations}
    assert set(seen) == {p.key for p in products}
    for product in products:
        obs = seen[product.key]
        assert obs.price == (product.price if product.shows_price else None), product
        assert obs.currency == get_market(product.market).currency
        assert obs.title == product.title
        assert obs.availability == product.availability
    assert lost <= {f"{m}:{a}" for m, a in seen}  # the killed worker's leases came back
    assert frontier.size() == 0 and frontier.inflight_size() == 0

    # politeness and proxies, as the marketplace saw them
    assert {r.client_ip for r in records} <= proxy_ips  # never direct
    gaps = min_gap_per_ip(records)
    assert min(gaps.values()) >= INTERVAL_S, gaps
    # the robot-checking proxy was tried, then left alone by rotation
    good_counts = [
        len([r for r in records if r.client_ip == ip]) for ip in proxy_ips - {captcha_ip}
    ]
    assert 1 <= len(served_captchas) <= min(good_counts) // 3, (len(served_captchas), good_counts)
    print(f"fleet crawl: {PRODUCTS} products, {len(records)} requests in {elapsed:.1f} s")

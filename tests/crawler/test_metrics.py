"""A crawler process's metrics endpoint and JSON logs, while it crawls the local
marketplace through two local proxies, one of which is served robot checks."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import redis as redis_lib

from pricewatch.devtools.marketplace import Catalog, Marketplace, demo_catalog
from pricewatch.devtools.proxies import ProxyPool
from pricewatch.frontier import Frontier
from pricewatch.keys import Keys
from pricewatch.markets import get_market
from pricewatch.metrics import CRAWLER_PORT_OFFSET
from pricewatch.models import CrawlTask
from tests.crawler.conftest import Workers, read_observations
from tests.scrape import get, labels_of, total, value, wait_for
from tests.services import free_port

PRODUCTS = 8
PARTITIONS = 2


@pytest.mark.redis
def test_a_crawl_moves_the_crawler_metrics_and_logs_json(
    redis_client: redis_lib.Redis, redis_url: str, keys: Keys, workers: Workers, tmp_path: Path
) -> None:
    products = Catalog(demo_catalog(PRODUCTS, seed=3).products()).products()
    markets = sorted({p.market for p in products})
    Frontier(redis_client, keys, partitions=PARTITIONS).push(
        CrawlTask(market=p.market, asin=p.asin) for p in products
    )
    port = free_port()
    base = f"http://127.0.0.1:{port}"

    with (
        Marketplace(Catalog(products), tls=False) as site,
        ProxyPool(2, route=site.upstream) as pool,
    ):
        captcha_proxy, good_proxy = pool.proxies
        site.captcha_ips.add(captcha_proxy.ip)
        worker = workers.start(
            {
                "PRICEWATCH_REDIS_URL": redis_url,
                "PRICEWATCH_KEY_PREFIX": keys.prefix,
                "PRICEWATCH_STREAM_PARTITIONS": str(PARTITIONS),
                "PRICEWATCH_PROXIES": ",".join(proxy.url for proxy in pool.proxies),
                "PRICEWATCH_PROXY_INTERVAL_S": "0.2",
                "PRICEWATCH_MARKET_ORIGINS": ",".join(
                    f"{m}=http://www.{get_market(m).domain}" for m in markets
                ),
                "PRICEWATCH_CRAWL_CONCURRENCY": "2",
                "PRICEWATCH_METRICS_PORT_BASE": str(port - CRAWLER_PORT_OFFSET),
                "PRICEWATCH_LOG_FORMAT": "json",
            }
        )
        deadline = time.monotonic() + 120
        while len(read_observations(redis_client, keys, PARTITIONS)) < PRODUCTS:
            assert worker.proc.poll() is None, worker.output()
            assert time.monotonic() < deadline, worker.output()
            time.sleep(0.2)
        # the last item is counted once the pipeline is through with it
        samples = wait_for(base, lambda s: value(s, "pricewatch_crawler_items_total") >= PRODUCTS)
        health = get(base + "/healthz")
        requests = site.log.records()
        served_captchas = len(site.log.for_ip(captcha_proxy.ip))

    pages = total(samples, "pricewatch_crawler_pages_total")
    assert value(samples, "pricewatch_crawler_pages_total", status="200") == pages
    # every page that reached the marketplace came off the wire and was counted
    assert pages >= len(requests) >= PRODUCTS
    assert value(samples, "pricewatch_crawler_items_total") == PRODUCTS
    # each robot check the marketplace served was detected as one
    assert served_captchas >= 1, "the robot-checking proxy was never used"
    assert value(samples, "pricewatch_crawler_bans_total", reason="captcha") == served_captchas
    # one latency histogram per proxy, named by host:port (never a credential)
    proxies = {
        labels["proxy"]
        for labels in labels_of(samples, "pricewatch_crawler_response_seconds_count")
    }
    assert proxies == {f"{p.ip}:{p.port}" for p in pool.proxies}
    assert (
        value(
            samples,
            "pricewatch_crawler_response_seconds_count",
            proxy=f"{good_proxy.ip}:{good_proxy.port}",
        )
        >= PRODUCTS
    )
    assert health == (200, '{"status": "ok"}')

    workers.stop()
    assert worker.proc.returncode == 0, worker.output()
    lines = worker.output().splitlines()
    assert lines
    for line in lines:
        entry = json.loads(line)
        assert {"time", "level", "logger", "message"} <= set(entry), line
        assert entry["level"] != "DEBUG", line  # LOG_LEVEL (INFO) holds in JSON too
    messages = [json.loads(line)["message"] for line in lines]
    assert any("metrics on http://127.0.0.1:" in m for m in messages)

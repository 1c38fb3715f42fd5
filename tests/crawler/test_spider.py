"""Crawler pieces: ban policy, listing parser, observations, URLs, the politeness gate,
and one worker process crawling the local marketplace directly (no proxies)."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

import pytest
import redis as redis_lib
from scrapy import Request
from scrapy.exceptions import IgnoreRequest
from scrapy.http import HtmlResponse
from scrapy.utils.test import get_crawler
from twisted.internet.error import ConnectionRefusedError, TCPTimedOutError
from twisted.web._newclient import ResponseNeverReceived

from crawler.bans import AmazonBanPolicy, looks_like_captcha
from crawler.discovery import enqueue_new_products
from crawler.listing import parse_listing
from crawler.middlewares import PolitenessGate, RotatingProxies, candidates, proxy_ip
from crawler.observations import observations_for
from crawler.parsing import PageKind, ParsedPage
from crawler.slots import IpSlots
from crawler.urls import amazon_url, fetch_url, product_url
from pricewatch.devtools.marketplace import Catalog, Marketplace, min_gap_per_ip, pages
from pricewatch.frontier import Frontier, discovery_tasks
from pricewatch.keys import Keys
from pricewatch.markets import get_market
from pricewatch.models import Availability, CrawlTask, Observation, Series, Source, TaskKind
from pricewatch.money import Money
from pricewatch.settings import load_settings
from tests.crawler.conftest import WARNING_LINE, Workers, read_observations

pytestmark = [pytest.mark.redis]

FIXTURES = Path(__file__).parent / "fixtures"
US = get_market("us")
URL = "https://www.amazon.com/dp/B0TEST0001"


def response(body: bytes, status: int = 200, url: str = URL) -> HtmlResponse:
    return HtmlResponse(url, status=status, body=body, request=Request(url))


# -- ban policy ------------------------------------------------------------------------------


def test_robot_checks_are_bans_even_with_status_200() -> None:
    policy = AmazonBanPolicy()
    real = (FIXTURES / "captcha.html").read_bytes()
    local = pages.render_captcha(US).encode()
    for body in (real, local):
        assert looks_like_captcha(body)
        assert policy.response_is_ban(Request(URL), response(body)) is True


def test_product_pages_and_missing_products_are_not_bans() -> None:
    policy = AmazonBanPolicy()
    product = (FIXTURES / "core_price_de.html").read_bytes()
    assert not looks_like_captcha(product)
    assert policy.response_is_ban(Request(URL), response(product)) is False
    gone = (FIXTURES / "not_found.html").read_bytes()
    assert policy.response_is_ban(Request(URL), response(gone, status=404)) is False


def test_throttling_blocking_and_empty_pages_are_bans() -> None:
    policy = AmazonBanPolicy()
    throttled = pages.render_throttled(US).encode()
    assert policy.response_is_ban(Request(URL), response(throttled, status=503)) is True
    assert policy.response_is_ban(Request(URL), response(b"", status=429)) is True
    assert policy.response_is_ban(Request(URL), response(b"", status=200)) is True
    # a server error another proxy would meet too: leave the proxy's state alone
    assert policy.response_is_ban(Request(URL), response(b"oops", status=500)) is None


def test_network_failures_are_bans_but_our_own_ignores_are_not() -> None:
    policy = AmazonBanPolicy()
    for exc in (ConnectionRefusedError(), TCPTimedOutError(), ResponseNeverReceived([])):
        assert policy.exception_is_ban(Request(URL), exc) is True
    assert policy.exception_is_ban(Request(URL), IgnoreRequest()) is False


# -- listing parser --------------------------------------------------------------------------

LISTING = """<html><body><div id="zg">
<div class="zg-grid-general-faceout" data-asin="B0LIST0001">
  <a class="a-link-normal" href="/Acme-Kettle/dp/B0LIST0001/ref=zg_bs_1">Kettle</a></div>
<div data-asin="">empty ad slot</div>
<div data-asin="not-an-asin">junk</div>
<div class="p13n-sc-uncoverable-faceout">
  <a href="/Globex-Lamp/dp/b0list0002?psc=1">a tile with a link only (lower case)</a></div>
<div data-asin="B0LIST0001"><a href="/dp/B0LIST0001">the first one again</a></div>
<a href="https://www.amazon.com/gp/product/0306406152/ref=x">a book by ISBN</a>
<a href="/gp/bestsellers/kitchen/">a category, no product</a>
<ul class="a-pagination"><li class="a-normal"><a href="?pg=1">1</a></li>
<li class="a-last"><a href="/gp/bestsellers/?pg=2">Next page</a></li></ul>
</div></body></html>"""


def test_listing_parser_reads_tiles_and_links_in_order() -> None:
    listing = parse_listing(LISTING.encode(), "https://www.amazon.com/gp/bestsellers/")
    assert listing.asins == ["B0LIST0001", "B0LIST0002", "0306406152"]
    assert listing.next_url == "https://www.amazon.com/gp/bestsellers/?pg=2"


def test_listing_parser_on_the_last_page_and_on_the_marketplace() -> None:
    assert parse_listing("<html><body>nothing</body></html>", URL).next_url is None
    catalog = Catalog()
    catalog.add("de", "B0LIST0003", "Lampe", 1999)
    catalog.add("de", "B0LIST0004", "Kocher", 2999)
    html = pages.render_listing(
        get_market("de"),
        "bestsellers",
        catalog.products(),
        page=1,
        first_rank=1,
        has_next=False,
        path="/gp/bestsellers/",
    )
    listing = parse_listing(html, "https://www.amazon.de/gp/bestsellers/")
    assert listing.asins == ["B0LIST0003", "B0LIST0004"]
    assert listing.next_url is None


def test_discovery_enqueues_only_unknown_products(
    redis_client: redis_lib.Redis, keys: Keys
) -> None:
    frontier = Frontier(redis_client, keys, partitions=4)
    redis_client.sadd(keys.known_products("us"), "B0LIST0001")
    new = enqueue_new_products(
        redis_client, frontier, keys, "us", ["B0LIST0001", "B0LIST0002", "B0LIST0003"], priority=2.0
    )
    assert new == ["B0LIST0002", "B0LIST0003"]
    assert enqueue_new_products(redis_client, frontier, keys, "us", ["B0LIST0002"]) == []
    popped = frontier.pop("w", 10)
    assert sorted(t.asin for t in popped) == ["B0LIST0002", "B0LIST0003"]
    assert all(t.kind is TaskKind.PRODUCT and t.priority == 2.0 for t in popped)


def test_discovery_tasks_name_both_listings_of_each_market() -> None:
    tasks = discovery_tasks(["us", "de"])
    assert [t.url for t in tasks] == [
        "https://www.amazon.com/gp/bestsellers/",
        "https://www.amazon.com/gp/new-releases/",
        "https://www.amazon.de/gp/bestsellers/",
        "https://www.amazon.de/gp/new-releases/",
    ]
    assert {t.kind for t in tasks} == {TaskKind.DISCOVER}


# -- observations and URLs -------------------------------------------------------------------

TASK = CrawlTask(market="us", asin="B0TEST0001")


def _by_series(observations: list[Observation] | None) -> dict[Series, Observation]:
    assert observations is not None
    return {obs.series: obs for obs in observations}


def test_a_product_page_makes_an_observation_per_series() -> None:
    page = ParsedPage(
        page_kind=PageKind.PRODUCT,
        market="us",
        asin="B0TEST0001",
        title="Kettle",
        price=Money(1234, "USD"),
        list_price=Money(1999, "USD"),
        availability=Availability.IN_STOCK,
        image_url="https://m.media/k.jpg",
        sold_by="Amazon.com",
        new_offers_from=Money(1100, "USD"),
        used_from=Money(800, "USD"),
        sales_rank=4321,
        rating=Decimal("4.5"),
        review_count=120,
    )
    found = _by_series(observations_for(TASK, page, 200, 1_700_000_000_000))
    assert {series: obs.price for series, obs in found.items()} == {
        Series.BUYBOX: 1234,
        Series.AMAZON: 1234,
        Series.NEW: 1100,
        Series.USED: 800,
        Series.LIST: 1999,
        Series.CHEAPEST_NEW: 1100,
        Series.SALES_RANK: 4321,
    }
    buybox = found[Series.BUYBOX]
    assert (buybox.market, buybox.asin, buybox.currency, buybox.list_price) == (
        "us",
        "B0TEST0001",
        "USD",
        1999,
    )
    assert (buybox.title, buybox.image, buybox.source, buybox.observed_at) == (
        "Kettle",
        "https://m.media/k.jpg",
        Source.CRAWLER,
        1_700_000_000_000,
    )
    assert (buybox.sold_by, buybox.rating, buybox.review_count) == (
        "Amazon.com",
        Decimal("4.5"),
        120,
    )
    # the product's words travel once, with the buy box; a rank has no currency
    assert all(obs.title is None for obs in found.values() if obs is not buybox)
    assert found[Series.SALES_RANK].currency is None
    assert found[Series.USED].currency == "USD"
    verify = CrawlTask(market="us", asin="B0TEST0001", kind=TaskKind.VERIFY)
    assert all(
        obs.source is Source.VERIFICATION for obs in observations_for(verify, page, 200, 1) or []
    )


def test_gone_pages_are_unavailable_without_price_in_every_series_and_captchas_are_nothing() -> (
    None
):
    for page, status in [
        (ParsedPage(page_kind=PageKind.NOT_FOUND), 404),
        (ParsedPage(page_kind=PageKind.OTHER), 404),
        (ParsedPage(page_kind=PageKind.NOT_FOUND), 200),
    ]:
        found = _by_series(observations_for(TASK, page, status, 5))
        assert set(found) == set(Series)
        for obs in found.values():
            assert (obs.availability, obs.price, obs.currency) == (
                Availability.UNAVAILABLE,
                None,
                None,
            )
    assert observations_for(TASK, ParsedPage(page_kind=PageKind.CAPTCHA), 200, 5) is None
    assert observations_for(TASK, ParsedPage(page_kind=PageKind.OTHER), 200, 5) is None


def test_market_origins_replace_amazon_and_come_back() -> None:
    origins = {"us": "http://127.0.0.1:8080"}
    assert product_url("us", "B0TEST0001", origins) == "http://127.0.0.1:8080/dp/B0TEST0001"
    assert product_url("de", "B0TEST0001", origins) == "https://www.amazon.de/dp/B0TEST0001"
    fetched = fetch_url("https://www.amazon.com/gp/bestsellers/?pg=2", "us", origins)
    assert fetched == "http://127.0.0.1:8080/gp/bestsellers/?pg=2"
    assert amazon_url(fetched, "us") == "https://www.amazon.com/gp/bestsellers/?pg=2"


def test_market_origins_setting_is_checked() -> None:
    settings = load_settings(
        {"PRICEWATCH_MARKET_ORIGINS": "us=http://127.0.0.1:8080/, DE=https://www.amazon.de"}
    )
    assert dict(settings.market_origins) == {
        "us": "http://127.0.0.1:8080",
        "de": "https://www.amazon.de",
    }
    for bad in ("us", "us=ftp://x", "us=http://x/dp", "zz=http://x"):
        with pytest.raises(ValueError, match="PRICEWATCH_MARKET_ORIGINS"):
            load_settings({"PRICEWATCH_MARKET_ORIGINS": bad})


# -- politeness gate -------------------------------------------------------------------------

PROXIES = ["http://127.0.0.2:3128", "http://127.0.0.3:3128"]


def gate(
    client: redis_lib.Redis,
    keys: Keys,
    proxies: list[str],
    interval: float = 1.0,
    rotation: RotatingProxies | None = None,
) -> PolitenessGate:
    slots = IpSlots(client, keys, interval, margin_s=0.0, hold_s=interval + 30)
    return PolitenessGate(slots, proxies, "direct:test-host", rotation=rotation)


async def test_a_busy_proxy_is_swapped_for_a_free_one_across_processes(
    redis_client: redis_lib.Redis, keys: Keys
) -> None:
    # two gates: two worker processes sharing one Redis
    first, second = gate(redis_client, keys, PROXIES), gate(redis_client, keys, PROXIES)
    a = Request(URL, meta={"proxy": PROXIES[0]})
    b = Request(URL, meta={"proxy": PROXIES[0]})
    await first.process_request(a)
    await second.process_request(b)
    assert a.meta["proxy"] == PROXIES[0]
    assert b.meta["proxy"] == PROXIES[1]
    assert b.meta["download_slot"] == "127.0.0.3"


async def test_every_request_leaves_through_a_proxy(
    redis_client: redis_lib.Redis, keys: Keys
) -> None:
    request = Request(URL)  # rotation did not set one
    await gate(redis_client, keys, PROXIES).process_request(request)
    assert request.meta["proxy"] in PROXIES
    foreign = Request(URL, meta={"proxy": "http://10.9.9.9:8080"})
    await gate(redis_client, keys, PROXIES).process_request(foreign)
    assert foreign.meta["proxy"] in PROXIES


async def test_dead_proxies_are_not_used(redis_client: redis_lib.Redis, keys: Keys) -> None:
    crawler = get_crawler(settings_dict={"ROTATING_PROXY_LIST": PROXIES})
    rotation = RotatingProxies.from_crawler(crawler)
    rotation.proxies.mark_dead(PROXIES[0])
    assert rotation.alive() == [PROXIES[1]]
    checked = gate(redis_client, keys, PROXIES, rotation=rotation)
    request = Request(URL, meta={"proxy": PROXIES[0]})
    await checked.process_request(request)
    assert request.meta["proxy"] == PROXIES[1]


async def test_a_ban_seen_by_one_worker_spares_the_others(
    redis_client: redis_lib.Redis, redis_url: str, keys: Keys
) -> None:
    crawler = get_crawler(
        settings_dict={
            "ROTATING_PROXY_LIST": PROXIES,
            "PRICEWATCH_REDIS_URL": redis_url,
            "PRICEWATCH_KEY_PREFIX": keys.prefix,
        }
    )
    rotation = RotatingProxies.from_crawler(crawler)
    rotation.proxies.backoff = lambda attempt: 120.0
    banned = Request(URL, meta={"proxy": PROXIES[0], "_rotating_proxy": True, "_ban": True})
    retry = rotation._handle_result(banned, None)
    assert retry is not None and retry.meta["proxy_retry_times"] == 1
    assert rotation.alive() == [PROXIES[1]]
    # another worker, whose own rotation still believes in the proxy
    other = gate(redis_client, keys, PROXIES)
    for _ in range(2):
        request = Request(URL, meta={"proxy": PROXIES[0]})
        await other.process_request(request)
        assert request.meta["proxy"] == PROXIES[1]
        other.process_response(request, response(b"<html></html>"))
        redis_client.delete(keys.proxy_next_slot("127.0.0.3"))  # skip its interval
    blocked = IpSlots(redis_client, keys, 1.0).try_acquire(["127.0.0.2"])
    assert blocked.hold is None and blocked.wait_s > 100


def test_an_ip_is_held_until_its_response_is_back(
    redis_client: redis_lib.Redis, keys: Keys
) -> None:
    slots = IpSlots(redis_client, keys, interval_s=0.2, margin_s=0.0, hold_s=30)
    held = slots.try_acquire(["10.0.0.1"]).hold
    assert held is not None
    # long past the interval, still held: the request may not have arrived yet
    blocked = slots.try_acquire(["10.0.0.1"])
    assert blocked.hold is None and blocked.wait_s > 20
    assert slots.release(held)
    assert not slots.release(held)  # only once, and only by its holder
    # released: free again one interval after the response
    after = slots.try_acquire(["10.0.0.1"])
    assert after.hold is None and 0 < after.wait_s <= 0.2


async def test_waiting_for_a_busy_ip_does_not_block_the_loop(
    redis_client: redis_lib.Redis, keys: Keys
) -> None:
    only = gate(redis_client, keys, PROXIES[:1], interval=0.2)
    first = Request(URL)
    await only.process_request(first)
    ticks = 0

    async def respond_then_count() -> None:
        nonlocal ticks
        await asyncio.sleep(0.05)
        only.process_response(first, response(b"<html></html>"))
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    other = asyncio.create_task(respond_then_count())
    late = Request(URL)
    await only.process_request(late)  # waits for the response, then for the interval
    other.cancel()
    assert late.meta["proxy"] == PROXIES[0]
    assert ticks > 1
    only.process_exception(late, TCPTimedOutError())  # a failure frees the IP as well
    assert "_politeness_hold" not in late.meta


async def test_without_proxies_requests_go_direct_under_one_key(
    redis_client: redis_lib.Redis, keys: Keys
) -> None:
    request = Request(URL)
    await gate(redis_client, keys, []).process_request(request)
    assert "proxy" not in request.meta
    assert redis_client.exists(keys.proxy_next_slot("direct:test-host"))


def test_candidates_prefer_the_assigned_proxy() -> None:
    import random

    rng = random.Random(1)
    assert candidates(PROXIES[1], PROXIES, rng)[0] == PROXIES[1]
    assert sorted(candidates("http://gone:1", PROXIES, rng)) == PROXIES
    assert proxy_ip("http://user:pw@10.0.0.1:8080") == "10.0.0.1"


# -- a worker process, no proxies ---------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.redis
def test_worker_crawls_products_and_listings_directly(
    redis_client: redis_lib.Redis, redis_url: str, keys: Keys, workers: Workers
) -> None:
    catalog = Catalog()
    for i in range(3):
        catalog.add("us", f"B0DIRECT0{i}", f"Direct thing {i}", 500 + i, list_price=900)
    catalog.add("us", "B0DIRECTOS", "Sold out", 700)
    catalog.set_availability("us", "B0DIRECTOS", Availability.OUT_OF_STOCK)
    frontier = Frontier(redis_client, keys, partitions=4)
    # two known products by task, one gone, the rest found through the listing
    frontier.push(
        [
            CrawlTask(market="us", asin="B0DIRECT00"),
            CrawlTask(market="us", asin="B0DIRECT01"),
            CrawlTask(market="us", asin="B0GONE0000"),
            # a market nobody knows: given up with an error, not retried forever
            CrawlTask(market="zz", asin="B0DIRECT00"),
            *discovery_tasks(["us"])[:1],
        ]
    )
    with Marketplace(catalog, tls=False, listing_page_size=2) as site:
        worker = workers.start(
            {
                "PRICEWATCH_REDIS_URL": redis_url,
                "PRICEWATCH_KEY_PREFIX": keys.prefix,
                "PRICEWATCH_MARKET_ORIGINS": f"us={site.base_url}",
                "PRICEWATCH_DIRECT_INTERVAL_S": "0.25",
                "PRICEWATCH_DIRECT_JITTER_S": "0.05",
                "PRICEWATCH_CRAWL_IDLE_CLOSE_S": "1",
            }
        )
        worker.proc.wait(60)
        records = site.log.records()
    output = worker.output()
    assert worker.proc.returncode == 0, output
    assert not WARNING_LINE.search(output), output
    by_asin = {o.asin: o for o in read_observations(redis_client, keys, 4)}
    assert set(by_asin) == {"B0DIRECT00", "B0DIRECT01", "B0DIRECT02", "B0DIRECTOS", "B0GONE0000"}
    for i in range(3):
        assert (by_asin[f"B0DIRECT0{i}"].price, by_asin[f"B0DIRECT0{i}"].list_price) == (
            500 + i,
            900,
        )
    assert by_asin["B0DIRECTOS"].availability is Availability.OUT_OF_STOCK
    assert by_asin["B0DIRECTOS"].price is None
    assert by_asin["B0GONE0000"].availability is Availability.UNAVAILABLE
    # both listing pages were read (the second one queued by the first)
    assert {r.path for r in records} >= {"/gp/bestsellers/", "/gp/bestsellers/?pg=2"}
    assert {r.client_ip for r in records} == {"127.0.0.1"}
    assert min(min_gap_per_ip(records).values()) >= 0.25
    assert frontier.size() == 0 and frontier.inflight_size() == 0
    assert "giving up task zz:B0DIRECT00: unknown market 'zz'" in output

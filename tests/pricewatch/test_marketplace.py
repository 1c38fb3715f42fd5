"""The local marketplace and local proxies: everything on loopback, nothing on the internet."""

from __future__ import annotations

import http.client
import json
import random
import socket
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import parsel
import pytest

from pricewatch.devtools.marketplace import (
    Catalog,
    Marketplace,
    WalkRules,
    demo_catalog,
    format_price,
)
from pricewatch.devtools.marketplace.catalog import walk_step
from pricewatch.devtools.proxies import ProxyPool
from pricewatch.devtools.tls import CertBundle, self_signed_certificate
from pricewatch.markets import UnknownMarket, get_market
from pricewatch.models import Availability

ASIN = "B0TEST0001"
OTHER = "B0TEST0002"
NBSP = "\u00a0"


@pytest.fixture(scope="module")
def certificate() -> CertBundle:
    return self_signed_certificate()


@pytest.fixture
def catalog() -> Catalog:
    catalog = Catalog()
    catalog.add(
        "us",
        ASIN,
        "Acme Stainless Kettle 1.7 L",
        1234,
        list_price=1999,
        image="/images/I/kettle.jpg",
    )
    catalog.add("de", ASIN, "Acme Wasserkocher", 123456)
    catalog.add("us", OTHER, "Globex Desk Lamp", 2599)
    return catalog


@pytest.fixture
def marketplace(catalog: Catalog, certificate: CertBundle) -> Iterator[Marketplace]:
    with Marketplace(catalog, certificate=certificate) as site:
        yield site


@pytest.fixture
def pool(marketplace: Marketplace) -> Iterator[ProxyPool]:
    with ProxyPool(3, route=marketplace.upstream) as proxies:
        yield proxies


def get(
    site: Marketplace, target: str, host: str | None = None, method: str = "GET"
) -> tuple[int, str]:
    conn = http.client.HTTPConnection(site.host, site.port, timeout=5)
    try:
        conn.request(method, target, headers={"Host": host} if host else {})
        response = conn.getresponse()
        return response.status, response.read().decode("utf-8")
    finally:
        conn.close()


def via_proxy(proxy_url: str, url: str) -> tuple[int, str]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({"http": proxy_url}))
    try:
        with opener.open(url, timeout=5) as response:
            return response.status, response.read().decode("utf-8")
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read().decode("utf-8")


def via_tunnel(proxy_url: str, host: str, path: str, context: ssl.SSLContext) -> tuple[int, str]:
    proxy_host, _, proxy_port = proxy_url.removeprefix("http://").partition(":")
    conn = http.client.HTTPSConnection(proxy_host, int(proxy_port), timeout=5, context=context)
    conn.set_tunnel(host, 443)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read().decode("utf-8")
    finally:
        conn.close()


def offscreen(html: str, selector: str) -> str | None:
    return parsel.Selector(html).css(f"{selector} .a-offscreen::text").get()


# -- pages -----------------------------------------------------------------------------------


def test_product_page_carries_what_the_parser_reads(marketplace: Marketplace) -> None:
    status, html = get(marketplace, f"/dp/{ASIN}")
    page = parsel.Selector(html)
    assert status == 200
    assert page.css("input#ASIN::attr(value)").get() == ASIN
    assert page.css("#productTitle::text").get().strip() == "Acme Stainless Kettle 1.7 L"
    assert page.css('link[rel="canonical"]::attr(href)').get() == (
        f"https://www.amazon.com/Acme-Stainless-Kettle-1-7-L/dp/{ASIN}"
    )
    assert offscreen(html, "#corePriceDisplay_desktop_feature_div .priceToPay") == "$12.34"
    assert offscreen(html, '.a-text-price[data-a-strike="true"]') == "$19.99"
    assert "List Price:" in html
    assert page.css("#availability span::text").get().strip() == "In Stock"
    assert page.css("img#landingImage::attr(src)").get() == (
        f"http://127.0.0.1:{marketplace.port}/images/I/kettle.jpg"
    )


def test_page_follows_catalog_changes(marketplace: Marketplace, catalog: Catalog) -> None:
    catalog.set_price("us", ASIN, 999)
    html = get(marketplace, f"/gp/product/{ASIN}")[1]
    assert offscreen(html, ".priceToPay") == "$9.99"
    assert offscreen(html, "[data-a-strike]") == "$19.99"  # list price kept

    catalog.set_price("us", ASIN, 1500, list_price=None)
    html = get(marketplace, f"/Some-Slug/dp/{ASIN}/ref=sr_1_1?th=1")[1]
    assert offscreen(html, ".priceToPay") == "$15.00"
    assert "data-a-strike" not in html

    catalog.set_price("us", ASIN, None)
    html = get(marketplace, f"/dp/{ASIN}")[1]
    assert parsel.Selector(html).css(".priceToPay").get() is None
    assert "See All Buying Options" in html

    catalog.set_price("us", ASIN, 1500)
    catalog.set_availability("us", ASIN, Availability.OUT_OF_STOCK)
    html = get(marketplace, f"/dp/{ASIN}")[1]
    page = parsel.Selector(html)
    assert page.css("#availability span::text").get() == "Currently unavailable."
    assert page.css(".a-offscreen").get() is None  # no price on an unavailable product

    catalog.remove("us", ASIN)
    status, html = get(marketplace, f"/dp/{ASIN}")
    assert status == 404
    assert "Sorry! We couldn't find that page" in html


def test_unknown_asin_is_a_404_page(marketplace: Marketplace) -> None:
    status, html = get(marketplace, "/dp/B0NOTHERE0")
    assert status == 404
    assert "Sorry! We couldn't find that page" in html
    assert get(marketplace, "/no/such/thing")[0] == 404


def test_host_header_selects_the_market(marketplace: Marketplace) -> None:
    html = get(marketplace, f"/dp/{ASIN}", host="www.amazon.de")[1]
    assert offscreen(html, ".priceToPay") == f"1.234,56{NBSP}€"
    assert f'href="https://www.amazon.de/Acme-Wasserkocher/dp/{ASIN}"' in html
    # the Lamp is sold on amazon.com only
    assert get(marketplace, f"/dp/{OTHER}", host="www.amazon.de")[0] == 404
    assert get(marketplace, f"/dp/{OTHER}", host="www.amazon.com")[0] == 200


def test_absolute_uri_request_names_the_market(marketplace: Marketplace) -> None:
    # a client that uses the marketplace itself as its proxy sends absolute URIs
    status, html = get(marketplace, f"http://www.amazon.de/dp/{ASIN}?psc=1")
    assert status == 200
    assert offscreen(html, ".priceToPay") == f"1.234,56{NBSP}€"
    record = marketplace.log.records()[-1]
    assert (record.market, record.path, record.host) == ("de", f"/dp/{ASIN}?psc=1", "www.amazon.de")


@pytest.mark.parametrize(
    ("market", "minor", "text"),
    [
        ("us", 123456, "$1,234.56"),
        ("uk", 499, "£4.99"),
        ("de", 123456, f"1.234,56{NBSP}€"),
        ("fr", 123456, f"1\u202f234,56{NBSP}€"),
        ("jp", 1234, "￥1,234"),
        ("in", 12999900, "₹1,29,999.00"),
        ("br", 43190, f"R${NBSP}431,90"),
        ("ae", 33000, f"AED{NBSP}330.00"),
        ("se", 100, f"1,00{NBSP}kr"),
        ("us", 5, "$0.05"),
    ],
)
def test_prices_are_printed_in_the_market_style(market: str, minor: int, text: str) -> None:
    assert format_price(get_market(market), minor) == text


def test_listing_pages_list_the_asins(certificate: CertBundle) -> None:
    catalog = Catalog()
    asins = [f"B0LIST{i:04d}" for i in range(5)]
    for asin in asins:
        catalog.add("us", asin, f"Item {asin}", 1000)
    catalog.add("de", "B0GERMAN00", "Nur in Deutschland", 1000)
    with Marketplace(catalog, certificate=certificate, listing_page_size=2) as site:
        pages = []
        for pg in (1, 2, 3):
            status, html = get(site, f"/gp/bestsellers/?pg={pg}")
            assert status == 200
            pages.append(html)
        found = [
            asin
            for html in pages
            for asin in parsel.Selector(html).css("[data-asin]::attr(data-asin)").getall()
        ]
        assert found == asins
        links = parsel.Selector(pages[0]).css(".zg-grid-general-faceout a::attr(href)").getall()
        assert [link.rsplit("/dp/", 1)[1] for link in links] == asins[:2]
        assert 'href="/gp/bestsellers/?pg=2">Next page' in pages[0]
        assert "Next page" not in pages[2]
        assert get(site, "/gp/bestsellers/?pg=4")[0] == 404

        newest = get(site, "/gp/new-releases/electronics")[1]
        assert (
            parsel.Selector(newest).css("[data-asin]::attr(data-asin)").getall()
            == (asins[::-1][:2])
        )
        german = get(site, "/gp/bestsellers/", host="www.amazon.de")[1]
        assert parsel.Selector(german).css("[data-asin]::attr(data-asin)").getall() == [
            "B0GERMAN00"
        ]


# -- catalog -----------------------------------------------------------------------------------


def test_catalog_rejects_bad_input_and_keeps_its_state() -> None:
    catalog = Catalog()
    catalog.add("us", ASIN, "Kettle", 1234)
    with pytest.raises(ValueError, match="invalid ASIN"):
        catalog.add("us", "nope", "Kettle", 1)
    with pytest.raises(UnknownMarket):
        catalog.add("xx", OTHER, "Kettle", 1)
    with pytest.raises(ValueError, match="non-negative"):
        catalog.set_price("us", ASIN, -5)
    with pytest.raises(KeyError, match=OTHER):
        catalog.set_price("us", OTHER, 100)
    with pytest.raises(ValueError, match="remove it instead"):
        catalog.set_availability("us", ASIN, Availability.UNAVAILABLE)
    assert [(p.asin, p.price, p.availability) for p in catalog.products()] == [
        (ASIN, 1234, Availability.IN_STOCK)
    ]


def test_demo_catalog_moves_prices_reproducibly() -> None:
    rules = WalkRules(step_seconds=60)
    first, second = demo_catalog(30, seed=7, rules=rules), demo_catalog(30, seed=7, rules=rules)
    start = {p.key: p.price for p in first.products()}
    assert len(start) == 30
    assert {p.market for p in first.products()} >= {"us", "de", "jp"}
    for catalog in (first, second):
        catalog.tick(1_000.0)  # the first tick only sets the clock
        catalog.tick(1_000.0 + 200 * 60)
    assert first.steps_taken == 200
    after = first.products()
    assert [(p.price, p.availability) for p in after] == [
        (p.price, p.availability) for p in second.products()
    ]
    assert sum(p.price != start[p.key] for p in after) > 20
    for product in after:
        assert start[product.key] // 4 <= product.price <= start[product.key] * 2


def test_demo_catalog_has_drops_and_stock_outs() -> None:
    catalog = demo_catalog(30, seed=11)
    catalog.tick(0.0)
    seen_out, seen_back, deep_drops = set(), set(), 0
    previous = {p.key: p for p in catalog.products()}
    for step in range(1, 101):
        catalog.tick(step * 60.0)
        for product in catalog.products():
            before = previous[product.key]
            if product.availability is Availability.OUT_OF_STOCK:
                seen_out.add(product.key)
            elif before.availability is Availability.OUT_OF_STOCK:
                seen_back.add(product.key)
            elif product.price is not None and before.price is not None:
                deep_drops += product.price <= before.price * 0.86
            previous[product.key] = product
    assert seen_out and seen_back
    assert deep_drops >= 5


def test_demo_catalog_moves_offers_and_ranks_as_it_moves_the_buy_box() -> None:
    catalog = demo_catalog(30, seed=7)
    start = {p.key: p for p in catalog.products()}
    # Amazon sells most, a shop some; most have used copies and every one a rank
    amazon = sum(p.sold_by is not None and p.sold_by.startswith("Amazon.") for p in start.values())
    assert 15 < amazon < 30
    assert sum(p.used_from is not None for p in start.values()) > 10
    assert all(p.sales_rank and p.rating is not None and p.new_from for p in start.values())
    catalog.tick(1_000.0)
    catalog.tick(1_000.0 + 200 * 60)
    after = catalog.products()
    for name in ("new_from", "used_from", "sales_rank", "review_count"):
        moved = sum(getattr(p, name) != getattr(start[p.key], name) for p in after)
        assert moved > 5, name
    for product in after:
        base = start[product.key]
        assert base.new_from // 4 <= product.new_from <= base.new_from * 2
        assert product.review_count >= base.review_count
    # offers come and go: some product lost its last used copy or got one back
    assert any(p.used_count != start[p.key].used_count for p in after)
    # the rest of the page walks on draws of its own: the buy box walks as it does alone
    rng, rules, alone = random.Random(7), WalkRules(), list(start.values())
    for _ in range(200):
        alone = [walk_step(p, start[p.key].price, rng, rules) for p in alone]
    assert [(p.price, p.availability) for p in alone] == [(p.price, p.availability) for p in after]


def test_demo_catalog_follows_the_marketplace_clock(certificate: CertBundle) -> None:
    now = [0.0]
    catalog = demo_catalog(
        5,
        seed=3,
        rules=WalkRules(
            step_seconds=10, move_probability=1.0, drop_probability=0.0, stock_out_probability=0.0
        ),
    )
    product = catalog.products()[0]
    with Marketplace(catalog, certificate=certificate, clock=lambda: now[0]) as site:
        host = f"www.{get_market(product.market).domain}"
        before = offscreen(get(site, f"/dp/{product.asin}", host=host)[1], ".priceToPay")
        now[0] = 10_000.0
        after = offscreen(get(site, f"/dp/{product.asin}", host=host)[1], ".priceToPay")
    assert catalog.steps_taken == 1000
    assert before == format_price(get_market(product.market), product.price)
    assert after == format_price(
        get_market(product.market), catalog.get(product.market, product.asin).price
    )
    assert after != before


# -- robot checks and the request log ---------------------------------------------------------


def test_captcha_only_for_the_chosen_ip(marketplace: Marketplace, pool: ProxyPool) -> None:
    flagged, clean = pool.proxies[0], pool.proxies[1]
    marketplace.captcha_ips.add(flagged.ip)
    url = f"http://www.amazon.com/dp/{ASIN}"
    status, html = via_proxy(flagged.url, url)
    assert status == 200
    form = parsel.Selector(html).css("form")
    assert form.attrib["action"] == "/errors/validateCaptcha"
    assert "Enter the characters you see below" in html
    assert "Type the characters you see in this image" in html
    assert "productTitle" not in html

    status, html = via_proxy(clean.url, url)
    assert status == 200
    assert offscreen(html, ".priceToPay") == "$12.34"

    marketplace.throttle_ips.add(clean.ip)
    assert via_proxy(clean.url, url)[0] == 503
    marketplace.captcha_ips.clear()
    assert offscreen(via_proxy(flagged.url, url)[1], ".priceToPay") == "$12.34"


def test_request_log_records_every_request(
    catalog: Catalog, certificate: CertBundle, tmp_path: Path
) -> None:
    log_file = tmp_path / "requests.jsonl"
    with Marketplace(catalog, certificate=certificate, log_file=log_file) as site:
        get(site, f"/dp/{ASIN}")
        get(site, "/dp/B0NOTHERE0", method="HEAD")
        get(site, "/gp/bestsellers/", method="DELETE")
        records = site.log.records()
    assert [(r.client_ip, r.method, r.path, r.status) for r in records] == [
        ("127.0.0.1", "GET", f"/dp/{ASIN}", 200),
        ("127.0.0.1", "HEAD", "/dp/B0NOTHERE0", 404),
        ("127.0.0.1", "DELETE", "/gp/bestsellers/", 501),
    ]
    assert records[0].monotonic <= records[1].monotonic
    assert records[0].wall > 1.6e9
    lines = [json.loads(line) for line in log_file.read_text().splitlines()]
    assert [(x["path"], x["status"]) for x in lines] == [
        (f"/dp/{ASIN}", 200),
        ("/dp/B0NOTHERE0", 404),
        ("/gp/bestsellers/", 501),
    ]


def test_keep_alive_serves_several_requests_per_connection(marketplace: Marketplace) -> None:
    conn = http.client.HTTPConnection(marketplace.host, marketplace.port, timeout=5)
    try:
        statuses = []
        for target in (f"/dp/{ASIN}", "/dp/B0NOTHERE0", f"/dp/{OTHER}"):
            conn.request("GET", target)
            response = conn.getresponse()
            response.read()
            statuses.append(response.status)
        assert statuses == [200, 404, 200]
        assert conn.sock is not None  # still the same open connection
    finally:
        conn.close()


# -- proxies -------------------------------------------------------------------------------------


def test_each_proxy_reaches_the_marketplace_from_its_own_ip(
    marketplace: Marketplace, pool: ProxyPool
) -> None:
    assert [proxy.ip for proxy in pool.proxies] == ["127.0.0.2", "127.0.0.3", "127.0.0.4"]
    assert pool.urls == [f"http://{proxy.ip}:{proxy.port}" for proxy in pool.proxies]
    for proxy in pool.proxies:
        for _ in range(2):
            status, html = via_proxy(proxy.url, f"http://www.amazon.com/dp/{ASIN}")
            assert (status, offscreen(html, ".priceToPay")) == (200, "$12.34")
    for proxy in pool.proxies:
        assert [r.path for r in marketplace.log.for_ip(proxy.ip)] == [f"/dp/{ASIN}"] * 2
        assert pool.requests(proxy.url) == 2
        assert proxy.stats.forwarded == 2
    assert marketplace.log.client_ips() == {"127.0.0.2", "127.0.0.3", "127.0.0.4"}


def test_connect_tunnel_reaches_the_tls_port(marketplace: Marketplace, pool: ProxyPool) -> None:
    proxy = pool.proxies[1]
    status, html = via_tunnel(
        proxy.url, "www.amazon.de", f"/dp/{ASIN}", marketplace.client_ssl_context()
    )
    assert status == 200
    assert offscreen(html, ".priceToPay") == f"1.234,56{NBSP}€"
    record = marketplace.log.records()[-1]
    assert (record.client_ip, record.tls, record.market) == (proxy.ip, True, "de")
    assert proxy.stats.requests == 1


def test_https_with_the_generated_certificate(marketplace: Marketplace) -> None:
    context = marketplace.client_ssl_context()
    with (
        socket.create_connection((marketplace.host, marketplace.tls_port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="www.amazon.com") as tls,
    ):
        tls.sendall(
            f"GET /dp/{ASIN} HTTP/1.1\r\nHost: www.amazon.com\r\nConnection: close\r\n\r\n".encode()
        )
        data = b""
        while chunk := tls.recv(65536):
            data += chunk
    head, _, body = data.decode().partition("\r\n\r\n")
    assert head.startswith("HTTP/1.1 200")
    assert offscreen(body, ".priceToPay") == "$12.34"
    # a client with default trust refuses the self-signed certificate
    plain = http.client.HTTPSConnection(
        marketplace.host, marketplace.tls_port, timeout=5, context=ssl.create_default_context()
    )
    with pytest.raises(ssl.SSLCertVerificationError):
        plain.request("GET", "/")
    plain.close()


def test_killed_proxy_refuses_connections(marketplace: Marketplace, pool: ProxyPool) -> None:
    dead = pool.proxies[0]
    pool.kill(dead.url)
    assert not dead.alive
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((dead.ip, dead.port), timeout=5).close()
    # the others carry on; the dead one comes back on the same address when revived
    assert via_proxy(pool.urls[1], f"http://www.amazon.com/dp/{ASIN}")[0] == 200
    pool.revive(dead.url)
    assert via_proxy(dead.url, f"http://www.amazon.com/dp/{ASIN}")[0] == 200


def test_kill_cuts_open_tunnels(marketplace: Marketplace, pool: ProxyPool) -> None:
    proxy = pool.proxies[2]
    conn = http.client.HTTPSConnection(
        proxy.ip, proxy.port, timeout=5, context=marketplace.client_ssl_context()
    )
    conn.set_tunnel("www.amazon.com", 443)
    conn.request("GET", f"/dp/{ASIN}")
    conn.getresponse().read()
    pool.kill(2)
    with pytest.raises((ConnectionError, ssl.SSLError, http.client.HTTPException)):
        conn.request("GET", f"/dp/{ASIN}")
        conn.getresponse().read()
    conn.close()


def test_proxy_refuses_destinations_off_the_machine(
    marketplace: Marketplace, pool: ProxyPool
) -> None:
    proxy = pool.proxies[0]
    status, body = via_proxy(proxy.url, "http://example.org/")
    assert status == 403
    assert "example.org:80 is not allowed" in body
    with socket.create_connection((proxy.ip, proxy.port), timeout=5) as raw:
        raw.sendall(b"NONSENSE\r\n\r\n")
        assert raw.recv(100).startswith(b"HTTP/1.1 400")
    assert (proxy.stats.requests, proxy.stats.refused, proxy.stats.forwarded) == (2, 2, 0)
    assert marketplace.log.records() == []


def test_proxy_counts_unreachable_upstreams_as_failed() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    with ProxyPool(1) as pool:
        status, _ = via_proxy(pool.urls[0], f"http://127.0.0.1:{closed_port}/")
        assert status == 502
        assert (pool.stats(0).requests, pool.stats(0).failed) == (1, 1)


def test_proxy_reports_a_stopped_marketplace_as_failed(
    catalog: Catalog, certificate: CertBundle
) -> None:
    site = Marketplace(catalog, certificate=certificate).start()
    with ProxyPool(1, route=site.upstream) as pool:
        assert via_proxy(pool.urls[0], f"http://www.amazon.com/dp/{ASIN}")[0] == 200
        site.stop()
        assert via_proxy(pool.urls[0], f"http://www.amazon.com/dp/{ASIN}")[0] == 502
        stats = pool.stats(pool.urls[0])
        assert (stats.requests, stats.forwarded, stats.failed) == (2, 1, 1)


def test_stopped_marketplace_refuses_connections(catalog: Catalog, certificate: CertBundle) -> None:
    site = Marketplace(catalog, certificate=certificate).start()
    port = site.port
    conn = http.client.HTTPConnection(site.host, port, timeout=5)
    conn.request("GET", f"/dp/{ASIN}")
    conn.getresponse().read()
    site.stop()
    site.stop()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    with pytest.raises((ConnectionError, http.client.HTTPException)):
        conn.request("GET", f"/dp/{ASIN}")
        conn.getresponse().read()
    conn.close()


def test_command_line_serves_a_demo_catalog(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pricewatch.devtools.marketplace",
            "--port",
            "0",
            "--tls-port",
            "0",
            "--demo",
            "5",
            "--proxies",
            "1",
            "--cert-dir",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline().strip() for _ in range(3 + 5 + 1)]
        base_url = lines[0].removeprefix("marketplace: ")
        market, asin, _ = lines[3].split(" ", 2)
        proxy_url = lines[-1].removeprefix("proxy: ")
        host = f"www.{get_market(market).domain}"
        request = urllib.request.Request(f"{base_url}/dp/{asin}", headers={"Host": host})
        with urllib.request.urlopen(request, timeout=5) as response:
            assert parsel.Selector(response.read().decode()).css("#ASIN::attr(value)").get() == asin
        assert via_proxy(proxy_url, f"http://{host}/dp/{asin}")[0] == 200
        assert (tmp_path / "cert.pem").read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")
    finally:
        proc.terminate()
        returncode = proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()
    assert returncode == 0


_SCRAPY_THROUGH_PROXIES = """
import json, sys
import scrapy
from scrapy.crawler import CrawlerProcess

urls, proxies = json.loads(sys.argv[1]), json.loads(sys.argv[2])
seen = []

class Check(scrapy.Spider):
    name = "check"

    async def start(self):
        for i, url in enumerate(urls):
            yield scrapy.Request(url, meta={"proxy": proxies[i % len(proxies)]})

    def parse(self, response):
        price = response.css("#corePriceDisplay_desktop_feature_div .priceToPay .a-offscreen")
        seen.append([response.url, response.status, price.css("::text").get()])

process = CrawlerProcess({"LOG_LEVEL": "ERROR", "TELNETCONSOLE_ENABLED": False})
process.crawl(Check)
process.start()
print(json.dumps(sorted(seen)))
"""


@pytest.mark.slow
def test_scrapy_fetches_http_and_https_through_the_proxies(
    marketplace: Marketplace, pool: ProxyPool
) -> None:
    """The crawler's own HTTP client (Scrapy, CONNECT for https) works with these proxies."""
    urls = [
        f"http://www.amazon.com/dp/{ASIN}",
        f"https://www.amazon.de/dp/{ASIN}",
        f"https://www.amazon.com/dp/{OTHER}",
    ]
    done = subprocess.run(
        [sys.executable, "-c", _SCRAPY_THROUGH_PROXIES, json.dumps(urls), json.dumps(pool.urls)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert json.loads(done.stdout.strip().splitlines()[-1]) == sorted(
        [[urls[0], 200, "$12.34"], [urls[1], 200, f"1.234,56{NBSP}€"], [urls[2], 200, "$25.99"]]
    )
    by_path = {(r.path, r.tls): r.client_ip for r in marketplace.log.records()}
    assert by_path == {
        (f"/dp/{ASIN}", False): "127.0.0.2",
        (f"/dp/{ASIN}", True): "127.0.0.3",
        (f"/dp/{OTHER}", True): "127.0.0.4",
    }


def test_a_demo_catalog_restarted_later_shows_the_price_a_continuous_one_would() -> None:
    continuous, before_restart = demo_catalog(30, seed=5), demo_catalog(30, seed=5)
    for catalog in (continuous, before_restart):
        catalog.tick(1_000.0)
        catalog.tick(1_000.0 + 30 * 60)
    saved = before_restart.state()
    # down for two hours; then a new process, a fresh catalog of the same demo
    restarted = demo_catalog(30, seed=5)
    assert restarted.resume(saved)
    later = 1_000.0 + 150 * 60
    continuous.tick(later)
    restarted.tick(later)
    assert restarted.products() == continuous.products()
    fresh = demo_catalog(30, seed=5)
    assert [p.price for p in restarted.products()] != [p.price for p in fresh.products()]
    # another demo's walk is not this one's
    assert not demo_catalog(30, seed=6).resume(saved)

"""The home page's lists, title search and amzn.to links, over the real app: chDB,
SQLite, the session Redis, and a local HTTP server standing in for amzn.to."""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from api.services import discovery
from api.web import short_links
from pricewatch.keys import Keys
from pricewatch.markets import get_market
from pricewatch.storage.clickhouse import PriceStore
from pricewatch.storage.sql import create_engine, upsert_titles
from tests.api.conftest import DAY, use_dns
from tests.observations import seed_product
from tests.services import free_port
from tests.sql_store import subscribed

pytestmark = [pytest.mark.redis, pytest.mark.clickhouse]

Client = AsyncTestClient[Litestar]
AMAZON_IMAGE = "https://m.media-amazon.com/images/I/kettle.jpg"


def _now() -> int:
    return int(time.time() * 1000)


def _section(html: str, name: str) -> str:
    """The HTML of one home-page section (drops, tracked, recent)."""
    match = re.search(rf'<section[^>]*aria-labelledby="{name}-heading">(.*?)</section>', html, re.S)
    assert match, name
    return match.group(1)


def _titles(html: str) -> list[str]:
    return re.findall(r'class="card-title" href="[^"]+">([^<]*)</a>', html)


async def _subscribe(sql_url: str, asin: str, *emails: str, market: str = "us") -> None:
    engine = create_engine(sql_url)
    try:
        for email in emails:
            await subscribed(engine, email, asin, 100, market=market)
    finally:
        await engine.dispose()


def _seed_catalogue(store: PriceStore, now: int) -> None:
    # 100.00 for three weeks, 60.00 since yesterday: a 39 % drop under its time-weighted average
    seed_product(
        store,
        asin="B0DROP0001",
        title="Cordless Kettle",
        prices=[(now - 21 * DAY, 10_000), (now - DAY, 6_000), (now - 60_000, 6_000)],
    )
    # steady: no drop, but watched
    seed_product(
        store,
        asin="B0STEADY01",
        title="Steady Toaster",
        prices=[(now - 10 * DAY, 2_500), (now - 60_000, 2_500)],
    )
    # new today, on sale at once: no history to drop from
    seed_product(
        store, asin="B0NEWEST01", title="Brand-new Blender", prices=[(now - 3_600_000, 999)]
    )


async def test_home_lists_drops_tracked_and_newest(
    client: Client, price_store: PriceStore, sql_url: str
):
    now = _now()
    _seed_catalogue(price_store, now)
    await _subscribe(sql_url, "B0STEADY01", "a@example.com", "b@example.com")
    await _subscribe(sql_url, "B0DROP0001", "c@example.com")

    response = await client.get("/")
    assert response.status_code == 200
    html = response.text
    drops = _section(html, "drops")
    assert _titles(drops) == ["Cordless Kettle"]
    assert "$60.00" in drops and "−39\xa0%" in drops
    # the sparkline: an inline SVG polyline with its story in words
    assert re.search(r'<svg class="sparkline"[^>]*role="img"', drops)
    assert "<polyline points=" in drops
    assert re.search(r'aria-label="Price over the last \d+ days: from \$100\.00 to \$60\.00', drops)

    tracked = _section(html, "tracked")
    assert _titles(tracked) == ["Steady Toaster", "Cordless Kettle"]
    assert "2 watching" in tracked and "1 watching" in tracked
    assert "$25.00" in tracked

    assert _titles(_section(html, "recent")) == [
        "Brand-new Blender",
        "Steady Toaster",
        "Cordless Kettle",
    ]
    # one marketplace: no tabs
    assert 'aria-label="Marketplaces"' not in html


async def test_each_marketplace_has_its_own_lists_in_its_money(
    client: Client, price_store: PriceStore
):
    now = _now()
    seed_product(
        price_store,
        asin="B0UKDROP01",
        market="uk",
        currency="GBP",
        title="Electric Kettle UK",
        prices=[(now - 20 * DAY, 4_000), (now - DAY, 3_000), (now - 60_000, 3_000)],
    )
    seed_product(
        price_store,
        asin="B0DEONLY01",
        market="de",
        currency="EUR",
        title="Wasserkocher",
        prices=[(now - 20 * DAY, 129_900), (now - 60_000, 129_900)],
    )
    # nothing on amazon.com: the marketplace with products is shown first
    html = (await client.get("/")).text
    assert 'aria-label="Marketplaces"' in html
    assert re.search(r'href="/\?market=uk"[^>]*>amazon\.co\.uk', html)
    assert re.search(r'href="/\?market=de"[^>]*>amazon\.de', html)

    uk = (await client.get("/?market=uk")).text
    assert _titles(_section(uk, "drops")) == ["Electric Kettle UK"]
    assert "£30.00" in uk and "−" in _section(uk, "drops")
    assert re.search(r'href="/\?market=uk" aria-current="page"', uk)

    de = (await client.get("/?market=de")).text
    assert _titles(_section(de, "recent")) == ["Wasserkocher"]
    assert "1.299,00\xa0€" in de
    assert "No drops yet today" in _section(de, "drops")

    refused = await client.get("/?market=zz")
    assert refused.status_code == 400
    assert "no Amazon marketplace" in refused.text


async def test_an_empty_site_says_what_will_appear(client: Client):
    html = (await client.get("/")).text
    assert (
        "No drops yet today — products appear here once their price falls below their "
        "30-day average" in _section(html, "drops")
    )
    assert "Nobody watches a product" in _section(html, "tracked")
    assert "No products on amazon.com yet" in _section(html, "recent")


async def test_the_lists_are_computed_once_a_minute_not_per_visit(
    client: Client, price_store: PriceStore, redis_client: Any, keys: Keys
):
    now = _now()
    seed_product(price_store, asin="B0FIRST001", title="First Product", prices=[(now - 1_000, 100)])
    assert _titles(_section((await client.get("/")).text, "recent")) == ["First Product"]
    seed_product(price_store, asin="B0LATER001", title="Later Product", prices=[(now, 100)])
    # still the minute-old lists
    assert _titles(_section((await client.get("/")).text, "recent")) == ["First Product"]
    assert 0 < redis_client.ttl(keys.home_sections("us")) <= 60
    redis_client.delete(keys.home_sections("us"))
    assert _titles(_section((await client.get("/")).text, "recent")) == [
        "Later Product",
        "First Product",
    ]


async def test_only_amazon_pictures_are_shown_and_titles_stay_text(
    client: Client, price_store: PriceStore
):
    now = _now()
    for asin, title, image in (
        ("B0AMAZONIM", "Amazon picture", AMAZON_IMAGE),
        ("B0EVILIMG1", '<img src=x onerror="alert(1)">', "https://evil.example/track.gif"),
    ):
        seed_product(price_store, asin=asin, title=title, prices=[(now - 1_000, 100)])
        product = price_store.product("us", asin)
        assert product is not None
        price_store.upsert_products([_with(product, image=image, last_seen=now)])
    html = (await client.get("/")).text
    assert f'src="{AMAZON_IMAGE}"' in html
    assert "evil.example" not in html
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in html
    assert '<img src=x onerror="alert(1)">' not in html


def _with(product: Any, **fields: Any) -> Any:
    import msgspec

    return msgspec.structs.replace(product, **fields)


# --- title search -------------------------------------------------------------------


async def test_words_find_products_by_title_with_pictures_and_prices(
    client: Client, price_store: PriceStore, redis_client: Any, keys: Keys
):
    now = _now()
    _seed_catalogue(price_store, now)
    response = await client.get("/search", params={"q": "kettle", "market": "us"})
    assert response.status_code == 200
    assert _titles(response.text) == ["Cordless Kettle"]
    assert "$60.00" in response.text
    # what was typed stays in the box
    assert 'value="kettle"' in response.text

    # a title seen after the index caught up is found once the index copies it again
    seed_product(price_store, asin="B0KETTLE02", title="Glass Kettle", prices=[(now, 2_000)])
    redis_client.delete(keys.title_index_guard)
    found = await client.get("/search", params={"q": "KETTLE", "market": "us"})
    assert sorted(_titles(found.text)) == ["Cordless Kettle", "Glass Kettle"]

    # another marketplace's index holds nothing yet
    other = await client.get("/search", params={"q": "kettle", "market": "de"})
    assert other.status_code == 200
    assert "No product on amazon.de has “kettle” in its title" in other.text


@pytest.mark.parametrize(
    "text",
    [
        '"kettle',
        "kettle OR",
        "title:kettle",
        "NEAR(kettle toaster)",
        "kettle*",
        "(kettle",
        "-kettle",
    ],
)
async def test_search_syntax_in_the_box_is_only_words(
    client: Client, price_store: PriceStore, text: str
):
    _seed_catalogue(price_store, _now())
    response = await client.get("/search", params={"q": text, "market": "us"})
    assert response.status_code == 200
    assert _titles(response.text) in (["Cordless Kettle"], [])


@pytest.mark.parametrize(
    ("text", "status", "reason"),
    [
        ("kettle " * 40, 400, "at most 200 characters"),
        ("*** ???", 400, "Type a few words"),
        ("", 400, "Type words of a product"),
        ("x" * 5000, 400, "longer than 4096"),
    ],
)
async def test_unsearchable_text_gets_a_reason(client: Client, text: str, status: int, reason: str):
    response = await client.get("/search", params={"q": text, "market": "us"})
    assert response.status_code == status
    assert reason in response.text
    assert 'role="alert"' in response.text


async def test_results_come_in_pages(client: Client, price_store: PriceStore, sql_url: str):
    now = _now()
    for i in range(25):
        seed_product(
            price_store, asin=f"B0PAGE{i:04d}", title=f"Paged gadget {i}", prices=[(now, 100 + i)]
        )
    first = (await client.get("/search", params={"q": "paged gadget"})).text
    assert len(_titles(first)) == 20
    assert 'rel="next" href="/search?q=paged%20gadget&amp;market=us&amp;page=2"' in first
    assert 'rel="prev"' not in first
    second = (await client.get("/search", params={"q": "paged gadget", "page": "2"})).text
    assert len(_titles(second)) == 5
    assert 'rel="prev"' in second and 'rel="next"' not in second
    assert set(_titles(first)).isdisjoint(_titles(second))
    beyond = await client.get("/search", params={"q": "paged gadget", "page": "9"})
    assert beyond.status_code == 200 and "No more products" in beyond.text
    # a page that is not a number is the first
    odd = await client.get("/search", params={"q": "paged gadget", "page": "-1'"})
    assert len(_titles(odd.text)) == 20


async def test_an_index_row_without_a_catalogue_row_is_left_out(client: Client, sql_url: str):
    engine = create_engine(sql_url)
    try:
        await upsert_titles(engine, [("us", "B0GHOST001", "Ghost kettle", 1)])
    finally:
        await engine.dispose()
    response = await client.get("/search", params={"q": "ghost"})
    assert response.status_code == 200
    assert _titles(response.text) == []


async def test_urls_and_asins_still_go_to_the_product(client: Client):
    response = await client.get(
        "/search", params={"q": "https://www.amazon.de/dp/B0C1234567"}, follow_redirects=False
    )
    assert (response.status_code, response.headers["location"]) == (303, "/p/de/B0C1234567")
    response = await client.get(
        "/search", params={"q": "b0c1234567", "market": "uk"}, follow_redirects=False
    )
    assert response.headers["location"] == "/p/uk/B0C1234567"
    refused = await client.get("/search", params={"q": "https://example.com/dp/B0C1234567"})
    assert refused.status_code == 400 and "not an Amazon marketplace" in refused.text


# --- amzn.to ------------------------------------------------------------------------


class _ShortLinks(BaseHTTPRequestHandler):
    """amzn.to as a table: code -> (status, Location)."""

    answers: dict[str, tuple[int, str | None]] = {}
    asked: list[tuple[str, str]] = []

    def do_HEAD(self) -> None:  # noqa: N802 - http.server's naming
        type(self).asked.append((self.command, self.path))
        status, location = type(self).answers.get(self.path.strip("/"), (404, None))
        self.send_response(status)
        if location is not None:
            self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_HEAD  # noqa: N815

    def log_message(self, *args: object) -> None:
        pass


@contextlib.contextmanager
def _amzn_to(answers: dict[str, tuple[int, str | None]]) -> Iterator[int]:
    _ShortLinks.answers = answers
    _ShortLinks.asked = []
    port = free_port()
    server = ThreadingHTTPServer(("127.0.0.1", port), _ShortLinks)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield port
    finally:
        server.shutdown()
        server.server_close()


ANSWERS: dict[str, tuple[int, str | None]] = {
    "good1": (301, "https://www.amazon.co.uk/Kettle/dp/B0C1234567/ref=cm_sw_r?th=1"),
    "meta": (302, "http://169.254.169.254/latest/meta-data/"),
    "loop": (302, "http://127.0.0.1:8000/dp/B0C1234567"),
    "other": (301, "https://www.amazon.com.evil.example/dp/B0C1234567"),
    "search": (301, "https://www.amazon.com/s?k=kettle"),
    "plain": (200, None),
    # the app's share links of a.co, amzn.eu and amzn.asia
    "d/good2": (301, "https://www.amazon.de/Wasserkocher/dp/B0C7654321?psc=1"),
    "d/asia1": (302, "https://www.amazon.co.jp/dp/B0C0000JP1"),
    "d/away": (301, "https://example.com/dp/B0C7654321"),
}
SHORT_HOSTS = ("amzn.to", "a.co", "amzn.eu", "amzn.asia")


@pytest.fixture
def amzn_to(client: Client, monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    """amzn.to (and a.co, amzn.eu, amzn.asia) on a loopback server, reached over http on
    its port: the app's egress policy resolves those names to 127.0.0.1 and allows them
    through."""
    with _amzn_to(ANSWERS) as port:
        for host in SHORT_HOSTS:
            monkeypatch.setitem(short_links.SHORT_LINK_ORIGINS, host, f"http://{host}:{port}")
        use_dns(client.app, {host: ["127.0.0.1"] for host in SHORT_HOSTS}, allow=SHORT_HOSTS)
        yield port


async def test_a_short_link_leads_to_its_product_after_one_head(client: Client, amzn_to: int):
    response = await client.get(
        "/search", params={"q": " https://amzn.to/good1 "}, follow_redirects=False
    )
    assert (response.status_code, response.headers["location"]) == (303, "/p/uk/B0C1234567")
    # one request, and the Amazon page itself is never fetched
    assert _ShortLinks.asked == [("HEAD", "/good1")]
    also = await client.get("/search", params={"q": "amzn.to/good1"}, follow_redirects=False)
    assert also.headers["location"] == "/p/uk/B0C1234567"


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("meta", "does not lead to an Amazon marketplace we know"),
        ("loop", "does not lead to an Amazon marketplace we know"),
        ("other", "does not lead to an Amazon marketplace we know"),
        ("search", "not to a product page"),
        ("plain", "did not redirect"),
        ("unknown", "does not know that link"),
    ],
)
async def test_a_short_link_elsewhere_is_refused_with_a_reason(
    client: Client, amzn_to: int, code: str, reason: str
):
    response = await client.get("/search", params={"q": f"https://amzn.to/{code}"})
    assert response.status_code == 400
    assert reason in response.text
    # the redirect's target is judged, never requested
    assert [path for _, path in _ShortLinks.asked] == [f"/{code}"]


@pytest.mark.parametrize(
    ("text", "asked", "product"),
    [
        ("https://a.co/d/good2", "/d/good2", "/p/de/B0C7654321"),
        ("amzn.eu/d/good2/", "/d/good2", "/p/de/B0C7654321"),
        ("https://AMZN.ASIA/d/asia1", "/d/asia1", "/p/jp/B0C0000JP1"),
    ],
)
async def test_amazons_other_short_links_lead_to_their_product_after_one_head(
    client: Client, amzn_to: int, text: str, asked: str, product: str
):
    response = await client.get("/search", params={"q": text}, follow_redirects=False)
    assert (response.status_code, response.headers["location"]) == (303, product)
    assert _ShortLinks.asked == [("HEAD", asked)]
    # asked of the link's own host
    host = text.split("//")[-1].split("/")[0].lower()
    assert short_links.SHORT_LINK_ORIGINS[host].startswith(f"http://{host}:")


async def test_other_short_links_elsewhere_are_refused_naming_their_host(
    client: Client, amzn_to: int
):
    away = await client.get("/search", params={"q": "https://amzn.eu/d/away"})
    assert away.status_code == 400
    assert "That amzn.eu link does not lead to an Amazon marketplace we know" in away.text
    unknown = await client.get("/search", params={"q": "https://a.co/d/nothing"})
    assert unknown.status_code == 400 and "a.co does not know that link" in unknown.text
    assert [path for _, path in _ShortLinks.asked] == ["/d/away", "/d/nothing"]


async def test_a_short_link_host_on_an_internal_address_is_never_asked(client: Client):
    with _amzn_to(ANSWERS) as port:
        short_origin = f"http://amzn.to:{port}"
        with pytest.MonkeyPatch.context() as patch:
            patch.setitem(short_links.SHORT_LINK_ORIGINS, "amzn.to", short_origin)
            patch.setitem(short_links.SHORT_LINK_ORIGINS, "a.co", f"http://a.co:{port}")
            # amzn.to resolving to loopback, or to the LAN, without the operator's allow
            for address in ("127.0.0.1", "10.1.2.3"):
                use_dns(client.app, {"amzn.to": [address], "a.co": [address]})
                response = await client.get("/search", params={"q": "https://amzn.to/good1"})
                assert response.status_code == 400
                assert "cannot be checked from here" in response.text
                response = await client.get("/search", params={"q": "https://a.co/d/good2"})
                assert response.status_code == 400
                assert "That a.co link cannot be checked from here" in response.text
        assert _ShortLinks.asked == []


@pytest.mark.parametrize(
    "text",
    [
        "https://amzn.to/abc?tag=x",
        "https://amzn.to:8443/abc",
        "https://user@amzn.to/abc",
        "https://amzn.to/abc/def",
        "ftp://amzn.to/abc",
        "https://amzn.to/",
        "https://a.co/d/abc?ref=x",
        "https://a.co/d/abc/def",
        "https://amzn.eu/e/abc",
        "https://amzn.asia:444/d/abc",
        "https://amzn.eu/d/../../abc",
    ],
)
async def test_odd_short_links_are_refused_unasked(client: Client, amzn_to: int, text: str):
    response = await client.get("/search", params={"q": text})
    assert response.status_code == 400
    assert _ShortLinks.asked == []


async def test_short_links_are_limited_per_client_ip(client: Client, amzn_to: int):
    statuses = []
    for _ in range(short_links.RESOLUTIONS_PER_IP_PER_MINUTE + 1):
        response = await client.get(
            "/search", params={"q": "https://amzn.to/good1"}, follow_redirects=False
        )
        statuses.append(response.status_code)
    assert statuses[:-1] == [303] * short_links.RESOLUTIONS_PER_IP_PER_MINUTE
    assert statuses[-1] == 429
    assert "Too many searches from here" in response.text
    assert int(response.headers["retry-after"]) > 0
    assert len(_ShortLinks.asked) == short_links.RESOLUTIONS_PER_IP_PER_MINUTE
    # other searches are not limited by it
    assert (await client.get("/search", params={"q": "kettle"})).status_code == 200


async def test_title_searches_are_limited_per_client_ip(client: Client, price_store: PriceStore):
    _seed_catalogue(price_store, _now())
    statuses = [
        (await client.get("/search", params={"q": f"kettle {i}"})).status_code
        for i in range(discovery.SEARCHES_PER_IP_PER_MINUTE)
    ]
    assert statuses == [200] * discovery.SEARCHES_PER_IP_PER_MINUTE
    limited = await client.get("/search", params={"q": "kettle"})
    assert limited.status_code == 429
    assert "Too many searches from here" in limited.text and 'value="kettle"' in limited.text
    assert int(limited.headers["retry-after"]) > 0
    # a product's address is no search: it is still answered
    direct = await client.get("/search", params={"q": "B0KETTLE01"}, follow_redirects=False)
    assert direct.status_code == 303


async def test_what_was_typed_comes_back_as_text(client: Client, price_store: PriceStore):
    _seed_catalogue(price_store, _now())
    typed = '"><script>alert(1)</script> kettle & co'
    response = await client.get("/search", params={"q": typed})
    assert response.status_code == 200
    assert "<script>alert(1)</script>" not in response.text
    assert "&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt; kettle &amp; co" in response.text
    assert "No product on amazon.com has" in response.text


def test_a_product_seen_on_one_day_only_gets_a_sparkline_of_its_hours(price_store: PriceStore):
    # a fixed clock in the afternoon: six hours of a young product's life on one day
    now = 1_704_067_200_000 + 40 * DAY + 15 * 3_600_000  # 2024-02-10T15:00:00Z
    hour = 3_600_000
    seed_product(
        price_store,
        asin="B0YOUNG001",
        title="Young Kettle",
        prices=[(now - 5 * hour - 60_000, 2_000), (now - 2 * hour, 1_800), (now - 60_000, 1_800)],
    )
    sections = discovery._compute(price_store, get_market("us"), [], now)
    (card,) = sections.recent
    assert card.spark_lines and len(card.spark_lines[0].split()) == 7
    assert card.spark_text == (
        "Price over the last 7 hours: from $20.00 to $18.00, low $18.00, high $20.00."
    )

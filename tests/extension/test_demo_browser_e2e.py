"""The demo browser end to end: the extension on the demo marketplace as www.amazon.com.

``pricewatch up --demo`` serves its marketplace over TLS under the Amazon names with a
certificate from a local CA; the demo browser is Chromium told by its command line
(``pricewatch.devtools.browser.chromium_args``) to resolve those names to it and to
trust that CA's key, with the extension loaded. Here: the same demo marketplace and the
same command line in Debian's Chromium (through Playwright, then through the launcher
``up`` uses, then as ``up --demo --browser`` itself), against the real API. Every host
name but the demo's and loopback resolves to nothing: no request leaves the machine.
"""

from __future__ import annotations

import dataclasses
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import redis as redis_lib
from playwright import sync_api as playwright_sync

from pricewatch.devtools.browser import (
    BrowserError,
    DemoSite,
    chromium_args,
    launch,
    seed_expression,
)
from pricewatch.devtools.demo import Demo, demo_marketplace
from pricewatch.history import DAY_MS
from pricewatch.keys import DEFAULT_KEYS, OBSERVATIONS
from pricewatch.markets import get_market
from pricewatch.models import Observation, Series, Source
from pricewatch.money import format_money, parse_money
from pricewatch.storage.redis import connect
from pricewatch.storage.streams import FIELD, PartitionedStream
from tests import up
from tests.apps import ServedApp, served_app, store_price_rows
from tests.observations import price_row
from tests.streams import observations_in

pytestmark = [pytest.mark.browser, pytest.mark.clickhouse, pytest.mark.redis, pytest.mark.slow]

PANEL = "#pricewatch-panel"
SHOTS = Path("/tmp/shots")
DEMO_PRODUCTS = 10
HISTORY_DAYS = 30
# generous: Chromium on two cores shared with other work
WAIT_MS = 60_000


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """The demo marketplace as ``up --demo`` starts it (a TLS site under the Amazon names,
    its CA kept in a directory of its own)."""
    with demo_marketplace(DEMO_PRODUCTS, tls_dir=tmp_path_factory.mktemp("demo-tls")) as found:
        assert found.site is not None
        yield found


def _start(demo: Demo) -> tuple[str, str]:
    """(market, ASIN) of the product the demo browser opens first."""
    assert demo.site is not None
    url = urlsplit(demo.site.start_url)
    assert url.scheme == "https" and url.hostname == "www.amazon.com"
    return "us", url.path.rsplit("/", 1)[1]


@pytest.fixture(scope="module")
def known_price(demo: Demo) -> int:
    """The start product's price when the API's history was loaded: its last price there."""
    market, asin = _start(demo)
    assert demo.catalog is not None
    product = demo.catalog.get(market, asin)
    assert product is not None and product.price is not None
    return product.price


@pytest.fixture(scope="module")
def api(
    tmp_path_factory: pytest.TempPathFactory,
    redis_url: str,
    clickhouse_client: Any,
    demo: Demo,
    known_price: int,
) -> Iterator[ServedApp]:
    """The real API, knowing the start product with a month of daily prices around
    its price (the last one that price)."""
    market, asin = _start(demo)
    assert demo.catalog is not None
    product = demo.catalog.get(market, asin)
    assert product is not None
    price = known_price

    def load(store: Any, now_ms: int) -> None:
        rows = [
            price_row(asin, now_ms - (HISTORY_DAYS - day) * DAY_MS, price + (day % 4) * 150)
            for day in range(HISTORY_DAYS)
        ]
        rows.append(price_row(asin, now_ms - DAY_MS // 2, price))
        store_price_rows(store, product.title, rows)

    workdir = tmp_path_factory.mktemp("demo-browser-api")
    yield from served_app("demobrowser", workdir, redis_url, clickhouse_client, load)


def _reported(client: redis_lib.Redis, stream: PartitionedStream) -> list[Observation]:
    """The buy-box observations the extension reported, oldest first per partition."""
    found = []
    for key in stream.stream_keys():
        entries: list[tuple[bytes, dict[bytes, bytes]]] = client.xrange(key)  # type: ignore[assignment]
        for _, fields in entries:
            found += [
                obs
                for obs in observations_in(fields[FIELD])
                if obs.source is Source.EXTENSION and obs.series is Series.BUYBOX
            ]
    return found


def _reports(redis_url: str, keys: Any, partitions: int, asin: str) -> list[Observation]:
    """The extension's buy-box reports of ``asin`` on the API's streams."""
    client = connect(redis_url)
    try:
        stream = PartitionedStream(keys, OBSERVATIONS, partitions)
        return [obs for obs in _reported(client, stream) if obs.asin == asin]
    finally:
        client.close()


@dataclasses.dataclass
class Seen:
    """Every URL the browser asked for (pages, subresources, the extension's calls)."""

    urls: list[str] = dataclasses.field(default_factory=list)

    def hosts(self) -> set[str]:
        return {urlsplit(u).hostname or "" for u in self.urls if u.startswith("http")}


def _api_host(api: ServedApp) -> str:
    return urlsplit(api.url).hostname or ""


def test_demo_product_opens_as_amazon_com_with_the_panel_and_its_price(
    demo: Demo,
    api: ServedApp,
    known_price: int,
    built_extension: Path,
    chromium_path: str,
    redis_url: str,
) -> None:
    site: DemoSite = demo.site  # type: ignore[assignment]
    assert demo.site_requests is not None
    market, asin = _start(demo)
    # exactly the command line the demo browser gets (the profile is Playwright's)
    args = chromium_args(built_extension, site, reachable=[_api_host(api)], headless=True)
    seen = Seen()
    with (
        tempfile.TemporaryDirectory(prefix="pw-demo-profile-") as profile,
        playwright_sync.sync_playwright() as pw,
    ):
        context = pw.chromium.launch_persistent_context(
            profile,
            executable_path=chromium_path,
            headless=False,
            args=args,
            viewport={"width": 1280, "height": 900},
        )
        try:
            context.set_default_timeout(WAIT_MS)
            context.on("request", lambda request: seen.urls.append(request.url))
            worker = (
                context.service_workers[0]
                if context.service_workers
                else (context.wait_for_event("serviceworker"))
            )
            # what the launcher runs in the extension's worker
            assert worker.evaluate(seed_expression(api.url)) is True
            assert worker.evaluate("() => chrome.storage.local.get('apiUrl')") == {
                "apiUrl": api.url
            }
            page = context.new_page()
            response = page.goto(site.start_url)
            # the demo CA's key is trusted: the page itself, no certificate interstitial
            assert response is not None and response.status == 200
            assert page.url == site.start_url
            shown = page.locator("#corePriceDisplay_desktop_feature_div .a-offscreen").first
            shown_price = parse_money(shown.text_content(), get_market(market))
            assert shown_price is not None and shown_price.currency == "USD"
            page.wait_for_selector(
                f"{PANEL}[data-report]:not([data-chart='loading'])", state="attached"
            )
            panel = page.locator(PANEL)
            assert panel.get_attribute("data-asin") == asin
            assert panel.get_attribute("data-market") == market
            assert panel.get_attribute("data-report") == "sent"
            assert panel.get_attribute("data-chart") == "ready"
            assert int(panel.get_attribute("data-points") or 0) >= HISTORY_DAYS
            text = panel.locator(".panel").inner_text()
            assert "Price reported to Pricewatch" in text
            # the product's price as Pricewatch has it, in the chart's legend
            assert format_money(known_price, "USD") in text
            # the price the extension read and reported is the demo product's, as shown
            reports = _reports(redis_url, api.keys, api.settings.stream_partitions, asin)
            assert [r.price for r in reports][:1] == [shown_price.minor]
            assert reports[0].market == market
            page.wait_for_selector(f"{PANEL}[data-subscribe]", state="attached")
            SHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SHOTS / "tls-demo-1280.png"))
            page.set_viewport_size({"width": 390, "height": 900})
            page.reload()
            page.wait_for_selector(f"{PANEL}[data-subscribe]", state="attached")
            page.screenshot(path=str(SHOTS / "tls-demo-390.png"), full_page=True)
            # the only places the page and the extension asked for: the demo's names
            # and loopback
            allowed = {*site.hostnames, "127.0.0.1", "localhost", _api_host(api)}
            assert seen.hosts() <= allowed, seen
            assert "www.amazon.com" in seen.hosts() and _api_host(api) in seen.hosts()
            # any name that is not the demo's resolves to nothing
            with pytest.raises(playwright_sync.Error, match="ERR_NAME_NOT_RESOLVED"):
                page.goto("https://www.example.org/")
            with pytest.raises(playwright_sync.Error, match="ERR_NAME_NOT_RESOLVED"):
                page.goto("https://m.media-amazon.com/images/I/x.jpg")
        finally:
            context.close()
    # every Amazon page it asked for was the demo's, over TLS, from loopback
    served = [r for r in demo.site_requests.records() if r.path == f"/dp/{asin}"]
    assert served and all(r.tls and r.client_ip == "127.0.0.1" for r in served)
    assert {r.host for r in served} == {"www.amazon.com"}


def test_launcher_sets_the_api_url_and_opens_the_start_page(
    demo: Demo, api: ServedApp, built_extension: Path, chromium_path: str, redis_url: str
) -> None:
    """What ``up --demo --browser`` runs: Chromium on a fresh profile, the extension's
    server set over the DevTools pipe, then the demo's first product."""
    site: DemoSite = demo.site  # type: ignore[assignment]
    assert demo.site_requests is not None
    _, asin = _start(demo)
    before = len(_reports(redis_url, api.keys, api.settings.stream_partitions, asin))
    workdir = Path(tempfile.mkdtemp(prefix="pw-demo-browser-"))
    browser = launch(chromium_path, built_extension, site, api.url, workdir, headless=True)
    try:
        assert browser.running()
        # the API is on a port of its own, not the extension's default: a report
        # arriving there means the launcher set the server before the page opened
        up.wait_until(
            lambda: (
                len(_reports(redis_url, api.keys, api.settings.stream_partitions, asin)) > before
            ),
            WAIT_MS / 1000,
            "the extension's report",
        )
    finally:
        browser.stop()
    assert not browser.running()
    assert not browser.profile.exists()
    assert any(r.path == f"/dp/{asin}" and r.tls for r in demo.site_requests.records())


def test_launcher_says_why_chromium_cannot_start(
    demo: Demo, built_extension: Path, chromium_path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A windowed Chromium with no display: the error carries Chromium's own reason."""
    site: DemoSite = demo.site  # type: ignore[assignment]
    for name in ("DISPLAY", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(name, raising=False)
    workdir = Path(tempfile.mkdtemp(prefix="pw-demo-browser-"))
    with pytest.raises(BrowserError, match=r"Chromium stopped: .*(X server|DISPLAY|display)"):
        launch(chromium_path, built_extension, site, "http://127.0.0.1:9", workdir)
    assert not (workdir / "profile").exists()


def test_up_demo_browser_is_one_command(
    tmp_path: Path, chromium_path: str, built_extension: Path
) -> None:
    """``pricewatch up --demo --browser``: here with a Chromium that runs headless (no
    display on a test machine), everything else as a user runs it."""
    headless = tmp_path / "chromium-headless"
    headless.write_text(f'#!/bin/sh\nexec {chromium_path} --headless=new "$@"\n')
    headless.chmod(0o755)
    env = up.environment(tmp_path / "data")
    output_file = tmp_path / "up.out"
    with output_file.open("w") as output:
        proc = up.start(
            env,
            *("--demo", "6", "--crawlers", "0", "--browser", "--chrome", str(headless)),
            stdout=output,
        )
    try:
        client = up.redis_client(proc, env)
        stream = PartitionedStream(DEFAULT_KEYS, OBSERVATIONS, up.PARTITIONS)
        found = up.wait_until(
            lambda: _reported(client, stream), up.STARTUP_S, "a report from the demo browser", proc
        )
        # from the page the browser opened: the extension reached the API on the port
        # of this `up` (not its default), so `up` told it where
        start = re.search(r"Browser: Chromium with the extension on (\S+)", output_file.read_text())
        assert start is not None
        assert {f"https://www.amazon.com/dp/{obs.asin}" for obs in found} == {start.group(1)}
    finally:
        up.stop(proc)
    text = output_file.read_text()
    assert proc.returncode == 0, text
    assert "Traceback" not in text
    data = Path(env["PRICEWATCH_DATA_DIR"])
    assert (data / "demo-tls" / "ca.pem").exists()
    # the profile is thrown away with the browser
    assert not (data / "demo-browser" / "profile").exists()

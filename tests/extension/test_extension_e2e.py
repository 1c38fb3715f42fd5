"""The extension end to end, in Debian's Chromium driven by Playwright.

The local marketplace serves Amazon-like product pages over TLS; Chromium maps
www.amazon.com and www.amazon.de to it (HSTS forces https on those names) and
accepts its self-signed certificate. The real API (uvicorn in a thread) runs over
real Redis, chDB and SQLite with a price history loaded for one product. The
extension is loaded unpacked from extension/dist in a persistent context (the only
kind that loads extensions); nothing leaves the machine.
"""

from __future__ import annotations

import dataclasses
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis as redis_lib
from playwright import sync_api as playwright_sync

from pricewatch.devtools.marketplace import Catalog, Marketplace
from pricewatch.devtools.tls import self_signed_certificate
from pricewatch.history import DAY_MS
from pricewatch.models import Availability, Observation, Series, Source
from pricewatch.storage.streams import FIELD
from tests.apps import ServedApp, served_app, store_price_rows
from tests.browser import HEADLESS_ARGS, own_origin_only
from tests.observations import price_row
from tests.services import free_port
from tests.streams import observations_in

pytestmark = [pytest.mark.browser, pytest.mark.clickhouse, pytest.mark.redis, pytest.mark.slow]

ASIN = "B0EXTTEST1"  # on amazon.com, with 60 days of history
DE_ASIN = "B0EXTTEST2"  # on amazon.de, never seen by Pricewatch
US_PRICE = 1234
DE_PRICE = 123456
HISTORY_DAYS = 60
PANEL = "#pricewatch-panel"


# the series the product's history has besides the buy box, each a little apart from it
OTHER_SERIES = {"amazon": 0, "new": -75, "used": -400, "cheapest_new": -75}


def _load_history(store: Any, now_ms: int) -> None:
    """One crawl a day for HISTORY_DAYS days, prices moving every day, in the buy box
    and in the other series of the page."""
    rows = []
    for series, offset in [*OTHER_SERIES.items(), ("buybox", 0)]:
        for day in range(HISTORY_DAYS):
            row = price_row(ASIN, now_ms - (HISTORY_DAYS - day) * DAY_MS, 1_500 - (day % 5) * 50)
            row[2], row[4] = series, row[4] + offset
            rows.append(row)
    # the buy box last: the catalogue row takes the last row's price
    store_price_rows(store, "Acme Stainless Kettle 1.7 L", rows)


@pytest.fixture(scope="module")
def api(
    tmp_path_factory: pytest.TempPathFactory, redis_url: str, clickhouse_client: Any
) -> Iterator[ServedApp]:
    workdir = tmp_path_factory.mktemp("extension-api")
    yield from served_app("ext", workdir, redis_url, clickhouse_client, _load_history)


@pytest.fixture(scope="module")
def marketplace() -> Iterator[Marketplace]:
    catalog = Catalog()
    catalog.add("us", ASIN, "Acme Stainless Kettle 1.7 L", US_PRICE, list_price=1999)
    catalog.add("de", DE_ASIN, "Acme Wasserkocher 1,7 l", DE_PRICE)
    with Marketplace(catalog, certificate=self_signed_certificate()) as site:
        yield site


@dataclasses.dataclass
class Browser:
    context: Any
    worker: Any
    extension_id: str

    def storage(self, **values: Any) -> None:
        self.worker.evaluate("values => chrome.storage.local.set(values)", values)

    def stored(self) -> dict[str, Any]:
        return dict(self.worker.evaluate("() => chrome.storage.local.get(null)"))


@pytest.fixture(scope="module")
def browser(
    built_extension: Path, chromium_path: str, marketplace: Marketplace, api: ServedApp
) -> Iterator[Browser]:
    port = marketplace.tls_port
    rules = f"MAP www.amazon.com 127.0.0.1:{port}, MAP www.amazon.de 127.0.0.1:{port}"
    args = [
        *HEADLESS_ARGS,
        "--headless=new",
        "--ignore-certificate-errors",
        f"--host-resolver-rules={rules}",
        f"--load-extension={built_extension}",
        f"--disable-extensions-except={built_extension}",
    ]
    with (
        tempfile.TemporaryDirectory(prefix="pw-ext-profile-") as profile,
        playwright_sync.sync_playwright() as pw,
    ):
        context = pw.chromium.launch_persistent_context(
            profile,
            executable_path=chromium_path,
            headless=False,
            args=args,
            viewport={"width": 1200, "height": 900},
        )
        context.set_default_timeout(15_000)
        # only the marketplace and the API are reachable: no test touches the internet
        marketplaces = ("https://www.amazon.com/", "https://www.amazon.de/")
        own_origin_only(context, *marketplaces, api.url, "chrome-extension://")
        worker = (
            context.service_workers[0]
            if context.service_workers
            else context.wait_for_event("serviceworker")
        )
        extension_id = worker.url.split("/")[2]
        found = Browser(context, worker, extension_id)
        found.storage(apiUrl=api.url)
        yield found
        context.close()


def _reports(
    api: ServedApp, redis_url: str, asin: str, every_series: bool = False
) -> list[Observation]:
    """The reported observations of ``asin``: the buy box's, or all of them."""
    client = redis_lib.Redis.from_url(redis_url)
    try:
        found = []
        for partition in range(api.settings.stream_partitions):
            entries: list[tuple[bytes, dict[bytes, bytes]]] = client.xrange(  # type: ignore[assignment]
                api.keys.observations(partition)
            )
            for _, fields in entries:
                found.extend(
                    obs
                    for obs in observations_in(fields[FIELD])
                    if obs.asin == asin and (every_series or obs.series is Series.BUYBOX)
                )
        return found
    finally:
        client.close()


def _open_product(browser: Browser, url: str) -> Any:
    page = browser.context.new_page()
    page.goto(url)
    # the panel says what it did once every step is over
    page.wait_for_selector(
        f"{PANEL}[data-report]:not([data-chart='loading'])[data-subscribe]", state="attached"
    )
    return page


def _panel_text(page: Any) -> str:
    return str(page.locator(f"{PANEL} .panel").inner_text())


def test_report_chart_and_subscribe_on_amazon_com(
    browser: Browser, api: ServedApp, redis_url: str, tmp_path: Path
) -> None:
    with api.client() as client:
        history = client.get(
            f"/products/{ASIN}/price", params={"market": "us", "period": "1y"}
        ).json()["history"]
    page = _open_product(browser, f"https://www.amazon.com/dp/{ASIN}")
    panel = page.locator(PANEL)
    assert panel.get_attribute("data-report") == "sent"
    assert panel.get_attribute("data-chart") == "ready"
    assert int(panel.get_attribute("data-points")) == len(history) >= HISTORY_DAYS
    assert panel.locator("canvas").count() >= 1
    # a line per price series; Amazon, new and used on, the buy box and cheapest new off
    assert set(panel.get_attribute("data-lines").split()) == {*OTHER_SERIES, "buybox"}
    assert panel.get_attribute("data-visible").split() == ["amazon", "new", "used"]
    shot = panel.screenshot(path=str(tmp_path / "panel.png"))
    assert shot.startswith(b"\x89PNG") and len(shot) > 5_000
    # a click on a legend entry hides its line, another shows it again
    used = panel.locator(".u-legend .u-series", has_text="Used")
    used.click()
    page.wait_for_selector(f"{PANEL}[data-visible='amazon new']")
    used.click()
    page.wait_for_selector(f"{PANEL}[data-visible='amazon new used']")
    # not signed in: the panel points to the sign-in
    assert panel.get_attribute("data-subscribe") == "signed-out"
    assert page.locator(f"{PANEL} a[href='{api.url}/signin']").count() == 1

    reports = _reports(api, redis_url, ASIN)
    assert len(reports) == 1
    report = reports[0]
    # the report speaks for the page's other series too (the marketplace shows offers)
    series = {obs.series for obs in _reports(api, redis_url, ASIN, every_series=True)}
    assert {Series.BUYBOX, Series.NEW, Series.USED, Series.CHEAPEST_NEW} <= series
    install_id = browser.stored()["installId"]
    assert report.source == Source.EXTENSION
    assert (report.market, report.price, report.currency) == ("us", US_PRICE, "USD")
    assert report.availability == Availability.IN_STOCK
    assert report.title == "Acme Stainless Kettle 1.7 L"
    assert report.reporter is not None
    assert report.reporter.startswith(f"install:{install_id}:")
    page.close()

    # sign in through the options page, then subscribe from the panel in one click
    email, password = f"ext-{uuid.uuid4().hex[:8]}@example.org", "correct horse battery"
    with api.client() as client:
        client.post("/accounts", json={"email": email, "password": password}).raise_for_status()
    options = browser.context.new_page()
    options.goto(f"chrome-extension://{browser.extension_id}/options.html")
    options.wait_for_selector("body[data-state='ready']")
    options.get_by_label("E-mail").fill(email)
    options.get_by_label("Password").fill(password)
    options.get_by_role("button", name="Sign in").click()
    options.wait_for_selector("body[data-signed-in='true']")
    assert browser.stored()["token"]
    options.close()

    page = _open_product(browser, f"https://www.amazon.com/dp/{ASIN}")
    panel = page.locator(PANEL)
    assert panel.get_attribute("data-subscribe") == "ready"
    # the cheapest new price is the default; every alertable price is offered, and back in stock
    options = panel.locator("select[name='series'] option")
    assert options.evaluate_all("os => os.map(o => o.value)") == [
        "cheapest_new",
        "amazon",
        "new",
        "used",
        "buybox",
        "back_in_stock",
    ]
    # 10% under the latest cheapest new price on the chart, in whole cents
    latest = 1_500 - ((HISTORY_DAYS - 1) % 5) * 50 + OTHER_SERIES["cheapest_new"]
    expected = f"{latest * 9 // 10 / 100:.2f}"
    assert panel.locator("input[name='threshold']").input_value() == expected
    panel.locator("input[name='threshold']").fill("11.50")
    panel.get_by_role("button", name="Alert me").click()
    page.wait_for_selector(f"{PANEL}[data-subscribe='done']")
    panel.locator("select[name='series']").select_option("used")
    panel.locator("input[name='threshold']").fill("9.00")
    panel.get_by_role("button", name="Alert me").click()
    page.wait_for_selector(f"{PANEL}[data-subscribe='done']")
    panel.locator("select[name='series']").select_option("back_in_stock")
    assert panel.locator("input[name='threshold']").is_hidden()
    panel.get_by_role("button", name="Alert me").click()
    page.wait_for_selector(f"{PANEL}[data-subscribe='done']")
    with api.client() as client:
        token = client.post("/auth/token", json={"email": email, "password": password}).json()
        mine = client.get(
            "/subscriptions", headers={"Authorization": f"Bearer {token['token']}"}
        ).json()["items"]
    assert sorted((s["kind"], s["series"], s["threshold"]) for s in mine) == [
        ("back_in_stock", "buybox", None),
        ("price", "cheapest_new", 11.5),
        ("price", "used", 9.0),
    ]
    assert {(s["productID"], s["market"]) for s in mine} == {(ASIN, "us")}
    page.close()


def test_report_in_euros_on_amazon_de_for_a_product_without_history(
    browser: Browser, api: ServedApp, redis_url: str
) -> None:
    page = _open_product(browser, f"https://www.amazon.de/dp/{DE_ASIN}")
    panel = page.locator(PANEL)
    assert panel.get_attribute("data-report") == "sent"
    assert panel.get_attribute("data-chart") == "empty"
    assert "queued" in _panel_text(page)
    reports = _reports(api, redis_url, DE_ASIN)
    assert [(r.market, r.price, r.currency, r.source) for r in reports] == [
        ("de", DE_PRICE, "EUR", Source.EXTENSION)
    ]
    page.close()


def test_captcha_page_reports_nothing_and_says_so(
    browser: Browser, api: ServedApp, redis_url: str, marketplace: Marketplace
) -> None:
    before = len(_reports(api, redis_url, ASIN))
    marketplace.captcha_ips.add("127.0.0.1")
    try:
        page = browser.context.new_page()
        page.goto(f"https://www.amazon.com/dp/{ASIN}")
        page.wait_for_selector(f"{PANEL}[data-report='skipped']", state="attached")
    finally:
        marketplace.captcha_ips.discard("127.0.0.1")
    assert "robot check" in _panel_text(page)
    assert len(_reports(api, redis_url, ASIN)) == before
    page.close()


def test_api_down_leaves_the_page_alone_and_says_so(
    browser: Browser, api: ServedApp, redis_url: str
) -> None:
    browser.storage(apiUrl=f"http://127.0.0.1:{free_port()}")
    try:
        page = _open_product(browser, f"https://www.amazon.com/dp/{ASIN}")
    finally:
        browser.storage(apiUrl=api.url)
    panel = page.locator(PANEL)
    assert panel.get_attribute("data-report") == "failed"
    assert panel.get_attribute("data-chart") == "error"
    assert "unreachable" in _panel_text(page)
    # the page itself still works: title and buy box are where they were
    assert page.locator("#productTitle").inner_text().strip() == "Acme Stainless Kettle 1.7 L"
    page.close()

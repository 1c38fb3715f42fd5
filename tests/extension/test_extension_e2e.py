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
import http.server
import os
import re
import tempfile
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright import sync_api as playwright_sync

from pricewatch.devtools.marketplace import Catalog, Marketplace
from pricewatch.devtools.tls import self_signed_certificate
from pricewatch.history import DAY_MS
from pricewatch.models import Availability, Observation, Product, Series, Source
from pricewatch.storage.redis import connect
from pricewatch.storage.streams import FIELD
from tests.apps import ServedApp, served_app, store_price_rows
from tests.browser import HEADLESS_ARGS, own_origin_only
from tests.observations import price_row
from tests.services import free_port
from tests.streams import observations_in

pytestmark = [pytest.mark.browser, pytest.mark.clickhouse, pytest.mark.redis, pytest.mark.slow]

ASIN = "B0EXTTEST1"  # on amazon.com, with 60 days of history
DE_ASIN = "B0EXTTEST2"  # on amazon.de, never seen by Pricewatch
OOS_ASIN = "B0EXTTEST3"  # on amazon.com, out of stock, one price seen a day ago
EURO_ASIN = "B0EXTTEST4"  # on amazon.de, two prices in euros
EURO_PRICES = (2_533, 129_900)
US_PRICE = 1234
DE_PRICE = 123456
HISTORY_DAYS = 60
PANEL = "#pricewatch-panel"
# screenshots of the panel and the options page, to look at
SHOTS = Path(os.environ.get("PRICEWATCH_SHOTS", Path(tempfile.gettempdir()) / "shots"))


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
    store_price_rows(store, "Acme Milk Frother", [price_row(OOS_ASIN, now_ms - DAY_MS, 2_999)])
    euros = []
    for i, price in enumerate(EURO_PRICES):
        row = price_row(EURO_ASIN, now_ms - (3 - i) * DAY_MS, price, market="de")
        row[5] = "EUR"
        euros.append(row)
    store.insert_prices(euros)
    store.upsert_products(
        [
            Product(
                market="de",
                asin=EURO_ASIN,
                title="Acme Espressomaschine",
                currency="EUR",
                last_price=EURO_PRICES[-1],
                availability=Availability.IN_STOCK,
                first_seen=euros[0][3],
                last_seen=euros[-1][3],
            )
        ]
    )


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
    catalog.add("de", EURO_ASIN, "Acme Espressomaschine", EURO_PRICES[-1])
    catalog.add("us", OOS_ASIN, "Acme Milk Frother", None, availability=Availability.OUT_OF_STOCK)
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

    def signed_out(self) -> None:
        """Forget any sign-in, the website's included."""
        self.worker.evaluate(
            "() => chrome.storage.local.remove(['token', 'email', 'via', 'siteTokenHash'])"
        )

    def options_page(self) -> Any:
        page = self.context.new_page()
        page.goto(f"chrome-extension://{self.extension_id}/options.html")
        page.wait_for_selector("body[data-state='ready']")
        return page


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
    client = connect(redis_url)
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


def _freshness_text(api: ServedApp, asin: str) -> str:
    with api.client() as client:
        answer = client.get(f"/products/{asin}", params={"market": "us"})
    answer.raise_for_status()
    text: str = answer.json()["freshness"]["text"]
    assert text
    return text


def _register(api: ServedApp) -> tuple[str, str]:
    email, password = f"ext-{uuid.uuid4().hex[:8]}@example.org", "correct horse battery"
    with api.client() as client:
        client.post("/accounts", json={"email": email, "password": password}).raise_for_status()
    return email, password


def _token(api: ServedApp, email: str, password: str) -> str:
    with api.client() as client:
        answer = client.post("/auth/token", json={"email": email, "password": password})
    answer.raise_for_status()
    token: str = answer.json()["token"]
    return token


def _me(api: ServedApp, token: str) -> Any:
    with api.client() as client:
        return client.get("/accounts/me", headers={"Authorization": f"Bearer {token}"})


def test_report_chart_and_subscribe_on_amazon_com(
    browser: Browser, api: ServedApp, redis_url: str
) -> None:
    with api.client() as client:
        history = client.get(
            f"/products/{ASIN}/price", params={"market": "us", "period": "1y"}
        ).json()["history"]
    told = [_freshness_text(api, ASIN)]
    page = _open_product(browser, f"https://www.amazon.com/dp/{ASIN}")
    told.append(_freshness_text(api, ASIN))
    panel = page.locator(PANEL)
    assert panel.get_attribute("data-report") == "sent"
    assert panel.get_attribute("data-chart") == "ready"
    assert int(panel.get_attribute("data-points")) == len(history) >= HISTORY_DAYS
    assert panel.locator("canvas").count() >= 1
    # a line per price series; Amazon, new and used on, the buy box and cheapest new off
    assert set(panel.get_attribute("data-lines").split()) == {*OTHER_SERIES, "buybox"}
    assert panel.get_attribute("data-visible").split() == ["amazon", "new", "used"]
    points = int(panel.get_attribute("data-points"))
    assert f"last 12 months: {points} points." in _panel_text(page)
    # money reads as amazon.com writes it, on the axis and in the legend
    assert re.search(r"\$\d+\.\d\d", panel.locator(".u-legend").inner_text())
    # how fresh the price is, in the API's own words
    assert panel.get_attribute("data-freshness") == "shown"
    freshness = panel.locator(".freshness").inner_text()
    assert freshness.lower() in {text.lower() for text in told}
    assert "checked" in freshness.lower()
    SHOTS.mkdir(parents=True, exist_ok=True)
    shot = panel.screenshot(path=str(SHOTS / "ext-panel-signed-out.png"))
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
    browser.signed_out()

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
    assert options.locator("#account").inner_text() == f"Signed in as {email}."
    assert options.get_by_role("button", name="Sign out of the extension").is_visible()
    options.close()

    latest_cheapest = 1_500 - ((HISTORY_DAYS - 1) % 5) * 50 + OTHER_SERIES["cheapest_new"]
    page = _open_product(browser, f"https://www.amazon.com/dp/{ASIN}")
    panel = page.locator(PANEL)
    assert panel.get_attribute("data-subscribe") == "ready"
    SHOTS.mkdir(parents=True, exist_ok=True)
    panel.screenshot(path=str(SHOTS / "ext-panel-signed-in.png"))
    # the cheapest new price is the default; every alertable price is offered, and back in stock
    options = panel.locator("select[name='series'] option")
    assert options.evaluate_all("os => os.map(o => o.value)") == [
        "cheapest_new",
        "amazon",
        "new",
        "used",
        "buybox",
    ]
    # each with its latest price, written as amazon.com writes it
    assert options.first.inner_text() == f"Cheapest new: ${latest_cheapest / 100:,.2f}"
    # 10% under the latest cheapest new price on the chart, in whole cents
    expected = f"{latest_cheapest * 9 // 10 / 100:.2f}"
    assert panel.locator("input[name='threshold']").input_value() == expected
    panel.locator("input[name='threshold']").fill("11.50")
    panel.get_by_role("button", name="Alert me", exact=True).click()
    page.wait_for_selector(f"{PANEL}[data-subscribe='done']")
    panel.locator("select[name='series']").select_option("used")
    panel.locator("input[name='threshold']").fill("9.00")
    panel.get_by_role("button", name="Alert me", exact=True).click()
    page.wait_for_selector(f"{PANEL}[data-subscribe='done']")
    assert "price drops below $9.00" in _panel_text(page)
    panel.get_by_role("button", name="Alert me when back in stock").click()
    page.wait_for_selector(f"{PANEL}[data-subscribe='done']")
    assert "when it is back in stock" in _panel_text(page)
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


def test_panel_on_amazon_de_writes_euros_as_amazon_de_does(
    browser: Browser, api: ServedApp
) -> None:
    browser.signed_out()
    page = _open_product(browser, f"https://www.amazon.de/dp/{EURO_ASIN}")
    panel = page.locator(PANEL)
    assert panel.get_attribute("data-chart") == "ready"
    assert panel.get_attribute("data-visible") == "buybox"
    # the legend's latest price, as format_money writes it on amazon.de
    legend = panel.locator(".u-legend").inner_text()
    assert "1.299,00\u00a0€" in legend, legend
    assert "$" not in legend and "€1" not in legend
    SHOTS.mkdir(parents=True, exist_ok=True)
    panel.screenshot(path=str(SHOTS / "ext-panel-amazon-de.png"))
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


def test_out_of_stock_panel_offers_back_in_stock_first_and_reads_right(
    browser: Browser, api: ServedApp
) -> None:
    email, password = _register(api)
    browser.signed_out()
    browser.storage(token=_token(api, email, password), email=email, via="options")
    page = _open_product(browser, f"https://www.amazon.com/dp/{OOS_ASIN}")
    panel = page.locator(PANEL)
    text = _panel_text(page)
    assert panel.get_attribute("data-subscribe") == "ready"
    points = int(panel.get_attribute("data-points"))
    assert points >= 1
    said = "1 point." if points == 1 else f"{points} points."
    assert f"last 12 months: {said}" in text
    # no empty values, no broken plurals, no raw numbers: every label reads
    assert "()" not in text and "1 points" not in text and "null" not in text
    assert "undefined" not in text and "NaN" not in text
    assert "drops below (USD)" in text
    # the alert people want for an out-of-stock product comes first
    buttons = panel.locator("button").evaluate_all("bs => bs.map(b => b.textContent)")
    assert buttons[0] == "Alert me when back in stock"
    first = panel.locator("select[name='series'] option").first.inner_text()
    assert re.fullmatch(r"Cheapest new(: \$\d+\.\d\d)?", first), first
    SHOTS.mkdir(parents=True, exist_ok=True)
    panel.screenshot(path=str(SHOTS / "ext-panel-out-of-stock.png"))
    panel.get_by_role("button", name="Alert me when back in stock").click()
    page.wait_for_selector(f"{PANEL}[data-subscribe='done']")
    with api.client() as client:
        mine = client.get(
            "/subscriptions", headers={"Authorization": f"Bearer {_token(api, email, password)}"}
        ).json()["items"]
    assert [(s["productID"], s["kind"]) for s in mine] == [(OOS_ASIN, "back_in_stock")]
    page.close()
    browser.signed_out()


def test_signing_in_on_the_website_signs_the_extension_in_and_out(
    browser: Browser, api: ServedApp
) -> None:
    email, password = _register(api)
    browser.signed_out()
    options = browser.options_page()
    assert options.locator("body").get_attribute("data-signed-in") == "false"
    site = browser.context.new_page()
    site.goto(f"{api.url}/signin")
    site.get_by_label("E-mail").fill(email)
    site.get_by_label("Password").fill(password)
    site.get_by_role("button", name="Sign in").click()
    # signed in, the site leaves the sign-in page
    site.wait_for_url(lambda url: "/signin" not in url)
    site.wait_for_load_state()
    site_token = site.evaluate("() => localStorage.getItem('pricewatch.token')")
    # the options page follows, with no reload
    options.wait_for_selector("body[data-signed-in='true']", timeout=30_000)
    stored = browser.stored()
    assert stored["via"] == "site" and stored["email"] == email
    # a token of its own, not the website's; it signs in the same account
    assert stored["token"] != site_token
    assert _me(api, stored["token"]).json()["email"] == email
    assert site_token not in str(stored)
    assert options.locator("#account").inner_text() == (
        f"Signed in as {email} (through the Pricewatch website)."
    )
    SHOTS.mkdir(parents=True, exist_ok=True)
    options.screenshot(path=str(SHOTS / "ext-options-signed-in.png"), full_page=True)
    # a product page then offers alerts at once
    page = _open_product(browser, f"https://www.amazon.com/dp/{ASIN}")
    assert page.locator(PANEL).get_attribute("data-subscribe") == "ready"
    page.close()
    # signing out on the website signs the extension out, and revokes its token
    site.goto(f"{api.url}/")
    site.get_by_role("button", name="Sign out").click()
    site.wait_for_function("() => localStorage.getItem('pricewatch.token') === null")
    options.wait_for_selector("body[data-signed-in='false']", timeout=30_000)
    assert "token" not in browser.stored()
    assert _me(api, stored["token"]).status_code == 401
    site.close()
    options.close()


def test_extension_token_answers_only_an_extension_signed_in_on_the_website(api: ServedApp) -> None:
    email, password = _register(api)
    site_token = _token(api, email, password)
    bearer = {"Authorization": f"Bearer {site_token}"}
    with api.client() as client:
        # a script on a web page (any origin, the site's own included) gets nothing
        for origin in ("https://evil.example", api.url):
            refused = client.post("/auth/token/extension", headers={**bearer, "Origin": origin})
            assert refused.status_code == 403, refused.text
        assert client.post("/auth/token/extension", headers=bearer).status_code == 403
        extension = {"Origin": "chrome-extension://abcdefghijklmnopabcdefghijklmnop"}
        assert client.post("/auth/token/extension", headers=extension).status_code == 401
        bad = {**extension, "Authorization": "Bearer not-a-token"}
        assert client.post("/auth/token/extension", headers=bad).status_code == 401
        given = client.post("/auth/token/extension", headers={**bearer, **extension})
    assert given.status_code == 200, given.text
    own = given.json()["token"]
    assert own != site_token and _me(api, own).json()["email"] == email


class _NotPricewatch(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"<!doctype html><title>Some other server</title>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def test_options_page_states_and_server_check(browser: Browser, api: ServedApp) -> None:
    browser.signed_out()
    options = browser.options_page()
    SHOTS.mkdir(parents=True, exist_ok=True)
    # signed out: says so, offers both sign-ins and no sign-out
    assert options.locator("body").get_attribute("data-signed-in") == "false"
    assert options.locator("#account").inner_text().startswith("Not signed in")
    assert options.get_by_role("button", name="Sign out of the extension").is_hidden()
    assert options.get_by_role("button", name="Sign in").is_visible()
    assert options.locator("#site-link").get_attribute("href") == f"{api.url}/signin"
    for width in (1280, 390):
        options.set_viewport_size({"width": width, "height": 800})
        options.screenshot(path=str(SHOTS / f"ext-options-signed-out-{width}.png"), full_page=True)
    options.set_viewport_size({"width": 1200, "height": 900})
    field = options.get_by_label("API URL")
    status = options.locator("#server-status")
    # nothing listens there: an error, and the server stays
    field.fill(f"http://127.0.0.1:{free_port()}")
    options.get_by_role("button", name="Save").click()
    options.wait_for_selector("#server-status.error")
    assert "cannot be reached" in status.inner_text()
    assert browser.stored()["apiUrl"] == api.url
    # a web server, but not Pricewatch
    other = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _NotPricewatch)
    threading.Thread(target=other.serve_forever, daemon=True).start()
    other_url = f"http://127.0.0.1:{other.server_address[1]}"
    # the browser reaches only the marketplace and the API: this server too, for now
    browser.context.route(f"{other_url}/**", lambda route: route.continue_())
    try:
        field.fill(other_url)
        options.get_by_role("button", name="Save").click()
        options.wait_for_function(
            "() => !document.querySelector('#server-status').textContent.startsWith('Checking')"
        )
        assert "is not a Pricewatch server" in status.inner_text()
        assert "error" in (status.get_attribute("class") or "")
        options.screenshot(path=str(SHOTS / "ext-options-not-pricewatch.png"), full_page=True)
    finally:
        browser.context.unroute(f"{other_url}/**")
        other.shutdown()
        other.server_close()
    assert browser.stored()["apiUrl"] == api.url
    # the real one, written with a trailing slash
    field.fill(f"{api.url}/")
    options.get_by_role("button", name="Save").click()
    options.wait_for_selector("#server-status.ok")
    assert status.inner_text().startswith(f"Saved: Pricewatch at {api.url} answers")
    assert browser.stored()["apiUrl"] == api.url
    # signed in (here, in the options), then out: each state says what it is
    email, password = _register(api)
    options.get_by_label("E-mail").fill(email)
    options.get_by_label("Password").fill(password)
    options.get_by_role("button", name="Sign in").click()
    options.wait_for_selector("body[data-signed-in='true']")
    assert options.get_by_role("button", name="Sign in").is_hidden()
    options.get_by_role("button", name="Sign out of the extension").click()
    options.wait_for_selector("body[data-signed-in='false']")
    assert options.locator("#account").inner_text().startswith("Not signed in")
    assert "token" not in browser.stored()
    options.close()

"""The website in a real browser: Debian's Chromium driven by Playwright, against the
real app (uvicorn in a thread) over real Redis, chDB and SQLite with loaded history.

Needs ``apt-get install chromium``, ``pip install playwright`` (never ``playwright
install``: the browser is Debian's) and the built front-end (``make web``); each
missing piece fails with the command that fixes it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pricewatch.history import DAY_MS, HOUR_MS
from pricewatch.models import Availability
from tests.api.charts import drawn_xs, in_force
from tests.api.conftest import register_in_page, stored_subscriptions
from tests.apps import ServedApp, site_fixture, store_price_rows
from tests.browser import own_origin_page
from tests.observations import price_row

pytestmark = [pytest.mark.browser, pytest.mark.clickhouse, pytest.mark.redis, pytest.mark.slow]

ASIN = "B0WEBTEST1"
XSS_ASIN = "B0WEBXSS01"
UNKNOWN_ASIN = "B0NOTSEEN1"
XSS_TITLE = '<script>window.__pwned = 1</script><img src="x" onerror="window.__pwned = 2">Mug'
HISTORY_DAYS = 800
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _price_rows(asin: str, now_ms: int, days: int) -> list[list[Any]]:
    """An observation every 6 hours for ``days`` days: prices that move often, and two
    out-of-stock days (gaps in the chart)."""
    rows = []
    step = 6 * HOUR_MS
    start = now_ms - days * DAY_MS
    for i in range(days * 4):
        at = start + i * step
        out_of_stock = 40 * 4 <= i < 42 * 4
        price = None if out_of_stock else 5_000 + (i * 7_919 % 23) * 50
        availability = Availability.OUT_OF_STOCK if out_of_stock else Availability.IN_STOCK
        rows.append(price_row(asin, at, price, availability=availability.value))
    return rows


def _load_history(store: Any, now_ms: int) -> None:
    for asin, title, days in (
        (ASIN, "Stainless Steel Kettle, 1.7 l", HISTORY_DAYS),
        (XSS_ASIN, XSS_TITLE, 10),
    ):
        store_price_rows(store, title, _price_rows(asin, now_ms, days))


site = site_fixture("web", _load_history)


@pytest.fixture
def page(browser: Any, site: ServedApp) -> Iterator[Any]:
    with own_origin_page(browser, site.url, viewport={"width": 1100, "height": 900}) as tab:
        yield tab


def _wait_chart(page: Any, period: str) -> int:
    chart = page.locator("#price-chart")
    page.wait_for_function(
        "p => { const f = document.getElementById('price-chart');"
        " return f.dataset.state === 'ready' && f.dataset.period === p; }",
        arg=period,
    )
    return int(chart.get_attribute("data-points"))


def _api_history(site: ServedApp, asin: str, period: str) -> list[dict[str, Any]]:
    return list(_api_chart(site, asin, period)["history"])


def _api_chart(site: ServedApp, asin: str, period: str) -> dict[str, Any]:
    with site.client() as client:
        response = client.get(f"/products/{asin}/price", params={"market": "us", "period": period})
    response.raise_for_status()
    answer: dict[str, Any] = response.json()
    return answer


def test_chart_draws_the_api_points_and_period_buttons_change_them(
    page: Any, page_errors: list[str], site: ServedApp, tmp_path: Path
) -> None:
    page.goto(f"/p/us/{ASIN}")
    drawn = {"30d": _wait_chart(page, "30d")}
    granularities: dict[str, str] = {}
    # a history of the buy box alone shows it, though the buy box is off at first elsewhere
    assert page.locator("#price-chart").get_attribute("data-visible") == "buybox"
    for period in ("7d", "90d", "1y", "2y", "all"):
        page.get_by_role("button", name=period, exact=True).click()
        drawn[period] = _wait_chart(page, period)
        assert (
            page.get_by_role("button", name=period, exact=True).get_attribute("aria-pressed")
            == "true"
        )
        plot = page.evaluate("() => window.pricewatchChart.plot.data")
        # the cached answer the page drew (a chart is cached for minutes)
        answer = _api_chart(site, ASIN, period)
        granularities[period] = answer["granularity"]
        # a history of the buy box alone: its line is drawn, gaps and all, each price
        # from the instant it came into force to the window's end
        assert plot[0] == drawn_xs(answer)
        points = answer["history"]
        assert plot[1] == [in_force(points, x, answer["granularity"]) for x in plot[0]]

    for period, points in drawn.items():
        assert points == len(_api_history(site, ASIN, period)), period
    # a change every 6 hours: the changes themselves while they are few, buckets after
    assert granularities == {
        "7d": "changes",
        "90d": "changes",
        "1y": "daily",
        "2y": "weekly",
        "all": "weekly",
    }
    assert drawn["7d"] <= 7 * 4 + 1
    assert len(set(drawn.values())) == len(drawn), drawn
    assert page_errors == []

    shot = tmp_path / "product.png"
    page.screenshot(path=str(shot), full_page=True)
    data = shot.read_bytes()
    assert data.startswith(PNG_SIGNATURE) and len(data) > 10_000


def test_product_page_shows_the_api_stats(page: Any, site: ServedApp) -> None:
    with site.client() as client:
        product = client.get(f"/products/{ASIN}", params={"market": "us"}).json()
    page.goto(f"/p/us/{ASIN}")
    assert page.locator("h1").inner_text() == "Stainless Steel Kettle, 1.7 l"
    lowest = page.locator('[data-stat="lowest"]').inner_text()
    assert f"${product['stats']['lowest']['price']:,.2f}" in lowest
    highest = page.locator('[data-stat="highest"]').inner_text()
    assert f"${product['stats']['highest']['price']:,.2f}" in highest
    average = page.locator('[data-stat="average"]').inner_text()
    assert average == f"${product['stats']['average']:,.2f}"
    assert page.locator("[data-good-deal]").count() == int(product["deal"]["isGoodDeal"])
    percentile = page.locator('[data-stat="percentile"]').inner_text()
    assert percentile.startswith(
        f"Now lower than {product['deal']['percentile']} % of the last year's prices"
    )
    assert product["deal"]["rule"] in page.locator("[data-deal-rule]").inner_text()
    # the API's own words (a minute may pass between the two reads)
    freshness = page.locator("[data-freshness]").inner_text()
    assert freshness.startswith("Checked ") and "changes " in freshness
    assert freshness.split(" · ")[-1] == product["freshness"]["text"].split(" · ")[-1]
    feed = page.locator('head link[rel="alternate"][type="application/atom+xml"]')
    assert feed.get_attribute("href") == f"/products/{ASIN}/drops.atom?market=us"
    download = page.locator('[data-feed="csv"]')
    assert download.get_attribute("href") == f"/products/{ASIN}/history.csv?market=us&period=30d"


def test_register_sign_in_subscribe_and_manage_alerts(
    page: Any, page_errors: list[str], site: ServedApp, tmp_path: Path
) -> None:
    email, password = f"web-{uuid.uuid4().hex[:8]}@example.org", "correct horse battery"
    register_in_page(page, email, password)
    first_token = page.evaluate("() => localStorage.getItem('pricewatch.token')")
    assert page.locator("[data-account-email]").inner_text() == email
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(site.url + "/")
    assert page.evaluate("() => localStorage.getItem('pricewatch.token')") is None
    with site.client() as client:
        me = client.get("/accounts/me", headers={"Authorization": f"Bearer {first_token}"})
    assert me.status_code == 401  # signing out revoked the token on the server too

    # subscribing while signed out asks to sign in, and signing in comes back here
    page.goto(f"/p/us/{ASIN}")
    page.get_by_role("button", name="Create alert").click()
    page.locator("#subscribe-message").get_by_role("link", name="sign in or register").click()
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"**/p/us/{ASIN}")

    page.get_by_label("Price (USD)").fill("42.5")
    page.get_by_role("button", name="Create alert").click()
    page.locator("#subscribe-message").get_by_text("Alert created").wait_for()

    token = page.evaluate("() => localStorage.getItem('pricewatch.token')")
    with site.client() as client:
        listed = client.get("/subscriptions", headers={"Authorization": f"Bearer {token}"})
    assert listed.status_code == 200
    [sub] = listed.json()["items"]
    assert (sub["productID"], sub["market"], sub["threshold"]) == (ASIN, "us", 42.5)
    assert sub["notificationType"] == "EMAIL"
    [stored] = stored_subscriptions(site, email)
    assert (stored.asin, stored.threshold) == (ASIN, 4_250)

    page.goto("/alerts")
    row = page.locator(f'#alerts-table tr[data-subscription-id="{sub["subscriptionID"]}"]')
    row.wait_for()
    link = row.get_by_role("link")
    assert link.get_attribute("href") == f"/p/us/{ASIN}"
    assert link.inner_text() == "Stainless Steel Kettle, 1.7 l"
    row.get_by_label("New threshold").fill("39.99")
    row.get_by_role("button", name="Save").click()
    page.locator("#alerts-message").get_by_text("Threshold saved").wait_for()
    [stored] = stored_subscriptions(site, email)
    assert stored.threshold == 3_999
    page.screenshot(path=str(tmp_path / "alerts.png"))

    row.get_by_role("button", name="Delete").click()
    row.get_by_role("button", name="Yes, delete it").click()
    page.locator("#alerts-message").get_by_text("Deleted the alert").wait_for()
    assert page.locator("#alerts-table tbody tr").count() == 0
    assert stored_subscriptions(site, email) == []
    assert page_errors == []


def test_percent_alert_and_a_refused_threshold_say_why(page: Any, site: ServedApp) -> None:
    email = f"web-{uuid.uuid4().hex[:8]}@example.org"
    register_in_page(page, email, "another long password")
    page.goto(f"/p/us/{ASIN}")
    page.get_by_label("when it falls by a percentage").check()
    # the history here is the buy box's only: a percent of it
    page.get_by_label("Which price").select_option("buybox")
    page.get_by_label("Percent below the current price").fill("15")
    page.get_by_role("button", name="Create alert").click()
    page.locator("#subscribe-message").get_by_text("Alert created").wait_for()
    [stored] = stored_subscriptions(site, email)
    assert stored.threshold_percent == 15

    # a threshold the API refuses comes back as the API's reason, and nothing is stored
    page.get_by_label("at or below a price").check()
    page.get_by_label("Price (USD)").fill("99999999999999")
    page.get_by_role("button", name="Create alert").click()
    page.locator("#subscribe-message.error").wait_for()
    refused = page.locator('#subscribe-form [data-field-error="threshold"]')
    assert refused.inner_text().startswith("Enter a smaller price")
    assert len(stored_subscriptions(site, email)) == 1


def test_a_script_title_stays_text(page: Any) -> None:
    page.goto(f"/p/us/{XSS_ASIN}")
    heading = page.locator("h1")
    assert heading.inner_text() == XSS_TITLE
    assert heading.locator("script, img").count() == 0
    assert XSS_TITLE in page.title()
    _wait_chart(page, "30d")
    assert page.evaluate("() => window.__pwned") is None


def test_search_goes_to_the_product_page(page: Any) -> None:
    page.goto("/")
    page.get_by_label("Product name, URL or ASIN").fill(
        f"https://www.amazon.com/Kettle/dp/{ASIN}/ref=sr_1_1?th=1"
    )
    page.get_by_role("button", name="Search").click()
    page.wait_for_url(f"**/p/us/{ASIN}")
    _wait_chart(page, "30d")

    page.goto("/")
    page.get_by_label("Product name, URL or ASIN").fill("https://example.com/dp/B0WEBTEST1")
    page.get_by_role("button", name="Search").click()
    assert "not an Amazon marketplace" in page.get_by_role("alert").inner_text()
    # what was typed is still there to fix
    assert page.get_by_label("Product name, URL or ASIN").input_value() == (
        "https://example.com/dp/B0WEBTEST1"
    )


def test_an_unknown_product_is_queued(site: ServedApp) -> None:
    with site.client() as client:
        response = client.get(f"/p/de/{UNKNOWN_ASIN}")
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("text/html")
        assert "queued for a first crawl" in response.text
        assert "amazon.de" in response.text
        # the API agrees that it is queued
        api = client.get(f"/products/{UNKNOWN_ASIN}", params={"market": "de"})
        assert api.json()["status"] == "queued"


@pytest.mark.parametrize(
    ("path", "status", "text"),
    [
        ("/p/xx/B0WEBTEST1", 404, "no Amazon marketplace"),
        ("/p/us/NOTANASIN!", 404, "is not an Amazon ASIN"),
        ("/p/us/B0WEBTEST1?period=5y", 400, "period must be one of"),
        ("/search?q=https://www.amazon.com/s?k=kettle", 400, "No ASIN found"),
    ],
)
def test_bad_input_gets_a_page_saying_why(
    site: ServedApp, path: str, status: int, text: str
) -> None:
    with site.client() as client:
        response = client.get(path)
    assert response.status_code == status
    assert text in response.text


def test_pages_and_bundles_headers(site: ServedApp) -> None:
    with site.client() as client:
        page = client.get(f"/p/us/{ASIN.lower()}", follow_redirects=True)
        assert page.url.path == f"/p/us/{ASIN}"
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert page.headers["x-content-type-options"] == "nosniff"
        for name in ("chart.js", "site.js", "site.css"):
            marker = f"/static/{name}?v="
            assert marker in page.text
            start = page.text.index(marker)
            url = page.text[start : page.text.index('"', start)]
            asset = client.get(url)
            assert asset.status_code == 200 and asset.content
            assert "immutable" in asset.headers["cache-control"]

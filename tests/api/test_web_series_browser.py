"""The product page's lines, legend and product details in Debian's Chromium, against
the real app over Redis, chDB and SQLite holding every price series of a product.

The product's picture is on Amazon's image host; the page's context answers that one
URL with a local picture (no test touches the internet), so the browser applies the
page's real CSP to a request for the real host.
"""

from __future__ import annotations

import base64
import random
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from pricewatch.history import DAY_MS, HOUR_MS
from pricewatch.models import Availability, Product
from tests.api.charts import drawn_xs, in_force
from tests.apps import ServedApp, site_fixture
from tests.browser import own_origin_page

pytestmark = [pytest.mark.browser, pytest.mark.clickhouse, pytest.mark.redis, pytest.mark.slow]

ASIN = "B0SERIES01"
# a product whose picture is elsewhere: the demo marketplace's local origin
LOCAL_IMAGE_ASIN = "B0SERIES02"
IMAGE = "https://m.media-amazon.com/images/I/71kettleTest.jpg"
LOCAL_IMAGE = "http://127.0.0.1:9/images/I/B0SERIES02.jpg"
# a 1x1 PNG
PIXEL = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
DEFAULT_ON = ["amazon", "new", "used", "list"]
LEGEND = ["amazon", "new", "used", "list", "buybox", "cheapest_new", "sales_rank"]
LABELS = [
    "Amazon",
    "New, other sellers",
    "Used",
    "List price",
    "Buy box",
    "Cheapest new",
    "Sales rank",
]


def series_rows(asin: str, now_ms: int, days: int, seed: int = 1) -> list[list[Any]]:
    """A page every 6 hours for ``days`` days: the buy box walks, Amazon loses it to a
    shop for a while, new offers undercut it, used copies come and go, a list price, a
    rank that wanders."""
    rng = random.Random(seed)
    rows: list[list[Any]] = []
    price, used, rank = 5_000, 3_200, 2_000
    start = now_ms - days * DAY_MS
    for i in range(days * 4):
        at = start + i * 6 * HOUR_MS
        price = max(3_000, min(7_000, price + rng.choice([-150, 0, 0, 150])))
        used = max(2_000, min(4_500, used + rng.choice([-100, 0, 100])))
        rank = max(1, int(rank * rng.uniform(0.8, 1.25)))
        amazon = None if days * 4 // 3 <= i < days * 4 // 2 else price
        new = price - 250
        values = {
            "buybox": price,
            "amazon": amazon,
            "new": new,
            "used": None if i % 40 < 6 else used,
            "list": 6_999,
            "cheapest_new": min(v for v in (amazon, new) if v is not None),
            "sales_rank": rank,
        }
        for series, value in values.items():
            currency = "" if series == "sales_rank" else "USD"
            availability = "in_stock" if value is not None else "out_of_stock"
            rows.append(["us", asin, series, at, value, currency, availability, "crawler", ""])
    return rows


def load_series(store: Any, now_ms: int) -> None:
    for asin, image in ((ASIN, IMAGE), (LOCAL_IMAGE_ASIN, LOCAL_IMAGE)):
        rows = series_rows(asin, now_ms, 120)
        store.insert_prices(rows)
        buybox = [row for row in rows if row[2] == "buybox"]
        store.upsert_products(
            [
                Product(
                    market="us",
                    asin=asin,
                    title="Acme Stainless Kettle, 1.7 l",
                    image=image,
                    sold_by="Amazon.com",
                    rating=Decimal("4.4"),
                    review_count=5_136,
                    currency="USD",
                    last_price=buybox[-1][4],
                    availability=Availability.IN_STOCK,
                    first_seen=rows[0][3],
                    last_seen=rows[-1][3],
                )
            ]
        )


site = site_fixture("web_series", load_series)


def serve_amazon_image(page: Any) -> list[str]:
    """Answer requests for Amazon's image host with a local picture; the URLs asked."""
    asked: list[str] = []

    def fulfil(route: Any) -> None:
        asked.append(route.request.url)
        route.fulfill(status=200, content_type="image/png", body=PIXEL)

    page.route("https://m.media-amazon.com/**", fulfil)
    return asked


def watch_csp(page: Any) -> None:
    page.add_init_script(
        "window.__csp = [];"
        "document.addEventListener('securitypolicyviolation',"
        " e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));"
    )


@pytest.fixture
def page(browser: Any, site: ServedApp) -> Iterator[Any]:
    with own_origin_page(browser, site.url, viewport={"width": 1280, "height": 1000}) as tab:
        watch_csp(tab)
        yield tab


def wait_chart(page: Any, period: str) -> None:
    page.wait_for_function(
        "p => { const f = document.getElementById('price-chart');"
        " return f.dataset.state === 'ready' && f.dataset.period === p; }",
        arg=period,
    )


def shown(page: Any) -> dict[str, bool]:
    """Each line's series and whether uPlot draws it."""
    return dict(
        page.evaluate(
            "() => { const c = window.pricewatchChart;"
            " return c.lines.map((l, i) => [l.series, c.plot.series[i + 1].show]); }"
        )
    )


def test_every_series_is_a_line_and_the_legend_toggles_them(
    page: Any, page_errors: list[str], site: ServedApp, tmp_path: Path
) -> None:
    serve_amazon_image(page)
    page.goto(f"/p/us/{ASIN}")
    wait_chart(page, "30d")
    legend = page.locator(".chart-legend .legend-item")
    assert [item.get_attribute("data-series") for item in legend.all()] == LEGEND
    assert [item.locator(".legend-name").inner_text() for item in legend.all()] == LABELS
    # Amazon, new, used and the list price are on; the buy box, the cheapest new and
    # the rank wait to be asked for
    assert shown(page) == {name: name in DEFAULT_ON for name in LEGEND}
    figure = page.locator("#price-chart")
    assert figure.get_attribute("data-visible") == " ".join(DEFAULT_ON)
    with site.client() as client:
        chart = client.get(f"/products/{ASIN}/price", params={"period": "30d"}).json()
    drawn = page.evaluate("() => window.pricewatchChart.plot.data")
    lines = {line["series"]: line["points"] for line in chart["lines"]}
    # one time axis for every line, each holding its price until its next change
    assert chart["granularity"] == "changes"
    assert drawn[0] == drawn_xs(chart)
    for i, name in enumerate(LEGEND):
        expected = [in_force(lines[name], x, "changes") for x in drawn[0]]
        assert drawn[i + 1] == expected, name
    # the list price is dashed
    dash = page.evaluate("() => window.pricewatchChart.plot.series.map(s => s.dash || null)")
    assert dash[LEGEND.index("list") + 1] and not dash[LEGEND.index("used") + 1]

    rank_scale = "() => window.pricewatchChart.plot.scales.rank.min"
    assert page.evaluate(rank_scale) is None  # no rank shown: no rank axis
    page.get_by_role("checkbox", name="Sales rank").check()
    page.get_by_role("checkbox", name="Used").uncheck()
    assert page.evaluate(rank_scale) >= 1
    assert shown(page) == {name: name in {"amazon", "new", "list", "sales_rank"} for name in LEGEND}
    assert figure.get_attribute("data-visible") == "amazon new list sales_rank"
    # the rank has its own axis, on the right, with rank 1 at the top
    rank_axis = page.evaluate(
        "() => { const u = window.pricewatchChart.plot;"
        " return [u.axes[2].side, u.valToPos(1, 'rank'), u.valToPos(5000, 'rank')]; }"
    )
    assert rank_axis[0] == 1 and rank_axis[1] < rank_axis[2]
    page.screenshot(path=str(tmp_path / "lines.png"))

    # the choices hold when the period changes
    page.get_by_role("button", name="90d", exact=True).click()
    wait_chart(page, "90d")
    assert shown(page) == {name: name in {"amazon", "new", "list", "sales_rank"} for name in LEGEND}
    page.get_by_role("checkbox", name="Sales rank").uncheck()
    assert "sales_rank" not in (figure.get_attribute("data-visible") or "")
    assert page_errors == []
    assert page.evaluate("() => window.__csp") == []


def test_the_product_shows_its_picture_seller_rating_and_every_series(
    page: Any, page_errors: list[str], site: ServedApp
) -> None:
    asked = serve_amazon_image(page)
    page.goto(f"/p/us/{ASIN}")
    image = page.locator("img.product-image")
    image.wait_for()
    page.wait_for_function("() => document.querySelector('img.product-image').complete")
    assert image.get_attribute("src") == IMAGE
    assert image.evaluate("img => img.naturalWidth") == 1  # loaded, past the CSP
    assert asked == [IMAGE]
    assert page.locator('[data-attribute="seller"]').inner_text() == "Sold by Amazon.com"
    rating = page.locator('[data-attribute="rating"]').inner_text()
    assert "4.4 out of 5" in rating and "5,136 ratings" in rating

    with site.client() as client:
        product = client.get(f"/products/{ASIN}").json()
    rows = page.locator(".series-table tbody tr")
    assert [row.get_attribute("data-series") for row in rows.all()] == LEGEND
    for name in LEGEND:
        row = page.locator(f'.series-table tr[data-series="{name}"]')
        series = product["series"][name]
        cells = {
            cell: row.locator(f'[data-cell="{cell}"]').inner_text()
            for cell in ("current", "lowest", "highest")
        }
        if name == "sales_rank":
            assert cells["current"] == f"#{series['current']:,}"
            assert cells["lowest"] == f"#{series['stats']['lowest']['price']:,}"
        else:
            assert cells["current"] == f"${series['current']:,.2f}"
            assert cells["highest"] == f"${series['stats']['highest']['price']:,.2f}"
    wait_chart(page, "30d")
    assert page_errors == []
    assert page.evaluate("() => window.__csp") == []


def test_a_picture_off_amazons_hosts_is_not_shown(page: Any, page_errors: list[str]) -> None:
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(f"/p/us/{LOCAL_IMAGE_ASIN}")
    wait_chart(page, "30d")
    assert page.locator("img.product-image").count() == 0
    assert not [url for url in requested if "/images/I/" in url]
    assert page.locator('[data-attribute="seller"]').count() == 1
    assert page_errors == []


def test_the_page_fits_a_phone(browser: Any, site: ServedApp) -> None:
    with own_origin_page(browser, site.url, viewport={"width": 390, "height": 844}) as tab:
        serve_amazon_image(tab)
        tab.goto(f"/p/us/{ASIN}")
        wait_chart(tab, "30d")
        # the product's parts stick out nowhere (no sideways scrolling for them)
        right = tab.evaluate(
            "() => Math.max(...[...document.querySelectorAll("
            "'.product-summary *, #price-chart *, .series-table, .series-table *')]"
            ".map(e => e.getBoundingClientRect().right))"
        )
        assert 300 < right <= 390
        tab.get_by_role("checkbox", name="Sales rank").check()
        assert "sales_rank" in (tab.locator("#price-chart").get_attribute("data-visible") or "")

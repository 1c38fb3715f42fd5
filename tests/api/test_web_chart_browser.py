"""The product chart in Debian's Chromium against the real app (Redis, chDB, SQLite): its
time axis is the window asked for, and its legend reads the price in force at the
cursor's instant."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pricewatch.history import DAY_MS, HOUR_MS
from pricewatch.models import Availability, Product
from tests.api.charts import in_force, seconds
from tests.apps import ServedApp, site_fixture, store_price_rows
from tests.browser import own_origin_page
from tests.observations import price_row

pytestmark = [pytest.mark.browser, pytest.mark.clickhouse, pytest.mark.redis, pytest.mark.slow]

# seen for 400 days, a change every 6 hours: buckets for a year, changes for a week
OLD_ASIN = "B0CHARTOLD"
# first seen 50 minutes before the site starts, a change every 10 minutes
YOUNG_ASIN = "B0CHARTNEW"
MINUTE_MS = 60_000
WIDTHS = (1280, 390)


def _load(store: Any, now_ms: int) -> None:
    start = now_ms - 400 * DAY_MS
    old = [
        price_row(OLD_ASIN, start + i * 6 * HOUR_MS, 5_000 + (i % 2) * 100 + (i // 8 % 5) * 50)
        for i in range(400 * 4)
    ]
    store_price_rows(store, "Stainless Steel Kettle, 1.7 l", old)
    young = [
        price_row(YOUNG_ASIN, now_ms - (50 - 10 * i) * MINUTE_MS, price)
        for i, price in enumerate([1_999, 1_899, 1_949, 1_849, 1_799])
    ]
    store_price_rows(store, "Enamel Teapot", young)
    _load_de(store, now_ms)


# on amazon.de, in euros: its chart writes money as the marketplace does ("25,33 €")
DE_ASIN = "B0CHARTEUR"
DE_PRICES = [2_533, 2_499, 129_900, 2_533]


def _load_de(store: Any, now_ms: int) -> None:
    rows = []
    for i, price in enumerate(DE_PRICES):
        row = price_row(DE_ASIN, now_ms - (40 - 10 * i) * HOUR_MS, price, market="de")
        row[5] = "EUR"
        rows.append(row)
    store.insert_prices(rows)
    store.upsert_products(
        [
            Product(
                market="de",
                asin=DE_ASIN,
                title="Wasserkocher 1,7 l",
                currency="EUR",
                last_price=DE_PRICES[-1],
                availability=Availability.IN_STOCK,
                first_seen=rows[0][3],
                last_seen=rows[-1][3],
            )
        ]
    )


site = site_fixture("web_chart", _load)


@pytest.fixture
def page(browser: Any, site: ServedApp) -> Iterator[Any]:
    with own_origin_page(browser, site.url, viewport={"width": 1280, "height": 900}) as tab:
        yield tab


def open_chart(page: Any, asin: str, period: str | None = None) -> dict[str, Any]:
    """Show ``asin``'s chart for ``period`` (the page's default if None); the API answer
    the page drew."""
    with page.expect_response(lambda r: f"/products/{asin}/price" in r.url) as answer:
        if period is None:
            page.goto(f"/p/us/{asin}")
        else:
            page.get_by_role("button", name=period, exact=True).click()
    page.wait_for_function("() => document.getElementById('price-chart').dataset.state === 'ready'")
    body: dict[str, Any] = answer.value.json()
    return body


def x_scale(page: Any) -> list[float]:
    return list(
        page.evaluate(
            "() => { const u = window.pricewatchChart.plot;"
            " return [u.scales.x.min, u.scales.x.max]; }"
        )
    )


def legend_value(page: Any, series: str = "buybox") -> str:
    text: str = page.locator(f'.legend-item[data-series="{series}"] .legend-value').inner_text()
    return text


def hover(page: Any, instant_s: float) -> None:
    """Move the mouse over the chart to the pixel of ``instant_s``."""
    left, top = page.evaluate(
        "t => { const u = window.pricewatchChart.plot; const r = u.over.getBoundingClientRect();"
        " return [r.left + u.valToPos(t, 'x'), r.top + r.height / 2]; }",
        instant_s,
    )
    page.mouse.move(left, top)


def test_the_time_axis_is_the_window_asked_for(
    page: Any, page_errors: list[str], site: ServedApp
) -> None:
    asked = time.time()
    young = open_chart(page, YOUNG_ASIN)  # 30 days by default
    assert young["granularity"] == "changes" and len(young["history"]) == 5
    start, end = seconds(young["start"]), seconds(young["end"])
    assert end - start == 30 * DAY_MS / 1000
    assert asked - 60 <= end <= time.time() + 1  # the window ends now
    assert x_scale(page) == [start, end]
    for period, days in (("7d", 7), ("1y", 365)):
        body = open_chart(page, YOUNG_ASIN, period)
        assert x_scale(page) == [seconds(body["start"]), seconds(body["end"])]
        assert seconds(body["end"]) - seconds(body["start"]) == days * DAY_MS / 1000
    open_chart(page, OLD_ASIN)
    year = open_chart(page, OLD_ASIN, "1y")
    assert year["granularity"] == "daily"
    assert x_scale(page) == [seconds(year["start"]), seconds(year["end"])]
    assert page_errors == []


def test_the_legend_reads_the_price_in_force_at_the_cursor(
    page: Any, page_errors: list[str]
) -> None:
    open_chart(page, OLD_ASIN)
    week = open_chart(page, OLD_ASIN, "7d")
    assert week["granularity"] == "changes"
    points = week["history"]
    changes = [seconds(p["timestamp"]) for p in points]
    # an hour before a change, 6 hours after the one before: the nearest point is the
    # later one, the price in force the earlier one's
    before, after = changes[-4], changes[-3]
    assert after - before >= 6 * 3600
    instant = after - 3600
    hover(page, instant)
    # the instant under the cursor's pixel
    drawn = page.evaluate(
        "() => { const u = window.pricewatchChart.plot; return u.posToVal(u.cursor.left, 'x'); }"
    )
    assert before < drawn < after
    expected = in_force(points, drawn, "changes")
    assert expected == points[-4]["price"] != points[-3]["price"]
    assert legend_value(page) == f"${expected:,.2f}"
    # just past the change: the new price
    hover(page, after + 1800)
    assert legend_value(page) == f"${points[-3]['price']:,.2f}"
    # off the chart: the latest price
    page.mouse.move(1, 1)
    assert legend_value(page) == f"${points[-1]['price']:,.2f}"
    assert page_errors == []


def test_screenshots_of_a_young_product_and_a_year(
    browser: Any, site: ServedApp, tmp_path: Path
) -> None:
    for width in WIDTHS:
        with own_origin_page(browser, site.url, viewport={"width": width, "height": 900}) as tab:
            young = open_chart(tab, YOUNG_ASIN, None)
            open_chart(tab, YOUNG_ASIN, "7d")
            assert tab.locator("#price-chart").get_attribute("data-points") == str(
                len(young["history"])
            )
            tab.locator("#price-chart").screenshot(path=str(tmp_path / f"young-{width}.png"))
            # all of a young product's life: its last hour, every minute of it
            every = open_chart(tab, YOUNG_ASIN, "all")
            assert seconds(every["end"]) - seconds(every["start"]) == HOUR_MS / 1000
            assert x_scale(tab) == [seconds(every["start"]), seconds(every["end"])]
            tab.locator("#price-chart").screenshot(path=str(tmp_path / f"young-all-{width}.png"))
            open_chart(tab, OLD_ASIN, None)
            open_chart(tab, OLD_ASIN, "1y")
            tab.locator("#price-chart").screenshot(path=str(tmp_path / f"year-{width}.png"))
    for shot in tmp_path.glob("*.png"):
        assert shot.stat().st_size > 5_000, shot


def test_money_on_amazon_de_reads_as_the_marketplace_writes_it(
    page: Any, page_errors: list[str], tmp_path: Path
) -> None:
    with page.expect_response(lambda r: f"/products/{DE_ASIN}/price" in r.url):
        page.goto(f"/p/de/{DE_ASIN}")
    page.wait_for_function("() => document.getElementById('price-chart').dataset.state === 'ready'")
    page.mouse.move(1, 1)
    # the legend: the latest price, as format_money writes it on amazon.de
    assert legend_value(page) == "25,33\u00a0€"
    # the price axis: every label a euro amount in German style (the axis object is
    # uPlot's own: what it draws on the canvas)
    labels: list[str] = page.evaluate(
        "() => { const u = window.pricewatchChart.plot;"
        " const axis = u.axes.find(a => a.scale === 'money'); return axis._values || []; }"
    )
    assert labels, "no price axis labels"
    assert all(re.fullmatch(r"-?\d{1,3}(\.\d{3})*,\d\d\u00a0€", label) for label in labels), labels
    assert any(label.startswith("1.") for label in labels), labels  # 1.299,00 € on the axis
    page.locator("#price-chart").screenshot(path=str(tmp_path / "de.png"))
    assert page_errors == []


def test_the_csv_link_follows_the_period_shown(page: Any, page_errors: list[str]) -> None:
    open_chart(page, YOUNG_ASIN)  # 30 days by default
    link = page.locator('a[data-feed="csv"]')
    assert link.get_attribute("href") == f"/products/{YOUNG_ASIN}/history.csv?market=us&period=30d"
    open_chart(page, YOUNG_ASIN, "7d")
    assert link.get_attribute("href") == f"/products/{YOUNG_ASIN}/history.csv?market=us&period=7d"
    assert link.inner_text() == "Download this history (CSV, 7d)"
    # the link still downloads: the CSV of the period chosen
    with page.expect_download() as download:
        link.click()
    assert download.value.url.endswith("period=7d")
    assert download.value.failure() is None
    assert page_errors == []


def test_a_window_ended_before_the_browsers_now_is_drawn_to_now(
    page: Any, page_errors: list[str]
) -> None:
    # the page's clock 40 minutes after the server's, as when the answer is a cached one
    # computed 40 minutes ago: its window ends 40 minutes before the page's now
    now_s = int(time.time()) + 40 * 60
    page.clock.install(time=now_s)
    page.clock.pause_at(now_s)
    answer = open_chart(page, YOUNG_ASIN)
    start, end = seconds(answer["start"]), seconds(answer["end"])
    assert now_s - end >= 39 * 60
    # the window goes on to now; the last price holds until then
    assert x_scale(page) == [start, now_s]
    drawn = page.evaluate("() => window.pricewatchChart.xs")
    assert drawn[-1] == now_s and drawn[-2] == end
    page.mouse.move(1, 1)
    assert legend_value(page) == f"${answer['history'][-1]['price']:,.2f}"
    # a bucketed answer too: the last close carried on to now
    open_chart(page, OLD_ASIN)
    year = open_chart(page, OLD_ASIN, "1y")
    assert year["granularity"] == "daily"
    assert x_scale(page) == [seconds(year["start"]), now_s]
    assert page.evaluate("() => window.pricewatchChart.xs.at(-1)") == now_s
    assert page_errors == []

"""The alert form and "my alerts" in a real browser: alerts on a chosen price series and
back-in-stock alerts, made on the product page and listed with what they watch.
Debian's Chromium driven by Playwright, against the real app over real Redis, chDB and
SQLite (see ``test_web_browser`` for what each test needs)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pricewatch.history import DAY_MS
from pricewatch.models import Availability, Product
from tests.api.conftest import register_in_page, stored_subscriptions
from tests.apps import ServedApp, site_fixture
from tests.browser import collect_errors, own_origin_page

pytestmark = [pytest.mark.browser, pytest.mark.clickhouse, pytest.mark.redis, pytest.mark.slow]

ASIN = "B0WEBALRT1"
# what the product's page showed each day: the buy box, the cheapest new, the used price
SERIES_PRICES = {"buybox": 25_99, "cheapest_new": 23_50, "used": 14_75}


def _load(store: Any, now_ms: int) -> None:
    start = now_ms - 10 * DAY_MS
    rows = [
        ["us", ASIN, series, start + day * DAY_MS, price + day, "USD", "in_stock", "crawler", ""]
        for day in range(10)
        for series, price in SERIES_PRICES.items()
    ]
    store.insert_prices(rows)
    store.upsert_products(
        [
            Product(
                market="us",
                asin=ASIN,
                title="Stovetop Kettle, 2 l",
                currency="USD",
                last_price=SERIES_PRICES["buybox"] + 9,
                availability=Availability.IN_STOCK,
                first_seen=start,
                last_seen=start + 9 * DAY_MS,
            )
        ]
    )


site = site_fixture("alerts_web", _load)


@pytest.fixture
def page(browser: Any, site: ServedApp) -> Iterator[Any]:
    with own_origin_page(browser, site.url, viewport={"width": 1100, "height": 900}) as tab:
        yield tab


def test_alerts_on_a_series_and_back_in_stock_from_the_form_to_the_list(
    page: Any, site: ServedApp, tmp_path: Path
) -> None:
    errors = collect_errors(page)
    email = f"series-{uuid.uuid4().hex[:8]}@example.org"
    register_in_page(page, email, "a long enough password")
    page.goto(f"/p/us/{ASIN}")
    form = page.locator("#subscribe-form")
    which = page.get_by_label("Which price")
    # a price alert watches the cheapest new price unless told
    assert which.input_value() == "cheapest_new"
    assert [o.strip() for o in which.locator("option").all_inner_texts()] == [
        "Cheapest new",
        "Amazon",
        "New from third parties",
        "Used",
        "Buy box",
    ]
    form.screenshot(path=str(tmp_path / "alerts-form-price.png"))
    # the price field starts at the chosen series' price now (the last day's)
    price = page.get_by_label("Price (USD)")
    assert price.input_value() == f"{(SERIES_PRICES['cheapest_new'] + 9) / 100:.2f}"

    which.select_option("used")
    assert price.input_value() == f"{(SERIES_PRICES['used'] + 9) / 100:.2f}"
    page.get_by_label("Price (USD)").fill("12")
    page.get_by_role("button", name="Create alert").click()
    page.locator("#subscribe-message").get_by_text("Alert created").wait_for()
    assert [(s.kind, s.series, s.threshold) for s in stored_subscriptions(site, email)] == [
        ("price", "used", 12_00)
    ]

    # back in stock: no series, no price to give
    page.get_by_label("when it is back in stock").check()
    assert not which.is_visible() and not page.get_by_label("Price (USD)").is_visible()
    hint = form.locator('p[data-kind="back_in_stock"]')
    assert hint.is_visible() and "it is in stock now" in hint.inner_text()
    form.screenshot(path=str(tmp_path / "alerts-form-back-in-stock.png"))
    page.locator("#subscribe-message").evaluate("el => { el.textContent = ''; }")
    page.get_by_role("button", name="Create alert").click()
    page.locator("#subscribe-message").get_by_text("Alert created").wait_for()

    # a percent of the used price in force: 10 % under 14.84
    page.get_by_label("when it falls by a percentage").check()
    assert which.is_visible()
    which.select_option("used")
    page.get_by_label("Percent below the current price").fill("10")
    page.locator("#subscribe-message").evaluate("el => { el.textContent = ''; }")
    page.get_by_role("button", name="Create alert").click()
    page.locator("#subscribe-message").get_by_text("Alert created").wait_for()
    stored = stored_subscriptions(site, email)
    assert [(s.kind, s.series, s.threshold, s.base_price) for s in stored] == [
        ("price", "used", 12_00, 14_84),
        ("back_in_stock", "buybox", None, None),
        ("price", "used", 13_35, 14_84),
    ]

    page.goto("/alerts")
    rows = page.locator("#alerts-table tbody tr")
    rows.nth(2).wait_for()
    described = [r.locator('[data-field="alert"]').inner_text() for r in rows.all()]
    assert described == ["Used ≤ $12.00", "Back in stock", "Used, 10 % below $14.84 (≤ $13.35)"]
    back = page.locator('#alerts-table tr[data-kind="back_in_stock"]')
    # nothing to set on a back-in-stock alert
    assert back.locator('form[data-action="threshold"]').count() == 0
    page.screenshot(path=str(tmp_path / "alerts-list.png"), full_page=True)

    # the price alerts' thresholds are still set from the list
    used = rows.nth(0)
    used.get_by_label("New threshold").fill("11.5")
    used.get_by_role("button", name="Save").click()
    page.locator("#alerts-message").get_by_text("Threshold saved").wait_for()
    assert stored_subscriptions(site, email)[0].threshold == 11_50
    assert page.locator('[data-field="alert"]').first.inner_text() == "Used ≤ $11.50"
    assert errors == []


def test_the_alert_form_fits_a_phone_whatever_the_kind(browser: Any, site: ServedApp) -> None:
    with own_origin_page(browser, site.url, viewport={"width": 390, "height": 844}) as tab:
        tab.goto(f"/p/us/{ASIN}")
        for kind in (
            "at or below a price",
            "when it falls by a percentage",
            "when it is back in stock",
        ):
            tab.get_by_label(kind).check()
            right = tab.evaluate(
                "() => Math.max(...[...document.querySelectorAll('#subscribe-form *')]"
                ".map(e => e.getBoundingClientRect().right))"
            )
            assert 300 < right <= 390, kind

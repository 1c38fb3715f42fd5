"""The alert form's Apprise choice in a real browser: what is no notification service is
refused with the API's reason next to the field, an Apprise URL makes an alert waiting
for its receiver's confirmation. Debian's Chromium against the real app over real Redis,
chDB and SQLite."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pricewatch.history import DAY_MS
from pricewatch.models import Availability, Product
from tests.alerts.conftest import logging_kept
from tests.api.conftest import browser, register_in_page, stored_subscriptions  # noqa: F401
from tests.apps import ServedApp, site_fixture
from tests.browser import collect_errors, own_origin_page

pytestmark = [pytest.mark.browser, pytest.mark.clickhouse, pytest.mark.redis, pytest.mark.slow]

ASIN = "B0APPRFORM"
SHOTS = Path("/tmp/shots")


def _load(store: Any, now_ms: int) -> None:
    start = now_ms - 5 * DAY_MS
    store.insert_prices(
        [
            [
                "us",
                ASIN,
                "buybox",
                start + day * DAY_MS,
                25_99 - day,
                "USD",
                "in_stock",
                "crawler",
                "",
            ]
            for day in range(5)
        ]
    )
    store.upsert_products(
        [
            Product(
                market="us",
                asin=ASIN,
                title="Pour-over Kettle, 1 l",
                currency="USD",
                last_price=25_95,
                availability=Availability.IN_STOCK,
                first_seen=start,
                last_seen=start + 4 * DAY_MS,
            )
        ]
    )


site = site_fixture("apprise_form", _load)


@pytest.fixture(scope="module", autouse=True)
def logging_restored() -> Iterator[None]:
    # set up before the served site, so put back after it stopped
    with logging_kept():
        yield


@pytest.mark.parametrize("width", [1280, 390])
def test_an_apprise_alert_from_the_product_page(
    browser: Any,  # noqa: F811 - the fixture
    site: ServedApp,
    width: int,
) -> None:
    SHOTS.mkdir(exist_ok=True)
    with own_origin_page(browser, site.url, viewport={"width": width, "height": 900}) as page:
        errors = collect_errors(page)
        email = f"apprise-{uuid.uuid4().hex[:8]}@example.org"
        register_in_page(page, email, "a long enough password")
        page.goto(f"/p/us/{ASIN}")
        form = page.locator("#subscribe-form")
        channel = page.get_by_label("Send it by")
        assert "Apprise: Telegram, ntfy…" in channel.locator("option").all_inner_texts()
        channel.select_option("APPRISE")
        target = form.locator('input[name="target"]')
        page.get_by_label("Price (USD)").fill("20")

        # not a URL at all: the form says what it wants before asking the API
        target.fill("my telegram")
        page.get_by_role("button", name="Create alert").click()
        form.get_by_text("Enter an Apprise URL").wait_for()

        # a file is no notification service: the API's reason, next to the field
        target.fill("file:///etc/passwd")
        page.get_by_role("button", name="Create alert").click()
        form.get_by_text("file:// are not accepted").wait_for()
        assert stored_subscriptions(site, email) == []
        form.screenshot(path=str(SHOTS / f"email-apprise-form-refused-{width}.png"))

        # a Telegram bot: made, waiting for the chat to confirm it
        target.fill("tgram://123456789:AAH-example-token/987654321")
        page.locator("#subscribe-message").evaluate("el => { el.textContent = ''; }")
        page.get_by_role("button", name="Create alert").click()
        page.locator("#subscribe-message").get_by_text("Alert created").wait_for()
        [stored] = stored_subscriptions(site, email)
        assert (stored.notification_type.value, stored.status.value) == ("APPRISE", "unconfirmed")
        assert stored.target == "tgram://123456789:AAH-example-token/987654321"
        wide = page.evaluate(
            """w => [...document.querySelectorAll('body *')]
                .filter(e => e.getBoundingClientRect().right > w + 1)
                .map(e => `${e.tagName}#${e.id} ${Math.round(e.getBoundingClientRect().right)}`)""",
            width,
        )
        page.screenshot(path=str(SHOTS / f"email-apprise-form-{width}.png"), full_page=True)
        assert page.evaluate("document.documentElement.scrollWidth") <= width, wide
        page.screenshot(path=str(SHOTS / f"email-apprise-form-{width}.png"), full_page=True)
        # the refused create is the one failed request the page made
        assert [e for e in errors if "status of 400 (Bad Request)" not in e] == []

""" "My alerts" and sign-up as people read them, in a real browser: each alert with its
product's title and picture, what it watches in words and money as the marketplace
writes it, pause / resume / delete (after asking), ``?next=`` kept through
registering, and bad input refused next to its field in words. Debian's Chromium
driven by Playwright, against the real app over real Redis, chDB and SQLite."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pricewatch.history import DAY_MS
from pricewatch.models import Availability, Product
from pricewatch.storage import sql
from tests.api.conftest import register_in_page, stored_subscriptions
from tests.apps import ServedApp, site_fixture
from tests.browser import collect_errors, own_origin_page

pytestmark = [pytest.mark.browser, pytest.mark.clickhouse, pytest.mark.redis, pytest.mark.slow]

ASIN = "B0MYALRT01"
DE_ASIN = "B0MYALRTDE"
TITLE = "Cast-Iron Casserole, 4 l"
IMAGE = "https://m.media-amazon.com/images/I/casserole.jpg"
USED = 54_00
SHOTS = Path("/tmp/shots")
# what the page gets from the image host (no test reaches the internet)
PICTURE = (
    b'<svg xmlns="http://www.w3.org/2000/svg" width="56" height="56">'
    b'<rect width="56" height="56" fill="#fde68a"/><circle cx="28" cy="30" r="16" fill="#1f2937"/>'
    b"</svg>"
)


def _load(store: Any, now_ms: int) -> None:
    start = now_ms - 3 * DAY_MS
    store.insert_prices(
        [
            ["us", ASIN, series, start + day * DAY_MS, price, "USD", "in_stock", "crawler", ""]
            for day in range(3)
            for series, price in (("used", USED), ("buybox", 69_00))
        ]
    )
    store.upsert_products(
        [
            Product(
                market="us",
                asin=ASIN,
                title=TITLE,
                image=IMAGE,
                currency="USD",
                last_price=69_00,
                availability=Availability.IN_STOCK,
                first_seen=start,
                last_seen=start + 2 * DAY_MS,
            )
        ]
    )


site = site_fixture("my_alerts_web", _load)


@pytest.fixture
def page(browser: Any, site: ServedApp) -> Iterator[Any]:
    with own_origin_page(browser, site.url, viewport={"width": 1280, "height": 900}) as tab:
        # the picture's host answers with PICTURE; routes added later take precedence
        tab.route(
            f"{IMAGE.rsplit('/', 1)[0]}/**",
            lambda route: route.fulfill(body=PICTURE, content_type="image/svg+xml"),
        )
        yield tab


def _unexpected(errors: list[str]) -> list[str]:
    """Console errors but the browser's note of a 400 a test provoked on purpose."""
    return [e for e in errors if "status of 400 (Bad Request)" not in e]


def _new_email(what: str) -> str:
    return f"{what}-{uuid.uuid4().hex[:8]}@example.org"


def _verify_email(site: ServedApp, email: str) -> None:
    async def verify(engine: Any) -> None:
        user = await sql.get_user_by_email(engine, email)
        assert user is not None
        await sql.mark_email_verified(engine, user.id, now=0)

    site.on_database(verify)


def _subscribe(site: ServedApp, token: str, **body: Any) -> int:
    with site.client() as client:
        created = client.post(
            "/subscriptions", headers={"Authorization": f"Bearer {token}"}, json=body
        )
    assert created.status_code == 201, created.text
    return int(created.json()["subscriptionID"])


def _with_two_alerts(page: Any, site: ServedApp, what: str) -> tuple[str, int, int]:
    """A new verified account with a price and a percent alert on the used price of
    ASIN; its e-mail and the two alerts' ids."""
    email = _new_email(what)
    register_in_page(page, email, "a long enough password")
    _verify_email(site, email)
    token = page.evaluate("() => localStorage.getItem('pricewatch.token')")
    common = {"productID": ASIN, "market": "us", "series": "used"}
    price = _subscribe(site, token, **common, threshold=20, notificationType="EMAIL")
    percent = _subscribe(
        site, token, **common, thresholdPercent=10, notificationType="SMS", target="+44 7700 900123"
    )
    return email, price, percent


def _row(page: Any, subscription_id: int) -> Any:
    return page.locator(f'#alerts-table tr[data-subscription-id="{subscription_id}"]')


def _fits(page: Any) -> bool:
    return bool(page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth"))


def test_two_alerts_on_one_product_read_apart_with_its_title_and_picture(
    page: Any, site: ServedApp, browser: Any
) -> None:
    errors = collect_errors(page)
    email, price_id, percent_id = _with_two_alerts(page, site, "list")
    token = page.evaluate("() => localStorage.getItem('pricewatch.token')")
    de_id = _subscribe(
        site, token, productID=DE_ASIN, market="de", threshold=1299, notificationType="EMAIL"
    )
    page.goto("/alerts")
    _row(page, de_id).wait_for()

    price, percent, de = _row(page, price_id), _row(page, percent_id), _row(page, de_id)
    for row in (price, percent):
        link = row.get_by_role("link", name=TITLE)
        assert link.get_attribute("href") == f"/p/us/{ASIN}"
        assert row.locator("img").get_attribute("src") == IMAGE
        assert row.locator('[data-field="market"]').inner_text() == "amazon.com"
    # the same product, the same series: what each watches reads apart
    assert price.locator('[data-field="alert"]').inner_text() == "Used ≤ $20.00"
    assert (
        percent.locator('[data-field="alert"]').inner_text() == "Used, 10 % below $54.00 (≤ $48.60)"
    )
    assert price.locator('[data-field="channel"]').inner_text() == "E-mail"
    assert "your account's e-mail" in price.locator('[data-field="destination"]').inner_text()
    assert percent.locator('[data-field="channel"]').inner_text() == "SMS"
    assert percent.locator('[data-field="destination"]').inner_text() == "to +447700900123"
    assert price.locator('[data-field="status"]').inner_text() == "Active"
    # the number is not confirmed yet
    assert percent.locator('[data-field="status"]').inner_text() == "Waiting for confirmation"
    # a product the catalogue does not know yet: its ASIN, amazon.de's way of writing euros
    assert de.get_by_role("link").inner_text() == DE_ASIN
    assert de.locator("img").is_hidden()
    assert de.locator('[data-field="market"]').inner_text() == "amazon.de"
    assert de.locator('[data-field="alert"]').inner_text() == "Cheapest new ≤ 1.299,00\u00a0€"
    table = page.locator("#alerts-table").inner_text()
    assert "EMAIL" not in table
    # the picture came from the image host
    page.wait_for_function("() => document.querySelector('#alerts-table img').naturalWidth > 0")

    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "alerts12-list-1280.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    _row(page, de_id).wait_for()
    page.screenshot(path=str(SHOTS / "alerts12-list-390.png"), full_page=True)
    assert _fits(page)
    assert errors == []


def test_pause_then_resume_changes_the_state_on_the_server(page: Any, site: ServedApp) -> None:
    errors = collect_errors(page)
    email, price_id, _ = _with_two_alerts(page, site, "pause")
    page.goto("/alerts")
    row = _row(page, price_id)
    row.wait_for()
    assert row.get_by_role("button", name="Resume").is_hidden()

    row.get_by_role("button", name="Pause").click()
    page.locator("#alerts-message").get_by_text("it sends nothing until you resume it").wait_for()
    stored = {s.id: s.status for s in stored_subscriptions(site, email)}
    assert stored[price_id] == "paused"
    assert row.locator('[data-field="status"]').inner_text() == "Paused"
    assert row.get_by_role("button", name="Pause").is_hidden()

    row.get_by_role("button", name="Resume").click()
    page.locator("#alerts-message").get_by_text("Resumed").wait_for()
    stored = {s.id: s.status for s in stored_subscriptions(site, email)}
    assert stored[price_id] == "active"
    assert row.locator('[data-field="status"]').inner_text() == "Active"
    assert errors == []


def test_delete_asks_first_then_removes_the_alert(page: Any, site: ServedApp) -> None:
    errors = collect_errors(page)
    email, price_id, percent_id = _with_two_alerts(page, site, "delete")
    page.goto("/alerts")
    row = _row(page, price_id)
    row.wait_for()

    row.get_by_role("button", name="Delete").click()
    question = row.get_by_role("group", name="Confirm deletion")
    question.wait_for()
    assert question.inner_text().startswith(f"Delete the alert “Used ≤ $20.00” on {TITLE}?")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "alerts12-delete-confirm-1280.png"), full_page=True)
    # asking deleted nothing, and keeping it takes the question back
    assert len(stored_subscriptions(site, email)) == 2
    row.get_by_role("button", name="Keep it").click()
    assert question.is_hidden()
    assert len(stored_subscriptions(site, email)) == 2

    row.get_by_role("button", name="Delete").click()
    row.get_by_role("button", name="Yes, delete it").click()
    page.locator("#alerts-message").get_by_text("Deleted the alert “Used ≤ $20.00”").wait_for()
    assert [s.id for s in stored_subscriptions(site, email)] == [percent_id]
    assert page.locator("#alerts-table tbody tr").count() == 1
    assert errors == []


def test_register_from_a_product_pages_sign_in_link_lands_back_on_it(
    page: Any, site: ServedApp
) -> None:
    errors = collect_errors(page)
    page.goto(f"/p/us/{ASIN}")
    page.get_by_role("button", name="Create alert").click()
    page.locator("#subscribe-message").get_by_role("link", name="sign in or register").click()
    page.wait_for_url("**/signin?next=*")
    page.get_by_role("main").get_by_role("link", name="Register").click()
    page.wait_for_url(f"**/register?next=%2Fp%2Fus%2F{ASIN}")
    page.get_by_label("E-mail").fill(_new_email("next"))
    page.get_by_label("Password").fill("a long enough password")
    page.get_by_role("button", name="Register").click()
    page.wait_for_url(f"**/p/us/{ASIN}")
    # the header's links on a product page come back to it as well
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(site.url + "/")
    page.goto(f"/p/us/{ASIN}")
    header = page.get_by_role("navigation", name="Main")
    assert header.get_by_role("link", name="Register").get_attribute("href") == (
        f"/register?next=%2Fp%2Fus%2F{ASIN}"
    )
    assert errors == []


def _field_error(form: Any, name: str) -> str:
    note = form.locator(f'[data-field-error="{name}"]')
    note.wait_for()
    return str(note.inner_text())


def _no_user(site: ServedApp, email: str) -> bool:
    return site.on_database(lambda engine: sql.get_user_by_email(engine, email)) is None


def test_bad_input_is_refused_next_to_its_field_in_words(page: Any, site: ServedApp) -> None:
    errors = collect_errors(page)
    page.goto("/register")
    form = page.locator("#account-form")
    page.get_by_label("E-mail").fill("not-an-email")
    page.get_by_label("Password").fill("short")
    page.get_by_role("button", name="Register").click()
    assert _field_error(form, "email") == "Enter an e-mail address"
    assert _field_error(form, "password") == "Use at least 8 characters for the password"
    assert page.get_by_label("Password").get_attribute("aria-invalid") == "true"
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "alerts12-register-errors-1280.png"))
    assert _no_user(site, "not-an-email")

    # an address the browser lets through and the API refuses: its 400, at the field
    refused = "someone@-bad.example"
    page.get_by_label("E-mail").fill(refused)
    page.get_by_label("Password").fill("a long enough password")
    page.get_by_role("button", name="Register").click()
    page.locator('[data-field-error="email"]').wait_for()
    assert _field_error(form, "email") == "Enter an e-mail address"
    assert form.locator('[data-field-error="password"]').count() == 0
    assert _no_user(site, refused)

    email = _new_email("bad")
    register_in_page(page, email, "a long enough password")
    page.goto(f"/p/us/{ASIN}")
    form = page.locator("#subscribe-form")
    send_by, to = page.get_by_label("Send it by"), form.locator('input[name="target"]')
    message = page.locator("#subscribe-message")
    phone = "Enter a phone number in international form, e.g. +44 7700 900123"
    cases = [
        # (channel, destination, price, field, what it says)
        ("SMS", "", "20", "target", phone),
        ("SMS", "12345", "20", "target", phone),
        # the browser takes it, the API's E.164 does not
        ("SMS", "+1 (---) ---", "20", "target", phone),
        ("EMAIL", "not-an-email", "20", "target", "Enter an e-mail address"),
        ("EMAIL", "", "0", "threshold", "Enter a price above zero"),
        ("EMAIL", "", "99999999999999", "threshold", "Enter a smaller price"),
    ]
    for channel, destination, price, field, text in cases:
        send_by.select_option(channel)
        to.fill(destination)
        page.get_by_label("Price (USD)").fill(price)
        message.evaluate("el => { el.textContent = ''; }")
        page.get_by_role("button", name="Create alert").click()
        message.get_by_text("correct what is marked below").wait_for()
        assert _field_error(form, field).startswith(text), (channel, destination, price)
        assert form.locator(".field-error").count() == 1
    page.screenshot(path=str(SHOTS / "alerts12-form-errors-1280.png"))
    page.set_viewport_size({"width": 390, "height": 844})
    # the form and its messages fit a phone (the chart redraws to the width on its own)
    right = page.evaluate(
        "() => Math.max(...[...document.querySelectorAll('#subscribe-form *')]"
        ".map(e => e.getBoundingClientRect().right))"
    )
    assert right <= 390
    form.screenshot(path=str(SHOTS / "alerts12-form-errors-390.png"))
    assert "Alert created" not in message.inner_text()
    assert stored_subscriptions(site, email) == []
    assert _unexpected(errors) == []

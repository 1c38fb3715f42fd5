"""An alert e-mail read as its recipient reads it: every link in it opens a working web
page in Chromium, and its stop link stops the alert (button, or RFC 8058 one-click)."""

from __future__ import annotations

import asyncio
import email
import email.policy
import re
import uuid
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from alerts.notices import LinkMaker, alert_notice
from alerts.rendering import email_bytes
from pricewatch import alert_links
from pricewatch.models import Availability, Product
from pricewatch.storage import sql
from pricewatch.storage.sql_alerts import subscriptions_by_id
from tests.apps import ServedApp, served_app
from tests.browser import own_origin_only

pytestmark = [pytest.mark.browser, pytest.mark.clickhouse, pytest.mark.redis, pytest.mark.slow]

ASIN = "B0LINKS001"
TITLE = "Cast iron skillet, 26 cm"


def _history(store: Any, now_ms: int) -> None:
    rows = [
        [
            "us",
            ASIN,
            "buybox",
            now_ms - (10 - i) * 3_600_000,
            3_000 - i * 100,
            "USD",
            "in_stock",
            "crawler",
            "",
        ]
        for i in range(10)
    ]
    store.insert_prices(rows)
    store.upsert_products(
        [
            Product(
                market="us",
                asin=ASIN,
                title=TITLE,
                currency="USD",
                last_price=2_100,
                availability=Availability.IN_STOCK,
                first_seen=rows[0][3],
                last_seen=rows[-1][3],
            )
        ]
    )


@pytest.fixture(scope="module")
def site(
    tmp_path_factory: pytest.TempPathFactory, redis_url: str, clickhouse_client: Any
) -> Iterator[ServedApp]:
    yield from served_app(
        "links", tmp_path_factory.mktemp("links"), redis_url, clickhouse_client, _history
    )


def _run(coro: Coroutine[Any, Any, Any]) -> Any:
    # Playwright's sync API runs an event loop on this thread: use another one
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def _mail(site: ServedApp) -> tuple[email.message.EmailMessage, int]:
    """The alert e-mail the alerts role renders for a new subscription on ASIN."""

    async def make() -> tuple[bytes, int]:
        engine = sql.create_engine(site.database_url)
        try:
            user = await sql.create_user(engine, f"{uuid.uuid4().hex}@example.org", "h")
            sub = await sql.create_subscription(
                engine,
                user_id=user.id,
                market="us",
                asin=ASIN,
                notification_type="EMAIL",
                threshold=2_500,
            )
        finally:
            await engine.dispose()
        links = LinkMaker(site.url, alert_links.alert_secret(site.settings))
        notice = alert_notice(
            1, sub, "reader@example.org", links, event_id="e1", change=None, price=2_100
        )
        return email_bytes(notice, "Pricewatch <alerts@example.org>"), sub.id

    raw, sub_id = _run(make())
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, email.message.EmailMessage)
    return message, sub_id


def _status(site: ServedApp, sub_id: int) -> str:
    async def read() -> str:
        engine = sql.create_engine(site.database_url)
        try:
            return (await subscriptions_by_id(engine, [sub_id]))[sub_id].status.value
        finally:
            await engine.dispose()

    return str(_run(read()))


def test_every_link_of_an_alert_opens_a_page_and_stop_stops(site: ServedApp, browser: Any) -> None:
    message, sub_id = _mail(site)
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    links = re.findall(r'href="([^"]+)"', html)
    ours = [link.replace("&amp;", "&") for link in links if link.startswith(site.url)]
    assert len(ours) == 2, links  # the price history and the stop link
    context = browser.new_context()
    own_origin_only(context, site.url)
    page = context.new_page()
    page.set_default_timeout(10_000)
    for link in ours:
        response = page.goto(link)
        assert response is not None and response.status == 200, link
        assert response.headers["content-type"].startswith("text/html"), link
    history, stop = ours
    page.goto(history)
    assert page.locator("h1").inner_text() == TITLE
    page.goto(stop)
    assert _status(site, sub_id) == "active"
    page.get_by_role("button", name="Stop this alert").click()
    page.wait_for_selector("[data-stopped]")
    assert "Alert stopped" in page.locator("h1").inner_text()
    context.close()
    assert _status(site, sub_id) == "paused"


def test_the_one_click_header_stops_without_a_page(site: ServedApp) -> None:
    message, sub_id = _mail(site)
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = message["List-Unsubscribe"].strip("<>")
    assert url.startswith(f"{site.url}/alerts/{sub_id}/stop?token=")
    response = httpx.post(
        url,
        content=b"List-Unsubscribe=One-Click",
        timeout=10,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 200
    assert _status(site, sub_id) == "paused"

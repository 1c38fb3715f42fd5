"""An alert e-mail read as its recipient reads it: every link in it opens a working web
page in Chromium, and its stop link stops the alert (button, or RFC 8058 one-click)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import httpx
import pytest

from alerts.notices import LinkMaker, alert_notice
from alerts.rendering import email_bytes
from pricewatch import alert_links
from pricewatch.storage.sql_alerts import subscriptions_by_id
from tests.apps import ServedApp, served_app, store_price_rows
from tests.browser import own_origin_page
from tests.mail import parse_email
from tests.observations import price_row
from tests.sql_store import subscribed

pytestmark = [pytest.mark.browser, pytest.mark.clickhouse, pytest.mark.redis, pytest.mark.slow]

ASIN = "B0LINKS001"
TITLE = "Cast iron skillet, 26 cm"


def _history(store: Any, now_ms: int) -> None:
    """Ten hours of a price falling from 30.00 to 21.00."""
    rows = [price_row(ASIN, now_ms - (10 - i) * 3_600_000, 3_000 - i * 100) for i in range(10)]
    store_price_rows(store, TITLE, rows)


@pytest.fixture(scope="module")
def site(
    tmp_path_factory: pytest.TempPathFactory, redis_url: str, clickhouse_client: Any
) -> Iterator[ServedApp]:
    yield from served_app(
        "links", tmp_path_factory.mktemp("links"), redis_url, clickhouse_client, _history
    )


def _mail(site: ServedApp) -> tuple[EmailMessage, int]:
    """The alert e-mail the alerts role renders for a new subscription on ASIN."""
    reader = f"{uuid.uuid4().hex}@example.org"
    sub = site.on_database(lambda engine: subscribed(engine, reader, ASIN, 2_500))
    links = LinkMaker(site.url, alert_links.alert_secret(site.settings))
    notice = alert_notice(
        1, sub, "reader@example.org", links, event_id="e1", change=None, price=2_100
    )
    return parse_email(email_bytes(notice, "Pricewatch <alerts@example.org>")), sub.id


def _status(site: ServedApp, sub_id: int) -> str:
    async def read(engine: Any) -> str:
        return (await subscriptions_by_id(engine, [sub_id]))[sub_id].status.value

    return site.on_database(read)


def test_every_link_of_an_alert_opens_a_page_and_stop_stops(site: ServedApp, browser: Any) -> None:
    message, sub_id = _mail(site)
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    links = re.findall(r'href="([^"]+)"', html)
    ours = [link.replace("&amp;", "&") for link in links if link.startswith(site.url)]
    assert len(ours) == 2, links  # the price history and the stop link
    with own_origin_page(browser, site.url) as page:
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

"""Stop links: every alert carries one; GET asks, POST (the button, or a mail client's
RFC 8058 one-click) stops; a forged or foreign link stops nothing."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from pricewatch import alert_links
from pricewatch.settings import Settings
from pricewatch.storage import sql
from pricewatch.storage.clickhouse import PriceStore
from pricewatch.storage.sql_alerts import subscriptions_by_id
from tests.api.conftest import DAY
from tests.observations import seed_product
from tests.sql_store import engine_on, subscribed

pytestmark = [pytest.mark.redis, pytest.mark.clickhouse]

ASIN = "B0STOP0001"
ONE_CLICK = {
    "content": b"List-Unsubscribe=One-Click",
    "headers": {"Content-Type": "application/x-www-form-urlencoded"},
}


async def new_alert(sql_url: str, email: str = "stop@example.org") -> sql.Subscription:
    """A new account's e-mail alert on ASIN, for the test to stop."""
    async with engine_on(sql_url) as engine:
        return await subscribed(engine, email, ASIN, 20_00)


async def status_of(sql_url: str, sub_id: int) -> str:
    async with engine_on(sql_url) as engine:
        return (await subscriptions_by_id(engine, [sub_id]))[sub_id].status.value


def stop_path(settings: Settings, sub_id: int) -> str:
    url = alert_links.stop_url(settings.public_url, sub_id, alert_links.alert_secret(settings))
    return url.removeprefix(settings.public_url)


async def test_a_get_asks_and_a_one_click_post_stops(
    client: AsyncTestClient[Litestar], api_settings: Settings, sql_url: str, price_store: PriceStore
) -> None:
    seed_product(
        price_store, asin=ASIN, title="Desk lamp", prices=[(time.time_ns() // 10**6 - DAY, 25_00)]
    )
    sub = await new_alert(sql_url)
    path = stop_path(api_settings, sub.id)
    assert path.startswith(f"/alerts/{sub.id}/stop?token=")

    asked = await client.get(path)
    assert asked.status_code == 200
    assert "Stop this alert?" in asked.text and "Desk lamp" in asked.text
    assert "$20.00" in asked.text or "20.00 USD" in asked.text
    # link scanners fetch GET links: asking changes nothing
    assert await status_of(sql_url, sub.id) == "active"

    stopped = await client.post(path, **ONE_CLICK)
    assert stopped.status_code == 200 and "Alert stopped" in stopped.text
    assert await status_of(sql_url, sub.id) == "paused"
    # again, or after the fact: it says so, and stays stopped
    again = await client.get(path)
    assert again.status_code == 200 and "already stopped" in again.text
    assert (await client.post(path, **ONE_CLICK)).status_code == 200
    assert await status_of(sql_url, sub.id) == "paused"


@pytest.mark.parametrize("forge", ["token", "other-id", "no-token", "huge-id"])
async def test_a_forged_link_stops_nothing(
    make_app: Callable[..., Litestar], api_settings: Settings, sql_url: str, forge: str
) -> None:
    mine = await new_alert(sql_url, "mine@example.org")
    theirs = await new_alert(sql_url, "theirs@example.org")
    token = stop_path(api_settings, mine.id).split("token=", 1)[1]
    path = {
        "token": f"/alerts/{theirs.id}/stop?token=AAAAAAAAAAAAAAAAAAAAAA",
        # my valid token does not stop someone else's alert
        "other-id": f"/alerts/{theirs.id}/stop?token={token}",
        "no-token": f"/alerts/{theirs.id}/stop",
        "huge-id": f"/alerts/{2**70}/stop?token={token}",
    }[forge]
    async with AsyncTestClient(app=make_app()) as client:
        for response in (await client.get(path), await client.post(path, **ONE_CLICK)):
            assert response.status_code in (400, 404), response.text
    assert await status_of(sql_url, theirs.id) == "active"
    assert await status_of(sql_url, mine.id) == "active"

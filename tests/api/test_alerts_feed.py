"""The Atom feed of an account's sent alerts, at a secret address (real SQLite, chDB,
Redis): what it lists, who can read it, and that a new address retires the old."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from api.services.alert_feed import MAX_ALERT_ENTRIES
from api.services.feeds import ATOM_NS
from api.services.timefmt import iso
from pricewatch.storage import sql
from pricewatch.storage.clickhouse import PriceStore
from tests.api.calls import sign_up
from tests.observations import seed_product
from tests.sql_store import engine_on, subscribe

pytestmark = [pytest.mark.clickhouse, pytest.mark.redis]

A = f"{{{ATOM_NS}}}"
T0 = 1_780_000_000_000


async def sent(engine: sql.Db, subscription_id: int, event: str, price: int, at: int) -> None:
    notification = await sql.claim_notification(engine, subscription_id, event, "alert", price)
    assert notification is not None
    assert await sql.mark_sent(engine, notification, now=at)


async def test_the_feed_lists_the_sent_alerts_and_needs_its_secret(
    make_app: Callable[..., Litestar], price_store: PriceStore, sql_url: str
) -> None:
    seed_product(price_store, asin="B0ALERTS01", title="Kettle <1.7 l> & lid", prices=[(T0, 2500)])
    async with AsyncTestClient(app=make_app()) as client:
        me = await sign_up(client, "reader@example.org")
        other = await sign_up(client, "other@example.org")
        assert (await client.post("/accounts/me/alerts-feed")).status_code == 401
        made = await client.post("/accounts/me/alerts-feed", headers=me)
        assert made.status_code == 201, made.text
        url = made.json()["url"]
        path = url[url.index("/feeds/alerts/") :]

        async with engine_on(sql_url) as engine:
            user = await sql.get_user_by_email(engine, "reader@example.org")
            stranger = await sql.get_user_by_email(engine, "other@example.org")
            assert user is not None and stranger is not None
            mine = await subscribe(engine, user, "B0ALERTS01", 2000)
            stock = await subscribe(engine, user, "B0ALERTS01", None, kind="back_in_stock")
            theirs = await subscribe(engine, stranger, "B0ALERTS01", 2000)
            await sent(engine, mine.id, "ev-1", 1999, T0 + 1000)
            await sent(engine, stock.id, "ev-2", 2100, T0 + 2000)
            await sent(engine, theirs.id, "ev-3", 1500, T0 + 3000)
            # claimed but not (yet) sent: not in the feed
            assert await sql.claim_notification(engine, mine.id, "ev-4", "alert", 1800)

        # no session cookie, no bearer: the address is the key
        response = await client.get(path)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("application/atom+xml")
        feed = ET.fromstring(response.content)
        assert feed.findtext(f"{A}id") == url
        assert [
            link.get("href") for link in feed.findall(f"{A}link") if link.get("rel") == "self"
        ] == [url]
        assert feed.findtext(f"{A}updated") == iso(T0 + 2000)
        entries = feed.findall(f"{A}entry")
        assert [e.findtext(f"{A}title") for e in entries] == [
            "Back in stock: Kettle <1.7 l> & lid at $21.00",
            "Buy box price of Kettle <1.7 l> & lid at $19.99",
        ]
        assert [e.findtext(f"{A}updated") for e in entries] == [iso(T0 + 2000), iso(T0 + 1000)]
        links = [link.get("href", "") for e in entries for link in e.findall(f"{A}link")]
        assert len(links) == 2 and all(h.endswith("/p/us/B0ALERTS01") for h in links)

        # wrong, missing or mangled secrets are all "no such feed"
        for bad in ("/feeds/alerts/nope", "/feeds/alerts/" + "x" * 600, path + "x"):
            assert (await client.get(bad)).status_code == 404, bad
        # someone else's account cannot see this feed through their own
        theirs_url = (await client.post("/accounts/me/alerts-feed", headers=other)).json()["url"]
        their_feed = ET.fromstring(
            (await client.get(theirs_url[theirs_url.index("/feeds/") :])).content
        )
        assert [e.findtext(f"{A}title") for e in their_feed.findall(f"{A}entry")] == [
            "Buy box price of Kettle <1.7 l> & lid at $15.00"
        ]

        # a new address retires the old one
        again = (await client.post("/accounts/me/alerts-feed", headers=me)).json()["url"]
        assert again != url
        assert (await client.get(path)).status_code == 404
        new_path = again[again.index("/feeds/alerts/") :]
        assert (await client.get(new_path)).status_code == 200
        # and turning it off retires it too
        assert (await client.delete("/accounts/me/alerts-feed", headers=me)).status_code == 204
        assert (await client.get(new_path)).status_code == 404


async def test_the_feed_holds_at_most_its_newest_entries(
    make_app: Callable[..., Litestar], sql_url: str
) -> None:
    async with AsyncTestClient(app=make_app()) as client:
        me = await sign_up(client, "busy@example.org")
        url = (await client.post("/accounts/me/alerts-feed", headers=me)).json()["url"]
        async with engine_on(sql_url) as engine:
            user = await sql.get_user_by_email(engine, "busy@example.org")
            assert user is not None
            alert = await subscribe(engine, user, "B0ALERTS02", 100_000)
            for i in range(MAX_ALERT_ENTRIES + 10):
                await sent(engine, alert.id, f"ev-{i}", 90_000 - i, T0 + i * 1000)
        feed = ET.fromstring((await client.get(url[url.index("/feeds/") :])).content)
    entries = feed.findall(f"{A}entry")
    assert len(entries) == MAX_ALERT_ENTRIES
    # the newest first; a product the catalogue does not know is named by its key
    last = MAX_ALERT_ENTRIES + 9
    assert (
        entries[0].findtext(f"{A}title")
        == f"Buy box price of us:B0ALERTS02 at ${(90_000 - last) / 100:,.2f}"
    )
    assert len({e.findtext(f"{A}id") for e in entries}) == MAX_ALERT_ENTRIES

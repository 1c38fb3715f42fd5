"""Scoring inputs gathered from real chDB and SQLite."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from pricewatch.models import Availability, Product
from pricewatch.storage.clickhouse import PriceStore
from pricewatch.storage.sql import create_subscription, delete_subscription
from scheduler.inputs import Watermarks, changed_since, current_watermarks, gather_inputs, proximity
from scheduler.scoring import censored_changes
from tests.observations import price_row
from tests.scheduler.conftest import DAY, NOW

pytestmark = [pytest.mark.clickhouse]

A, B, C = "B000000001", "B000000002", "B000000003"
T0 = NOW - 10 * DAY


async def _populate(store: PriceStore, db: AsyncEngine, user_id: int) -> None:
    store.insert_prices(
        [
            price_row(A, T0, 1000),
            price_row(A, T0 + DAY, 1000),
            price_row(A, T0 + 2 * DAY, 1100),
            price_row(A, T0 + 2 * DAY + DAY // 2, 1000, source="extension"),
            # another series and an old observation outside the window do not count
            ["us", A, "used", T0 + DAY, 500, "USD", "in_stock", "crawler", ""],
            price_row(C, NOW - 200 * DAY, 700),
            price_row(C, NOW - 2 * DAY, 700),
        ]
    )
    store.upsert_products(
        [
            Product(
                market="us",
                asin=A,
                last_price=1000,
                availability=Availability.IN_STOCK,
                first_seen=T0,
                last_seen=T0 + 2 * DAY + DAY // 2,
            ),
            Product(
                market="us",
                asin=C,
                last_price=700,
                first_seen=NOW - 200 * DAY,
                last_seen=NOW - 2 * DAY,
            ),
        ]
    )
    store.record_views(
        [("us", A, NOW - 3600_000, "web")] * 3
        + [("us", A, NOW - 20 * DAY, "extension")] * 2
        + [("us", C, NOW - 40 * DAY, "web")]
    )
    for threshold in (900, 950):
        await create_subscription(
            db,
            user_id=user_id,
            market="us",
            asin=A,
            threshold=threshold,
            notification_type="EMAIL",
            now=T0,
        )
    gone = await create_subscription(
        db, user_id=user_id, market="us", asin=A, threshold=999, notification_type="EMAIL", now=T0
    )
    await delete_subscription(db, gone.id, user_id, now=T0)
    await create_subscription(
        db, user_id=user_id, market="us", asin=B, threshold=100, notification_type="EMAIL", now=T0
    )


async def test_inputs_are_gathered_from_the_stores(
    price_store: PriceStore, sql_db: AsyncEngine, user_id: int
) -> None:
    await _populate(price_store, sql_db, user_id)
    inputs = await gather_inputs(price_store.client, price_store.database, sql_db, NOW)

    assert inputs.keys == [("us", A), ("us", B), ("us", C)]
    a, b, c = 0, 1, 2
    # A: two active subscriptions (the deleted one does not count), nearest at 950
    assert inputs.subscriptions.tolist() == [2, 1, 0]
    assert inputs.proximity[a] == pytest.approx(0.95)
    # B has no known price yet, C no subscription
    assert inputs.proximity[b] == 0.0 and inputs.proximity[c] == 0.0
    assert (inputs.views_7d[a], inputs.views_30d[a]) == (3, 5)
    # C's only view is older than 30 days
    assert (inputs.views_7d[c], inputs.views_30d[c]) == (0, 0)
    # A: 4 buy-box observations, 3 gaps, 2 of them changed
    assert inputs.changes[a] == pytest.approx(censored_changes([2], [3])[0])
    assert inputs.observed_days[a] == pytest.approx(2.5)
    assert inputs.last_crawl_ms[a] == T0 + 2 * DAY
    assert inputs.last_report_ms[a] == T0 + 2 * DAY + DAY // 2
    assert inputs.first_seen_ms[a] == T0
    # B: subscribed but never seen
    assert inputs.first_seen_ms[b] == 0 and inputs.last_crawl_ms[b] == 0
    # C: only the observation inside the history window is a gap's end; no change
    assert inputs.changes[c] == 0.0 and inputs.observed_days[c] == 0.0
    assert inputs.last_crawl_ms[c] == NOW - 2 * DAY and inputs.last_report_ms[c] == 0


async def test_inputs_for_chosen_products_only(
    price_store: PriceStore, sql_db: AsyncEngine, user_id: int
) -> None:
    await _populate(price_store, sql_db, user_id)
    inputs = await gather_inputs(
        price_store.client, price_store.database, sql_db, NOW, keys={("us", A)}
    )
    assert inputs.keys == [("us", A)]
    assert inputs.subscriptions.tolist() == [2]
    assert inputs.views_30d.tolist() == [5]


async def test_changed_since_watermarks(
    price_store: PriceStore, sql_db: AsyncEngine, user_id: int
) -> None:
    await _populate(price_store, sql_db, user_id)
    marks = await current_watermarks(price_store.client, price_store.database, sql_db)
    assert marks == Watermarks(NOW - 2 * DAY, NOW - 3600_000, T0)
    changed, same = await changed_since(price_store.client, price_store.database, sql_db, marks)
    # nothing new: only the products right at the watermarks come back (the look-back
    # that catches rows stored a little after the time they carry)
    assert changed == {("us", A), ("us", C)} and same == marks

    price_store.insert_prices([price_row(C, NOW - 60_000, 650)])
    price_store.record_views([("us", "B000000009", NOW - 30_000, "web")])
    await create_subscription(
        sql_db,
        user_id=user_id,
        market="us",
        asin="B000000008",
        threshold=10,
        notification_type="EMAIL",
        now=NOW - 10_000,
    )
    changed, newer = await changed_since(price_store.client, price_store.database, sql_db, marks)
    # A again: its view sits at the old views watermark
    assert changed == {("us", A), ("us", C), ("us", "B000000009"), ("us", "B000000008")}
    assert newer == Watermarks(NOW - 60_000, NOW - 30_000, NOW - 10_000)


def test_proximity() -> None:
    assert proximity(1000, 950) == pytest.approx(0.95)
    assert proximity(900, 950) == 1.0
    assert proximity(None, 950) == 0.0
    assert proximity(1000, None) == 0.0

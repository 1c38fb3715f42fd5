"""An observation goes in at one end, the right e-mail comes out at the other:
observations stream -> IngestWorker (ClickHouse over chDB) -> price-changes ->
alerts worker -> SMTP server."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from pricewatch.ingest.worker import IngestWorker
from pricewatch.keys import OBSERVATIONS
from pricewatch.models import Observation
from pricewatch.storage import sql
from pricewatch.storage.streams import PartitionedStream
from tests.alerts.conftest import PUBLIC_URL, assert_price_drop_email, smtp_channel
from tests.mail import MailRecorder, plain_text
from tests.observations import observation
from tests.services import eventually
from tests.sql_store import subscribed

pytestmark = [pytest.mark.redis, pytest.mark.clickhouse]

ASIN = "B0E2E00001"


def observed(price: int, at: int) -> Observation:
    """The crawler's sighting of the kettle on amazon.de at ``price`` euro cents."""
    return observation(
        at, price, market="de", asin=ASIN, currency="EUR", title="Wasserkocher Edelstahl"
    )


async def test_an_observed_drop_reaches_the_subscriber_by_email(
    db, smtp: tuple[MailRecorder, int], start_worker, redis_client, keys, price_store
) -> None:
    recorder, port = smtp
    sub = await subscribed(db, "eva@example.com", ASIN, 25_00, market="de")
    ingest = IngestWorker(
        redis_client, keys, price_store, partitions=2, consumer="ingest-1", batch_ms=50
    )
    running = await start_worker({sql.NotificationType.EMAIL: smtp_channel(port)})
    observations = PartitionedStream(keys, OBSERVATIONS, 2)
    base = 1_700_000_000_000

    async def ingest_one(obs: Observation) -> None:
        observations.publish(redis_client, [(obs.market, obs.asin, obs)])
        batch = await asyncio.to_thread(ingest.next_batch)
        assert len(batch) == 1
        stats = await asyncio.to_thread(ingest.process_batch, batch)
        assert stats.changes == 1

    await ingest_one(observed(29_99, base))  # first sighting, above the threshold
    await ingest_one(observed(24_49, base + 60_000))  # the drop
    await eventually(lambda: len(recorder.messages) == 1)
    await running.settled()
    [message] = recorder.messages
    assert message["To"] == "eva@example.com"
    text = assert_price_drop_email(
        message,
        "Wasserkocher Edelstahl",
        now="24,49\u00a0€",
        was="29,99\u00a0€",
        threshold="25,00\u00a0€",
    )
    assert f"{PUBLIC_URL}/p/de/{ASIN}" in text
    assert f"https://www.amazon.de/dp/{ASIN}" in text
    assert f"{PUBLIC_URL}/alerts/{sub.id}/stop?token=" in text
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "24,49\u00a0€" in html and "29,99\u00a0€" in html


async def test_a_product_back_in_stock_reaches_the_subscriber_once_per_return(
    db, smtp: tuple[MailRecorder, int], start_worker, redis_client, keys, price_store
) -> None:
    recorder, port = smtp
    asin = "B0E2E00002"
    sub = await subscribed(db, "ben@example.com", asin, None, kind="back_in_stock")
    ingest = IngestWorker(
        redis_client, keys, price_store, partitions=2, consumer="ingest-2", batch_ms=50
    )
    running = await start_worker({sql.NotificationType.EMAIL: smtp_channel(port)})
    observations = PartitionedStream(keys, OBSERVATIONS, 2)
    base = 1_700_000_000_000
    page = {
        "title": "Cast Iron Pan",
        "image": "https://m.media-amazon.com/images/I/pan.jpg",
        "sold_by": "Amazon.com",
        "rating": Decimal("4.7"),
        "review_count": 8_812,
    }

    async def seen(minute: int, price: int | None) -> None:
        """The crawler's sighting of the pan: in stock at ``price``, else out of stock."""
        obs = observation(base + minute * 60_000, price, asin=asin, **page)
        observations.publish(redis_client, [(obs.market, obs.asin, obs)])
        batch = await asyncio.to_thread(ingest.next_batch)
        stats = await asyncio.to_thread(ingest.process_batch, batch)
        assert stats.changes == 1

    await seen(0, 49_99)  # first sighting, in stock: nothing to tell
    await seen(1, None)  # out of stock: the alert is armed
    await seen(2, 54_00)  # back
    await seen(3, 52_00)  # a new price, still in stock: nothing to tell
    await eventually(lambda: len(recorder.messages) == 1)
    await running.settled()
    [message] = recorder.messages
    assert message["To"] == "ben@example.com"
    assert message["Subject"] == "Back in stock: Cast Iron Pan at $54.00"
    text = plain_text(message)
    assert "Cast Iron Pan is back in stock at $54.00." in text
    assert "Sold by: Amazon.com" in text and "4.7 out of 5 stars (8,812 ratings)" in text
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert '<img src="https://m.media-amazon.com/images/I/pan.jpg"' in html
    assert f"{PUBLIC_URL}/alerts/{sub.id}/stop?token=" in text

    await seen(4, None)  # out again: re-armed
    await seen(5, 56_00)  # and back again: told again
    await eventually(lambda: len(recorder.messages) == 2)
    await running.settled()
    assert recorder.messages[1]["Subject"] == "Back in stock: Cast Iron Pan at $56.00"
    assert len({m["X-Pricewatch-Key"] for m in recorder.messages}) == 2

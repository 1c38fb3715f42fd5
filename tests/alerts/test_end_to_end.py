"""An observation goes in at one end, the right e-mail comes out at the other:
observations stream -> IngestWorker (ClickHouse over chDB) -> price-changes ->
alerts worker -> SMTP server."""

from __future__ import annotations

import asyncio

import pytest

from pricewatch.ingest.worker import IngestWorker
from pricewatch.keys import OBSERVATIONS
from pricewatch.models import Availability, Observation, Source
from pricewatch.storage import sql
from pricewatch.storage.streams import PartitionedStream
from tests.alerts.conftest import PUBLIC_URL, MailRecorder, smtp_channel
from tests.services import eventually

pytestmark = [pytest.mark.redis, pytest.mark.clickhouse]

ASIN = "B0E2E00001"


def observation(price: int, at: int) -> Observation:
    return Observation(
        market="de",
        asin=ASIN,
        observed_at=at,
        availability=Availability.IN_STOCK,
        source=Source.CRAWLER,
        price=price,
        currency="EUR",
        title="Wasserkocher Edelstahl",
    )


async def test_an_observed_drop_reaches_the_subscriber_by_email(
    db, smtp: tuple[MailRecorder, int], start_worker, redis_client, keys, price_store
) -> None:
    recorder, port = smtp
    user = await sql.create_user(db, "eva@example.com", "h")
    sub = await sql.create_subscription(
        db, user_id=user.id, market="de", asin=ASIN, notification_type="EMAIL", threshold=25_00
    )
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

    await ingest_one(observation(29_99, base))  # first sighting, above the threshold
    await ingest_one(observation(24_49, base + 60_000))  # the drop
    await eventually(lambda: len(recorder.messages) == 1)
    await running.settled()
    [message] = recorder.messages
    assert message["To"] == "eva@example.com"
    assert message["Subject"] == "Price drop: Wasserkocher Edelstahl is now 24,49\u00a0€"
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Wasserkocher Edelstahl dropped to 24,49\u00a0€ (was 29,99\u00a0€)." in text
    assert "Your alert threshold: 25,00\u00a0€." in text
    assert f"{PUBLIC_URL}/p/de/{ASIN}" in text
    assert f"https://www.amazon.de/dp/{ASIN}" in text
    assert f"{PUBLIC_URL}/alerts/{sub.id}/stop?token=" in text
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "24,49\u00a0€" in html and "29,99\u00a0€" in html

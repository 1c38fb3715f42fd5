"""An observation goes in at one end, the right e-mail comes out at the other:
observations stream -> IngestWorker (ClickHouse over chDB) -> price-changes ->
alerts worker -> SMTP server."""

from __future__ import annotations

import asyncio

import pytest

from pricewatch.ingest.worker import IngestWorker
from pricewatch.keys import OBSERVATIONS
from pricewatch.models import Observation
from pricewatch.storage import sql
from pricewatch.storage.streams import PartitionedStream
from tests.alerts.conftest import PUBLIC_URL, assert_price_drop_email, smtp_channel
from tests.mail import MailRecorder
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

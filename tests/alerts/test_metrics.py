"""The alerts role's metrics, read over HTTP from its endpoint while a real worker sends
through a real SMTP server (Redis streams, SQLite and PostgreSQL)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from pricewatch.metrics import role_endpoint
from tests.alerts.conftest import ASIN, publish, statuses, subscribe
from tests.observations import price_change
from tests.scrape import scrape, value
from tests.services import eventually, free_port

pytestmark = pytest.mark.redis


@pytest.fixture
def metrics_url() -> Iterator[str]:
    """The alerts role's own endpoint, as `pricewatch alerts` serves it."""
    port = free_port()
    with role_endpoint("127.0.0.1", port - 2, "alerts") as served:
        assert served is not None and served.port == port
        yield f"http://127.0.0.1:{port}"


async def test_sent_and_failed_alerts_count_per_channel_with_their_latency(
    db, mail, start_mailing, redis_client, keys, metrics_url
) -> None:
    await subscribe(db, "anna@example.com", 100_00)
    await subscribe(db, "gone@example.com", 100_00)
    mail.refused.add("gone@example.com")
    before = scrape(metrics_url)
    await start_mailing()
    # the change was observed a minute ago: that minute is part of the alert's latency
    observed_at = int(time.time() * 1000) - 60_000
    publish(
        redis_client,
        keys,
        price_change(99_50, 129_99, asin=ASIN, event_id="ev-metrics", observed_at=observed_at),
    )
    await eventually(lambda: one_sent_one_failed(db))
    after = scrape(metrics_url)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("pricewatch_alerts_sent_total", channel="email") == 1
    assert moved("pricewatch_alerts_failed_total", channel="email", outcome="failed") == 1
    assert moved("pricewatch_alerts_sent_total", channel="webhook") == 0
    assert moved("pricewatch_alerts_latency_seconds_count", channel="email") == 1
    assert moved("pricewatch_alerts_latency_seconds_sum", channel="email") >= 60
    # a minute is past the 30 s bucket, well within the hour's
    assert moved("pricewatch_alerts_latency_seconds_bucket", channel="email", le="30.0") == 0
    assert moved("pricewatch_alerts_latency_seconds_bucket", channel="email", le="3600.0") == 1


async def one_sent_one_failed(db) -> bool:  # type: ignore[no-untyped-def]
    return sorted(row[2] for row in await statuses(db)) == ["failed", "sent"]

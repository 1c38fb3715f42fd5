"""What the alerts role counts (Prometheus, the process's registry: ``pricewatch.metrics``).

``channel`` is the notification type (email, sms, webhook, apprise): four values,
never a recipient. How far alerts are behind ingest is read from Redis on scrape:
``pricewatch_stream_lag_seconds{stream="price-changes",group="alerts"}``.
"""

from __future__ import annotations

import time

from prometheus_client import Counter, Histogram

from alerts.notices import Notice
from pricewatch.storage.sql_schema import NotificationKind

SENT = Counter("pricewatch_alerts_sent", "Notifications delivered, by channel", ["channel"])
FAILED = Counter(
    "pricewatch_alerts_failed",
    "Failed delivery attempts, by channel and outcome (retry: tried again later; failed: given up)",
    ["channel", "outcome"],
)
DEFERRED = Counter(
    "pricewatch_alerts_deferred",
    "Deliveries put off without an attempt (the target's host was busy), by channel",
    ["channel"],
)
LATENCY = Histogram(
    "pricewatch_alerts_latency_seconds",
    "From the observation of a price change to its alert's delivery, by channel",
    ["channel"],
    buckets=(1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 3 * 3600, 12 * 3600),
)


def record(notice: Notice, outcome: str, now_s: float | None = None) -> None:
    """Count one outcome of ``AlertsWorker.deliver`` ("sent", "retry", "failed",
    "deferred"; "skipped" is not an attempt and counts nowhere)."""
    channel = notice.notification_type.value.lower()
    if outcome == "sent":
        SENT.labels(channel).inc()
        if notice.kind == NotificationKind.ALERT and notice.observed_at is not None:
            now = time.time() if now_s is None else now_s
            LATENCY.labels(channel).observe(max(0.0, now - notice.observed_at / 1000))
    elif outcome in ("retry", "failed"):
        FAILED.labels(channel, outcome).inc()
    elif outcome == "deferred":
        DEFERRED.labels(channel).inc()

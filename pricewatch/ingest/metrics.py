"""What ingest counts (Prometheus, the process's registry: ``pricewatch.metrics``).

How far ingest is behind the crawlers is not counted here but read from Redis on
scrape: ``pricewatch_stream_lag_seconds{stream="observations",group="ingest"}``
(``pricewatch.metrics.StreamCollector``).
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

BATCH_MESSAGES = Histogram(
    "pricewatch_ingest_batch_messages",
    "Stream entries (crawled pages, reports) per ingest batch",
    buckets=(1, 5, 25, 100, 500, 2_000, 5_000, 10_000, 20_000, 50_000),
)
OBSERVATIONS = Counter(
    "pricewatch_ingest_observations",
    "Observations ingested, by outcome (accepted: stored; duplicate: stored before; "
    "held: a report waiting for verification)",
    ["outcome"],
)
ACCEPTED = OBSERVATIONS.labels("accepted")
DUPLICATE = OBSERVATIONS.labels("duplicate")
HELD = OBSERVATIONS.labels("held")
CHANGES = Counter("pricewatch_ingest_changes", "Price changes published to the alerts")
DEAD_LETTERS = Counter(
    "pricewatch_ingest_dead_letters", "Entries ingest refused and moved to the dead-letter stream"
)
FAILED_BATCHES = Counter(
    "pricewatch_ingest_failed_batches", "Batches not written (kept pending, retried)"
)

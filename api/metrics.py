"""Application metrics beside the per-route ones of the Prometheus middleware."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

# route opt key: handlers carrying it are not timed by the Prometheus middleware
SKIP_REQUEST_METRICS = "skip_request_metrics"

HISTORY_CACHE = Counter(
    "pricewatch_api_history_cache",
    "Chart history requests by cache result (memory: this process's near cache; "
    "hit: Redis; miss: computed)",
    ["result"],
)
CACHE_MEMORY = HISTORY_CACHE.labels("memory")
CACHE_HIT = HISTORY_CACHE.labels("hit")
CACHE_MISS = HISTORY_CACHE.labels("miss")

REPORTS = Counter("pricewatch_api_reports", "Price reports by outcome", ["outcome"])

# Chart misses are read from ClickHouse in shared queries (api.services.chart_reads), by
# kind: "lines" (a chart's buckets), "changes" (a young product's change points) and
# "product" (a catalogue row). The reads a query answers grow as misses queue for it:
# a mean near MAX_BATCH, with queries back to back (their seconds per second near
# api_chart_queries), says the cold path is at its capacity.
CHART_QUERY_READS = Histogram(
    "pricewatch_api_chart_query_reads",
    "Chart misses answered per ClickHouse query, by kind",
    ["kind"],
    buckets=(1, 2, 4, 8, 16, 32),
)
CHART_QUERY_SECONDS = Histogram(
    "pricewatch_api_chart_query_seconds",
    "Time of each ClickHouse query of chart misses, by kind",
    ["kind"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)

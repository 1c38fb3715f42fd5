"""Application metrics beside the per-route ones of the Prometheus middleware."""

from __future__ import annotations

from prometheus_client import Counter

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

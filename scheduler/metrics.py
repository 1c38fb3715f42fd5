"""What the scheduler counts (Prometheus, the process's registry: ``pricewatch.metrics``).

The budget is crawls per second per budget group (a market with a budget of its own, or
"shared"). A full scoring pass spends it: each product gets a crawl rate, and the
rates of a group add up to at most its budget. The frontier itself is read from Redis
on scrape (``pricewatch.metrics.FrontierCollector``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from prometheus_client import Counter, Gauge, Histogram

if TYPE_CHECKING:
    from scheduler.jobs import SchedulerConfig, Scores

BUDGET = Gauge(
    "pricewatch_scheduler_budget_crawls_per_second",
    "Crawl budget of a budget group (crawls/s)",
    ["group"],
)
SPENT = Gauge(
    "pricewatch_scheduler_spent_crawls_per_second",
    "Crawl rate the last full scoring pass gave a budget group's products (crawls/s)",
    ["group"],
)
SCORED = Gauge("pricewatch_scheduler_scored_products", "Products the last full pass scored")
PUSHED = Counter("pricewatch_scheduler_pushed", "Due products pushed to the frontier")
RUN_PUSHED = Histogram(
    "pricewatch_scheduler_run_pushed",
    "Due products pushed to the frontier per refill run",
    buckets=(0, 1, 10, 100, 1_000, 10_000, 100_000),
)


def record_pass(config: SchedulerConfig, scores: Scores) -> None:
    """A full pass's budget and what it spent, per group."""
    groups = np.array([config.group_of(market) for market, _ in scores.keys], dtype=object)
    for group in scores.levels:
        BUDGET.labels(group).set(config.budget_of(group))
        SPENT.labels(group).set(float(scores.rate[groups == group].sum()))
    SCORED.set(len(scores.keys))


def record_refill(pushed: int) -> None:
    PUSHED.inc(pushed)
    RUN_PUSHED.observe(pushed)

"""The scheduler's metrics, read over HTTP from its endpoint after real passes (chDB,
SQLite, Redis)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from pricewatch.metrics import role_endpoint
from pricewatch.storage.clickhouse import PriceStore
from scheduler.jobs import SHARED_GROUP
from tests.observations import price_row
from tests.scheduler.conftest import DAY, NOW
from tests.scrape import scrape, value
from tests.services import free_port

pytestmark = [pytest.mark.clickhouse, pytest.mark.redis]


@pytest.fixture
def metrics_url() -> Iterator[str]:
    """The scheduler's own endpoint, as `pricewatch scheduler` serves it."""
    port = free_port()
    with role_endpoint("127.0.0.1", port - 3, "scheduler") as served:
        assert served is not None
        yield f"http://127.0.0.1:{served.port}"


async def test_a_pass_shows_budget_spent_per_group_and_refills_count_pushes(
    make_scheduler: Any, price_store: PriceStore, metrics_url: str
) -> None:
    sched = make_scheduler(budget=0.003, market_budgets={"de": 0.0005})
    rows = [price_row(f"B{i:09d}", NOW - DAY, 100 + i) for i in range(1, 21)]
    rows += [price_row(f"B{i:09d}", NOW - DAY, 100 + i, market="de") for i in range(1, 6)]
    price_store.insert_prices(rows)
    before = scrape(metrics_url)

    assert await sched.rescore_all(NOW) == 25
    pushed = await sched.refill(NOW + 2 * DAY)  # every product is due by then
    after = scrape(metrics_url)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    budget = "pricewatch_scheduler_budget_crawls_per_second"
    spent = "pricewatch_scheduler_spent_crawls_per_second"
    assert value(after, budget, group="de") == pytest.approx(0.0005)
    assert value(after, budget, group=SHARED_GROUP) == pytest.approx(0.0025)
    assert value(after, spent, group="de") == pytest.approx(0.0005)
    assert value(after, spent, group=SHARED_GROUP) == pytest.approx(0.0025)
    assert value(after, "pricewatch_scheduler_scored_products") == 25
    assert pushed == 25
    assert moved("pricewatch_scheduler_pushed_total") == 25
    assert moved("pricewatch_scheduler_run_pushed_count") == 1
    assert moved("pricewatch_scheduler_run_pushed_sum") == 25

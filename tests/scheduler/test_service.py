"""The scheduler service starts, does its jobs on real stores, and stops."""

from __future__ import annotations

import dataclasses
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import redis as redis_lib

from pricewatch.frontier import Frontier
from pricewatch.keys import Keys
from pricewatch.models import TaskKind
from pricewatch.settings import load_settings
from pricewatch.storage.clickhouse import PriceStore, migrate
from scheduler.service import config_from_settings, run
from tests.observations import price_row

pytestmark = [pytest.mark.clickhouse, pytest.mark.redis]

ASIN = "B0SERVICE1"


def test_service_schedules_until_stopped(
    redis_url: str,
    redis_client: redis_lib.Redis,
    clickhouse_client: Any,
    clickhouse_database: str,
    tmp_path: Path,
) -> None:
    settings = dataclasses.replace(
        load_settings({"PRICEWATCH_DATA_DIR": str(tmp_path)}),
        # the URL only names the database here: the engine is the one passed in
        clickhouse_url=f"http://127.0.0.1:9/{clickhouse_database}",
        database_url=f"sqlite+aiosqlite:///{tmp_path}/service.db",
        key_prefix="svc:",
        scheduler_refill_s=0.2,
        scheduler_rescore_s=0.2,
        scheduler_discovery_markets=("de",),
    )
    migrate(clickhouse_client, clickhouse_database)
    now = int(time.time() * 1000)
    PriceStore(clickhouse_client, clickhouse_database).insert_prices(
        [price_row(ASIN, now - 40 * 86_400_000, 100), price_row(ASIN, now - 30 * 86_400_000, 120)]
    )
    stop = threading.Event()
    errors: list[BaseException] = []

    def target() -> None:
        try:
            run(settings, redis_url, stop, clickhouse_client=clickhouse_client)
        except BaseException as exc:  # reported below
            errors.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    frontier = Frontier(redis_client, Keys(prefix="svc:"), partitions=settings.stream_partitions)
    try:
        deadline = time.monotonic() + 20
        while frontier.size() < 3 and time.monotonic() < deadline and thread.is_alive():
            time.sleep(0.1)
        tasks = frontier.pop("test", count=10)
    finally:
        stop.set()
        thread.join(15)
    assert not thread.is_alive()
    assert errors == []
    assert {(t.kind, t.asin or t.url) for t in tasks} == {
        (TaskKind.PRODUCT, ASIN),
        (TaskKind.DISCOVER, "https://www.amazon.de/gp/bestsellers/"),
        (TaskKind.DISCOVER, "https://www.amazon.de/gp/new-releases/"),
    }


def test_config_follows_the_proxies() -> None:
    settings = load_settings(
        {
            "PRICEWATCH_PROXIES": "10.0.0.1:8080 10.0.0.2:8080",
            "PRICEWATCH_SCHEDULER_VERIFY_SHARE": "0.25",
            "PRICEWATCH_SCHEDULER_MARKET_BUDGETS": "de=0.5",
        }
    )
    config = config_from_settings(settings)
    assert config.budget == pytest.approx(1.5)
    assert config.budget_of("de") == pytest.approx(0.5)
    assert config.budget_of(config.group_of("us")) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="SCHEDULER_MARKET_BUDGETS"):
        load_settings({"PRICEWATCH_SCHEDULER_MARKET_BUDGETS": "de=lots"})

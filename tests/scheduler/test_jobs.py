"""The jobs against real Redis, chDB and SQLite."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import redis as redis_lib
from sqlalchemy.ext.asyncio import AsyncEngine

from pricewatch.keys import Keys
from pricewatch.models import Product, TaskKind
from pricewatch.storage.clickhouse import PriceStore
from pricewatch.storage.sql import create_subscription, update_subscription
from scheduler.jobs import SHARED_GROUP, DueProduct, SchedulerConfig, Scores, refill_plan
from tests.observations import price_row
from tests.scheduler.conftest import DAY, NOW

pytestmark = [pytest.mark.clickhouse, pytest.mark.redis]

HOUR = 3_600_000


def _asin(i: int) -> str:
    return f"B{i:09d}"


def _scores(rows: list[tuple[str, float, int, int]]) -> Scores:
    """(asin, importance, last_observed, next_due) -> a Scores with change rate 1/day."""
    n = len(rows)
    return Scores(
        keys=[("us", r[0]) for r in rows],
        importance=np.array([r[1] for r in rows]),
        change_rate=np.ones(n),
        rate=np.full(n, 1 / 3600),
        last_observed_ms=np.array([r[2] for r in rows], dtype=np.int64),
        next_due_ms=np.array([r[3] for r in rows], dtype=np.int64),
        levels={},
    )


def test_refill_pushes_the_due_window_bounded_by_priority(make_scheduler: Any) -> None:
    sched = make_scheduler(frontier_max=5)
    rows = [
        # overdue, with different importance
        *[(_asin(i), float(i), NOW - 2 * HOUR, NOW - HOUR) for i in range(1, 7)],
        # due within the window
        (_asin(7), 100.0, NOW - HOUR // 2, NOW + HOUR // 2),
        # due after the window: never pushed now
        (_asin(8), 1e6, NOW - HOUR // 2, NOW + 2 * HOUR),
    ]
    sched.store.write(_scores(rows), NOW - HOUR)

    assert sched.refill_now(NOW) == 5
    assert sched.frontier.size() == 5
    popped = sched.frontier.pop("w", count=10, now=NOW)
    assert [t.asin for t in popped] == [_asin(7), _asin(6), _asin(5), _asin(4), _asin(3)]
    priorities = [t.priority for t in popped]
    assert priorities == sorted(priorities, reverse=True)
    assert all(t.kind is TaskKind.PRODUCT for t in popped)

    # the frontier has room again, but what was pushed and not observed since stays out
    assert sched.refill_now(NOW) == 2
    rest = sched.frontier.pop("w", count=10, now=NOW)
    assert sorted(t.asin for t in rest) == [_asin(1), _asin(2)]
    assert sched.refill_now(NOW) == 0


def test_refill_pushes_again_after_an_observation_or_expiry(make_scheduler: Any) -> None:
    sched = make_scheduler(repush_after_s=3600)
    sched.store.write(_scores([(_asin(1), 1.0, NOW - 2 * HOUR, NOW - HOUR)]), NOW - HOUR)
    assert sched.refill_now(NOW) == 1
    sched.frontier.pop("w", count=1, now=NOW)
    assert sched.refill_now(NOW + 60_000) == 0
    # crawled and re-scored, due again (a short interval): pushed again
    sched.store.write(_scores([(_asin(1), 1.0, NOW + 60_000, NOW + 120_000)]), NOW + 60_000)
    assert sched.refill_now(NOW + 120_000) == 1
    sched.frontier.pop("w", count=1, now=NOW)
    # never observed after that push: given up on after repush_after_s
    assert sched.refill_now(NOW + 120_000 + HOUR - 1000) == 0
    assert sched.refill_now(NOW + 120_000 + HOUR + 1000) == 1


def test_refill_never_duplicates_what_is_queued(make_scheduler: Any) -> None:
    sched = make_scheduler()
    sched.store.write(
        _scores([(_asin(i), 1.0, NOW - DAY, NOW - HOUR) for i in range(1, 51)]), NOW - HOUR
    )
    assert sched.refill_now(NOW) == 50
    # the same rows written again (a re-score without news) are not pushed twice
    sched.store.write(_scores([(_asin(i), 2.0, NOW - DAY, NOW - HOUR) for i in range(1, 51)]), NOW)
    assert sched.refill_now(NOW) == 0
    popped = sched.frontier.pop("w", count=1000, now=NOW)
    assert len(popped) == 50 == len({t.asin for t in popped})


def test_refill_plan_skips_pending_and_ranks() -> None:
    due = [
        DueProduct("us", _asin(1), 1.0, 1.0, NOW - DAY, NOW),
        DueProduct("us", _asin(2), 5.0, 1.0, NOW - DAY, NOW),
        DueProduct("us", _asin(3), 9.0, 1.0, NOW - DAY, NOW),
        DueProduct("us", _asin(4), 1.0, 1.0, 0, 0),
    ]
    pushed = {("us", _asin(3)): NOW - HOUR, ("us", _asin(4)): NOW - HOUR}
    plan = refill_plan(due, pushed, room=10, now_ms=NOW)
    assert [t.asin for t in plan] == [_asin(2), _asin(1)]
    # a product never observed counts as a month stale: it goes first
    assert refill_plan(due, {}, room=1, now_ms=NOW)[0].asin == _asin(4)


async def test_full_pass_spends_the_budget_per_group(
    make_scheduler: Any, price_store: PriceStore
) -> None:
    # budgets inside the clamps: 20 x 1.25e-4 and 5 x 1e-4 crawls/s
    sched = make_scheduler(budget=0.003, market_budgets={"de": 0.0005})
    rows = [price_row(_asin(i), NOW - DAY, 100 + i) for i in range(1, 21)]
    rows += [price_row(_asin(i), NOW - DAY, 100 + i, market="de") for i in range(1, 6)]
    price_store.insert_prices(rows)
    assert await sched.rescore_all(NOW) == 25
    scored = sched.store.scored()
    by_market: dict[str, float] = {}
    for (market, _), row in scored.items():
        by_market[market] = by_market.get(market, 0.0) + row["rate"]
        assert row["next_due"] == NOW - DAY + round(1000 / row["rate"])
    assert by_market["de"] == pytest.approx(0.0005)
    assert by_market["us"] == pytest.approx(0.0025)


async def test_incremental_rescore_touches_only_changed_products(
    make_scheduler: Any,
    price_store: PriceStore,
    sql_db: AsyncEngine,
    user_id: int,
    redis_client: redis_lib.Redis,
    keys: Keys,
) -> None:
    sched = make_scheduler()
    price_store.insert_prices(
        [price_row(_asin(i), NOW - 3 * DAY + i * HOUR, 100) for i in range(1, 11)]
    )
    price_store.upsert_products(
        [
            Product(
                market="us",
                asin=_asin(9),
                last_price=100,
                first_seen=NOW - 30 * DAY,
                last_seen=NOW - 3 * DAY + 9 * HOUR,
            )
        ]
    )
    sub = await create_subscription(
        sql_db,
        user_id=user_id,
        market="us",
        asin=_asin(9),
        threshold=50,
        notification_type="EMAIL",
        now=NOW - 3 * DAY,
    )
    # no state yet: the first incremental pass is a full one
    assert await sched.rescore_changed(NOW - 2 * DAY) == 10
    assert redis_client.hget(keys.scheduler_state, f"level:{SHARED_GROUP}") is not None
    before = sched.store.scored()
    # the newest row (asin 10) sits at the watermark and is read again; nothing else
    assert await sched.rescore_changed(NOW - 2 * DAY + HOUR) == 1

    price_store.insert_prices([price_row(_asin(3), NOW - DAY, 120)])
    await update_subscription(sql_db, sub.id, user_id, threshold=90, now=NOW - DAY)
    assert await sched.rescore_changed(NOW) == 3
    after = sched.store.scored()
    touched = {key for key in after if after[key]["scored_at"] != before[key]["scored_at"]}
    assert touched == {("us", _asin(3)), ("us", _asin(9)), ("us", _asin(10))}
    assert after[("us", _asin(3))]["last_observed"] == NOW - DAY
    # the subscriber's product now matters more than before
    assert after[("us", _asin(9))]["importance"] > before[("us", _asin(9))]["importance"]


async def test_discovery_queues_each_market_listing_once(make_scheduler: Any) -> None:
    sched = make_scheduler(discovery_markets=("us", "de"))
    assert await sched.discover() == 4
    assert await sched.discover() == 4
    tasks = sched.frontier.pop("w", count=10, now=NOW)
    assert sorted(t.url for t in tasks) == [
        "https://www.amazon.com/gp/bestsellers/",
        "https://www.amazon.com/gp/new-releases/",
        "https://www.amazon.de/gp/bestsellers/",
        "https://www.amazon.de/gp/new-releases/",
    ]
    assert {t.kind for t in tasks} == {TaskKind.DISCOVER}


def test_config_rejects_budgets_beyond_the_fleet() -> None:
    with pytest.raises(ValueError, match="exceed"):
        SchedulerConfig(budget=1.0, market_budgets={"de": 0.7, "uk": 0.5})
    with pytest.raises(ValueError, match="unknown market"):
        SchedulerConfig(budget=1.0, discovery_markets=("xx",))


async def test_a_job_that_finds_redis_away_waits_for_its_next_turn(caplog) -> None:
    import redis as redis_lib

    from scheduler.jobs import _waits_for_redis

    async def refill() -> None:
        raise redis_lib.ConnectionError("Connection refused")

    async def broken() -> None:
        raise ValueError("a bug")

    await _waits_for_redis(refill)()  # no exception: APScheduler logs no traceback
    assert "refill skipped, Redis unavailable" in caplog.text
    with pytest.raises(ValueError):
        await _waits_for_redis(broken)()

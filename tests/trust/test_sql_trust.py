"""The trust tables and queries on SQLite and PostgreSQL: migration, audit, counts."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncEngine

from pricewatch.storage import sql
from pricewatch.storage.sql_trust import (
    AuditRecord,
    AuditVerdict,
    armed_counts,
    audit_log,
    record_decisions,
    reporter_counts,
)
from tests.sql_store import database_on, engine_on, subscribe


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def db_url(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """An empty database on each backend."""
    async for url in database_on(request.param, request):
        yield url


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    eng = sql.create_engine(db_url)
    await sql.migrate_sql_async(eng)
    yield eng
    await eng.dispose()


def record(
    rid: str, verdict: AuditVerdict, reporter: str | None = "user:1", at: int = 1_000
) -> AuditRecord:
    return AuditRecord(
        report_id=rid,
        market="us",
        asin="B000000001",
        series="buybox",
        reporter=reporter,
        observed_at=at - 100,
        price=4_000,
        verdict=verdict,
        reasons="large_drop",
        verified_price=9_000,
        decided_at=at,
    )


async def test_the_migration_creates_and_drops_the_audit_table(db_url: str):
    await sql.migrate_sql_async(db_url, "0002")
    async with engine_on(db_url) as eng:
        async with eng.connect() as conn:
            tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
            head = await conn.run_sync(
                lambda c: MigrationContext.configure(c).get_current_revision()
            )
            indexes = await conn.run_sync(
                lambda c: {i["name"] for i in inspect(c).get_indexes("report_audit")}
            )
        assert "report_audit" in tables
        assert head == "0002"
        assert indexes == {
            "ix_report_audit_reporter_decided_at",
            "ix_report_audit_market_asin_decided_at",
        }
        await sql.downgrade_sql_async(eng, "0001")
        async with eng.connect() as conn:
            tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
        assert "report_audit" not in tables and "reporters" in tables


async def test_decisions_are_recorded_once_and_move_reputation_once(engine: AsyncEngine):
    batch = [
        record("r1", AuditVerdict.CONFIRMED, at=1_000),
        record("r2", AuditVerdict.REFUTED, at=2_000),
        record("r3", AuditVerdict.CORRECTED, at=3_000),
        record("r4", AuditVerdict.EXPIRED, at=4_000),
        record("r5", AuditVerdict.REJECTED, at=5_000),
        record("r6", AuditVerdict.REFUTED, reporter=None, at=6_000),
    ]
    assert await record_decisions(engine, batch) == 6
    assert await record_decisions(engine, batch) == 0
    reporter = await sql.get_reporter(engine, "user:1")
    assert (reporter.confirmed, reporter.refuted) == (1, 2)
    log = await audit_log(engine, reporter="user:1")
    assert [r.report_id for r in log] == ["r1", "r2", "r3", "r4", "r5"]
    assert log[1] == batch[1]
    assert await audit_log(engine, market="us", asin="B000000002") == []
    assert await reporter_counts(engine, ["user:1", "user:404"]) == {"user:1": (1, 2)}


async def test_armed_counts_follow_the_alerts_rules_and_stop_at_the_cap(engine: AsyncEngine):
    user = await sql.create_user(engine, "a@example.com", "x")
    ids = []
    for threshold in (5_000, 6_000, 7_000, 8_000, 9_000):
        ids.append((await subscribe(engine, user, "B000000001", threshold)).id)
    await sql.disarm(engine, [ids[4]], 8_500, 1)
    await sql.update_subscription(engine, ids[3], user.id, status="paused")
    other = await subscribe(engine, user, "B000000001", 99_000, market="de")
    assert other.id
    items = [("us", "B000000001", "buybox", p) for p in (4_000, 6_500, 10_000)]
    assert await armed_counts(engine, items, cap=100) == {items[0]: 3, items[1]: 1, items[2]: 0}
    assert await armed_counts(engine, items[:1], cap=2) == {items[0]: 2}
    with pytest.raises(ValueError, match="cap"):
        await armed_counts(engine, items, cap=0)


async def test_a_buy_box_price_counts_the_armed_back_in_stock_alerts_too(engine: AsyncEngine):
    # a price in the buy box is the product in stock: a report of one would tell every
    # armed back-in-stock alert, so the rules must weigh them like the price alerts
    user = await sql.create_user(engine, "b@example.com", "x")
    await subscribe(engine, user, "B000000003", 5_000)
    backs = [
        await subscribe(engine, user, "B000000003", None, kind="back_in_stock") for _ in range(3)
    ]
    items = [("us", "B000000003", "buybox", 4_000), ("us", "B000000003", "used", 4_000)]
    # made while nothing is known: disarmed, nothing to tell
    assert await armed_counts(engine, items, cap=100) == {items[0]: 1, items[1]: 0}
    await sql.rearm_out_of_stock(engine, "us", "B000000003")
    assert await armed_counts(engine, items, cap=100) == {items[0]: 4, items[1]: 0}
    assert await armed_counts(engine, items[:1], cap=2) == {items[0]: 2}
    await sql.disarm(engine, [b.id for b in backs], None, 1)
    assert await armed_counts(engine, [("us", "B000000003", "buybox", 6_000)], cap=9) == {
        ("us", "B000000003", "buybox", 6_000): 0
    }

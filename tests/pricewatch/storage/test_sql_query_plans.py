"""The alerts hot path must be an index range read, not a scan of subscriptions."""

from __future__ import annotations

import pytest
from sqlalchemy import Executable
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from pricewatch.storage import sql
from pricewatch.storage.sql_matching import (
    READS_PER_STATEMENT,
    PricedSeries,
    first_due_pages,
    first_due_pages_params,
    first_due_pages_query,
)
from pricewatch.storage.sql_schema import subscriptions
from pricewatch.storage.sql_subscriptions import (
    due_in_stock_query,
    due_query,
    rearm_in_stock_statement,
    rearm_statement,
)

INDEX = "ix_subscriptions_due"
PRODUCTS = 100
PER_PRODUCT = 50


def _product(i: int) -> str:
    return f"B{i:09d}"


async def _fill(engine: AsyncEngine) -> None:
    """Enough rows over enough products that a scan would be the wrong plan."""
    user = await sql.create_user(engine, "plans@example.com", "h")
    rows = [
        {
            "user_id": user.id,
            "market": "us",
            "asin": _product(p),
            "series": "buybox",
            "kind": "price",
            "threshold": 1000 + 10 * i,
            "currency": "USD",
            "notification_type": "EMAIL",
            "status": "active",
            "armed": i % 5 != 0,
            # the page time of the last change each applied
            "last_change_at": i,
            "created_at": 0,
            "updated_at": 0,
        }
        for p in range(PRODUCTS)
        for i in range(PER_PRODUCT)
    ]
    # and back-in-stock alerts on every product: no threshold, one run of the index each
    rows += [
        {
            **rows[0],
            "asin": _product(p),
            "kind": "back_in_stock",
            "threshold": None,
            "armed": i % 3 != 0,
        }
        for p in range(PRODUCTS)
        for i in range(PER_PRODUCT)
    ]
    async with engine.begin() as conn:
        await conn.execute(subscriptions.insert(), rows)
        await conn.exec_driver_sql("ANALYZE")


async def _explain(conn: AsyncConnection, stmt: Executable) -> str:
    compiled = str(stmt.compile(conn.sync_connection, compile_kwargs={"literal_binds": True}))
    if conn.dialect.name == "sqlite":
        rows = await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}")
        return "\n".join(str(r[-1]) for r in rows)
    rows = await conn.exec_driver_sql(f"EXPLAIN {compiled}")
    return "\n".join(r[0] for r in rows)


async def _plans(engine: AsyncEngine, statements: list[Executable]) -> list[str]:
    async with engine.connect() as conn:
        plans = [await _explain(conn, s) for s in statements]
        if conn.dialect.name == "postgresql" and not all(INDEX in p for p in plans):
            # a small table may still tempt the planner into a scan; forbid it
            await conn.exec_driver_sql("SET enable_seqscan = off")
            plans = [await _explain(conn, s) for s in statements]
        await conn.rollback()
    return plans


def _uses_index(dialect: str, plan: str) -> bool:
    if dialect == "sqlite":
        return f"USING INDEX {INDEX}" in plan or f"USING COVERING INDEX {INDEX}" in plan
    return any(
        f"{node} on {INDEX}" in plan or f"{node} using {INDEX}" in plan
        for node in ("Index Scan", "Index Only Scan", "Bitmap Index Scan")
    )


def _assert_unsorted(dialect: str, plans: str) -> None:
    """The index order is the page order: no sort of all matches per page."""
    if dialect == "sqlite":
        assert "TEMP B-TREE" not in plans
    else:
        assert "Sort" not in plans


async def test_due_subscriptions_reads_the_index_in_page_order(sql_engine: AsyncEngine):
    await _fill(sql_engine)
    cursor = (await sql.due_subscriptions(sql_engine, "us", _product(7), "buybox", 1200))[-1]
    # as the worker runs it (skipping rows that applied the change already) and bare
    plans = await _plans(
        sql_engine,
        [
            due_query("us", _product(7), "buybox", 1200, limit=100, observed_at=30),
            due_query("us", _product(7), "buybox", 1200, limit=100, after=cursor, observed_at=30),
            due_query("us", _product(7), "buybox", 1200, limit=100),
        ],
    )
    dialect = sql_engine.dialect.name
    print(*plans, sep="\n---\n")
    for plan in plans:
        assert _uses_index(dialect, plan), plan
    _assert_unsorted(dialect, "".join(plans))


async def test_rearming_uses_the_same_index(sql_engine: AsyncEngine):
    await _fill(sql_engine)
    plans = await _plans(
        sql_engine,
        [
            rearm_statement("us", _product(3), "buybox", 1300, observed_at=30),
            rearm_statement("us", _product(3), "buybox", 1300),  # a correction's
        ],
    )
    print(*plans, sep="\n---\n")
    for plan in plans:
        assert _uses_index(sql_engine.dialect.name, plan), plan


async def test_due_subscriptions_agree_with_a_plain_filter(sql_engine: AsyncEngine):
    await _fill(sql_engine)
    for price in (999, 1000 + 10 * (PER_PRODUCT - 1), 10**6):
        for seen in (None, 0, 20, 10**6):
            expected = [
                1000 + 10 * i
                for i in range(PER_PRODUCT)
                if i % 5 != 0 and 1000 + 10 * i >= price and (seen is None or i < seen)
            ]
            pages = [
                p
                async for p in sql.iter_due_subscriptions(
                    sql_engine, "us", _product(11), "buybox", price, page_size=7, observed_at=seen
                )
            ]
            assert [s.threshold for p in pages for s in p] == expected


async def test_a_round_s_first_pages_read_the_index_once_per_change(sql_engine: AsyncEngine):
    """The first pages of a round's changes, read in one statement: each its own range
    of the index, in page order."""
    await _fill(sql_engine)
    targets = [PricedSeries("us", _product(p), "buybox", 1200, 30) for p in (3, 7, 11)]
    stmt = first_due_pages_query(len(targets)).params(first_due_pages_params(targets, 100))
    [plan] = await _plans(sql_engine, [stmt])
    print(plan)
    assert plan.count(INDEX) >= len(targets), plan
    _assert_unsorted(sql_engine.dialect.name, plan)


async def test_a_round_s_first_pages_are_the_pages_each_change_reads_alone(sql_engine: AsyncEngine):
    await _fill(sql_engine)
    # more changes than one statement reads, at prices and page times of every kind
    targets = [
        PricedSeries("us", _product(p), "buybox", 995 + 10 * (p % 9), 5 + p)
        for p in range(READS_PER_STATEMENT + 5)
    ]
    targets += [
        PricedSeries("us", "B0NOBODY01", "buybox", 1000, 10**6),
        PricedSeries("us", _product(60), "buybox", 1000, 0),
    ]
    pages = await first_due_pages(sql_engine, targets, limit=7)
    assert sum(len(p) for p in pages.values()) > 100
    for t in targets:
        alone = await sql.due_subscriptions(
            sql_engine, t.market, t.asin, t.series, t.price, limit=7, observed_at=t.observed_at
        )
        assert pages[t.market, t.asin, t.series] == alone, t
    with pytest.raises(ValueError, match="twice"):
        await first_due_pages(sql_engine, [targets[0], targets[0]], limit=7)


async def test_back_in_stock_pages_and_rearming_read_the_index_in_page_order(
    sql_engine: AsyncEngine,
):
    await _fill(sql_engine)
    cursor = (await sql.due_in_stock(sql_engine, "us", _product(5), limit=10))[-1]
    first, later, rearm = await _plans(
        sql_engine,
        [
            due_in_stock_query("us", _product(5), limit=10, observed_at=30),
            due_in_stock_query("us", _product(5), limit=10, after=cursor, observed_at=30),
            rearm_in_stock_statement("us", _product(5), observed_at=30),
        ],
    )
    dialect = sql_engine.dialect.name
    print(first, later, rearm, sep="\n---\n")
    for plan in (first, later, rearm):
        assert _uses_index(dialect, plan), plan
    _assert_unsorted(dialect, first + later)


async def test_back_in_stock_pages_agree_with_a_plain_filter(sql_engine: AsyncEngine):
    await _fill(sql_engine)
    expected = [i for i in range(PER_PRODUCT) if i % 3 != 0]
    seen = []
    after = None
    while page := await sql.due_in_stock(sql_engine, "us", _product(9), limit=7, after=after):
        seen += page
        after = page[-1]
    assert len(seen) == len(expected) and all(s.kind == "back_in_stock" for s in seen)
    assert [s.id for s in seen] == sorted(s.id for s in seen)

"""Alerts hot path on SQLite: stream every due subscriber of one hot product.

Creates a fresh SQLite database in a temporary directory, subscribes N users
to one product (plus background rows for other products), then times
``iter_due_subscriptions`` over all N at a price below every threshold, i.e.
the worst case of a big drop on a popular product. The last line is
``sql_due_subscriptions_per_s=N``.

    .venv/bin/python bench/sql_due.py [--subscribers 100000] [--page 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time

from pricewatch.storage import sql
from pricewatch.storage.sql_schema import subscriptions

HOT = "B0HOTPROD1"


async def fill(engine: sql.Db, subscribers: int, background: int) -> None:
    user = await sql.create_user(engine, "bench@example.com", "h")
    rng = random.Random(7)

    def row(asin: str) -> dict[str, object]:
        return {
            "user_id": user.id,
            "market": "us",
            "asin": asin,
            "series": "buybox",
            "threshold": rng.randint(1000, 5000),
            "currency": "USD",
            "notification_type": "EMAIL",
            "status": "active",
            "armed": True,
            "created_at": 0,
            "updated_at": 0,
        }

    rows = [row(HOT) for _ in range(subscribers)]
    rows += [row(f"B{rng.randint(0, 10**8):09d}") for _ in range(background)]
    rng.shuffle(rows)
    async with sql.transaction(engine) as conn:
        for start in range(0, len(rows), 20_000):
            await conn.execute(subscriptions.insert(), rows[start : start + 20_000])
        await conn.exec_driver_sql("ANALYZE")


async def main(subscribers: int, page: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        engine = sql.create_engine(f"sqlite+aiosqlite:///{tmp}/bench.db")
        await sql.migrate_sql_async(engine)
        started = time.perf_counter()
        await fill(engine, subscribers, background=subscribers)
        print(f"inserted {2 * subscribers} subscriptions in {time.perf_counter() - started:.2f}s")

        started = time.perf_counter()
        first = await sql.due_subscriptions(engine, "us", HOT, "buybox", 4990, limit=page)
        small_ms = 1000 * (time.perf_counter() - started)
        print(f"one small page ({len(first)} due at 49.90): {small_ms:.1f} ms")

        started = time.perf_counter()
        seen = pages = 0
        async for batch in sql.iter_due_subscriptions(
            engine, "us", HOT, "buybox", 0, page_size=page
        ):
            seen += len(batch)
            pages += 1
        elapsed = time.perf_counter() - started
        await engine.dispose()
    if seen != subscribers:
        raise SystemExit(f"streamed {seen} subscriptions, expected {subscribers}")
    print(f"streamed {seen} due subscriptions in {pages} pages of {page}: {elapsed:.3f}s")
    print(f"sql_due_subscriptions_per_s={seen / elapsed:.0f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--page", type=int, default=1000)
    args = parser.parse_args()
    asyncio.run(main(args.subscribers, args.page))

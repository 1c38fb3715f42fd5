"""Reporter reputation: how often a reporter's prices were confirmed or refuted.

Counters change by a single atomic upsert, so concurrent verdicts for one
reporter never lose an update.
"""

from __future__ import annotations

from sqlalchemy import select

from pricewatch.storage.sql_dialect import upsert_insert
from pricewatch.storage.sql_engine import Db, transaction
from pricewatch.storage.sql_records import Reporter, from_row, now_ms
from pricewatch.storage.sql_schema import reporters


def _check_id(reporter_id: str) -> None:
    if not reporter_id or len(reporter_id) > 200:
        raise ValueError(f"reporter id must be 1 to 200 characters, got {reporter_id!r}")


async def get_or_create_reporter(db: Db, reporter_id: str, *, now: int | None = None) -> Reporter:
    """The reporter, created with zero counts on first sight; ``last_seen`` is
    moved to ``now`` either way."""
    _check_id(reporter_id)
    now = now_ms() if now is None else now
    async with transaction(db) as conn:
        insert = upsert_insert(conn, reporters).values(
            id=reporter_id, confirmed=0, refuted=0, created_at=now, last_seen=now
        )
        stmt = insert.on_conflict_do_update(
            index_elements=[reporters.c.id], set_={"last_seen": now}
        ).returning(reporters)
        return from_row((await conn.execute(stmt)).one(), Reporter)


async def get_reporter(db: Db, reporter_id: str) -> Reporter | None:
    async with transaction(db) as conn:
        row = (
            await conn.execute(select(reporters).where(reporters.c.id == reporter_id))
        ).one_or_none()
    return None if row is None else from_row(row, Reporter)


async def record_verdict(
    db: Db, reporter_id: str, confirmed: bool, *, now: int | None = None
) -> Reporter:
    """Count one verified (``confirmed=True``) or refuted report; returns the new counts."""
    _check_id(reporter_id)
    now = now_ms() if now is None else now
    column = "confirmed" if confirmed else "refuted"
    async with transaction(db) as conn:
        insert = upsert_insert(conn, reporters).values(
            id=reporter_id,
            confirmed=1 if confirmed else 0,
            refuted=0 if confirmed else 1,
            created_at=now,
            last_seen=now,
        )
        stmt = insert.on_conflict_do_update(
            index_elements=[reporters.c.id], set_={column: reporters.c[column] + 1}
        ).returning(reporters)
        return from_row((await conn.execute(stmt)).one(), Reporter)

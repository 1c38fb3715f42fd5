"""Store functions the alerts worker needs beyond ``pricewatch.storage.sql``.

Leasing is what lets several alerts workers (or one restarted after a crash)
share the retry sweep without sending a notification twice: a due row is
taken by pushing its ``next_attempt_at`` to the end of a lease in the same
statement that selects it, so a second sweeper skips it until the lease runs
out (that is, until its holder is presumed dead).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import select, update

from pricewatch.storage.sql_batches import in_batches
from pricewatch.storage.sql_engine import Db, transaction
from pricewatch.storage.sql_records import Notification, Subscription, from_row, now_ms
from pricewatch.storage.sql_schema import NotificationStatus, notifications, subscriptions, users

_n = notifications.c
_PENDING = NotificationStatus.PENDING.value


async def lease_due_notifications(
    db: Db, now: int, lease_until: int, *, limit: int = 500
) -> list[Notification]:
    """Take up to ``limit`` pending notifications due at ``now`` until ``lease_until``.

    The returned rows carry the new ``next_attempt_at``. On PostgreSQL
    ``FOR UPDATE SKIP LOCKED`` lets concurrent sweepers take disjoint rows;
    SQLite runs one writer at a time, which gives the same guarantee.
    """
    if lease_until <= now:
        raise ValueError("lease_until must be later than now")
    due = (_n.status == _PENDING) & (_n.next_attempt_at <= now)
    chosen = (
        select(_n.id)
        .where(due)
        .order_by(_n.next_attempt_at, _n.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    stmt = (
        update(notifications)
        .where(_n.id.in_(chosen), due)
        .values(next_attempt_at=lease_until)
        .returning(notifications)
    )
    async with transaction(db) as conn:
        rows = (await conn.execute(stmt)).all()
    return sorted((from_row(r, Notification) for r in rows), key=lambda n: n.id)


async def mark_sent_many(db: Db, notification_ids: Sequence[int], *, now: int | None = None) -> int:
    """Record the delivery of many notifications in one transaction (rows no
    longer pending are left alone); returns how many were marked."""
    sent_at = now_ms() if now is None else now
    count = 0
    async with transaction(db) as conn:
        for chunk in in_batches(notification_ids):
            result = await conn.execute(
                update(notifications)
                .where(_n.id.in_(chunk), _n.status == _PENDING)
                .values(status=NotificationStatus.SENT.value, sent_at=sent_at)
            )
            count += result.rowcount
    return count


async def cancel_pending(db: Db, event_id: str, kind: str, reason: str) -> int:
    """Give up the unsent notifications of an event (its price was refuted
    before they went out); returns how many."""
    stmt = (
        update(notifications)
        .where(_n.event_id == event_id, _n.kind == kind, _n.status == _PENDING)
        .values(status=NotificationStatus.FAILED.value, last_error=reason)
    )
    async with transaction(db) as conn:
        result = await conn.execute(stmt)
    return result.rowcount


async def subscriptions_by_id(db: Db, ids: Iterable[int]) -> dict[int, Subscription]:
    """Subscriptions by id, whoever owns them (for delivery, never for users)."""
    found: dict[int, Subscription] = {}
    async with transaction(db) as conn:
        for chunk in in_batches(ids):
            rows = await conn.execute(select(subscriptions).where(subscriptions.c.id.in_(chunk)))
            for row in rows:
                sub = from_row(row, Subscription)
                found[sub.id] = sub
    return found


async def user_emails(db: Db, user_ids: Iterable[int]) -> dict[int, str]:
    """Account e-mail addresses by user id."""
    found: dict[int, str] = {}
    async with transaction(db) as conn:
        for chunk in in_batches(user_ids):
            stmt = select(users.c.id, users.c.email).where(users.c.id.in_(chunk))
            rows = await conn.execute(stmt)
            found.update((r.id, r.email) for r in rows)
    return found

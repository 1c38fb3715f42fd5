"""The notifications log: exactly-once bookkeeping for alerts and corrections.

A row is claimed *before* anything is sent. The unique key
(subscription_id, event_id, kind) makes the claim the idempotency check: a
replayed event, a second consumer or a restart after a crash finds the row
already there and sends nothing. A claimed row that is never marked sent (the
sender died) is picked up by the retry sweep once ``next_attempt_at`` passes.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from sqlalchemy import case, select, update

from pricewatch.storage.sql_dialect import upsert_insert
from pricewatch.storage.sql_engine import Db, transaction
from pricewatch.storage.sql_records import (
    NotFoundError,
    Notification,
    Subscription,
    from_result,
    from_row,
    now_ms,
)
from pricewatch.storage.sql_schema import (
    NotificationKind,
    NotificationStatus,
    notifications,
    subscriptions,
)

# How long a claimed, unsent notification belongs to its claimer before the
# retry sweep may assume the sender died and try again.
CLAIM_LEASE_MS = 5 * 60 * 1000
MAX_ERROR_CHARS = 2000

_n = notifications.c
_PENDING = NotificationStatus.PENDING.value


def _claim_row(
    subscription_id: int, event_id: str, kind: str, price: int | None, now: int, retry_at: int
) -> dict[str, object]:
    return {
        "subscription_id": subscription_id,
        "event_id": event_id,
        "kind": NotificationKind(kind).value,
        "status": _PENDING,
        "attempts": 0,
        "next_attempt_at": retry_at,
        "price": price,
        "created_at": now,
    }


def _check_event_id(event_id: str) -> None:
    if not event_id or len(event_id) > 64:
        raise ValueError(f"event_id must be 1 to 64 characters, got {event_id!r}")


class Claim(NamedTuple):
    """The right to tell ``subscription_id`` about ``event_id``, at ``price``."""

    subscription_id: int
    event_id: str
    price: int | None


async def claim_notifications(
    db: Db,
    subscription_ids: Iterable[int],
    event_id: str,
    kind: str,
    price: int | None,
    *,
    now: int | None = None,
    retry_at: int | None = None,
) -> dict[int, int]:
    """Claim the right to notify each subscription about ``event_id``.

    Returns ``{subscription_id: notification_id}`` for the claims won here;
    subscriptions already claimed for this (event, kind) are absent. The rows
    start ``pending`` with ``next_attempt_at = retry_at`` (default: now plus
    ``CLAIM_LEASE_MS``), after which the retry sweep takes over.
    """
    _check_event_id(event_id)
    claims = [Claim(s, event_id, price) for s in subscription_ids]
    won = await claim_each(db, claims, kind, now=now, retry_at=retry_at)
    return {sid: nid for (sid, _), nid in won.items()}


async def claim_each(
    db: Db,
    claims: Iterable[Claim],
    kind: str,
    *,
    now: int | None = None,
    retry_at: int | None = None,
) -> dict[tuple[int, str], int]:
    """:func:`claim_notifications` for claims of any events: ``{(subscription_id,
    event_id): notification_id}`` for the claims won here."""
    now = now_ms() if now is None else now
    retry_at = now + CLAIM_LEASE_MS if retry_at is None else retry_at
    rows = []
    for c in dict.fromkeys(claims):
        _check_event_id(c.event_id)
        rows.append(_claim_row(c.subscription_id, c.event_id, kind, c.price, now, retry_at))
    claimed: dict[tuple[int, str], int] = {}
    if not rows:
        return claimed
    async with transaction(db) as conn:
        # One statement, many parameter sets: SQLAlchemy batches it into
        # multi-row INSERT ... RETURNING ("insertmanyvalues") without compiling
        # a fresh statement per page, which dominated the fan-out to 100k.
        stmt = (
            upsert_insert(conn, notifications)
            .on_conflict_do_nothing(index_elements=[_n.subscription_id, _n.event_id, _n.kind])
            .returning(_n.subscription_id, _n.event_id, _n.id)
        )
        claimed.update(
            ((r.subscription_id, r.event_id), r.id) for r in await conn.execute(stmt, rows)
        )
    return claimed


async def claim_notification(
    db: Db,
    subscription_id: int,
    event_id: str,
    kind: str,
    price: int | None,
    *,
    now: int | None = None,
    retry_at: int | None = None,
) -> int | None:
    """Claim one notification; its id, or None when it was already claimed."""
    claimed = await claim_notifications(
        db, [subscription_id], event_id, kind, price, now=now, retry_at=retry_at
    )
    return claimed.get(subscription_id)


async def mark_sent(db: Db, notification_id: int, *, now: int | None = None) -> bool:
    """Record delivery; False if the row is unknown or no longer pending."""
    stmt = (
        update(notifications)
        .where(_n.id == notification_id, _n.status == _PENDING)
        .values(status=NotificationStatus.SENT.value, sent_at=now_ms() if now is None else now)
    )
    async with transaction(db) as conn:
        result = await conn.execute(stmt)
    return result.rowcount > 0


async def mark_failed_attempt(
    db: Db, notification_id: int, error: str, next_attempt_at: int, max_attempts: int
) -> NotificationStatus:
    """Count a failed delivery. The row stays ``pending`` (retried at
    ``next_attempt_at``) until ``max_attempts`` failures, then becomes
    ``failed``. Returns the resulting status; a row that is no longer pending
    is left as it is. Raises :class:`NotFoundError` for an unknown id.
    """
    if max_attempts < 1:
        raise ValueError(f"max_attempts must be at least 1, got {max_attempts}")
    attempts = _n.attempts + 1
    stmt = (
        update(notifications)
        .where(_n.id == notification_id, _n.status == _PENDING)
        .values(
            attempts=attempts,
            last_error=error[:MAX_ERROR_CHARS],
            next_attempt_at=next_attempt_at,
            # decided in the UPDATE itself, so concurrent failures count exactly
            status=case(
                (attempts >= max_attempts, NotificationStatus.FAILED.value), else_=_PENDING
            ),
        )
        .returning(_n.status)
    )
    async with transaction(db) as conn:
        status = (await conn.execute(stmt)).scalar_one_or_none()
        if status is None:
            status = (
                await conn.execute(select(_n.status).where(_n.id == notification_id))
            ).scalar_one_or_none()
    if status is None:
        raise NotFoundError(f"no notification with id {notification_id}")
    return NotificationStatus(status)


async def defer_notification(
    db: Db, notification_id: int, next_attempt_at: int, *, leased_until: int | None = None
) -> bool:
    """Move a pending notification's next attempt to ``next_attempt_at``
    without counting an attempt: it was not tried (its target was busy). With
    ``leased_until``, only while the row still carries that lease, so a sender
    whose lease has passed to another cannot move the row under it. Returns
    whether the row was moved."""
    stmt = (
        update(notifications)
        .where(_n.id == notification_id, _n.status == _PENDING)
        .values(next_attempt_at=next_attempt_at)
    )
    if leased_until is not None:
        stmt = stmt.where(_n.next_attempt_at == leased_until)
    async with transaction(db) as conn:
        result = await conn.execute(stmt)
    return result.rowcount > 0


async def pending_notifications(db: Db, now: int, limit: int = 100) -> list[Notification]:
    """Pending notifications whose next attempt is due at ``now``, oldest first."""
    stmt = (
        select(notifications)
        .where(_n.status == _PENDING, _n.next_attempt_at <= now)
        .order_by(_n.next_attempt_at, _n.id)
        .limit(limit)
    )
    async with transaction(db) as conn:
        rows = from_result(await conn.execute(stmt), Notification)
    return rows


async def get_notification(db: Db, notification_id: int) -> Notification | None:
    async with transaction(db) as conn:
        row = (
            await conn.execute(select(notifications).where(_n.id == notification_id))
        ).one_or_none()
    return None if row is None else from_row(row, Notification)


async def recipients_of_event(db: Db, event_id: str) -> list[Subscription]:
    """Subscriptions that were sent an alert for ``event_id``: who must get a
    correction if that price is refuted. Deleted subscriptions are included:
    their owners were still told the false price."""
    stmt = (
        select(subscriptions)
        .join(notifications, _n.subscription_id == subscriptions.c.id)
        .where(
            _n.event_id == event_id,
            _n.kind == NotificationKind.ALERT.value,
            _n.status == NotificationStatus.SENT.value,
        )
        .order_by(subscriptions.c.id)
    )
    async with transaction(db) as conn:
        rows = from_result(await conn.execute(stmt), Subscription)
    return rows

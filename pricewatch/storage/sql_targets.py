"""Destinations of alerts and their confirmation.

A subscription's destination is its ``target`` (an e-mail address, phone number or
webhook URL), or the account's e-mail when the target is null. The account's
e-mail is confirmed once the user verified it (``users.email_verified_at``); any
other destination is a row of ``targets``, confirmed once its receiver answered.

Subscriptions wait in status ``unconfirmed`` until their destination is
confirmed; confirming it turns every one of them ``active`` in the same
transaction and returns them, so the caller can re-check their thresholds.
Addresses are compared as stored: callers normalise them first
(``pricewatch.destinations``).
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, delete, or_, select, update

from pricewatch.storage.sql_dialect import upsert_insert
from pricewatch.storage.sql_engine import Db, transaction, writing
from pricewatch.storage.sql_records import Subscription, Target, from_result, from_row
from pricewatch.storage.sql_schema import (
    NotificationType,
    SubscriptionStatus,
    subscriptions,
    targets,
    users,
)

_t = targets.c
_sub = subscriptions.c
_EMAIL = NotificationType.EMAIL.value


def _to_target(user_id: int, kind: str, address: str) -> ColumnElement[bool]:
    return and_(_sub.user_id == user_id, _sub.notification_type == kind, _sub.target == address)


def _to_account_email(user_id: int, email: str) -> ColumnElement[bool]:
    # an explicit target equal to the account's own address is that address too
    return and_(
        _sub.user_id == user_id,
        _sub.notification_type == _EMAIL,
        or_(_sub.target.is_(None), _sub.target == email),
    )


async def _set_status(
    db: Db, where: ColumnElement[bool], old: SubscriptionStatus, new: SubscriptionStatus, now: int
) -> list[Subscription]:
    stmt = (
        update(subscriptions)
        .where(where, _sub.status == old.value)
        .values(status=new.value, updated_at=now)
        .returning(subscriptions)
    )
    async with transaction(db) as conn:
        activated = from_result(await conn.execute(stmt), Subscription)
    return sorted(activated, key=lambda s: s.id)


async def add_target(
    db: Db, user_id: int, kind: str, address: str, *, confirmed: bool, now: int
) -> tuple[Target, bool]:
    """The user's target for (kind, address), created if new; (target, created).

    ``confirmed`` applies to a new row only (an instance that does not verify
    destinations, or an operator-allowed webhook host).
    """
    kind = NotificationType(kind).value
    async with transaction(db) as conn:
        stmt = (
            upsert_insert(conn, targets)
            .values(
                user_id=user_id,
                kind=kind,
                address=address,
                created_at=now,
                confirmed_at=now if confirmed else None,
            )
            .on_conflict_do_nothing(index_elements=[_t.user_id, _t.kind, _t.address])
            .returning(targets)
        )
        row = (await conn.execute(stmt)).one_or_none()
        if row is not None:
            return from_row(row, Target), True
        existing = (
            await conn.execute(
                select(targets).where(_t.user_id == user_id, _t.kind == kind, _t.address == address)
            )
        ).one()
    return from_row(existing, Target), False


async def get_target(db: Db, target_id: int, user_id: int | None = None) -> Target | None:
    """The target; with ``user_id``, only when it is that user's (else None)."""
    stmt = select(targets).where(_t.id == target_id)
    if user_id is not None:
        stmt = stmt.where(_t.user_id == user_id)
    async with transaction(db) as conn:
        row = (await conn.execute(stmt)).one_or_none()
    return None if row is None else from_row(row, Target)


async def find_target(db: Db, user_id: int, kind: str, address: str) -> Target | None:
    stmt = select(targets).where(_t.user_id == user_id, _t.kind == kind, _t.address == address)
    async with transaction(db) as conn:
        row = (await conn.execute(stmt)).one_or_none()
    return None if row is None else from_row(row, Target)


async def list_targets(db: Db, user_id: int) -> list[Target]:
    stmt = select(targets).where(_t.user_id == user_id).order_by(_t.id)
    async with transaction(db) as conn:
        return from_result(await conn.execute(stmt), Target)


async def claim_send_slot(db: Db, target_id: int, now: int, min_gap_ms: int) -> bool:
    """Record that a confirmation message goes to the target now, unless one went
    less than ``min_gap_ms`` ago (then False and nothing changes). One statement, so
    concurrent requests cannot both pass."""
    stmt = (
        update(targets)
        .where(
            _t.id == target_id, or_(_t.last_sent_at.is_(None), _t.last_sent_at <= now - min_gap_ms)
        )
        .values(last_sent_at=now)
    )
    async with transaction(db) as conn:
        return (await conn.execute(stmt)).rowcount == 1


async def confirm_target(db: Db, target_id: int, now: int) -> list[Subscription]:
    """Mark the target confirmed (once) and activate every subscription waiting
    for it; returns those subscriptions (none if the target is gone)."""
    async with writing(db) as conn:
        row = (await conn.execute(select(targets).where(_t.id == target_id))).one_or_none()
        if row is None:
            return []
        target = from_row(row, Target)
        await conn.execute(
            update(targets)
            .where(_t.id == target_id, _t.confirmed_at.is_(None))
            .values(confirmed_at=now)
        )
        return await _set_status(
            conn,
            _to_target(target.user_id, target.kind.value, target.address),
            SubscriptionStatus.UNCONFIRMED,
            SubscriptionStatus.ACTIVE,
            now,
        )


async def delete_target(db: Db, target_id: int, user_id: int, now: int) -> bool:
    """Remove the user's target; its active subscriptions wait again (``unconfirmed``)
    until it is added and confirmed anew. False if it was not the user's."""
    async with transaction(db) as conn:
        # the delete first: on SQLite the transaction then takes the write lock at its
        # first statement (a read first could not upgrade if another writer came between)
        row = (
            await conn.execute(
                delete(targets)
                .where(_t.id == target_id, _t.user_id == user_id)
                .returning(*targets.c)
            )
        ).one_or_none()
        if row is None:
            return False
        target = from_row(row, Target)
        await _set_status(
            conn,
            _to_target(user_id, target.kind.value, target.address),
            SubscriptionStatus.ACTIVE,
            SubscriptionStatus.UNCONFIRMED,
            now,
        )
    return True


async def mark_email_verified(db: Db, user_id: int, now: int) -> list[Subscription]:
    """Record that the user owns the account's e-mail (first time only) and activate
    every subscription waiting for it; returns those subscriptions."""
    async with writing(db) as conn:
        email = (
            await conn.execute(select(users.c.email).where(users.c.id == user_id))
        ).scalar_one_or_none()
        if email is None:
            return []
        await conn.execute(
            update(users)
            .where(users.c.id == user_id, users.c.email_verified_at.is_(None))
            .values(email_verified_at=now)
        )
        return await _set_status(
            conn,
            _to_account_email(user_id, email),
            SubscriptionStatus.UNCONFIRMED,
            SubscriptionStatus.ACTIVE,
            now,
        )

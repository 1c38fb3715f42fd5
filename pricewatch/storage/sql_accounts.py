"""An account's data as a whole: everything it owns, for export and for deletion."""

from __future__ import annotations

from sqlalchemy import delete, select

from pricewatch.storage.sql_engine import Db, transaction
from pricewatch.storage.sql_records import Notification, Subscription, from_result
from pricewatch.storage.sql_schema import notifications, reporters, subscriptions, users
from pricewatch.storage.sql_trust import report_audit


async def subscriptions_of_user(db: Db, user_id: int) -> list[Subscription]:
    """Every subscription the user ever made, deleted ones included (they are data
    we hold, and their notifications point at them)."""
    stmt = (
        select(subscriptions).where(subscriptions.c.user_id == user_id).order_by(subscriptions.c.id)
    )
    async with transaction(db) as conn:
        return from_result(await conn.execute(stmt), Subscription)


async def notifications_of_user(db: Db, user_id: int) -> list[Notification]:
    stmt = (
        select(notifications)
        .join(subscriptions, subscriptions.c.id == notifications.c.subscription_id)
        .where(subscriptions.c.user_id == user_id)
        .order_by(notifications.c.id)
    )
    async with transaction(db) as conn:
        return from_result(await conn.execute(stmt), Notification)


async def delete_account(db: Db, user_id: int, reporter_id: str) -> bool:
    """Delete the user and everything of theirs, in one transaction: tokens,
    subscriptions and their notifications, targets and account tokens (all by
    ON DELETE CASCADE), and their record as a price reporter (``reporter_id``) with
    its audit rows, which no foreign key ties to the user. False if unknown."""
    async with transaction(db) as conn:
        await conn.execute(delete(report_audit).where(report_audit.c.reporter == reporter_id))
        await conn.execute(delete(reporters).where(reporters.c.id == reporter_id))
        result = await conn.execute(delete(users).where(users.c.id == user_id))
    return result.rowcount > 0

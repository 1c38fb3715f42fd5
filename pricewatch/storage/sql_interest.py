"""Subscriptions as crawl interest: what the scheduler reads from the relational store.

Per product, the active subscriptions and the highest armed threshold (the one the
price reaches first), and which products' subscriptions changed since a watermark.
Every reader takes ``keys=None`` (all products) or a set of ``(market, asin)``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection

from sqlalchemy import case, func, or_, select, true, tuple_

from pricewatch.models import ProductKey
from pricewatch.storage.sql_batches import in_batches
from pricewatch.storage.sql_engine import Db, transaction
from pricewatch.storage.sql_schema import SubscriptionStatus, subscriptions

_sub = subscriptions.c


@dataclasses.dataclass(frozen=True)
class Interest:
    subscriptions: int
    # the highest armed threshold: the one the price reaches first
    nearest_threshold: int | None


async def read_interest(
    db: Db, keys: Collection[ProductKey] | None = None
) -> dict[ProductKey, Interest]:
    """Active subscriptions per product and the highest armed threshold."""
    armed_threshold = func.max(case((_sub.armed == true(), _sub.threshold), else_=None))
    base = (
        select(_sub.market, _sub.asin, func.count(), armed_threshold)
        .where(_sub.status == SubscriptionStatus.ACTIVE.value)
        .group_by(_sub.market, _sub.asin)
    )
    found: dict[ProductKey, Interest] = {}
    async with transaction(db) as conn:
        chunks = [None] if keys is None else in_batches(keys, parameters_per_key=2)
        for chunk in chunks:
            stmt = base if chunk is None else base.where(tuple_(_sub.market, _sub.asin).in_(chunk))
            for market, asin, count, threshold in (await conn.execute(stmt)).all():
                found[(market, asin)] = Interest(int(count), threshold)
    return found


async def changed_subscriptions(db: Db, since_ms: int) -> tuple[set[ProductKey], int]:
    """Products whose subscriptions were created or edited after ``since_ms``, and the
    new watermark. (Alerts disarming a subscription does not touch ``updated_at``;
    the price change that caused it marks the product through the prices watermark.)"""
    stmt = (
        select(_sub.market, _sub.asin, func.max(_sub.updated_at), func.max(_sub.created_at))
        .where(or_(_sub.created_at > since_ms, _sub.updated_at > since_ms))
        .group_by(_sub.market, _sub.asin)
    )
    changed: set[ProductKey] = set()
    newest = since_ms
    async with transaction(db) as conn:
        for market, asin, updated, created in (await conn.execute(stmt)).all():
            changed.add((market, asin))
            newest = max(newest, int(updated or 0), int(created or 0))
    return changed, newest


async def subscriptions_watermark(db: Db) -> int:
    """The newest subscription creation or edit (ms)."""
    stmt = select(func.max(_sub.updated_at), func.max(_sub.created_at))
    async with transaction(db) as conn:
        updated, created = (await conn.execute(stmt)).one()
    return max(int(updated or 0), int(created or 0))

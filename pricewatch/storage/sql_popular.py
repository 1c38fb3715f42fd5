"""Which products people watch most: the home page's "most tracked" list."""

from __future__ import annotations

from sqlalchemy import func, select

from pricewatch.storage.sql_engine import Db, transaction
from pricewatch.storage.sql_schema import SubscriptionStatus, subscriptions

_sub = subscriptions.c


async def most_tracked(db: Db, market: str, *, limit: int = 12) -> list[tuple[str, int]]:
    """(asin, active subscriptions) of ``market``'s most watched products, most first.

    Counts subscriptions, not people: someone watching the buy box and the used price
    of one product tracks it twice, as the crawl interest counts it.
    """
    watchers = func.count().label("watchers")
    stmt = (
        select(_sub.asin, watchers)
        .where(_sub.market == market, _sub.status == SubscriptionStatus.ACTIVE.value)
        .group_by(_sub.asin)
        .order_by(watchers.desc(), _sub.asin)
        .limit(limit)
    )
    async with transaction(db) as conn:
        return [(asin, int(count)) for asin, count in (await conn.execute(stmt)).all()]

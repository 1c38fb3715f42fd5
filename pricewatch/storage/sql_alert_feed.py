"""The alerts an account was sent, newest first, for its Atom feed: each sent
notification with what its subscription watched."""

from __future__ import annotations

import msgspec
from sqlalchemy import select

from pricewatch.storage.sql_engine import Db, transaction
from pricewatch.storage.sql_schema import NotificationStatus, notifications, subscriptions

_n = notifications.c
_s = subscriptions.c


class SentAlert(msgspec.Struct, frozen=True, kw_only=True):
    notification_id: int
    event_id: str
    kind: str  # "alert" or "correction"
    price: int | None  # minor units, as the message said
    sent_at: int
    subscription_id: int
    market: str
    asin: str
    series: str
    alert_kind: str  # the subscription's kind: "price" or "back_in_stock"
    threshold: int | None
    currency: str


async def sent_alerts(db: Db, user_id: int, limit: int) -> list[SentAlert]:
    """The newest ``limit`` notifications sent to ``user_id``'s subscriptions (deleted
    subscriptions included: the messages were sent all the same)."""
    stmt = (
        select(
            _n.id,
            _n.event_id,
            _n.kind,
            _n.price,
            _n.sent_at,
            _s.id,
            _s.market,
            _s.asin,
            _s.series,
            _s.kind,
            _s.threshold,
            _s.currency,
        )
        .join(subscriptions, _s.id == _n.subscription_id)
        .where(_s.user_id == user_id, _n.status == NotificationStatus.SENT.value)
        .order_by(_n.sent_at.desc(), _n.id.desc())
        .limit(limit)
    )
    async with transaction(db) as conn:
        rows = (await conn.execute(stmt)).all()
    return [
        SentAlert(
            notification_id=row[0],
            event_id=row[1],
            kind=row[2],
            price=row[3],
            sent_at=row[4] if row[4] is not None else 0,
            subscription_id=row[5],
            market=row[6],
            asin=row[7],
            series=row[8],
            alert_kind=row[9],
            threshold=row[10],
            currency=row[11],
        )
        for row in rows
    ]

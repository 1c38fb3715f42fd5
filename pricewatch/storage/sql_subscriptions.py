"""Price-drop subscriptions: the user's CRUD and the alerts' hot path.

Every user-facing function takes ``user_id`` and filters on it in SQL, so one
user can never read or change another's subscription (an id from someone
else reads as "not found"). Deleting is a status change: the notifications log
keeps pointing at the row, and corrections still reach people who were told a
price that turned out false.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterable
from decimal import Decimal
from typing import Any, Required, TypedDict, Unpack

from sqlalchemy import Select, Update, false, func, select, true, tuple_, update

from pricewatch.asin import ASIN_SHAPE
from pricewatch.markets import MARKETS
from pricewatch.models import Series
from pricewatch.storage.sql_engine import Db, transaction
from pricewatch.storage.sql_records import Subscription, from_result, from_row, now_ms
from pricewatch.storage.sql_schema import NotificationType, SubscriptionStatus, subscriptions

MAX_PRICE = 10**12
_ASIN = re.compile(ASIN_SHAPE)
_CURRENCY = re.compile(r"^[A-Z]{3}$")
# keeps each statement well under SQLite's and asyncpg's 32,767 bind parameters
_ID_CHUNK = 5_000

_sub = subscriptions.c
_LIVE = _sub.status != SubscriptionStatus.DELETED.value


def percent_threshold(base_price: int, percent: float) -> int:
    """Price at or below which "``percent`` % under ``base_price``" is reached.

    Computed in decimal, rounded down, so 10 % off 1999 is 1799 and float
    noise never lifts the threshold above what the user asked for.
    """
    if not 0 < percent < 100:
        raise ValueError(f"threshold_percent must be between 0 and 100 (exclusive), got {percent}")
    _check_price("base_price", base_price)
    return int(Decimal(base_price) * (100 - Decimal(str(percent))) / 100)


def _check_price(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_PRICE:
        raise ValueError(
            f"{name} must be an integer of minor units in [0, {MAX_PRICE}], got {value!r}"
        )


def _notification_type(value: str) -> NotificationType:
    try:
        return NotificationType(value)
    except ValueError:
        raise ValueError(
            f"notification_type must be one of {[t.value for t in NotificationType]}, got {value!r}"
        ) from None


# what a live subscription may be set to; "deleted" only by deleting it
_SETTABLE = (
    SubscriptionStatus.ACTIVE.value,
    SubscriptionStatus.PAUSED.value,
    SubscriptionStatus.UNCONFIRMED.value,
)


def _check_status(status: str) -> None:
    if status not in _SETTABLE:
        raise ValueError(
            f"status must be one of {list(_SETTABLE)} (delete to remove), got {status!r}"
        )


def _check_target(target: str | None) -> None:
    if target is not None and not 0 < len(target) <= 2048:
        raise ValueError("target must be 1 to 2048 characters (or None for the account default)")


class NewSubscription(TypedDict, total=False):
    """What a new subscription is made of. ``currency`` defaults to the market's,
    ``series`` to the buy box, ``status`` to ``active`` (``unconfirmed`` while its
    destination is not confirmed); exactly one of ``threshold`` and
    ``threshold_percent`` (under ``base_price``) is given."""

    user_id: Required[int]
    market: Required[str]
    asin: Required[str]
    notification_type: Required[str]
    threshold: int | None
    threshold_percent: float | None
    base_price: int | None
    currency: str | None
    target: str | None
    series: str
    status: str


_FIELDS = NewSubscription.__required_keys__ | NewSubscription.__optional_keys__


def new_subscription_values(*, now: int, **fields: Unpack[NewSubscription]) -> dict[str, Any]:
    """Validate a new subscription and compute its stored columns (pure)."""
    # what a signature spelling out every field would refuse
    unknown, missing = fields.keys() - _FIELDS, NewSubscription.__required_keys__ - fields.keys()
    if unknown or missing:
        raise TypeError(
            f"subscription fields unknown: {sorted(unknown)}, missing: {sorted(missing)}"
        )
    market, asin = fields["market"], fields["asin"]
    series = fields.get("series", Series.BUYBOX.value)
    threshold, threshold_percent = fields.get("threshold"), fields.get("threshold_percent")
    base_price, target = fields.get("base_price"), fields.get("target")
    status = fields.get("status", SubscriptionStatus.ACTIVE.value)
    if market not in MARKETS:
        raise ValueError(f"unknown market {market!r}; expected one of {sorted(MARKETS)}")
    if not isinstance(asin, str) or not _ASIN.match(asin):
        raise ValueError(f"ASIN must be 10 upper-case letters or digits, got {asin!r}")
    if series not in {s.value for s in Series}:
        raise ValueError(f"unknown series {series!r}; expected one of {[s.value for s in Series]}")
    kind = _notification_type(fields["notification_type"])
    currency = fields.get("currency") or MARKETS[market].currency
    if not _CURRENCY.match(currency):
        raise ValueError(f"currency must be a 3-letter ISO code, got {currency!r}")
    _check_target(target)
    if (threshold is None) == (threshold_percent is None):
        raise ValueError("give exactly one of threshold and threshold_percent")
    if base_price is not None:
        _check_price("base_price", base_price)
    if threshold_percent is not None:
        if base_price is None:
            raise ValueError("a threshold_percent subscription needs the current base_price")
        threshold = percent_threshold(base_price, threshold_percent)
    assert threshold is not None
    _check_price("threshold", threshold)
    _check_status(status)
    return {
        "user_id": fields["user_id"],
        "market": market,
        "asin": asin,
        "series": series,
        "threshold": threshold,
        "threshold_percent": threshold_percent,
        "base_price": base_price,
        "currency": currency,
        "notification_type": kind.value,
        "target": target,
        "status": status,
        "armed": True,
        "created_at": now,
        "updated_at": now,
    }


async def create_subscription(
    db: Db, *, now: int | None = None, **fields: Unpack[NewSubscription]
) -> Subscription:
    """Subscribe to "price at or below ``threshold``" (or ``threshold_percent`` under
    ``base_price``): see :class:`NewSubscription`. Bad input raises ``ValueError``
    naming the field."""
    values = new_subscription_values(now=now_ms() if now is None else now, **fields)
    async with transaction(db) as conn:
        row = await conn.execute(subscriptions.insert().values(**values).returning(subscriptions))
        return from_row(row.one(), Subscription)


async def get_subscription(db: Db, subscription_id: int, user_id: int) -> Subscription | None:
    """The user's own subscription, or None (also for someone else's or a deleted one)."""
    stmt = select(subscriptions).where(_sub.id == subscription_id, _sub.user_id == user_id, _LIVE)
    async with transaction(db) as conn:
        row = (await conn.execute(stmt)).one_or_none()
    return None if row is None else from_row(row, Subscription)


async def list_subscriptions(
    db: Db, user_id: int, *, limit: int | None = None, after_id: int = 0
) -> list[Subscription]:
    """The user's live subscriptions by id; a page of ``limit`` after ``after_id``
    (keyset paging on the user's index: every page costs the same)."""
    stmt = (
        select(subscriptions)
        .where(_sub.user_id == user_id, _LIVE, _sub.id > after_id)
        .order_by(_sub.id)
    )
    if limit is not None:
        stmt = stmt.limit(limit)
    async with transaction(db) as conn:
        rows = from_result(await conn.execute(stmt), Subscription)
    return rows


async def activate_unconfirmed(db: Db) -> int:
    """Let every subscription waiting for its destination's confirmation alert: what a
    deployment that does not verify destinations does at start-up. Returns how many."""
    stmt = (
        update(subscriptions)
        .where(_sub.status == SubscriptionStatus.UNCONFIRMED.value)
        .values(status=SubscriptionStatus.ACTIVE.value)
    )
    async with transaction(db) as conn:
        return (await conn.execute(stmt)).rowcount


async def count_subscriptions(db: Db, user_id: int) -> int:
    """How many live (not deleted) subscriptions the user holds."""
    stmt = select(func.count()).select_from(subscriptions).where(_sub.user_id == user_id, _LIVE)
    async with transaction(db) as conn:
        return int((await conn.execute(stmt)).scalar_one())


UPDATABLE = frozenset({"threshold", "threshold_percent", "notification_type", "target", "status"})


def subscription_changes(
    current: Subscription, changes: dict[str, Any], now: int
) -> dict[str, Any]:
    """Validate user edits and compute the columns to write (pure)."""
    unknown = set(changes) - UPDATABLE
    if unknown:
        raise ValueError(f"cannot change {sorted(unknown)}; updatable: {sorted(UPDATABLE)}")
    values: dict[str, Any] = {"updated_at": now}
    if "threshold" in changes and "threshold_percent" in changes:
        raise ValueError("give at most one of threshold and threshold_percent")
    if "threshold" in changes:
        _check_price("threshold", changes["threshold"])
        values.update(threshold=changes["threshold"], threshold_percent=None)
    if "threshold_percent" in changes:
        if current.base_price is None:
            raise ValueError("this subscription has no base_price to take a percentage of")
        percent = changes["threshold_percent"]
        values.update(
            threshold=percent_threshold(current.base_price, percent), threshold_percent=percent
        )
    if values.get("threshold", current.threshold) != current.threshold:
        # a new threshold is a new promise: it may fire again
        values["armed"] = True
    if "notification_type" in changes:
        values["notification_type"] = _notification_type(changes["notification_type"]).value
    if "target" in changes:
        _check_target(changes["target"])
        values["target"] = changes["target"]
    if "status" in changes:
        _check_status(changes["status"])
        values["status"] = changes["status"]
    return values


async def update_subscription(
    db: Db, subscription_id: int, user_id: int, /, *, now: int | None = None, **changes: Any
) -> Subscription | None:
    """Apply ``changes`` (see ``UPDATABLE``) to the user's own subscription.

    Returns the updated subscription, or None when it is not the user's (or is
    deleted); nothing is written then.
    """
    async with transaction(db) as conn:
        row = (
            await conn.execute(
                select(subscriptions).where(
                    _sub.id == subscription_id, _sub.user_id == user_id, _LIVE
                )
            )
        ).one_or_none()
        if row is None:
            return None
        values = subscription_changes(
            from_row(row, Subscription), changes, now_ms() if now is None else now
        )
        updated = (
            await conn.execute(
                update(subscriptions)
                .where(_sub.id == subscription_id, _sub.user_id == user_id, _LIVE)
                .values(**values)
                .returning(subscriptions)
            )
        ).one_or_none()
    return None if updated is None else from_row(updated, Subscription)


async def delete_subscription(
    db: Db, subscription_id: int, user_id: int, *, now: int | None = None
) -> bool:
    """Delete the user's own subscription; False if it was not theirs or already gone."""
    stmt = (
        update(subscriptions)
        .where(_sub.id == subscription_id, _sub.user_id == user_id, _LIVE)
        .values(
            status=SubscriptionStatus.DELETED.value,
            armed=False,
            updated_at=now_ms() if now is None else now,
        )
    )
    async with transaction(db) as conn:
        result = await conn.execute(stmt)
    return result.rowcount > 0


def due_query(
    market: str,
    asin: str,
    series: str,
    price: int,
    *,
    limit: int = 1000,
    after: Subscription | None = None,
) -> Select[Any]:
    """The statement behind :func:`due_subscriptions` (pure; tests EXPLAIN it)."""
    if limit <= 0:
        raise ValueError(f"limit must be positive, got {limit}")
    _check_price("price", price)
    stmt = select(subscriptions).where(
        _sub.market == market,
        _sub.asin == asin,
        _sub.series == series,
        _sub.status == SubscriptionStatus.ACTIVE.value,
        _sub.armed == true(),
    )
    if after is None:
        stmt = stmt.where(_sub.threshold >= price)
    else:
        # The plain lower bound is repeated at the cursor so both databases
        # start the index range there instead of at ``price``.
        stmt = stmt.where(
            _sub.threshold >= max(price, after.threshold),
            tuple_(_sub.threshold, _sub.id) > tuple_(after.threshold, after.id),
        )
    return stmt.order_by(_sub.threshold, _sub.id).limit(limit)


async def due_subscriptions(
    db: Db,
    market: str,
    asin: str,
    series: str,
    price: int,
    *,
    limit: int = 1000,
    after: Subscription | None = None,
) -> list[Subscription]:
    """One page of armed, active subscriptions whose threshold is >= ``price``.

    Pages are ordered by (threshold, id) and keyed on the last row of the
    previous page (``after=page[-1]``): each page is a seek into
    ``ix_subscriptions_due`` followed by ``limit`` index entries, so streaming
    100,000 subscribers costs the same per page as streaming ten. (Ordering by
    id alone would re-read and sort every remaining match on every page.)
    """
    stmt = due_query(market, asin, series, price, limit=limit, after=after)
    async with transaction(db) as conn:
        rows = from_result(await conn.execute(stmt), Subscription)
    return rows


async def iter_due_subscriptions(
    db: Db, market: str, asin: str, series: str, price: int, *, page_size: int = 1000
) -> AsyncIterator[list[Subscription]]:
    """All due subscriptions, page by page (each page its own short read)."""
    after: Subscription | None = None
    while True:
        page = await due_subscriptions(
            db, market, asin, series, price, limit=page_size, after=after
        )
        if not page:
            return
        yield page
        if len(page) < page_size:
            return
        after = page[-1]


def _chunks(ids: Iterable[int]) -> Iterable[list[int]]:
    batch: list[int] = []
    for i in ids:
        batch.append(i)
        if len(batch) == _ID_CHUNK:
            yield batch
            batch = []
    if batch:
        yield batch


async def disarm(db: Db, ids: Iterable[int], price: int, at: int) -> int:
    """Mark subscriptions as fired at ``price``/``at`` so the same drop does not
    alert them again; returns how many were armed."""
    _check_price("price", price)
    count = 0
    async with transaction(db) as conn:
        for chunk in _chunks(ids):
            result = await conn.execute(
                update(subscriptions)
                .where(_sub.id.in_(chunk), _sub.armed == true())
                .values(armed=False, last_fired_price=price, last_fired_at=at)
            )
            count += result.rowcount
    return count


def rearm_statement(market: str, asin: str, series: str, price: int) -> Update:
    """The statement behind :func:`rearm_above` (pure; tests EXPLAIN it)."""
    _check_price("price", price)
    return (
        update(subscriptions)
        .where(
            _sub.market == market,
            _sub.asin == asin,
            _sub.series == series,
            _sub.threshold < price,
            _sub.armed == false(),
            _LIVE,
        )
        .values(armed=True)
    )


async def rearm_above(db: Db, market: str, asin: str, series: str, price: int) -> int:
    """Re-arm every fired subscription of the product whose threshold is now
    below ``price`` (the price went back up); returns how many."""
    async with transaction(db) as conn:
        result = await conn.execute(rearm_statement(market, asin, series, price))
    return result.rowcount

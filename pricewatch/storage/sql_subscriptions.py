"""Subscriptions (price alerts per series, back-in-stock alerts): the user's CRUD and
the alerts' hot path.

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
from enum import StrEnum
from typing import Any, Required, TypedDict, TypeVar, Unpack

from sqlalchemy import Select, Update, false, func, or_, select, true, tuple_, update

from pricewatch.asin import ASIN_SHAPE
from pricewatch.markets import MARKETS
from pricewatch.models import PRICE_SERIES, STOCK_SERIES, Series, SubscriptionKind
from pricewatch.storage.sql_batches import in_batches
from pricewatch.storage.sql_engine import Db, transaction, writing
from pricewatch.storage.sql_records import Subscription, from_result, from_row, now_ms
from pricewatch.storage.sql_schema import NotificationType, SubscriptionStatus, subscriptions

MAX_PRICE = 10**12
_ASIN = re.compile(ASIN_SHAPE)
_CURRENCY = re.compile(r"^[A-Z]{3}$")

_sub = subscriptions.c
_LIVE = _sub.status != SubscriptionStatus.DELETED.value
_PRICE = SubscriptionKind.PRICE.value
_BACK_IN_STOCK = SubscriptionKind.BACK_IN_STOCK.value
# what a new price alert watches unless told; a back-in-stock alert always watches the
# buy box, whose availability is the product's
DEFAULT_SERIES = Series.CHEAPEST_NEW.value
# the series an alert may watch: money, not the sales rank
ALERT_SERIES = tuple(s.value for s in Series if s in PRICE_SERIES)


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


_Choice = TypeVar("_Choice", bound=StrEnum)


def _member(choices: type[_Choice], field: str, value: str) -> _Choice:
    """``value`` as one of ``choices``; a ValueError naming ``field`` and the choices."""
    try:
        return choices(value)
    except ValueError:
        raise ValueError(
            f"{field} must be one of {[c.value for c in choices]}, got {value!r}"
        ) from None


def _notification_type(value: str) -> NotificationType:
    return _member(NotificationType, "notification_type", value)


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


def _kind(value: str) -> SubscriptionKind:
    return _member(SubscriptionKind, "kind", value)


_NO_THRESHOLD = (
    "a back_in_stock alert takes no threshold nor threshold_percent: it tells when the "
    "product is in stock again"
)


class BasePriceUnknown(ValueError):
    """A percent threshold on a series whose current value is not known."""


def alert_series(kind: SubscriptionKind, series: str | None) -> str:
    """The series an alert of ``kind`` watches, ``series`` if given (validated)."""
    if kind is SubscriptionKind.BACK_IN_STOCK:
        if series not in (None, STOCK_SERIES):
            raise ValueError(
                f"a back_in_stock alert watches the buy box's availability: series must be "
                f"{STOCK_SERIES!r} or left out, got {series!r}"
            )
        return STOCK_SERIES
    if series is None:
        return DEFAULT_SERIES
    if series == Series.SALES_RANK:
        raise ValueError(
            f"series {series!r} is a rank, not a price: a price alert watches one of "
            f"{list(ALERT_SERIES)}"
        )
    if series not in ALERT_SERIES:
        raise ValueError(
            f"unknown series {series!r} for a price alert; expected one of {list(ALERT_SERIES)}"
        )
    return series


class NewSubscription(TypedDict, total=False):
    """What a new subscription is made of. ``kind`` defaults to ``price``,
    ``currency`` to the market's, ``series`` to the cheapest new price (a back-in-stock
    alert watches the buy box), ``status`` to ``active`` (``unconfirmed`` while its
    destination is not confirmed). A price alert has exactly one of ``threshold`` and
    ``threshold_percent`` (under ``base_price``, the series' value when it was made); a
    back-in-stock alert neither.

    A price alert starts armed: its first check (a re-check of the price in force)
    fires it at once if that price already meets it. A back-in-stock alert starts
    disarmed: its first check arms it only if the product is out of stock then, so one
    made while the product is in stock has nothing to tell until it goes out."""

    user_id: Required[int]
    market: Required[str]
    asin: Required[str]
    notification_type: Required[str]
    threshold: int | None
    threshold_percent: float | None
    base_price: int | None
    currency: str | None
    target: str | None
    series: str | None
    kind: str
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
    alert = _kind(fields.get("kind", _PRICE))
    threshold, threshold_percent = fields.get("threshold"), fields.get("threshold_percent")
    base_price, target = fields.get("base_price"), fields.get("target")
    status = fields.get("status", SubscriptionStatus.ACTIVE.value)
    if market not in MARKETS:
        raise ValueError(f"unknown market {market!r}; expected one of {sorted(MARKETS)}")
    if not isinstance(asin, str) or not _ASIN.match(asin):
        raise ValueError(f"ASIN must be 10 upper-case letters or digits, got {asin!r}")
    series = alert_series(alert, fields.get("series"))
    kind = _notification_type(fields["notification_type"])
    currency = fields.get("currency") or MARKETS[market].currency
    if not _CURRENCY.match(currency):
        raise ValueError(f"currency must be a 3-letter ISO code, got {currency!r}")
    _check_target(target)
    if alert is SubscriptionKind.BACK_IN_STOCK:
        if threshold is not None or threshold_percent is not None:
            raise ValueError(_NO_THRESHOLD)
        base_price = None
    else:
        threshold = _price_threshold(threshold, threshold_percent, base_price)
    _check_status(status)
    return {
        "user_id": fields["user_id"],
        "market": market,
        "asin": asin,
        "series": series,
        "kind": alert.value,
        "threshold": threshold,
        "threshold_percent": threshold_percent,
        "base_price": base_price,
        "currency": currency,
        "notification_type": kind.value,
        "target": target,
        "status": status,
        "armed": alert is SubscriptionKind.PRICE,
        "created_at": now,
        "updated_at": now,
    }


def _price_threshold(
    threshold: int | None, threshold_percent: float | None, base_price: int | None
) -> int:
    """A price alert's threshold: ``threshold``, or ``threshold_percent`` under
    ``base_price``; exactly one of the two."""
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
    return threshold


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


def _users_own(subscription_id: int, user_id: int) -> tuple[Any, ...]:
    """Where-clauses for one subscription that is the user's and not deleted."""
    return (_sub.id == subscription_id, _sub.user_id == user_id, _LIVE)


async def get_subscription(db: Db, subscription_id: int, user_id: int) -> Subscription | None:
    """The user's own subscription, or None (also for someone else's or a deleted one)."""
    stmt = select(subscriptions).where(*_users_own(subscription_id, user_id))
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


UPDATABLE = frozenset(
    {
        "kind",
        "series",
        "threshold",
        "threshold_percent",
        "base_price",
        "notification_type",
        "target",
        "status",
    }
)


def subscription_changes(
    current: Subscription, changes: dict[str, Any], now: int
) -> dict[str, Any]:
    """Validate user edits and compute the columns to write (pure).

    ``base_price`` is the current value of the series the alert watches after the edit,
    which a percent threshold is taken from: needed when ``threshold_percent`` is given
    or a percent alert moves to another series (ignored otherwise). A new kind takes
    its own default series unless ``series`` says otherwise; a price alert needs its
    threshold (or percent) when it becomes one, a back-in-stock alert takes none.
    """
    unknown = set(changes) - UPDATABLE
    if unknown:
        raise ValueError(f"cannot change {sorted(unknown)}; updatable: {sorted(UPDATABLE)}")
    values: dict[str, Any] = {"updated_at": now}
    alert, series = patched_kind_series(current, changes)
    new_kind = alert != current.kind
    given = "threshold" in changes or "threshold_percent" in changes
    if alert is SubscriptionKind.BACK_IN_STOCK:
        if given:
            raise ValueError(_NO_THRESHOLD)
        if new_kind:
            # no promise until its first check finds the product out of stock
            values.update(threshold=None, threshold_percent=None, base_price=None, armed=False)
    else:
        values.update(_price_changes(current, changes, new_kind, series != current.series))
        if (
            new_kind
            or series != current.series
            or (values.get("threshold", current.threshold) != current.threshold)
        ):
            # a new threshold (or series, or kind) is a new promise: it may fire again
            values["armed"] = True
    if new_kind:
        values["kind"] = alert.value
    if series != current.series:
        values["series"] = series
    if "notification_type" in changes:
        values["notification_type"] = _notification_type(changes["notification_type"]).value
    if "target" in changes:
        _check_target(changes["target"])
        values["target"] = changes["target"]
    if "status" in changes:
        _check_status(changes["status"])
        values["status"] = changes["status"]
    return values


def patched_kind_series(
    current: Subscription, changes: dict[str, Any]
) -> tuple[SubscriptionKind, str]:
    """The kind and series of ``current`` after ``changes`` (pure): a new kind takes its
    own default series unless ``series`` is given; the same kind keeps its series."""
    alert = _kind(changes.get("kind", current.kind.value))
    kept = None if alert != current.kind else current.series
    return alert, alert_series(alert, changes.get("series") or kept)


def _price_changes(
    current: Subscription, changes: dict[str, Any], new_kind: bool, new_series: bool
) -> dict[str, Any]:
    """The threshold columns of a price alert after ``changes``."""
    if "threshold" in changes and "threshold_percent" in changes:
        raise ValueError("give at most one of threshold and threshold_percent")
    if "threshold" in changes:
        _check_price("threshold", changes["threshold"])
        return {"threshold": changes["threshold"], "threshold_percent": None}
    percent = changes.get("threshold_percent")
    if percent is None:
        if new_kind:
            raise ValueError("a price alert needs a threshold or threshold_percent")
        if not (new_series and current.threshold_percent is not None):
            return {}
        # a percent alert moved to another series: the same percent of that one's value
        percent = current.threshold_percent
    # the value the alert was made under, while it watches the same series
    base = current.base_price if not (new_series or new_kind) else None
    if base is None:
        base = changes.get("base_price")
    if base is None:
        raise BasePriceUnknown("a percent threshold needs the current value of its series")
    _check_price("base_price", base)
    return {
        "threshold": percent_threshold(base, percent),
        "threshold_percent": percent,
        "base_price": base,
    }


async def update_subscription(
    db: Db, subscription_id: int, user_id: int, /, *, now: int | None = None, **changes: Any
) -> Subscription | None:
    """Apply ``changes`` (see ``UPDATABLE``) to the user's own subscription.

    Returns the updated subscription, or None when it is not the user's (or is
    deleted); nothing is written then.
    """
    async with writing(db) as conn:
        row = (
            await conn.execute(select(subscriptions).where(*_users_own(subscription_id, user_id)))
        ).one_or_none()
        if row is None:
            return None
        values = subscription_changes(
            from_row(row, Subscription), changes, now_ms() if now is None else now
        )
        updated = (
            await conn.execute(
                update(subscriptions)
                .where(*_users_own(subscription_id, user_id))
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
        .where(*_users_own(subscription_id, user_id))
        .values(
            status=SubscriptionStatus.DELETED.value,
            armed=False,
            updated_at=now_ms() if now is None else now,
        )
    )
    async with transaction(db) as conn:
        result = await conn.execute(stmt)
    return result.rowcount > 0


# --- the alerts' hot path ----------------------------------------------------------------
# ``observed_at`` below is the page time of the price change being applied. A subscription
# remembers that of the last change it fired on or was re-armed by (``last_change_at``)
# and takes no change at or before it: a series' changes arrive in time order on one
# partition, so only a replay (a batch read again after the worker died before acking
# it) brings one, and applying it again to the state later changes of the batch left
# could tell of a price already told of (an alert they re-armed) or re-arm one. None:
# what is applied is no change (a correction), which neither checks nor moves it.


def _new_to_row(observed_at: int | None) -> list[Any]:
    """The condition that a change seen at ``observed_at`` comes after the row's last."""
    if observed_at is None:
        return []
    return [or_(_sub.last_change_at.is_(None), _sub.last_change_at < observed_at)]


def _applied(observed_at: int | None) -> dict[str, int]:
    return {} if observed_at is None else {"last_change_at": observed_at}


def fired_values(price: Any, at: Any, observed_at: Any) -> dict[str, Any]:
    """What firing leaves on a subscription: disarmed, with the price and time it fired
    at, and (fired by a change) the change's page time."""
    return {"armed": False, "last_fired_price": price, "last_fired_at": at, **_applied(observed_at)}


def _price_alerts(market: str, asin: str, series: str) -> list[Any]:
    return [_sub.market == market, _sub.asin == asin, _sub.series == series, _sub.kind == _PRICE]


def _check_limit(limit: int) -> None:
    if limit <= 0:
        raise ValueError(f"limit must be positive, got {limit}")


def _page(stmt: Select[Any], limit: Any) -> Select[Any]:
    """``stmt`` as one page in ``ix_subscriptions_due``'s order: (threshold, id), which
    the keyset cursor of the next page continues."""
    return stmt.order_by(_sub.threshold, _sub.id).limit(limit)


def _due(alerts: list[Any], observed_at: Any) -> Select[Any]:
    """The armed, active ones among ``alerts`` (conditions), those a change seen at
    ``observed_at`` comes after."""
    return select(subscriptions).where(
        *alerts,
        _sub.status == SubscriptionStatus.ACTIVE.value,
        _sub.armed == true(),
        # a filter on the rows the index range finds, not part of the range
        *_new_to_row(observed_at),
    )


def _rearm(alerts: list[Any], observed_at: int | None) -> Update:
    """Arm the fired, live ones among ``alerts`` (conditions) that a change seen at
    ``observed_at`` comes after, and let them remember it."""
    return (
        update(subscriptions)
        .where(*alerts, _sub.armed == false(), _LIVE, *_new_to_row(observed_at))
        .values(armed=True, **_applied(observed_at))
    )


async def _count_updated(db: Db, stmt: Update) -> int:
    async with transaction(db) as conn:
        return (await conn.execute(stmt)).rowcount


def due_query(
    market: str,
    asin: str,
    series: str,
    price: int,
    *,
    limit: int = 1000,
    after: Subscription | None = None,
    observed_at: int | None = None,
) -> Select[Any]:
    """The statement behind :func:`due_subscriptions` (pure; tests EXPLAIN it)."""
    _check_price("price", price)
    _check_limit(limit)
    stmt = _due(_price_alerts(market, asin, series), observed_at)
    if after is None or after.threshold is None:
        stmt = stmt.where(_sub.threshold >= price)
    else:
        # The plain lower bound is repeated at the cursor so both databases
        # start the index range there instead of at ``price``.
        stmt = stmt.where(
            _sub.threshold >= max(price, after.threshold),
            tuple_(_sub.threshold, _sub.id) > tuple_(after.threshold, after.id),
        )
    return _page(stmt, limit)


async def due_subscriptions(
    db: Db,
    market: str,
    asin: str,
    series: str,
    price: int,
    *,
    limit: int = 1000,
    after: Subscription | None = None,
    observed_at: int | None = None,
) -> list[Subscription]:
    """One page of armed, active subscriptions whose threshold is >= ``price`` (and,
    given the change's ``observed_at``, whose last change applied came before it).

    Pages are ordered by (threshold, id) and keyed on the last row of the
    previous page (``after=page[-1]``): each page is a seek into
    ``ix_subscriptions_due`` followed by ``limit`` index entries, so streaming
    100,000 subscribers costs the same per page as streaming ten. (Ordering by
    id alone would re-read and sort every remaining match on every page.)
    """
    stmt = due_query(market, asin, series, price, limit=limit, after=after, observed_at=observed_at)
    async with transaction(db) as conn:
        rows = from_result(await conn.execute(stmt), Subscription)
    return rows


async def iter_due_subscriptions(
    db: Db,
    market: str,
    asin: str,
    series: str,
    price: int,
    *,
    page_size: int = 1000,
    observed_at: int | None = None,
) -> AsyncIterator[list[Subscription]]:
    """All due subscriptions, page by page (each page its own short read)."""
    after: Subscription | None = None
    while True:
        page = await due_subscriptions(
            db, market, asin, series, price, limit=page_size, after=after, observed_at=observed_at
        )
        if not page:
            return
        yield page
        if len(page) < page_size:
            return
        after = page[-1]


async def disarm(
    db: Db, ids: Iterable[int], price: int | None, at: int, *, observed_at: int | None = None
) -> int:
    """Mark subscriptions as fired at ``price``/``at`` so the same drop does not
    alert them again; returns how many were armed. (A product back in stock may show
    no price: ``price`` None.) Fired by a change, they remember its ``observed_at``;
    by a re-check (None), they keep the last change's."""
    if price is not None:
        _check_price("price", price)
    count = 0
    async with transaction(db) as conn:
        for chunk in in_batches(ids):
            result = await conn.execute(
                update(subscriptions)
                .where(_sub.id.in_(chunk), _sub.armed == true())
                .values(**fired_values(price, at, observed_at))
            )
            count += result.rowcount
    return count


def rearm_statement(
    market: str, asin: str, series: str, price: int, *, observed_at: int | None = None
) -> Update:
    """The statement behind :func:`rearm_above` (pure; tests EXPLAIN it)."""
    _check_price("price", price)
    return _rearm([*_price_alerts(market, asin, series), _sub.threshold < price], observed_at)


async def rearm_above(
    db: Db, market: str, asin: str, series: str, price: int, *, observed_at: int | None = None
) -> int:
    """Re-arm every fired subscription of the product whose threshold is now
    below ``price`` (the price went back up; seen at ``observed_at`` when a change
    says so, a correction does not); returns how many."""
    return await _count_updated(
        db, rearm_statement(market, asin, series, price, observed_at=observed_at)
    )


# --- back in stock ----------------------------------------------------------------------
# A back-in-stock alert is armed while the product is out of stock (or gone) and fires
# when its buy box is in stock again. Its rows have no threshold, so in
# ``ix_subscriptions_due`` they are one run per product ordered by id: pages of them are
# read straight off the index like price alerts' pages are.


def _in_stock_alerts(market: str, asin: str) -> list[Any]:
    return [
        _sub.market == market,
        _sub.asin == asin,
        _sub.series == STOCK_SERIES,
        _sub.kind == _BACK_IN_STOCK,
        _sub.threshold.is_(None),
    ]


def due_in_stock_query(
    market: str,
    asin: str,
    *,
    limit: int = 1000,
    after: Subscription | None = None,
    observed_at: int | None = None,
) -> Select[Any]:
    """The statement behind :func:`due_in_stock` (pure; tests EXPLAIN it)."""
    _check_limit(limit)
    stmt = _due(_in_stock_alerts(market, asin), observed_at)
    if after is not None:
        stmt = stmt.where(_sub.id > after.id)
    # ordered as the index is (threshold is NULL throughout): no sort
    return _page(stmt, limit)


async def due_in_stock(
    db: Db,
    market: str,
    asin: str,
    *,
    limit: int = 1000,
    after: Subscription | None = None,
    observed_at: int | None = None,
) -> list[Subscription]:
    """One page of the product's armed, active back-in-stock alerts, by id, after
    ``after`` (the last row of the previous page); given the change's ``observed_at``,
    those whose last change applied came before it."""
    stmt = due_in_stock_query(market, asin, limit=limit, after=after, observed_at=observed_at)
    async with transaction(db) as conn:
        return from_result(await conn.execute(stmt), Subscription)


def rearm_in_stock_statement(market: str, asin: str, *, observed_at: int | None = None) -> Update:
    """The statement behind :func:`rearm_out_of_stock` (pure; tests EXPLAIN it)."""
    return _rearm(_in_stock_alerts(market, asin), observed_at)


async def rearm_out_of_stock(
    db: Db, market: str, asin: str, *, observed_at: int | None = None
) -> int:
    """Arm every disarmed back-in-stock alert of the product (it went out of stock or
    its page is gone, as a change seen at ``observed_at`` says: its return is news
    again); returns how many."""
    return await _count_updated(db, rearm_in_stock_statement(market, asin, observed_at=observed_at))


async def arm_in_stock_alert(db: Db, subscription_id: int) -> bool:
    """Arm one back-in-stock alert (its first check found the product out of stock);
    False when it was armed already (or is no such alert)."""
    stmt = _rearm([_sub.id == subscription_id, _sub.kind == _BACK_IN_STOCK], observed_at=None)
    return await _count_updated(db, stmt) > 0

"""Subscriptions for the signed-in user (price alerts on a series, back-in-stock
alerts), plus the re-check that makes a new promise meet the state in force at once:
a price alert fires when the price of its series is already at or below its
threshold, a back-in-stock alert is armed when the product is out of stock."""

from __future__ import annotations

from typing import Any

from litestar.exceptions import NotFoundException

from api.ratelimit import Limit
from api.schemas import (
    SubscriptionCreated,
    SubscriptionIn,
    SubscriptionOut,
    SubscriptionPage,
    SubscriptionPatch,
)
from api.services import destinations, limits
from api.services.pricing import major_to_minor, to_major
from api.services.refusals import Conflict, client_input
from api.services.timefmt import iso
from api.state import ApiState
from pricewatch.markets import MARKETS, Market, get_market
from pricewatch.models import CrawlTask, LastState, SeriesKey
from pricewatch.product_images import shown_image
from pricewatch.rechecks import add_recheck, can_recheck, recheck_event, watched
from pricewatch.storage import sql
from pricewatch.storage.sql import Subscription, SubscriptionKind


class PriceUnknown(Conflict):
    """A threshold in percent of a price that is not known yet."""


class NoSuchProduct(NotFoundException):
    """A crawl found no page for this ASIN: there is nothing to watch."""


class TooManySubscriptions(Conflict):
    """The account holds as many subscriptions as one may."""


class NoSuchSubscription(NotFoundException):
    """None of the user's: another user's subscription reads the same, so that ids
    reveal nothing."""

    def __init__(self, subscription_id: int) -> None:
        super().__init__(f"no subscription {subscription_id}")


def to_out(sub: Subscription) -> SubscriptionOut:
    market = MARKETS[sub.market]
    return SubscriptionOut(
        subscription_id=sub.id,
        product_id=sub.asin,
        market=sub.market,
        currency=sub.currency,
        kind=sub.kind,
        series=sub.series,
        threshold=to_major(sub.threshold, market),
        threshold_percent=sub.threshold_percent,
        base_price=to_major(sub.base_price, market),
        notification_type=sub.notification_type,
        target=sub.target,
        status=sub.status,
        armed=sub.armed,
        created_at=iso(sub.created_at),
        updated_at=iso(sub.updated_at),
    )


async def _in_force(state: ApiState, key: SeriesKey) -> LastState | None:
    """The last accepted state of a series (price and availability); None if never seen."""
    return (await state.clickhouse(state.prices.last_accepted, [key])).get(key)


def _price_unknown(series: str) -> PriceUnknown:
    return PriceUnknown(
        f"thresholdPercent needs the current price of the {series} series, which is not "
        "known yet; give a threshold, or retry after the first crawl"
    )


def _kind_and_series(kind: SubscriptionKind, series: str | None, thresholds: bool) -> str:
    """The series an alert of ``kind`` watches; ValueError (a 400) saying what is wrong."""
    if kind is SubscriptionKind.BACK_IN_STOCK and thresholds:
        raise ValueError(
            "a back_in_stock alert takes no threshold nor thresholdPercent: it tells you "
            "when the product is in stock again"
        )
    return sql.alert_series(kind, series)


async def create(state: ApiState, user_id: int, body: SubscriptionIn) -> Subscription:
    """Raises ValueError (bad input), PriceUnknown (percent of an unknown price),
    NoSuchProduct or TooManySubscriptions.

    The subscription and its first check (a re-check of the state in force, or a first
    crawl) are written together: the row commits only once Redis has taken the check,
    so a subscription never sits armed waiting for a check that was never queued.
    """
    market = get_market(body.market)
    kind = SubscriptionKind(body.kind)
    given = body.threshold is not None or body.threshold_percent is not None
    series = _kind_and_series(kind, body.series, given)
    if kind is SubscriptionKind.PRICE and (body.threshold is None) == (
        body.threshold_percent is None
    ):
        raise ValueError("a price alert needs exactly one of threshold and thresholdPercent")
    if await state.redis.exists(state.keys.not_found(market.code, body.product_id)):
        raise NoSuchProduct(
            f"{market.domain} has no product {body.product_id}: its page was not found "
            "when last crawled"
        )
    last = await _in_force(state, SeriesKey(market.code, body.product_id, series))
    price = None if last is None else last.price
    threshold = (
        major_to_minor(body.threshold, market, "threshold") if body.threshold is not None else None
    )
    if body.threshold_percent is not None and price is None:
        raise _price_unknown(series)
    # refused before any confirmation is sent for it, and again in the transaction
    await _check_room(state, state.db, user_id)
    # the destination: normalised, confirmation started, active only once confirmed
    admission = await destinations.admit(state, user_id, body.notification_type, body.target)
    async with state.db.begin() as conn:
        # The row first, counted after: the transaction's first statement is then a
        # write. Counting first made the insert an upgrade from a read, which SQLite
        # refuses at once ("database is locked", no busy wait) when another write
        # landed in between.
        sub = await sql.create_subscription(
            conn,
            user_id=user_id,
            market=market.code,
            asin=body.product_id,
            kind=kind.value,
            series=series,
            notification_type=body.notification_type.value,
            threshold=threshold,
            threshold_percent=body.threshold_percent,
            base_price=price if kind is SubscriptionKind.PRICE else None,
            target=admission.target,
            status=admission.status,
            now=state.clock(),
        )
        await _check_room(state, conn, user_id, including_new=True)
        # inside the transaction: if Redis cannot take it, the row is not kept either
        await first_check(state, sub, last)
    return sub


async def _check_room(
    state: ApiState, db: sql.Db, user_id: int, *, including_new: bool = False
) -> None:
    """Refuse one more subscription over the cap; ``including_new``: the count holds
    it already."""
    cap = state.settings.api_subscriptions_per_account
    if await sql.count_subscriptions(db, user_id) - including_new >= cap:
        raise TooManySubscriptions(
            f"an account may hold {cap} alerts; delete some before adding more"
        )


async def first_check(state: ApiState, sub: Subscription, last: LastState | None) -> None:
    """Make a new (or newly deliverable) subscription meet the state in force of what it
    watches (``last``): a re-check when that state tells it something (a price; for a
    back-in-stock alert, any sighting), else a first crawl whose change event will."""
    if last is not None and can_recheck(sub, last):
        product = await state.clickhouse(state.prices.product, sub.market, sub.asin)
        await add_recheck(
            state.redis,
            state.keys,
            recheck_event(sub, last.price, last.availability, state.clock(), product),
            partitions=state.settings.stream_partitions,
            maxlen=state.settings.stream_maxlen,
        )
    else:
        await state.frontier.push(
            [
                CrawlTask(
                    market=sub.market,
                    asin=sub.asin,
                    priority=state.settings.api_first_crawl_priority,
                )
            ]
        )


async def update(
    state: ApiState, user_id: int, current: Subscription, patch: SubscriptionPatch
) -> Subscription | None:
    """Apply a PATCH; None when the subscription is not the user's. Raises ValueError,
    or PriceUnknown (a percent of a series whose price is not known).

    A subscription that now makes a new promise (it became active, or its threshold,
    series or kind moved) meets the state in force at once, as a new one does; the
    change and that re-check commit together."""
    changes = patch_changes(patch, MARKETS[current.market])
    kind, series = sql.patched_kind_series(current, changes)
    if kind is SubscriptionKind.PRICE and (
        "threshold_percent" in changes or (kind, series) != (current.kind, current.series)
    ):
        # a percent threshold is taken off the current value of the series it watches
        base = await _in_force(state, SeriesKey(current.market, current.asin, series))
        if base is not None and base.price is not None:
            changes["base_price"] = base.price
    changes = await destinations.admit_changes(state, user_id, current, changes)
    async with sql.writing(state.db) as conn:
        try:
            sub = await sql.update_subscription(
                conn, current.id, user_id, now=state.clock(), **changes
            )
        except sql.BasePriceUnknown:
            raise _price_unknown(series) from None
        if sub is not None and _new_promise(current, sub):
            # nothing to meet yet: the next change event of the series will do
            last = await _in_force(state, watched(sub))
            if can_recheck(sub, last):
                await first_check(state, sub, last)
    return sub


def _new_promise(before: Subscription, after: Subscription) -> bool:
    """Whether an edit asks the subscription to meet the state in force again: it
    became active, or it watches anew (another kind, series or threshold)."""
    if after.status != sql.SubscriptionStatus.ACTIVE:
        return False
    became = before.status != sql.SubscriptionStatus.ACTIVE
    moved = (before.kind, before.series, before.threshold) != (
        after.kind,
        after.series,
        after.threshold,
    )
    # a back-in-stock alert's re-check may arm it; a price alert's can only fire it
    if after.kind is SubscriptionKind.BACK_IN_STOCK:
        return became or moved
    return after.armed and (became or moved)


def patch_changes(patch: SubscriptionPatch, market: Market) -> dict[str, Any]:
    """The store's change set for a PATCH body (absent or null fields are left alone)."""
    changes: dict[str, Any] = {}
    if patch.kind is not None:
        changes["kind"] = patch.kind.value
    if patch.series is not None:
        changes["series"] = patch.series
    if patch.threshold is not None:
        changes["threshold"] = major_to_minor(patch.threshold, market, "threshold")
    if patch.threshold_percent is not None:
        changes["threshold_percent"] = patch.threshold_percent
    if patch.notification_type is not None:
        changes["notification_type"] = patch.notification_type.value
    if patch.target is not None:
        changes["target"] = patch.target
    if patch.status is not None:
        changes["status"] = patch.status
    return changes


# ------------------------------------------------------------ the subscriptions API


async def subscribe(state: ApiState, user_id: int, body: SubscriptionIn) -> SubscriptionCreated:
    """``create`` within the account's hourly limit (429); bad input is a 400."""
    await limits.within(
        state, Limit("subscribe", str(user_id), state.settings.api_subscribe_rate_per_hour, 3600)
    )
    with client_input():
        sub = await create(state, user_id, body)
    return SubscriptionCreated(subscription_id=sub.id, status=sub.status)


async def page_of(state: ApiState, user_id: int, limit: int, after_id: int) -> SubscriptionPage:
    """The user's subscriptions after ``after_id``, oldest first, ``limit`` at most."""
    # one more than asked tells whether another page follows
    found = await sql.list_subscriptions(state.db, user_id, limit=limit + 1, after_id=after_id)
    page = found[:limit]
    # the products' titles and pictures: one catalogue read for the whole page
    catalogue = await state.clickhouse(state.prices.products, {(s.market, s.asin) for s in page})
    items = []
    for sub in page:
        out = to_out(sub)
        product = catalogue.get((sub.market, sub.asin))
        if product is not None:
            out.title = product.title
            out.image = shown_image(product.image)
        items.append(out)
    return SubscriptionPage(items=items, next_cursor=page[-1].id if len(found) > limit else None)


async def _own(state: ApiState, user_id: int, subscription_id: int) -> Subscription:
    sub = await sql.get_subscription(state.db, subscription_id, user_id)
    if sub is None:
        raise NoSuchSubscription(subscription_id)
    return sub


async def one(state: ApiState, user_id: int, subscription_id: int) -> SubscriptionOut:
    return to_out(await _own(state, user_id, subscription_id))


async def change(
    state: ApiState, user_id: int, subscription_id: int, patch: SubscriptionPatch
) -> SubscriptionOut:
    """``update`` one of the user's subscriptions; bad input is a 400."""
    current = await _own(state, user_id, subscription_id)
    with client_input():
        sub = await update(state, user_id, current, patch)
    if sub is None:
        raise NoSuchSubscription(subscription_id)
    return to_out(sub)


async def remove(state: ApiState, user_id: int, subscription_id: int) -> None:
    if not await sql.delete_subscription(state.db, subscription_id, user_id, now=state.clock()):
        raise NoSuchSubscription(subscription_id)

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from pricewatch.storage import sql
from pricewatch.storage.sql_subscriptions import new_subscription_values

ASIN = "B000000001"
OTHER_ASIN = "B000000002"


async def _user(engine: AsyncEngine, name: str = "owner") -> int:
    return (await sql.create_user(engine, f"{name}@example.com", "h")).id


async def _subscribe(engine: AsyncEngine, user_id: int, **overrides: Any) -> sql.Subscription:
    args: dict[str, Any] = {
        "user_id": user_id,
        "market": "us",
        "asin": ASIN,
        "series": "buybox",
        "notification_type": "EMAIL",
        "threshold": 1000,
    }
    args.update(overrides)
    return await sql.create_subscription(engine, **args)


# --- pure rules ---------------------------------------------------------------------


def _assert_refused(overrides: dict[str, Any], message: str) -> None:
    """A valid price alert but for ``overrides`` is refused with ``message``."""
    args: dict[str, Any] = {
        "user_id": 1,
        "market": "us",
        "asin": ASIN,
        "notification_type": "EMAIL",
        "threshold": 1000,
        "now": 0,
        **overrides,
    }
    with pytest.raises(ValueError, match=message):
        new_subscription_values(**args)


def test_percent_threshold_rounds_down():
    assert sql.percent_threshold(1999, 10) == 1799
    assert sql.percent_threshold(1000, 12.5) == 875
    assert sql.percent_threshold(0, 50) == 0


@given(base=st.integers(0, 10**12), percent=st.floats(0.01, 99.99))
def test_percent_threshold_never_exceeds_the_requested_price(base: int, percent: float):
    from decimal import Decimal

    exact = Decimal(base) * (100 - Decimal(str(percent))) / 100
    threshold = sql.percent_threshold(base, percent)
    assert threshold <= exact < threshold + 1


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"market": "zz"}, "unknown market"),
        ({"asin": "b000000001"}, "ASIN"),
        ({"series": "refurbished"}, "series"),
        ({"notification_type": "PIGEON"}, "notification_type"),
        ({"threshold": -1}, "threshold"),
        ({"threshold": 10**13}, "threshold"),
        ({"threshold": None}, "exactly one"),
        ({"threshold_percent": 10}, "exactly one"),
        ({"threshold": None, "threshold_percent": 10}, "base_price"),
        ({"threshold": None, "threshold_percent": 100, "base_price": 5}, "threshold_percent"),
        ({"currency": "usd"}, "currency"),
        ({"target": ""}, "target"),
    ],
)
def test_bad_subscription_input_is_refused_with_the_reason(overrides: dict[str, Any], message: str):
    _assert_refused(overrides, message)


# --- CRUD ---------------------------------------------------------------------------


async def test_create_fills_defaults_and_percent_threshold(sql_engine: AsyncEngine):
    uid = await _user(sql_engine)
    fixed = await sql.create_subscription(
        sql_engine,
        user_id=uid,
        market="us",
        asin=ASIN,
        notification_type="EMAIL",
        threshold=1000,
        now=5,
    )
    assert (fixed.kind, fixed.series, fixed.currency, fixed.status, fixed.armed) == (
        "price",
        "cheapest_new",
        "USD",
        "active",
        True,
    )
    assert (fixed.created_at, fixed.updated_at) == (5, 5)

    pct = await _subscribe(
        sql_engine,
        uid,
        threshold=None,
        threshold_percent=10,
        base_price=1999,
        market="de",
        notification_type="WEBHOOK",
        target="https://example.org/hook",
    )
    assert (pct.threshold, pct.threshold_percent, pct.base_price) == (1799, 10, 1999)
    assert (pct.currency, pct.notification_type, pct.target) == (
        "EUR",
        sql.NotificationType.WEBHOOK,
        "https://example.org/hook",
    )
    assert await sql.list_subscriptions(sql_engine, uid) == [fixed, pct]


async def test_subscription_for_unknown_user_is_refused_by_the_foreign_key(sql_engine: AsyncEngine):
    with pytest.raises(IntegrityError):
        await _subscribe(sql_engine, 4242)


async def test_another_users_subscription_is_invisible_and_untouchable(sql_engine: AsyncEngine):
    alice, mallory = await _user(sql_engine, "alice"), await _user(sql_engine, "mallory")
    sub = await _subscribe(sql_engine, alice)

    assert await sql.get_subscription(sql_engine, sub.id, mallory) is None
    assert await sql.list_subscriptions(sql_engine, mallory) == []
    assert await sql.update_subscription(sql_engine, sub.id, mallory, threshold=1) is None
    assert await sql.delete_subscription(sql_engine, sub.id, mallory) is False
    # nothing changed for the owner
    assert await sql.get_subscription(sql_engine, sub.id, alice) == sub


async def test_update_changes_only_what_is_given_and_rearms_on_new_threshold(
    sql_engine: AsyncEngine,
):
    uid = await _user(sql_engine)
    sub = await _subscribe(sql_engine, uid, threshold=None, threshold_percent=10, base_price=2000)
    await sql.disarm(sql_engine, [sub.id], price=1700, at=50)

    paused = await sql.update_subscription(sql_engine, sub.id, uid, status="paused", now=60)
    assert paused is not None
    assert (paused.status, paused.armed, paused.threshold, paused.updated_at) == (
        "paused",
        False,
        1800,
        60,
    )

    cheaper = await sql.update_subscription(sql_engine, sub.id, uid, threshold_percent=25)
    assert cheaper is not None
    assert (cheaper.threshold, cheaper.threshold_percent, cheaper.armed) == (1500, 25, True)

    fixed = await sql.update_subscription(
        sql_engine, sub.id, uid, threshold=1234, notification_type="SMS", target="+15551234567"
    )
    assert fixed is not None
    assert (fixed.threshold, fixed.threshold_percent, fixed.notification_type, fixed.target) == (
        1234,
        None,
        "SMS",
        "+15551234567",
    )
    assert await sql.get_subscription(sql_engine, sub.id, uid) == fixed


@pytest.mark.parametrize(
    "changes",
    [
        {"user_id": 2},
        {"asin": OTHER_ASIN},
        {"status": "deleted"},
        {"threshold": -5},
        {"threshold": 5, "threshold_percent": 5},
        {"notification_type": "FAX"},
    ],
)
async def test_bad_update_is_refused_and_changes_nothing(
    sql_engine: AsyncEngine, changes: dict[str, Any]
):
    uid = await _user(sql_engine)
    sub = await _subscribe(sql_engine, uid)
    with pytest.raises(ValueError):
        await sql.update_subscription(sql_engine, sub.id, uid, **changes)
    assert await sql.get_subscription(sql_engine, sub.id, uid) == sub


async def test_delete_hides_the_subscription_and_stops_alerts(sql_engine: AsyncEngine):
    uid = await _user(sql_engine)
    sub = await _subscribe(sql_engine, uid)
    assert await sql.delete_subscription(sql_engine, sub.id, uid) is True
    assert await sql.delete_subscription(sql_engine, sub.id, uid) is False
    assert await sql.get_subscription(sql_engine, sub.id, uid) is None
    assert await sql.list_subscriptions(sql_engine, uid) == []
    assert await sql.update_subscription(sql_engine, sub.id, uid, threshold=5) is None
    assert await sql.due_subscriptions(sql_engine, "us", ASIN, "buybox", 1) == []
    assert await sql.rearm_above(sql_engine, "us", ASIN, "buybox", 10**6) == 0


# --- the alerts hot path ------------------------------------------------------------


async def test_due_includes_the_threshold_itself_and_only_that_product(sql_engine: AsyncEngine):
    uid = await _user(sql_engine)
    at = await _subscribe(sql_engine, uid, threshold=1000)
    above = await _subscribe(sql_engine, uid, threshold=1001)
    await _subscribe(sql_engine, uid, threshold=999)
    await _subscribe(sql_engine, uid, threshold=5000, asin=OTHER_ASIN)
    await _subscribe(sql_engine, uid, threshold=5000, series="used")
    await _subscribe(sql_engine, uid, threshold=5000, market="uk")
    paused = await _subscribe(sql_engine, uid, threshold=5000)
    await sql.update_subscription(sql_engine, paused.id, uid, status="paused")

    due = await sql.due_subscriptions(sql_engine, "us", ASIN, "buybox", 1000)
    assert [s.id for s in due] == [at.id, above.id]
    assert [s.id for s in await sql.due_subscriptions(sql_engine, "us", ASIN, "buybox", 1001)] == [
        above.id
    ]


async def test_due_pages_cover_every_subscriber_exactly_once(sql_engine: AsyncEngine):
    uid = await _user(sql_engine)
    # repeated thresholds make the id tie-break matter
    subs = [await _subscribe(sql_engine, uid, threshold=1000 + (i % 4) * 10) for i in range(23)]
    await _subscribe(sql_engine, uid, threshold=999)

    seen: list[int] = []
    after = None
    while page := await sql.due_subscriptions(
        sql_engine, "us", ASIN, "buybox", 1000, limit=5, after=after
    ):
        assert len(page) <= 5
        seen += [s.id for s in page]
        after = page[-1]
    assert sorted(seen) == sorted(s.id for s in subs)
    assert len(seen) == len(set(seen))

    pages = [
        p
        async for p in sql.iter_due_subscriptions(
            sql_engine, "us", ASIN, "buybox", 1010, page_size=4
        )
    ]
    assert [len(p) for p in pages] == [4, 4, 4, 4, 1]
    assert {s.id for p in pages for s in p} == {s.id for s in subs if s.threshold >= 1010}

    with pytest.raises(ValueError, match="limit"):
        await sql.due_subscriptions(sql_engine, "us", ASIN, "buybox", 1000, limit=0)
    with pytest.raises(ValueError, match="price"):
        await sql.due_subscriptions(sql_engine, "us", ASIN, "buybox", None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="price"):
        await sql.rearm_above(sql_engine, "us", ASIN, "buybox", -1)


async def test_disarm_then_rearm_when_the_price_climbs_back(sql_engine: AsyncEngine):
    uid = await _user(sql_engine)
    low = await _subscribe(sql_engine, uid, threshold=1000)
    high = await _subscribe(sql_engine, uid, threshold=2000)

    due = await sql.due_subscriptions(sql_engine, "us", ASIN, "buybox", 900)
    assert await sql.disarm(sql_engine, [s.id for s in due], price=900, at=77) == 2
    assert await sql.disarm(sql_engine, [low.id], price=900, at=78) == 0  # already fired
    assert await sql.due_subscriptions(sql_engine, "us", ASIN, "buybox", 800) == []
    fired = await sql.get_subscription(sql_engine, low.id, uid)
    assert fired is not None
    assert (fired.armed, fired.last_fired_price, fired.last_fired_at) == (False, 900, 77)

    # back to 1500: above low's threshold only; 1000 itself would not re-arm it
    assert await sql.rearm_above(sql_engine, "us", ASIN, "buybox", 1000) == 0
    assert await sql.rearm_above(sql_engine, "us", ASIN, "buybox", 1500) == 1
    assert await sql.rearm_above(sql_engine, "us", OTHER_ASIN, "buybox", 10**6) == 0
    assert [s.id for s in await sql.due_subscriptions(sql_engine, "us", ASIN, "buybox", 900)] == [
        low.id
    ]
    rearmed = await sql.get_subscription(sql_engine, high.id, uid)
    assert rearmed is not None and rearmed.armed is False


async def _last_change(engine: AsyncEngine, sub: sql.Subscription) -> tuple[bool, int | None]:
    found = await sql.get_subscription(engine, sub.id, sub.user_id)
    assert found is not None
    return found.armed, found.last_change_at


async def test_a_change_at_or_before_the_last_one_applied_is_skipped(sql_engine: AsyncEngine):
    """What a replay brings (a batch read again after a crash) fires and re-arms nothing."""
    uid = await _user(sql_engine)
    sub = await _subscribe(sql_engine, uid, threshold=1000)

    async def due(at: int) -> list[int]:
        found = await sql.due_subscriptions(sql_engine, "us", ASIN, "buybox", 900, observed_at=at)
        return [s.id for s in found]

    assert await due(10) == [sub.id]  # none applied yet
    await sql.disarm(sql_engine, [sub.id], price=900, at=10, observed_at=10)
    assert await _last_change(sql_engine, sub) == (False, 10)
    for at in (9, 10):  # at or before the one it fired on: a replay
        assert await sql.rearm_above(sql_engine, "us", ASIN, "buybox", 1100, observed_at=at) == 0
    assert await sql.rearm_above(sql_engine, "us", ASIN, "buybox", 1100, observed_at=11) == 1
    assert await _last_change(sql_engine, sub) == (True, 11)
    assert await due(10) == await due(11) == []
    assert await due(12) == [sub.id]
    # a correction re-arms with no page time: it neither checks nor moves the mark
    await sql.disarm(sql_engine, [sub.id], price=900, at=12, observed_at=12)
    assert await sql.rearm_above(sql_engine, "us", ASIN, "buybox", 1100) == 1
    assert await _last_change(sql_engine, sub) == (True, 12)
    # nor does a re-check that fires it
    assert await sql.disarm(sql_engine, [sub.id], price=900, at=99) == 1
    assert await _last_change(sql_engine, sub) == (False, 12)


async def test_a_back_in_stock_alert_skips_what_it_applied_already(sql_engine: AsyncEngine):
    uid = await _user(sql_engine)
    back = await _subscribe(sql_engine, uid, kind="back_in_stock", threshold=None)
    assert await sql.rearm_out_of_stock(sql_engine, "us", ASIN, observed_at=5) == 1
    assert await _last_change(sql_engine, back) == (True, 5)
    for at, expected in ((4, []), (5, []), (6, [back.id])):
        found = await sql.due_in_stock(sql_engine, "us", ASIN, observed_at=at)
        assert [s.id for s in found] == expected
    await sql.disarm(sql_engine, [back.id], price=None, at=6, observed_at=6)
    assert await sql.rearm_out_of_stock(sql_engine, "us", ASIN, observed_at=6) == 0
    assert await sql.rearm_out_of_stock(sql_engine, "us", ASIN, observed_at=7) == 1
    assert await _last_change(sql_engine, back) == (True, 7)


async def test_disarm_handles_more_ids_than_one_statement_can_bind(sql_engine: AsyncEngine):
    uid = await _user(sql_engine)
    sub = await _subscribe(sql_engine, uid)
    ids = [*range(10**6, 10**6 + 12_000), sub.id]
    assert await sql.disarm(sql_engine, ids, price=1, at=1) == 1


# --- series and kinds -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"series": "sales_rank"}, "rank, not a price"),
        ({"kind": "back_in_stock"}, "no threshold"),
        ({"kind": "back_in_stock", "threshold": None, "threshold_percent": 10}, "no threshold"),
        ({"kind": "back_in_stock", "threshold": None, "series": "used"}, "buy box"),
        ({"kind": "restock"}, "kind must be one of"),
        ({"threshold": None}, "exactly one"),
    ],
)
def test_the_kind_decides_what_an_alert_needs(overrides: dict[str, Any], message: str):
    _assert_refused(overrides, message)


def test_a_back_in_stock_alert_watches_the_buy_box_and_starts_disarmed():
    values = new_subscription_values(
        user_id=1,
        market="us",
        asin=ASIN,
        notification_type="EMAIL",
        kind="back_in_stock",
        base_price=1234,
        now=0,
    )
    assert (values["kind"], values["series"], values["threshold"]) == (
        "back_in_stock",
        "buybox",
        None,
    )
    assert (values["armed"], values["base_price"]) == (False, None)


async def test_moving_a_price_alert_to_another_series_is_a_new_promise(sql_engine: AsyncEngine):
    uid = await _user(sql_engine)
    sub = await _subscribe(
        sql_engine, uid, threshold=None, threshold_percent=10, base_price=2000, series="new"
    )
    await sql.disarm(sql_engine, [sub.id], price=1700, at=50)
    # a percent alert takes its percent off the new series' value, and is armed again
    used = await sql.update_subscription(sql_engine, sub.id, uid, series="used", base_price=900)
    assert used is not None
    assert (used.series, used.threshold, used.base_price, used.armed) == ("used", 810, 900, True)
    with pytest.raises(sql.BasePriceUnknown):
        await sql.update_subscription(sql_engine, sub.id, uid, series="amazon")
    with pytest.raises(ValueError, match="rank"):
        await sql.update_subscription(sql_engine, sub.id, uid, series="sales_rank")
    # a fixed threshold does not need the new series' value
    fixed = await sql.update_subscription(sql_engine, sub.id, uid, threshold=500)
    assert fixed is not None
    amazon = await sql.update_subscription(sql_engine, sub.id, uid, series="amazon")
    assert amazon is not None
    assert (amazon.series, amazon.threshold, amazon.threshold_percent) == ("amazon", 500, None)


async def test_changing_kind_both_ways(sql_engine: AsyncEngine):
    uid = await _user(sql_engine)
    sub = await _subscribe(sql_engine, uid, series="used", threshold=1000)
    with pytest.raises(ValueError, match="no threshold"):
        await sql.update_subscription(sql_engine, sub.id, uid, kind="back_in_stock", threshold=5)
    back = await sql.update_subscription(sql_engine, sub.id, uid, kind="back_in_stock")
    assert back is not None
    assert (back.kind, back.series, back.threshold, back.threshold_percent) == (
        "back_in_stock",
        "buybox",
        None,
        None,
    )
    assert back.armed is False  # its first check arms it if the product is out of stock
    with pytest.raises(ValueError, match="no threshold"):
        await sql.update_subscription(sql_engine, sub.id, uid, threshold=5)
    with pytest.raises(ValueError, match="buy box"):
        await sql.update_subscription(sql_engine, sub.id, uid, series="used")
    with pytest.raises(ValueError, match="needs a threshold"):
        await sql.update_subscription(sql_engine, sub.id, uid, kind="price")
    price = await sql.update_subscription(sql_engine, sub.id, uid, kind="price", threshold=700)
    assert price is not None
    # a new kind takes its own default series
    assert (price.kind, price.series, price.threshold, price.armed) == (
        "price",
        "cheapest_new",
        700,
        True,
    )


async def test_back_in_stock_alerts_are_apart_from_price_alerts(sql_engine: AsyncEngine):
    uid = await _user(sql_engine)
    price = await _subscribe(sql_engine, uid, threshold=10**9)
    backs = [
        await _subscribe(sql_engine, uid, kind="back_in_stock", threshold=None) for _ in range(7)
    ]
    other = await _subscribe(sql_engine, uid, kind="back_in_stock", threshold=None, asin=OTHER_ASIN)
    paused = await _subscribe(sql_engine, uid, kind="back_in_stock", threshold=None)
    await sql.update_subscription(sql_engine, paused.id, uid, status="paused")

    # made disarmed: nothing is due until the product has been seen out of stock
    assert await sql.due_in_stock(sql_engine, "us", ASIN) == []
    assert await sql.arm_in_stock_alert(sql_engine, backs[0].id) is True
    assert await sql.arm_in_stock_alert(sql_engine, backs[0].id) is False
    assert await sql.arm_in_stock_alert(sql_engine, price.id) is False  # not one
    # out of stock: every live one of the product is armed (the paused one too, as
    # paused price alerts are re-armed), but not the first again, nor other products'
    assert await sql.rearm_out_of_stock(sql_engine, "us", ASIN) == 7
    seen: list[int] = []
    after = None
    while page := await sql.due_in_stock(sql_engine, "us", ASIN, limit=3, after=after):
        seen += [s.id for s in page]
        after = page[-1]
    assert seen == [s.id for s in backs]  # in id order, the paused one left out
    # price queries never see them, and they never see price alerts
    assert [s.id for s in await sql.due_subscriptions(sql_engine, "us", ASIN, "buybox", 0)] == [
        price.id
    ]
    assert await sql.rearm_above(sql_engine, "us", ASIN, "buybox", 10**12) == 0
    found = await sql.get_subscription(sql_engine, other.id, uid)
    assert found is not None and found.armed is False
    # fired: disarmed, with no price to record when none was shown
    assert await sql.disarm(sql_engine, seen, price=None, at=9) == 7
    assert await sql.due_in_stock(sql_engine, "us", ASIN) == []

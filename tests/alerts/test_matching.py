from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alerts.matching import (
    SubscriptionState,
    arms_on_recheck,
    fires,
    fires_on_recheck,
    plan,
    rearms,
    rounds,
)
from pricewatch.models import Availability, PriceChange, Recheck, Series, SubscriptionKind
from tests.alerts.reference import apply
from tests.observations import ASIN, price_change


def sub(threshold: int = 1000, **kw: object) -> SubscriptionState:
    values: dict[str, object] = {
        "market": "us",
        "asin": ASIN,
        "series": "buybox",
        "threshold": threshold,
    }
    values.update(kw)
    return SubscriptionState(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("state", "price", "expected"),
    [
        (sub(1000), 999, True),
        (sub(1000), 1000, True),  # at the threshold counts
        (sub(1000), 1001, False),
        (sub(1000), 0, True),
        (sub(1000), None, False),  # out of stock says nothing about the price
        (sub(1000, armed=False), 500, False),  # already told
        (sub(1000, active=False), 500, False),  # paused or deleted
        (sub(1000, market="de"), 500, False),
        (sub(1000, asin="B000000002"), 500, False),
        (sub(1000, series="used"), 500, False),
    ],
)
def test_fires(state: SubscriptionState, price: int | None, expected: bool) -> None:
    assert fires(state, price_change(price)) is expected


@pytest.mark.parametrize(
    ("state", "price", "expected"),
    [
        (sub(1000, armed=False), 1001, True),
        (sub(1000, armed=False), 1000, False),  # still at the threshold: not back above
        (sub(1000, armed=False), 10, False),
        (sub(1000, armed=False), None, False),  # unavailable neither fires nor re-arms
        (sub(1000, armed=True), 5000, False),  # nothing to re-arm
        (sub(1000, armed=False, series="new"), 5000, False),
    ],
)
def test_rearms(state: SubscriptionState, price: int | None, expected: bool) -> None:
    assert rearms(state, price_change(price)) is expected


def run(prices: list[int | None], state: SubscriptionState) -> list[bool]:
    fired = []
    for at, price in enumerate(prices, 1):
        state, did = apply(state, price_change(price, observed_at=at))
        fired.append(did)
    return fired


@pytest.mark.parametrize(
    ("prices", "expected"),
    [
        # drop, the same price again (a re-check), lower still: one alert per drop
        ([1200, 900, 900, 800], [False, True, False, False]),
        # back above re-arms, the next drop fires again
        ([900, 1100, 950], [True, False, True]),
        # touching the threshold again without going above does not re-arm
        ([900, 1000, 900], [True, False, False]),
        # the first price seen is already below: it fires
        ([500], [True]),
        # out of stock in between changes nothing
        ([900, None, 900, None, 1100, None, 990], [True, False, False, False, False, False, True]),
    ],
)
def test_sequences(prices: list[int | None], expected: list[bool]) -> None:
    assert run(prices, sub(1000)) == expected


def test_a_change_to_the_same_price_is_matched_like_any_change() -> None:
    same = price_change(900, old=900)
    assert fires(sub(1000), same)
    assert not fires(sub(800), same)


def test_a_recheck_fires_an_armed_active_subscription_the_price_in_force_meets() -> None:
    recheck = Recheck(
        event_id="recheck:1:1",
        subscription_id=1,
        market="us",
        asin=ASIN,
        series=Series.BUYBOX,
        price=900,
        checked_at=1,
    )
    assert fires_on_recheck(sub(1000), recheck) and fires_on_recheck(sub(900), recheck)
    assert not fires_on_recheck(sub(800), recheck)
    assert not fires_on_recheck(sub(1000, armed=False), recheck)
    assert not fires_on_recheck(sub(1000, active=False), recheck)
    assert not fires_on_recheck(sub(1000, asin="B000000002"), recheck)
    # once per promise by its own id: the last change applied does not hold it back
    assert fires_on_recheck(sub(1000, last_change_at=10**13), recheck)


def test_plan_of_a_missing_price_does_nothing() -> None:
    assert plan(price_change(None)).fire_at is None and plan(price_change(None)).rearm_above is None
    assert (plan(price_change(700)).fire_at, plan(price_change(700)).rearm_above) == (700, 700)


# --- series and back in stock ------------------------------------------------------------


PRICE_SERIES = ["buybox", "amazon", "new", "used", "list", "cheapest_new"]
IN, OUT, GONE, UNKNOWN = (
    Availability.IN_STOCK,
    Availability.OUT_OF_STOCK,
    Availability.UNAVAILABLE,
    Availability.UNKNOWN,
)


def back(**kw: object) -> SubscriptionState:
    """A back-in-stock alert, as made: disarmed until the product is seen out of stock."""
    values: dict[str, object] = {
        "threshold": None,
        "kind": SubscriptionKind.BACK_IN_STOCK,
        "armed": False,
    }
    values.update(kw)
    return sub(**values)


def seen(availability: Availability, series: str = "buybox", **kw: object) -> PriceChange:
    """A change of ``series`` showing ``availability`` (a price when in stock)."""
    price = 5_400 if availability == IN else None
    return price_change(price, series=Series(series), new_availability=availability, **kw)


@pytest.mark.parametrize("series", PRICE_SERIES)
def test_a_price_alert_fires_and_rearms_on_its_own_series_only(series: str) -> None:
    armed, told = sub(1000, series=series), sub(1000, series=series, armed=False)
    for other in PRICE_SERIES:
        assert fires(armed, price_change(900, series=Series(other))) is (other == series)
        assert rearms(told, price_change(1100, series=Series(other))) is (other == series)
    # a price alert on the buy box is no back-in-stock alert: availability alone is nothing
    assert not fires(
        sub(1000, armed=False), price_change(1100, new_availability=Availability.IN_STOCK)
    )


@pytest.mark.parametrize(
    ("state", "change", "expected"),
    [
        (back(armed=True), seen(IN), True),
        (back(armed=True), seen(IN, old_availability=UNKNOWN), True),
        (back(armed=False), seen(IN), False),  # made while in stock: nothing to tell
        (back(armed=True, active=False), seen(IN), False),  # paused
        (back(armed=True), seen(OUT), False),
        (back(armed=True), seen(UNKNOWN), False),
        (back(armed=True), seen(IN, series="used"), False),  # a used copy is not the product
        (back(armed=True), seen(IN, asin="B000000002"), False),
        # in stock without a price shown (a choice of sizes): in stock all the same
        (back(armed=True), price_change(None, new_availability=IN), True),
    ],
)
def test_back_in_stock_fires(state: SubscriptionState, change: PriceChange, expected: bool) -> None:
    assert fires(state, change) is expected


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (seen(OUT), True),
        (seen(GONE), True),
        (seen(UNKNOWN), False),  # a page that would not say is no news
        (seen(IN), False),
        (seen(OUT, series="new"), False),
    ],
)
def test_back_in_stock_rearms_when_the_product_goes(change: PriceChange, expected: bool) -> None:
    assert rearms(back(), change) is expected
    assert not rearms(back(armed=True), change)


def test_a_back_in_stock_recheck_arms_out_of_stock_and_fires_in_stock() -> None:
    def recheck(availability: Availability, price: int | None = None) -> Recheck:
        return Recheck(
            event_id="recheck:1:1",
            subscription_id=1,
            market="us",
            asin=ASIN,
            series=Series.BUYBOX,
            price=price,
            availability=availability,
            checked_at=1,
        )

    # made while out of stock: armed (not fired); made while in stock: nothing at all
    assert arms_on_recheck(back(), recheck(OUT)) and arms_on_recheck(back(), recheck(GONE))
    assert not fires_on_recheck(back(), recheck(OUT))
    assert not arms_on_recheck(back(), recheck(IN, 5_400))
    assert not fires_on_recheck(back(), recheck(IN, 5_400))
    assert not arms_on_recheck(back(), recheck(UNKNOWN))
    # resumed after the product came back while paused: told now
    assert fires_on_recheck(back(armed=True), recheck(IN, 5_400))
    assert not fires_on_recheck(back(armed=True, active=False), recheck(IN, 5_400))
    # a price alert is armed when made: re-checks never arm one
    assert not arms_on_recheck(sub(1000, armed=False), recheck(OUT))
    assert not fires_on_recheck(sub(1000), recheck(OUT))  # no price in force


def test_plan_of_the_buy_box_says_what_back_in_stock_alerts_do() -> None:
    assert (plan(seen(OUT)).rearm_in_stock, plan(seen(OUT)).fire_in_stock) == (True, False)
    assert (plan(seen(IN)).rearm_in_stock, plan(seen(IN)).fire_in_stock) == (False, True)
    assert plan(seen(UNKNOWN)).empty
    assert plan(seen(IN, series="used")).fire_in_stock is False
    assert plan(seen(OUT, series="used")).empty


# --- replays ----------------------------------------------------------------------------


def test_a_change_seen_at_or_before_the_last_one_applied_neither_fires_nor_rearms() -> None:
    # the last change applied was seen at 10: one seen at 10 or before is a replay
    for at, new in ((9, False), (10, False), (11, True)):
        assert fires(sub(1000, last_change_at=10), price_change(900, observed_at=at)) is new
        told = sub(1000, armed=False, last_change_at=10)
        assert rearms(told, price_change(1100, observed_at=at)) is new
        assert fires(back(armed=True, last_change_at=10), seen(IN, observed_at=at)) is new
        assert rearms(back(last_change_at=10), seen(OUT, observed_at=at)) is new
    # none applied yet: nothing is held back
    assert fires(sub(1000), price_change(900, observed_at=0))


def test_firing_and_rearming_remember_the_change_and_nothing_else_does() -> None:
    state, fired = apply(sub(1000), price_change(900, observed_at=5))
    assert fired and state.last_change_at == 5
    assert apply(state, price_change(800, observed_at=6)) == (state, False)  # told already
    state, fired = apply(state, price_change(1100, observed_at=7))
    assert not fired and (state.armed, state.last_change_at) == (True, 7)
    assert apply(state, price_change(1200, observed_at=8)) == (state, False)  # armed already


def test_a_batch_read_again_after_a_crash_tells_nothing_more() -> None:
    """Told at 90; a batch moves the price to 95 (already told) and 120 (re-armed); the
    worker dies before acking it and reads it again: 95 is no drop to tell."""
    state, _ = apply(sub(100_00), price_change(90_00, observed_at=1))
    batch = [price_change(95_00, observed_at=2), price_change(120_00, observed_at=3)]
    assert [apply(state, c)[1] for c in batch] == [False, False]
    for change in batch:
        state, _ = apply(state, change)
    assert state.armed
    for change in batch:  # the replay
        assert apply(state, change) == (state, False)
    # the same with a back-in-stock alert: told in stock, still in stock, out again
    state, _ = apply(back(armed=True), seen(IN, observed_at=1))
    batch = [seen(IN, observed_at=2), seen(OUT, observed_at=3)]
    for change in batch:
        state, _ = apply(state, change)
    assert state.armed
    for change in batch:
        assert apply(state, change) == (state, False)


# Hypothesis: long runs of changes of every series, applied one at a time.

prices = st.one_of(st.none(), st.integers(0, 2_000))
availabilities = st.sampled_from([IN, OUT, GONE, UNKNOWN])
changes = st.lists(
    st.tuples(st.sampled_from(PRICE_SERIES), prices, availabilities), min_size=1, max_size=60
)


def _changes(steps: list[tuple[str, int | None, Availability]]) -> list[PriceChange]:
    return [
        price_change(price, series=Series(series), new_availability=availability, observed_at=i)
        for i, (series, price, availability) in enumerate(steps)
    ]


@given(series=st.sampled_from(PRICE_SERIES), threshold=st.integers(0, 2_000), steps=changes)
def test_a_price_alert_fires_once_per_crossing_of_its_series(
    series: str, threshold: int, steps: list[tuple[str, int | None, Availability]]
) -> None:
    state = sub(threshold, series=series)
    # the prices of its series, in order; None says nothing and is left out
    own: list[int] = []
    for change in _changes(steps):
        before = state
        state, fired = apply(state, change)
        mine = change.series == series and change.new_price is not None
        if not mine:
            # another series' change (or no price) neither fires nor moves it
            assert not fired and state == before
            continue
        assert change.new_price is not None
        price = change.new_price
        # it fires exactly when the price is at or below the threshold and it was not
        # already there: at the first price seen, or after one above the threshold
        crossed = price <= threshold and (not own or own[-1] > threshold)
        # ... or when it has not told of this stay below yet (armed at creation, or
        # re-armed above): the same thing said over the prices seen
        assert fired is crossed
        own.append(price)
        # told means disarmed, above means armed, and nothing else moves it
        assert state.armed is (price > threshold)
        assert not apply(state, change)[1]  # the same change again: never twice


@given(steps=changes)
def test_back_in_stock_fires_once_per_return_after_going_out(
    steps: list[tuple[str, int | None, Availability]],
) -> None:
    state = back()
    gone_since_told = False
    for change in _changes(steps):
        before = state
        state, fired = apply(state, change)
        if change.series != "buybox":
            assert not fired and state == before  # only the buy box's availability counts
            continue
        availability = change.new_availability
        # in stock after having been out (or gone) since it last told: told, once
        assert fired is (availability == IN and gone_since_told)
        if availability in (OUT, GONE):
            gone_since_told = True
        elif fired:
            gone_since_told = False
        assert state.armed is gone_since_told
        assert not apply(state, change)[1]  # a replay of the same change: never twice


# mostly the buy box's, so that runs cross the alerts' thresholds and stock often
buybox_mostly = st.lists(
    st.tuples(st.sampled_from(["buybox", "buybox", "used"]), prices, availabilities),
    min_size=1,
    max_size=30,
)


@settings(max_examples=300)
@given(
    alert=st.one_of(st.builds(sub, st.integers(0, 2_000)), st.just(back())),
    steps=buybox_mostly,
    data=st.data(),
)
def test_a_batch_read_again_after_a_crash_changes_nothing(
    alert: SubscriptionState, steps: list[tuple[str, int | None, Availability]], data: st.DataObject
) -> None:
    """The worker applied the changes up to ``end`` and died before acking the batch from
    ``start``: read again, no change of it fires or moves the subscription."""
    events = _changes(steps)
    end = data.draw(st.integers(0, len(events)), label="end")
    start = data.draw(st.integers(0, end), label="start")
    state = alert
    for change in events[:end]:
        state, _ = apply(state, change)
    for change in events[start:end]:
        assert apply(state, change) == (state, False)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["B0ROUNDS01", "B0ROUNDS02", "B0ROUNDS03"]), max_size=30))
def test_rounds_name_each_product_once_and_keep_each_product_s_order(asins: list[str]) -> None:
    changes = [
        price_change(1000 + i, event_id=f"e{i}", asin=asin, observed_at=1_700_000_000_000 + i)
        for i, asin in enumerate(asins)
    ]
    out = rounds(changes)
    assert sorted(c.event_id for r in out for c in r) == sorted(c.event_id for c in changes)
    for r in out:
        assert r and len({c.asin for c in r}) == len(r)
    for asin in set(asins):
        # a product's n-th change is in the n-th round
        theirs = [c for c in changes if c.asin == asin]
        assert [next(c for c in r if c.asin == asin) for r in out[: len(theirs)]] == theirs
    assert len(out) == max((asins.count(a) for a in asins), default=0)

from __future__ import annotations

import pytest

from alerts.matching import SubscriptionState, fires, fires_on_recheck, plan, rearms
from pricewatch.models import Recheck, Series
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
    for price in prices:
        state, did = apply(state, price_change(price))
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


def test_plan_of_a_missing_price_does_nothing() -> None:
    assert plan(price_change(None)).fire_at is None and plan(price_change(None)).rearm_above is None
    assert (plan(price_change(700)).fire_at, plan(price_change(700)).rearm_above) == (700, 700)

"""Alerts per series and back in stock through the real alerts worker, over real Redis
streams, a real database (SQLite and PostgreSQL) and a real SMTP server."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from alerts.worker import AlertsWorker
from pricewatch.models import Availability, PriceChange, Series, SubscriptionKind
from pricewatch.rechecks import add_recheck, recheck_event
from pricewatch.storage import sql
from pricewatch.storage.sql_alerts import subscriptions_by_id
from tests.alerts.conftest import ASIN, make_config, notifications_are, publish, statuses
from tests.alerts.reference import apply, state_of
from tests.mail import plain_text
from tests.observations import price_change
from tests.services import eventually
from tests.sql_store import subscribe

pytestmark = pytest.mark.redis

IN, OUT, GONE, UNKNOWN = (
    Availability.IN_STOCK,
    Availability.OUT_OF_STOCK,
    Availability.UNAVAILABLE,
    Availability.UNKNOWN,
)
_moments = itertools.count(1)


def moved(
    series: str,
    new: int | None,
    old: int | None = None,
    *,
    availability: Availability | None = None,
    was: Availability | None = None,
    asin: str = ASIN,
) -> PriceChange:
    """A change of ``series`` of the test product (or ``asin``), with an event id and
    moment of its own (in stock when it shows a price, out of stock when not, unless
    told)."""
    n = next(_moments)
    return price_change(
        new,
        old,
        event_id=f"{series}-{n}",
        asin=asin,
        series=Series(series),
        observed_at=1_700_000_000_000 + n,
        new_availability=availability or (IN if new is not None else OUT),
        old_availability=was,
        title="Kettle",
        image="https://m.media-amazon.com/images/I/kettle.jpg",
        sold_by="Kettle Corner",
    )


async def armed(db, sub: sql.Subscription) -> bool:
    found = (await subscriptions_by_id(db, [sub.id]))[sub.id]
    return found.armed


async def test_a_used_price_fires_the_used_alert_and_not_the_buy_box_one(
    db, mail, start_mailing, redis_client, keys
) -> None:
    user = await sql.create_user(db, "ulla@example.com", "h")
    used = await subscribe(db, user, ASIN, 20_00, series="used")
    buybox = await subscribe(db, user, ASIN, 20_00, series="buybox")
    cheapest = await subscribe(db, user, ASIN, 20_00, series="cheapest_new")
    running = await start_mailing()

    drop = moved("used", 18_00, 24_00)
    publish(redis_client, keys, drop)
    await eventually(lambda: notifications_are(db, "sent", 1))
    await running.settled()
    [message] = mail.messages
    assert message["X-Pricewatch-Key"] == f"{used.id}:{drop.event_id}:alert"
    assert message["Subject"] == "Used price of Kettle is at $18.00, below your $20.00"
    text = plain_text(message)
    assert "Used price of Kettle dropped to $18.00 (was $24.00)." in text
    # the buy box's seller is not the used copy's: not said of a used price
    assert "Sold by" not in text
    assert not await armed(db, used)
    assert await armed(db, buybox) and await armed(db, cheapest)

    # the buy box moving under its threshold fires its own alert, not the used one again
    box = moved("buybox", 19_00, 25_00)
    publish(redis_client, keys, box)
    await eventually(lambda: len(mail.messages) == 2)
    await running.settled()
    assert mail.keys()[1] == f"{buybox.id}:{box.event_id}:alert"
    assert "Sold by: Kettle Corner" in plain_text(mail.messages[1])
    assert await armed(db, cheapest)


async def test_back_in_stock_tells_each_return_once(
    db, mail, start_mailing, redis_client, keys
) -> None:
    user = await sql.create_user(db, "bea@example.com", "h")
    back = await subscribe(db, user, ASIN, None, kind="back_in_stock")
    price = await subscribe(db, user, ASIN, 60_00)
    running = await start_mailing()

    # made while nothing is known: disarmed; the product goes out of stock: armed
    publish(redis_client, keys, moved("buybox", None, 59_00, was=IN))
    await running.settled()
    assert await armed(db, back) and mail.messages == []
    # back, at a price above the price alert's threshold: only the return is told
    returned = moved("buybox", 64_00, None, was=OUT)
    publish(redis_client, keys, returned, returned)  # delivered twice: told once
    publish(redis_client, keys, moved("buybox", 62_00, 64_00, was=IN))  # in stock still
    publish(redis_client, keys, moved("buybox", None, 62_00, availability=UNKNOWN, was=IN))
    publish(redis_client, keys, moved("buybox", 63_00, None, was=UNKNOWN))  # never went out
    await eventually(lambda: notifications_are(db, "sent", 1))
    await running.settled()
    assert mail.keys() == [f"{back.id}:{returned.event_id}:alert"]
    assert mail.messages[0]["Subject"] == "Back in stock: Kettle at $64.00"
    assert "Sold by: Kettle Corner" in plain_text(mail.messages[0])
    assert not await armed(db, back) and await armed(db, price)

    # gone (its page is gone), then back again: told again
    publish(redis_client, keys, moved("buybox", None, 63_00, availability=GONE, was=IN))
    again = moved("buybox", 55_00, None, was=GONE)
    publish(redis_client, keys, again)
    await eventually(lambda: len(mail.messages) == 3)
    await running.settled()
    # and the price alert saw its drop under 60.00 on the way
    assert sorted(mail.keys()[1:]) == sorted(
        [f"{back.id}:{again.event_id}:alert", f"{price.id}:{again.event_id}:alert"]
    )
    # a used copy coming back is not the product coming back
    publish(redis_client, keys, moved("buybox", None, 55_00, was=IN))
    publish(redis_client, keys, moved("used", 30_00, None, was=OUT))
    await running.settled()
    assert len(mail.messages) == 3 and await armed(db, back)
    assert [s for _, _, s, _ in await statuses(db)] == ["sent"] * 3


async def test_a_back_in_stock_recheck_arms_out_of_stock_and_tells_nothing_in_stock(
    db, mail, start_mailing, redis_client, keys
) -> None:
    user = await sql.create_user(db, "rita@example.com", "h")
    out = await subscribe(db, user, ASIN, None, kind="back_in_stock")
    inside = await subscribe(db, user, "B0ALERT002", None, kind="back_in_stock")
    running = await start_mailing()
    checks = [
        recheck_event(out, None, "out_of_stock", 1_700_000_000_000),
        recheck_event(inside, 54_00, "in_stock", 1_700_000_000_000),
    ]
    for check in [*checks, checks[0]]:  # one published twice
        add_recheck(redis_client, keys, check, partitions=2, maxlen=1_000)
    await eventually(lambda: armed(db, out))
    await running.settled()
    # made while in stock: nothing to tell, nothing armed
    assert mail.messages == [] and not await armed(db, inside)

    # resumed after it came back while paused: told at the price in force, once
    await sql.update_subscription(db, out.id, user.id, status="paused")
    publish(redis_client, keys, moved("buybox", 54_00, None, was=OUT))
    await running.settled()
    assert mail.messages == [] and await armed(db, out)
    resumed = await sql.update_subscription(db, out.id, user.id, status="active", now=42)
    assert resumed is not None
    check = recheck_event(resumed, 54_00, "in_stock", 1_700_000_000_001)
    for _ in range(2):
        add_recheck(redis_client, keys, check, partitions=2, maxlen=1_000)
    await eventually(lambda: len(mail.messages) == 1)
    await running.settled()
    assert mail.keys() == [f"{out.id}:{check.event_id}:alert"]
    assert mail.messages[0]["Subject"] == f"Back in stock: Product {ASIN} at $54.00"
    assert not await armed(db, out)


async def test_the_worker_matches_as_the_rules_say_over_a_long_mixed_run(
    db, redis_client, keys
) -> None:
    """Every kind of subscription, changes of every series and availability: what the
    worker's SQL claims and leaves armed is what the rules, applied one subscription
    and one change at a time, say."""
    user = await sql.create_user(db, "mix@example.com", "h")
    subs = [
        await subscribe(db, user, ASIN, t, series=s)
        for t in (50_00, 60_00)
        for s in ("used", "buybox", "new")
    ]
    subs += [await subscribe(db, user, ASIN, None, kind="back_in_stock") for _ in range(2)]
    states = {s.id: state_of(s) for s in subs}
    assert [st.kind for st in states.values()][-1] == SubscriptionKind.BACK_IN_STOCK
    run = [
        moved("buybox", 70_00, was=None),
        moved("used", 55_00),
        moved("buybox", None, 70_00, was=IN),
        moved("new", 45_00),
        moved("buybox", 58_00, None, was=OUT),
        moved("used", 49_00, 55_00),
        moved("buybox", None, 58_00, availability=UNKNOWN, was=IN),
        moved("buybox", 57_00, None, was=UNKNOWN),
        moved("new", 65_00, 45_00),
        moved("buybox", None, 57_00, availability=GONE, was=IN),
        moved("used", 61_00, 49_00),
        moved("buybox", 40_00, None, was=GONE),
        moved("new", 59_00, 65_00),
        moved("used", 30_00, 61_00),
    ]
    worker = AlertsWorker(client=redis_client, keys=keys, db=db, channels={}, config=make_config())
    expected = set()
    for change in run:
        await worker.handle_change(change)
        await worker.handle_change(change)  # a replay claims nothing more
        for sid, state in states.items():
            states[sid], fired = apply(state, change)
            if fired:
                expected.add((sid, change.event_id))
    # any last stretch read again, as after a crash before its ack: nothing more
    for start in range(len(run)):
        for change in run[start:]:
            assert await worker.handle_change(change) == 0, (start, change.event_id)
    claimed = {(sid, event) for sid, event, _, _ in await statuses(db)}
    assert claimed == expected and len(expected) >= 8
    stored = await subscriptions_by_id(db, states)
    assert {sid: (s.armed, s.last_change_at) for sid, s in stored.items()} == {
        sid: (st.armed, st.last_change_at) for sid, st in states.items()
    }


OTHER = "B0ALERT002"


@pytest.mark.parametrize(("batch", "page_size"), [(3, 1_000), (7, 2), (100, 1)])
async def test_changes_matched_together_do_what_one_at_a_time_would(
    db, redis_client, keys, batch: int, page_size: int
) -> None:
    """A read's changes are matched together, each product's in its order: over a run
    interleaving two products' changes of every kind, in batches of ``batch`` (pages
    small enough that most fan out over several), the worker claims and leaves armed
    what the rules, applied one change at a time, say; any stretch read again, as one
    batch, claims nothing more."""
    user = await sql.create_user(db, "both@example.com", "h")
    subs = [
        await subscribe(db, user, asin, t, series=s)
        for asin in (ASIN, OTHER)
        for t in (50_00, 60_00, 60_00)
        for s in ("used", "buybox")
    ]
    subs += [
        await subscribe(db, user, asin, None, kind="back_in_stock")
        for asin in (ASIN, OTHER)
        for _ in range(3)
    ]
    states = {s.id: state_of(s) for s in subs}

    def both(series: str, new: int | None, old: int | None = None, **kw) -> list[PriceChange]:
        return [moved(series, new, old, asin=ASIN, **kw), moved(series, new, old, asin=OTHER, **kw)]

    run = [
        *both("buybox", 70_00, was=None),
        moved("used", 55_00, asin=OTHER),
        *both("buybox", None, 70_00, was=IN),
        moved("used", 45_00, asin=ASIN),
        moved("used", 65_00, 45_00, asin=ASIN),
        *both("buybox", 58_00, None, was=OUT),
        moved("used", 40_00, 65_00, asin=ASIN),
        moved("buybox", None, 58_00, availability=GONE, was=IN, asin=OTHER),
        moved("buybox", 59_00, 58_00, asin=ASIN),
        moved("buybox", 45_00, None, was=GONE, asin=OTHER),
        moved("used", 49_00, 55_00, asin=OTHER),
        moved("buybox", 70_00, 59_00, asin=ASIN),
        moved("buybox", 50_00, 70_00, asin=ASIN),
    ]
    worker = AlertsWorker(
        client=redis_client, keys=keys, db=db, channels={}, config=make_config(page_size=page_size)
    )

    async def take(queue: asyncio.Queue) -> None:
        # no senders run: what is claimed is taken off the bounded queues and dropped
        while True:
            await queue.get()
            queue.task_done()

    takers = [asyncio.create_task(take(q)) for q in worker.queues.values()]
    expected = set()
    for start in range(0, len(run), batch):
        await worker.handle_changes(run[start : start + batch])
    for change in run:
        for sid, state in states.items():
            states[sid], fired = apply(state, change)
            if fired:
                expected.add((sid, change.event_id))
    for start in range(len(run)):
        assert await worker.handle_changes(run[start:]) == 0, start
    claimed = {(sid, event) for sid, event, _, _ in await statuses(db)}
    assert claimed == expected and len(expected) >= 20
    assert {sid for sid, _ in expected} == set(states)
    stored = await subscriptions_by_id(db, states)
    assert {sid: (s.armed, s.last_change_at) for sid, s in stored.items()} == {
        sid: (st.armed, st.last_change_at) for sid, st in states.items()
    }
    for taker in takers:
        taker.cancel()

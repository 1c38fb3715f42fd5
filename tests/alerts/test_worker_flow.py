"""The alerts worker end to end over real Redis streams, a real database
(SQLite and PostgreSQL) and a real SMTP server."""

from __future__ import annotations

import asyncio
import itertools
import logging

import pytest
import redis as redis_lib

from alerts.worker import AlertsWorker
from pricewatch.alert_links import verify_stop_token
from pricewatch.keys import ALERTS_GROUP, PRICE_CHANGES, PRICE_CORRECTIONS, Keys
from pricewatch.models import (
    Availability,
    PriceChange,
    PriceCorrection,
    Series,
    decode_many,
    encode,
)
from pricewatch.rechecks import add_recheck, recheck_event
from pricewatch.storage import sql
from pricewatch.storage.sql_alerts import lease_due_notifications, subscriptions_by_id
from pricewatch.storage.streams import PartitionedStream
from tests import sql_store
from tests.alerts.conftest import (
    ASIN,
    PUBLIC_URL,
    SECRET,
    assert_price_drop_email,
    change,
    make_config,
    notifications_are,
    publish,
    statuses,
    subscribe,
)
from tests.mail import plain_text
from tests.observations import price_change
from tests.services import eventually

pytestmark = pytest.mark.redis


async def idle(client: redis_lib.Redis, keys: Keys) -> bool:
    """Every published change read and acked."""
    try:
        groups = [client.xinfo_groups(keys.stream(PRICE_CHANGES, p)) for p in range(2)]
    except redis_lib.ResponseError:  # the worker has not created its group yet
        return False
    return all(
        g["pending"] == 0 and g["lag"] == 0
        for infos in groups
        for g in infos
        if g["name"] == ALERTS_GROUP.encode()
    ) and all(any(g["name"] == ALERTS_GROUP.encode() for g in infos) for infos in groups)


async def test_a_sent_alert_logs_one_line_that_masks_its_address(
    db, mail, start_mailing, redis_client, keys, caplog
) -> None:
    caplog.set_level(logging.INFO, logger="alerts.worker")
    await subscribe(db, "anna.person@example.com", 100_00)
    await start_mailing()
    publish(redis_client, keys, change(99_50, old=129_99))

    await eventually(lambda: notifications_are(db, "sent", 1))
    sent = [r.getMessage() for r in caplog.records if "sent:" in r.getMessage()]
    assert sent == [f"alert sent: buybox/price for us:{ASIN} to email a***@example.com"]
    assert not any("anna.person@" in r.getMessage() for r in caplog.records)


async def test_a_drop_sends_one_email_with_prices_threshold_and_links(
    db, mail, start_mailing, redis_client, keys
) -> None:
    [below, above] = await subscribe(db, "anna@example.com", 100_00, 50_00)
    [other] = await subscribe(db, "bob@example.com", 120_00, target="bob.alerts@example.com")
    await start_mailing()
    publish(redis_client, keys, change(99_50, old=129_99))

    await eventually(lambda: len(mail.messages) == 2)
    by_to = {m["To"]: m for m in mail.messages}
    assert set(by_to) == {"anna@example.com", "bob.alerts@example.com"}
    message = by_to["anna@example.com"]
    text = assert_price_drop_email(
        message, "Espresso Machine", now="$99.50", was="$129.99", threshold="$100.00"
    )
    assert f"{PUBLIC_URL}/p/us/{ASIN}" in text
    assert f"https://www.amazon.com/dp/{ASIN}" in text
    stop = f"{PUBLIC_URL}/alerts/{below.id}/stop?token="
    assert stop in text
    token = text.split(stop)[1].split()[0]
    assert verify_stop_token(below.id, token, SECRET)
    assert message["X-Pricewatch-Key"].startswith(f"{below.id}:")

    # both marked sent, the fired ones disarmed, the one above its threshold untouched
    await eventually(lambda: notifications_are(db, "sent", 2))
    assert not (await sql.get_subscription(db, below.id, below.user_id)).armed  # type: ignore[union-attr]
    assert (await sql.get_subscription(db, above.id, above.user_id)).armed  # type: ignore[union-attr]
    assert not (await sql.get_subscription(db, other.id, other.user_id)).armed  # type: ignore[union-attr]
    await eventually(lambda: idle(redis_client, keys))


async def test_a_recheck_fires_only_the_subscription_it_names_once_at_the_price_in_force(
    db, mail, start_mailing, redis_client, keys
) -> None:
    # refused once: the message that arrives is the retry, rendered by the sweep
    mail.replies = ["451 4.3.0 try again later"]
    [named, under, other] = await subscribe(db, "cleo@example.com", 100_00, 90_00, 100_00)
    running = await start_mailing()
    rechecks = [recheck_event(s, 95_00, "in_stock", 1_700_000_000_000) for s in (named, under)]
    # the named one twice (a repeated publish), and one whose threshold the price misses
    for recheck in [rechecks[0], *rechecks]:
        add_recheck(redis_client, keys, recheck, partitions=2, maxlen=1_000)

    await eventually(lambda: len(mail.messages) == 1)
    await eventually(lambda: idle(redis_client, keys))
    await eventually(lambda: notifications_are(db, "sent", 1))
    [message] = mail.messages
    assert mail.attempts == 2
    assert message["X-Pricewatch-Key"] == f"{named.id}:{rechecks[0].event_id}:alert"
    text = plain_text(message)
    # the price in force, not a drop
    assert f"Product {ASIN} is at $95.00." in text
    assert not (await sql.get_subscription(db, named.id, named.user_id)).armed  # type: ignore[union-attr]
    assert (await sql.get_subscription(db, under.id, under.user_id)).armed  # type: ignore[union-attr]
    # not named, so untouched by a re-check: the change to that price fires it, and only it
    assert (await sql.get_subscription(db, other.id, other.user_id)).armed  # type: ignore[union-attr]
    publish(redis_client, keys, change(95_00, old=95_00))
    await eventually(lambda: len(mail.messages) == 2)
    await eventually(lambda: idle(redis_client, keys))
    await running.settled()
    assert [m["X-Pricewatch-Key"].split(":")[0] for m in mail.messages] == [
        str(named.id),
        str(other.id),
    ]


async def test_replayed_and_repeated_changes_send_once_and_rearm_above_the_threshold(
    db, mail, start_mailing, redis_client, keys
) -> None:
    [sub] = await subscribe(db, "anna@example.com", 100_00)
    running = await start_mailing()
    drop = change(90_00, old=110_00)
    publish(redis_client, keys, drop, drop)  # the same event delivered twice
    publish(redis_client, keys, change(90_00, old=90_00))  # a re-check: same price again
    publish(redis_client, keys, change(None, old=90_00))  # out of stock
    publish(redis_client, keys, change(100_00, old=None))  # back, at the threshold: no re-arm
    await eventually(lambda: idle(redis_client, keys))
    await eventually(lambda: notifications_are(db, "sent", 1))
    await running.settled()
    assert mail.keys() == [f"{sub.id}:{drop.event_id}:alert"]

    publish(redis_client, keys, change(100_01, old=100_00))  # above: re-armed
    second = change(95_00, old=100_01)
    publish(redis_client, keys, second)
    await eventually(lambda: len(mail.messages) == 2)
    assert mail.keys()[1] == f"{sub.id}:{second.event_id}:alert"


_moments = itertools.count(1)


def buybox(price: int | None, availability: Availability) -> PriceChange:
    """A change of the test product's buy box, with an event id and a page time of its own."""
    n = next(_moments)
    return price_change(
        price,
        event_id=f"bb{n}",
        asin=ASIN,
        observed_at=1_700_000_000_000 + n,
        new_availability=availability,
        title="Kettle",
    )


async def test_a_batch_replayed_after_a_crash_before_its_ack_tells_nothing_more(
    db, mail, start_mailing, redis_client, keys
) -> None:
    """A worker handles a batch and dies before acking it: the batch is read again. Its
    changes must then do nothing more: a price already told of (95 after 90) meeting the
    alert that a later change of the batch re-armed (120) is no drop, nor is a product
    still in stock a return once a later change found it out of stock again."""
    user = await sql.create_user(db, "rita@example.com", "h")
    price = await sql_store.subscribe(db, user, ASIN, 100_00)
    back = await sql_store.subscribe(db, user, ASIN, None, kind="back_in_stock")
    running = await start_mailing()
    gone = buybox(None, Availability.OUT_OF_STOCK)
    told = buybox(90_00, Availability.IN_STOCK)
    publish(redis_client, keys, gone, told)
    await eventually(lambda: notifications_are(db, "sent", 2))
    await eventually(lambda: idle(redis_client, keys))
    await running.close()

    # already told (no message), back above the threshold, out of stock: both re-armed
    batch = [
        buybox(95_00, Availability.IN_STOCK),
        buybox(120_00, Availability.IN_STOCK),
        buybox(None, Availability.OUT_OF_STOCK),
    ]
    publish(redis_client, keys, *batch)
    dead = AlertsWorker(client=redis_client, keys=keys, db=db, channels={}, config=make_config())
    read = await asyncio.to_thread(dead.changes.next)
    changes = [c for m in read for c in decode_many(m.data, PriceChange)]
    assert changes == batch
    for one in changes:
        assert await dead.handle_change(one) == 0
    await db.dispose()  # ... and it dies here, before acking the batch

    # the same consumer starts again and replays its own pending entries first
    running = await start_mailing()
    await eventually(lambda: idle(redis_client, keys))
    await running.settled()
    assert sorted(mail.keys()) == sorted(f"{s.id}:{told.event_id}:alert" for s in (price, back))
    stored = await subscriptions_by_id(db, [price.id, back.id])
    assert stored[price.id].armed and stored[back.id].armed  # the next drop, return is news


async def test_first_price_already_below_the_threshold_fires(
    db, mail, start_mailing, redis_client, keys
) -> None:
    [sub] = await subscribe(db, "anna@example.com", 100_00)
    await start_mailing()
    # the re-check published when a subscription is created: old == new
    publish(redis_client, keys, change(80_00, old=80_00))
    await eventually(lambda: len(mail.messages) == 1)
    assert mail.messages[0]["X-Pricewatch-Key"].startswith(f"{sub.id}:")


async def test_a_transient_smtp_failure_is_retried_and_sent_once(
    db, mail, start_mailing, redis_client, keys
) -> None:
    mail.replies = ["451 4.3.0 try again later"]
    await subscribe(db, "anna@example.com", 100_00)
    await start_mailing()
    publish(redis_client, keys, change(90_00))
    await eventually(lambda: len(mail.messages) == 1)
    await eventually(lambda: notifications_are(db, "sent", 1))
    [(_, _, status, attempts)] = await statuses(db)
    assert (status, attempts, mail.attempts) == ("sent", 1, 2)


@pytest.mark.parametrize(
    ("replies", "attempts"),
    [
        pytest.param(["550 5.1.1 no such user"], 1, id="a-permanent-one-at-once"),
        pytest.param(["421 4.7.0 busy"] * 10, 3, id="a-transient-one-after-max-attempts"),
    ],
)
async def test_a_failure_ends_as_failed_and_is_tried_no_more(
    replies: list[str], attempts: int, db, mail, start_mailing, redis_client, keys
) -> None:
    mail.replies = list(replies)  # a copy: every run of the test gets the whole script
    await subscribe(db, "anna@example.com", 100_00)
    running = await start_mailing(max_attempts=3)
    publish(redis_client, keys, change(90_00))
    await eventually(lambda: notifications_are(db, "failed"))
    await running.settled()  # several sweeps: nothing more is tried
    [(_, _, status, tried)] = await statuses(db)
    assert (status, tried, mail.attempts, mail.messages) == ("failed", attempts, attempts, [])


async def test_notifications_left_pending_by_a_crash_are_sent_by_the_sweep(
    db, mail, start_mailing, redis_client, keys
) -> None:
    subs = await subscribe(db, "anna@example.com", 100_00, 120_00)
    lost = change(90_00, old=130_00, title="Kettle")
    # a worker claimed (and disarmed) and died before sending: rows pending, lease over
    dead = AlertsWorker(
        client=redis_client, keys=keys, db=db, channels={}, config=make_config(consumer="dead")
    )
    assert await dead.handle_change(lost) == 2
    await db.dispose()  # nothing of the dead worker survives but its rows
    async with db.begin() as conn:
        await conn.exec_driver_sql("UPDATE notifications SET next_attempt_at = 0")
    await start_mailing()
    await eventually(lambda: len(mail.messages) == 2)
    assert sorted(mail.keys()) == sorted(f"{s.id}:{lost.event_id}:alert" for s in subs)
    # rendered from the event kept in Redis, as the first attempt would have been
    assert sorted(m["Subject"] for m in mail.messages) == [
        "Price of Kettle is at $90.00, below your $100.00",
        "Price of Kettle is at $90.00, below your $120.00",
    ]
    await eventually(lambda: notifications_are(db, "sent", 2))


async def test_a_lease_keeps_other_sweepers_away(db) -> None:
    [sub] = await subscribe(db, "anna@example.com", 100_00)
    await sql.claim_notifications(db, [sub.id], "ev", "alert", 1, now=0, retry_at=10)
    first = await lease_due_notifications(db, 100, 1_000)
    assert [n.subscription_id for n in first] == [sub.id]
    assert first[0].next_attempt_at == 1_000
    assert await lease_due_notifications(db, 999, 2_000) == []
    assert len(await lease_due_notifications(db, 1_000, 2_000)) == 1


async def test_corrections_reach_every_recipient_once(
    db, mail, start_mailing, redis_client, keys
) -> None:
    told = await subscribe(db, "anna@example.com", 100_00, 95_00)
    [untold] = await subscribe(db, "bob@example.com", 50_00)
    running = await start_mailing()
    false_drop = change(90_00, old=120_00)
    publish(redis_client, keys, false_drop)
    await eventually(lambda: notifications_are(db, "sent", 2))

    correction = PriceCorrection(
        refuted_event_id=false_drop.event_id,
        market="us",
        asin=ASIN,
        series=Series.BUYBOX,
        refuted_price=90_00,
        actual_price=119_00,
        currency="USD",
    )
    corrections = PartitionedStream(keys, PRICE_CORRECTIONS, 2)
    corrections.publish(redis_client, [("us", ASIN, correction)] * 2)  # replayed too
    await eventually(lambda: len(mail.messages) == 4)
    await running.settled()
    keys_seen = mail.keys()
    assert sorted(k for k in keys_seen if k.endswith(":correction")) == sorted(
        f"{s.id}:{false_drop.event_id}:correction" for s in told
    )
    assert not any(k.startswith(f"{untold.id}:") for k in keys_seen)
    message = next(m for m in mail.messages if m["X-Pricewatch-Key"].endswith("correction"))
    text = plain_text(message)
    assert "$90.00" in text and "The verified price is $119.00." in text
    # the false price disarmed them; the real one re-arms them
    for s in told:
        assert (await sql.get_subscription(db, s.id, s.user_id)).armed  # type: ignore[union-attr]


async def test_bad_events_go_to_the_dead_letter_stream_and_are_acked(
    db, start_mailing, redis_client, keys
) -> None:
    await start_mailing()
    stream = PartitionedStream(keys, PRICE_CHANGES, 2)
    stream.publish(redis_client, [("us", ASIN, b'{"not": "a change"}')])
    await eventually(lambda: redis_client.xlen(keys.dead_letter) == 1)
    [(_, fields)] = redis_client.xrange(keys.dead_letter)
    assert fields[b"role"] == b"alerts" and b"PriceChange" in fields[b"reason"]
    assert fields[b"d"] == b'{"not": "a change"}'
    await eventually(lambda: idle(redis_client, keys))


async def test_a_bad_change_in_an_entry_of_many_dies_alone(
    db, mail, start_mailing, redis_client, keys
) -> None:
    await subscribe(db, "anna@example.com", 100_00)
    other = "B000000042"
    await subscribe(db, "bob@example.com", 50_00, asin=other)
    await start_mailing()
    bad = b'{"event_id": "x", "market": "us"}'
    good = [change(99_50, old=129_99), change(49_00, old=60_00, asin=other)]
    entry = b"[" + b",".join([encode(good[0]), bad, encode(good[1])]) + b"]"
    PartitionedStream(keys, PRICE_CHANGES, 2).publish(redis_client, [("us", ASIN, entry)])

    await eventually(lambda: len(mail.messages) == 2)
    assert {m["To"] for m in mail.messages} == {"anna@example.com", "bob@example.com"}
    [(_, fields)] = redis_client.xrange(keys.dead_letter)
    assert fields[b"role"] == b"alerts" and b"PriceChange" in fields[b"reason"]
    assert fields[b"d"] == bad
    await eventually(lambda: idle(redis_client, keys))

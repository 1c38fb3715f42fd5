"""The alerts worker end to end over real Redis streams, a real database
(SQLite and PostgreSQL) and a real SMTP server."""

from __future__ import annotations

import itertools

import pytest
import redis as redis_lib
from sqlalchemy.ext.asyncio import AsyncEngine

from pricewatch.alert_links import verify_stop_token
from pricewatch.keys import ALERTS_GROUP, PRICE_CHANGES, PRICE_CORRECTIONS, Keys
from pricewatch.models import PriceChange, PriceCorrection, Series, Source
from pricewatch.rechecks import add_recheck, recheck_event
from pricewatch.storage import sql
from pricewatch.storage.sql_alerts import lease_due_notifications
from pricewatch.storage.streams import PartitionedStream
from tests.alerts.conftest import PUBLIC_URL, SECRET, MailRecorder, smtp_channel
from tests.services import eventually

pytestmark = pytest.mark.redis

ASIN = "B0ALERT001"
_events = itertools.count(1)


def change(
    new: int | None,
    old: int | None = None,
    *,
    asin: str = ASIN,
    event_id: str | None = None,
    title: str = "Espresso Machine",
) -> PriceChange:
    n = next(_events)
    return PriceChange(
        event_id=event_id or f"ev{n}",
        market="us",
        asin=asin,
        series=Series.BUYBOX,
        observed_at=1_700_000_000_000 + n,
        source=Source.CRAWLER,
        new_price=new,
        old_price=old,
        currency="USD",
        title=title,
    )


def publish(client: redis_lib.Redis, keys: Keys, *events: PriceChange) -> None:
    stream = PartitionedStream(keys, PRICE_CHANGES, 2)
    stream.publish(client, ((e.market, e.asin, e) for e in events))


async def subscribe(
    db: AsyncEngine,
    email: str,
    *thresholds: int,
    asin: str = ASIN,
    kind: str = "EMAIL",
    target: str | None = None,
) -> list[sql.Subscription]:
    user = await sql.get_user_by_email(db, email) or await sql.create_user(db, email, "h")
    return [
        await sql.create_subscription(
            db,
            user_id=user.id,
            market="us",
            asin=asin,
            notification_type=kind,
            threshold=t,
            target=target,
        )
        for t in thresholds
    ]


async def statuses(db: AsyncEngine) -> list[tuple[int, str, str, int]]:
    async with db.connect() as conn:
        rows = await conn.exec_driver_sql(
            "SELECT subscription_id, event_id, status, attempts FROM notifications ORDER BY id"
        )
        return [tuple(r) for r in rows]  # type: ignore[misc]


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


async def test_a_drop_sends_one_email_with_prices_threshold_and_links(
    db, smtp: tuple[MailRecorder, int], start_worker, redis_client, keys
) -> None:
    recorder, port = smtp
    [below, above] = await subscribe(db, "anna@example.com", 100_00, 50_00)
    [other] = await subscribe(db, "bob@example.com", 120_00, target="bob.alerts@example.com")
    await start_worker({sql.NotificationType.EMAIL: smtp_channel(port)})
    publish(redis_client, keys, change(99_50, old=129_99))

    await eventually(lambda: len(recorder.messages) == 2)
    by_to = {m["To"]: m for m in recorder.messages}
    assert set(by_to) == {"anna@example.com", "bob.alerts@example.com"}
    message = by_to["anna@example.com"]
    assert message["Subject"] == "Price drop: Espresso Machine is now $99.50"
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Espresso Machine dropped to $99.50 (was $129.99)." in text
    assert "Your alert threshold: $100.00." in text
    assert f"{PUBLIC_URL}/p/us/{ASIN}" in text
    assert f"https://www.amazon.com/dp/{ASIN}" in text
    stop = f"{PUBLIC_URL}/alerts/{below.id}/stop?token="
    assert stop in text
    token = text.split(stop)[1].split()[0]
    assert verify_stop_token(below.id, token, SECRET)
    assert message["X-Pricewatch-Key"].startswith(f"{below.id}:")

    # both marked sent, the fired ones disarmed, the one above its threshold untouched
    await eventually(lambda: _all_sent(db, 2))
    assert not (await sql.get_subscription(db, below.id, below.user_id)).armed  # type: ignore[union-attr]
    assert (await sql.get_subscription(db, above.id, above.user_id)).armed  # type: ignore[union-attr]
    assert not (await sql.get_subscription(db, other.id, other.user_id)).armed  # type: ignore[union-attr]
    await eventually(lambda: idle(redis_client, keys))


async def test_a_recheck_fires_only_the_subscription_it_names_once_at_the_price_in_force(
    db, smtp: tuple[MailRecorder, int], start_worker, redis_client, keys
) -> None:
    recorder, port = smtp
    # refused once: the message that arrives is the retry, rendered by the sweep
    recorder.replies = ["451 4.3.0 try again later"]
    [named, under, other] = await subscribe(db, "cleo@example.com", 100_00, 90_00, 100_00)
    running = await start_worker({sql.NotificationType.EMAIL: smtp_channel(port)})
    rechecks = [recheck_event(s, 95_00, "in_stock", 1_700_000_000_000) for s in (named, under)]
    # the named one twice (a repeated publish), and one whose threshold the price misses
    for recheck in [rechecks[0], *rechecks]:
        add_recheck(redis_client, keys, recheck, partitions=2, maxlen=1_000)

    await eventually(lambda: len(recorder.messages) == 1)
    await eventually(lambda: idle(redis_client, keys))
    await eventually(lambda: _all_sent(db, 1))
    [message] = recorder.messages
    assert recorder.attempts == 2
    assert message["X-Pricewatch-Key"] == f"{named.id}:{rechecks[0].event_id}:alert"
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    # the price in force, not a drop
    assert f"Product {ASIN} is at $95.00." in text
    assert not (await sql.get_subscription(db, named.id, named.user_id)).armed  # type: ignore[union-attr]
    assert (await sql.get_subscription(db, under.id, under.user_id)).armed  # type: ignore[union-attr]
    # not named, so untouched by a re-check: the change to that price fires it, and only it
    assert (await sql.get_subscription(db, other.id, other.user_id)).armed  # type: ignore[union-attr]
    publish(redis_client, keys, change(95_00, old=95_00))
    await eventually(lambda: len(recorder.messages) == 2)
    await eventually(lambda: idle(redis_client, keys))
    await running.settled()
    assert [m["X-Pricewatch-Key"].split(":")[0] for m in recorder.messages] == [
        str(named.id),
        str(other.id),
    ]


async def _all_sent(db: AsyncEngine, n: int) -> bool:
    rows = await statuses(db)
    return len(rows) == n and all(r[2] == "sent" for r in rows)


async def test_replayed_and_repeated_changes_send_once_and_rearm_above_the_threshold(
    db, smtp: tuple[MailRecorder, int], start_worker, redis_client, keys
) -> None:
    recorder, port = smtp
    [sub] = await subscribe(db, "anna@example.com", 100_00)
    running = await start_worker({sql.NotificationType.EMAIL: smtp_channel(port)})
    drop = change(90_00, old=110_00)
    publish(redis_client, keys, drop, drop)  # the same event delivered twice
    publish(redis_client, keys, change(90_00, old=90_00))  # a re-check: same price again
    publish(redis_client, keys, change(None, old=90_00))  # out of stock
    publish(redis_client, keys, change(100_00, old=None))  # back, at the threshold: no re-arm
    await eventually(lambda: idle(redis_client, keys))
    await eventually(lambda: _all_sent(db, 1))
    await running.settled()
    assert recorder.keys() == [f"{sub.id}:{drop.event_id}:alert"]

    publish(redis_client, keys, change(100_01, old=100_00))  # above: re-armed
    second = change(95_00, old=100_01)
    publish(redis_client, keys, second)
    await eventually(lambda: len(recorder.messages) == 2)
    assert recorder.keys()[1] == f"{sub.id}:{second.event_id}:alert"


async def test_first_price_already_below_the_threshold_fires(
    db, smtp: tuple[MailRecorder, int], start_worker, redis_client, keys
) -> None:
    recorder, port = smtp
    [sub] = await subscribe(db, "anna@example.com", 100_00)
    await start_worker({sql.NotificationType.EMAIL: smtp_channel(port)})
    # the re-check published when a subscription is created: old == new
    publish(redis_client, keys, change(80_00, old=80_00))
    await eventually(lambda: len(recorder.messages) == 1)
    assert recorder.messages[0]["X-Pricewatch-Key"].startswith(f"{sub.id}:")


async def test_a_transient_smtp_failure_is_retried_and_sent_once(
    db, smtp: tuple[MailRecorder, int], start_worker, redis_client, keys
) -> None:
    recorder, port = smtp
    recorder.replies = ["451 4.3.0 try again later"]
    await subscribe(db, "anna@example.com", 100_00)
    await start_worker({sql.NotificationType.EMAIL: smtp_channel(port)})
    publish(redis_client, keys, change(90_00))
    await eventually(lambda: len(recorder.messages) == 1)
    await eventually(lambda: _all_sent(db, 1))
    [(_, _, status, attempts)] = await statuses(db)
    assert (status, attempts, recorder.attempts) == ("sent", 1, 2)


async def test_a_permanent_failure_fails_at_once(
    db, smtp: tuple[MailRecorder, int], start_worker, redis_client, keys
) -> None:
    recorder, port = smtp
    recorder.replies = ["550 5.1.1 no such user"]
    await subscribe(db, "anna@example.com", 100_00)
    running = await start_worker({sql.NotificationType.EMAIL: smtp_channel(port)})
    publish(redis_client, keys, change(90_00))
    await eventually(lambda: _status_is(db, "failed"))
    await running.settled()  # several sweeps: nothing is retried
    [(_, _, status, attempts)] = await statuses(db)
    assert (status, attempts, recorder.attempts, recorder.messages) == ("failed", 1, 1, [])


async def test_retries_are_bounded(
    db, smtp: tuple[MailRecorder, int], start_worker, redis_client, keys
) -> None:
    recorder, port = smtp
    recorder.replies = ["421 4.7.0 busy"] * 10
    await subscribe(db, "anna@example.com", 100_00)
    running = await start_worker({sql.NotificationType.EMAIL: smtp_channel(port)}, max_attempts=3)
    publish(redis_client, keys, change(90_00))
    await eventually(lambda: _status_is(db, "failed"))
    await running.settled()
    [(_, _, status, attempts)] = await statuses(db)
    assert (status, attempts, recorder.attempts, recorder.messages) == ("failed", 3, 3, [])


async def _status_is(db: AsyncEngine, status: str) -> bool:
    rows = await statuses(db)
    return bool(rows) and all(r[2] == status for r in rows)


async def test_notifications_left_pending_by_a_crash_are_sent_by_the_sweep(
    db, smtp: tuple[MailRecorder, int], start_worker, redis_client, keys
) -> None:
    recorder, port = smtp
    subs = await subscribe(db, "anna@example.com", 100_00, 120_00)
    lost = change(90_00, old=130_00, title="Kettle")
    # a worker claimed (and disarmed) and died before sending: rows pending, lease over
    from alerts.worker import AlertsWorker
    from tests.alerts.conftest import make_config

    dead = AlertsWorker(
        client=redis_client, keys=keys, db=db, channels={}, config=make_config(consumer="dead")
    )
    assert await dead.handle_change(lost) == 2
    await db.dispose()  # nothing of the dead worker survives but its rows
    async with db.begin() as conn:
        await conn.exec_driver_sql("UPDATE notifications SET next_attempt_at = 0")
    await start_worker({sql.NotificationType.EMAIL: smtp_channel(port)})
    await eventually(lambda: len(recorder.messages) == 2)
    assert sorted(recorder.keys()) == sorted(f"{s.id}:{lost.event_id}:alert" for s in subs)
    # rendered from the event kept in Redis, as the first attempt would have been
    assert all(m["Subject"] == "Price drop: Kettle is now $90.00" for m in recorder.messages)
    await eventually(lambda: _all_sent(db, 2))


async def test_a_lease_keeps_other_sweepers_away(db) -> None:
    [sub] = await subscribe(db, "anna@example.com", 100_00)
    await sql.claim_notifications(db, [sub.id], "ev", "alert", 1, now=0, retry_at=10)
    first = await lease_due_notifications(db, 100, 1_000)
    assert [n.subscription_id for n in first] == [sub.id]
    assert first[0].next_attempt_at == 1_000
    assert await lease_due_notifications(db, 999, 2_000) == []
    assert len(await lease_due_notifications(db, 1_000, 2_000)) == 1


async def test_corrections_reach_every_recipient_once(
    db, smtp: tuple[MailRecorder, int], start_worker, redis_client, keys
) -> None:
    recorder, port = smtp
    told = await subscribe(db, "anna@example.com", 100_00, 95_00)
    [untold] = await subscribe(db, "bob@example.com", 50_00)
    running = await start_worker({sql.NotificationType.EMAIL: smtp_channel(port)})
    false_drop = change(90_00, old=120_00)
    publish(redis_client, keys, false_drop)
    await eventually(lambda: _all_sent(db, 2))

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
    await eventually(lambda: len(recorder.messages) == 4)
    await running.settled()
    keys_seen = recorder.keys()
    assert sorted(k for k in keys_seen if k.endswith(":correction")) == sorted(
        f"{s.id}:{false_drop.event_id}:correction" for s in told
    )
    assert not any(k.startswith(f"{untold.id}:") for k in keys_seen)
    message = next(m for m in recorder.messages if m["X-Pricewatch-Key"].endswith("correction"))
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "$90.00" in text and "The verified price is $119.00." in text
    # the false price disarmed them; the real one re-arms them
    for s in told:
        assert (await sql.get_subscription(db, s.id, s.user_id)).armed  # type: ignore[union-attr]


async def test_bad_events_go_to_the_dead_letter_stream_and_are_acked(
    db, smtp: tuple[MailRecorder, int], start_worker, redis_client, keys
) -> None:
    _, port = smtp
    await start_worker({sql.NotificationType.EMAIL: smtp_channel(port)})
    stream = PartitionedStream(keys, PRICE_CHANGES, 2)
    stream.publish(redis_client, [("us", ASIN, b'{"not": "a change"}')])
    await eventually(lambda: redis_client.xlen(keys.dead_letter) == 1)
    [(_, fields)] = redis_client.xrange(keys.dead_letter)
    assert fields[b"role"] == b"alerts" and b"PriceChange" in fields[b"reason"]
    assert fields[b"d"] == b'{"not": "a change"}'
    await eventually(lambda: idle(redis_client, keys))

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from pricewatch.storage import sql
from tests.sql_store import subscribe

ASIN = "B000000001"


async def _subscriptions(engine: AsyncEngine, n: int) -> list[sql.Subscription]:
    user = await sql.create_user(engine, "n@example.com", "h")
    return [await subscribe(engine, user, ASIN, 1000) for _ in range(n)]


async def test_an_event_is_claimed_once_per_subscription_and_kind(sql_engine: AsyncEngine):
    [sub] = await _subscriptions(sql_engine, 1)
    first = await sql.claim_notification(sql_engine, sub.id, "ev-1", "alert", 900, now=10)
    assert first is not None
    assert await sql.claim_notification(sql_engine, sub.id, "ev-1", "alert", 900) is None
    # a different kind or event is a different notification
    assert await sql.claim_notification(sql_engine, sub.id, "ev-1", "correction", 900)
    assert await sql.claim_notification(sql_engine, sub.id, "ev-2", "alert", 800)

    claimed = await sql.get_notification(sql_engine, first)
    assert claimed is not None
    assert (claimed.status, claimed.attempts, claimed.price, claimed.created_at) == (
        "pending",
        0,
        900,
        10,
    )
    assert claimed.next_attempt_at == 10 + sql.CLAIM_LEASE_MS


async def test_concurrent_claims_of_one_event_yield_a_single_winner(sql_engine: AsyncEngine):
    [sub] = await _subscriptions(sql_engine, 1)
    results = await asyncio.gather(
        *(sql.claim_notification(sql_engine, sub.id, "ev", "alert", 1) for _ in range(8))
    )
    assert len([r for r in results if r is not None]) == 1


async def test_bulk_claim_skips_what_was_already_claimed(sql_engine: AsyncEngine):
    subs = await _subscriptions(sql_engine, 5)
    ids = [s.id for s in subs]
    early = await sql.claim_notification(sql_engine, ids[1], "ev", "alert", 900)

    claimed = await sql.claim_notifications(sql_engine, [*ids, ids[0]], "ev", "alert", 900)
    assert set(claimed) == set(ids) - {ids[1]}
    assert early not in claimed.values()
    assert len(set(claimed.values())) == 4
    assert await sql.claim_notifications(sql_engine, ids, "ev", "alert", 900) == {}
    assert await sql.claim_notifications(sql_engine, [], "ev", "alert", 900) == {}


@pytest.mark.parametrize(("event_id", "kind"), [("", "alert"), ("x" * 65, "alert"), ("e", "spam")])
async def test_bad_claim_is_refused(sql_engine: AsyncEngine, event_id: str, kind: str):
    [sub] = await _subscriptions(sql_engine, 1)
    with pytest.raises(ValueError):
        await sql.claim_notification(sql_engine, sub.id, event_id, kind, 1)


async def test_retry_bookkeeping_until_failed(sql_engine: AsyncEngine):
    [sub] = await _subscriptions(sql_engine, 1)
    nid = await sql.claim_notification(sql_engine, sub.id, "ev", "alert", 900, now=0, retry_at=0)
    assert nid is not None
    assert [n.id for n in await sql.pending_notifications(sql_engine, now=0)] == [nid]

    status = await sql.mark_failed_attempt(sql_engine, nid, "smtp 451", 100, max_attempts=3)
    assert status is sql.NotificationStatus.PENDING
    assert await sql.pending_notifications(sql_engine, now=99) == []
    [due] = await sql.pending_notifications(sql_engine, now=100)
    assert (due.attempts, due.last_error, due.next_attempt_at) == (1, "smtp 451", 100)

    assert await sql.mark_failed_attempt(sql_engine, nid, "again", 200, 3) == "pending"
    assert await sql.mark_failed_attempt(sql_engine, nid, "x" * 10_000, 300, 3) == "failed"
    failed = await sql.get_notification(sql_engine, nid)
    assert failed is not None
    assert (failed.status, failed.attempts, len(failed.last_error or "")) == ("failed", 3, 2000)
    assert await sql.pending_notifications(sql_engine, now=10**12) == []
    # a finished row is not counted again
    assert await sql.mark_failed_attempt(sql_engine, nid, "late", 400, 3) == "failed"
    assert await sql.mark_sent(sql_engine, nid) is False

    with pytest.raises(sql.NotFoundError):
        await sql.mark_failed_attempt(sql_engine, 999_999, "?", 0, 3)


async def test_sent_notifications_leave_the_sweep(sql_engine: AsyncEngine):
    subs = await _subscriptions(sql_engine, 3)
    claimed = await sql.claim_notifications(
        sql_engine, [s.id for s in subs], "ev", "alert", 900, now=0, retry_at=50
    )
    sent_id = claimed[subs[0].id]
    assert await sql.mark_sent(sql_engine, sent_id, now=60) is True
    assert await sql.mark_sent(sql_engine, sent_id, now=61) is False
    sent = await sql.get_notification(sql_engine, sent_id)
    assert sent is not None and (sent.status, sent.sent_at) == ("sent", 60)

    pending = await sql.pending_notifications(sql_engine, now=50, limit=10)
    assert {n.id for n in pending} == {claimed[subs[1].id], claimed[subs[2].id]}
    assert len(await sql.pending_notifications(sql_engine, now=50, limit=1)) == 1


async def test_recipients_of_event_are_those_who_were_sent_the_alert(sql_engine: AsyncEngine):
    subs = await _subscriptions(sql_engine, 4)
    claimed = await sql.claim_notifications(
        sql_engine, [s.id for s in subs[:3]], "ev", "alert", 900
    )
    await sql.mark_sent(sql_engine, claimed[subs[0].id])
    await sql.mark_sent(sql_engine, claimed[subs[1].id])
    other = await sql.claim_notification(sql_engine, subs[3].id, "other-ev", "alert", 1)
    assert other is not None
    await sql.mark_sent(sql_engine, other)
    # a recipient who deleted the subscription since still needs the correction
    await sql.delete_subscription(sql_engine, subs[1].id, subs[1].user_id)

    recipients = await sql.recipients_of_event(sql_engine, "ev")
    assert [s.id for s in recipients] == [subs[0].id, subs[1].id]
    assert await sql.recipients_of_event(sql_engine, "unknown") == []


async def test_a_deferral_moves_the_next_attempt_without_counting_one(sql_engine: AsyncEngine):
    [sub] = await _subscriptions(sql_engine, 1)
    nid = await sql.claim_notification(sql_engine, sub.id, "ev", "alert", 900, now=0, retry_at=50)
    assert nid is not None
    await sql.mark_failed_attempt(sql_engine, nid, "smtp 451", 100, max_attempts=3)
    # a sender whose lease is not the row's (it passed to another) moves nothing
    assert await sql.defer_notification(sql_engine, nid, 500, leased_until=50) is False
    assert await sql.defer_notification(sql_engine, nid, 500, leased_until=100) is True
    row = await sql.get_notification(sql_engine, nid)
    assert row is not None
    assert (row.status, row.attempts, row.last_error, row.next_attempt_at) == (
        "pending",
        1,
        "smtp 451",
        500,
    )
    assert await sql.defer_notification(sql_engine, nid, 900) is True
    assert await sql.mark_sent(sql_engine, nid)
    # a finished row stays finished
    assert await sql.defer_notification(sql_engine, nid, 1_000) is False
    assert await sql.defer_notification(sql_engine, 999_999, 1_000) is False

"""Targets, the account's verified e-mail, single-use account tokens and deleting an
account, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import Table, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from pricewatch.storage import sql
from pricewatch.storage.sql_schema import (
    account_tokens,
    auth_tokens,
    notifications,
    reporters,
    subscriptions,
    targets,
    users,
)
from pricewatch.storage.sql_trust import AuditRecord, AuditVerdict, report_audit
from tests.sql_store import subscribe

MINUTE = 60_000
UNCONFIRMED = sql.SubscriptionStatus.UNCONFIRMED.value


async def _sub(
    db: AsyncEngine,
    user: sql.User,
    kind: str = "EMAIL",
    target: str | None = None,
    status: str = UNCONFIRMED,
    asin: str = "B0DEST0001",
) -> sql.Subscription:
    return await subscribe(
        db, user, asin, 1000, notification_type=kind, target=target, status=status
    )


async def _account_token(
    db: AsyncEngine, user: sql.User, token_hash: str, purpose: str, expires_at: int, **fields: int
) -> None:
    """Issue ``user`` an account token at time 0 (``fields``: its target_id)."""
    await sql.create_account_token(
        db,
        user_id=user.id,
        token_hash=token_hash,
        purpose=purpose,
        expires_at=expires_at,
        now=0,
        **fields,
    )


async def _statuses(db: AsyncEngine, *subs: sql.Subscription) -> list[str]:
    found = []
    for s in subs:
        current = await sql.get_subscription(db, s.id, s.user_id)
        assert current is not None
        found.append(current.status.value)
    return found


async def test_a_target_is_one_row_per_user_kind_and_address(sql_engine: AsyncEngine):
    ann = await sql.create_user(sql_engine, "ann@example.com", "h")
    bob = await sql.create_user(sql_engine, "bob@example.com", "h")
    first, created = await sql.add_target(
        sql_engine, ann.id, "SMS", "+15555550100", confirmed=False, now=1
    )
    again, created_again = await sql.add_target(
        sql_engine, ann.id, "SMS", "+15555550100", confirmed=True, now=2
    )
    assert created and not created_again and again == first and not again.confirmed
    other, _ = await sql.add_target(
        sql_engine, bob.id, "SMS", "+15555550100", confirmed=True, now=3
    )
    assert other.id != first.id and other.confirmed_at == 3
    assert await sql.list_targets(sql_engine, ann.id) == [first]
    assert await sql.get_target(sql_engine, first.id, bob.id) is None
    assert await sql.find_target(sql_engine, ann.id, "SMS", "+15555550100") == first
    with pytest.raises(ValueError):
        await sql.add_target(sql_engine, ann.id, "FAX", "123", confirmed=False, now=1)


async def test_a_confirmation_goes_out_at_most_once_per_gap(sql_engine: AsyncEngine):
    user = await sql.create_user(sql_engine, "gap@example.com", "h")
    target, _ = await sql.add_target(
        sql_engine, user.id, "EMAIL", "x@example.org", confirmed=False, now=0
    )
    gap = 10 * MINUTE
    assert await sql.claim_send_slot(sql_engine, target.id, 1_000, gap)
    assert not await sql.claim_send_slot(sql_engine, target.id, 1_000 + gap - 1, gap)
    assert await sql.claim_send_slot(sql_engine, target.id, 1_000 + gap, gap)
    found = await sql.get_target(sql_engine, target.id)
    assert found is not None and found.last_sent_at == 1_000 + gap


async def test_confirming_a_target_activates_its_waiting_subscriptions_only(
    sql_engine: AsyncEngine,
):
    ann = await sql.create_user(sql_engine, "ann@example.com", "h")
    bob = await sql.create_user(sql_engine, "bob@example.com", "h")
    target, _ = await sql.add_target(
        sql_engine, ann.id, "WEBHOOK", "https://hooks.example.org/", confirmed=False, now=0
    )
    waiting = await _sub(sql_engine, ann, "WEBHOOK", "https://hooks.example.org/")
    paused = await _sub(sql_engine, ann, "WEBHOOK", "https://hooks.example.org/", status="paused")
    elsewhere = await _sub(sql_engine, ann, "WEBHOOK", "https://other.example.org/")
    account_email = await _sub(sql_engine, ann)
    bobs = await _sub(sql_engine, bob, "WEBHOOK", "https://hooks.example.org/")

    activated = await sql.confirm_target(sql_engine, target.id, now=5)
    assert [s.id for s in activated] == [waiting.id]
    assert activated[0].status == sql.SubscriptionStatus.ACTIVE
    assert await _statuses(sql_engine, waiting, paused, elsewhere, account_email, bobs) == [
        "active",
        "paused",
        UNCONFIRMED,
        UNCONFIRMED,
        UNCONFIRMED,
    ]
    confirmed = await sql.get_target(sql_engine, target.id)
    assert confirmed is not None and confirmed.confirmed_at == 5
    # confirming again changes nothing and keeps the first time
    assert await sql.confirm_target(sql_engine, target.id, now=9) == []
    again = await sql.get_target(sql_engine, target.id)
    assert again is not None and again.confirmed_at == 5


async def test_removing_a_target_puts_its_alerts_back_to_waiting(sql_engine: AsyncEngine):
    ann = await sql.create_user(sql_engine, "ann@example.com", "h")
    bob = await sql.create_user(sql_engine, "bob@example.com", "h")
    target, _ = await sql.add_target(
        sql_engine, ann.id, "SMS", "+15555550100", confirmed=True, now=0
    )
    active = await _sub(sql_engine, ann, "SMS", "+15555550100", status="active")
    paused = await _sub(sql_engine, ann, "SMS", "+15555550100", status="paused")
    assert not await sql.delete_target(sql_engine, target.id, bob.id, now=1)
    assert await sql.delete_target(sql_engine, target.id, ann.id, now=1)
    assert await sql.list_targets(sql_engine, ann.id) == []
    assert await _statuses(sql_engine, active, paused) == [UNCONFIRMED, "paused"]


async def test_verifying_the_account_email_activates_what_waits_for_it(sql_engine: AsyncEngine):
    ann = await sql.create_user(sql_engine, "ann@example.com", "h")
    assert not ann.email_verified
    no_target = await _sub(sql_engine, ann)
    own_address = await _sub(sql_engine, ann, target="ann@example.com")
    other_address = await _sub(sql_engine, ann, target="friend@example.com")
    sms = await _sub(sql_engine, ann, "SMS", "+15555550100")

    activated = await sql.mark_email_verified(sql_engine, ann.id, now=7)
    assert [s.id for s in activated] == [no_target.id, own_address.id]
    assert await _statuses(sql_engine, no_target, own_address, other_address, sms) == [
        "active",
        "active",
        UNCONFIRMED,
        UNCONFIRMED,
    ]
    verified = await sql.get_user(sql_engine, ann.id)
    assert verified is not None and verified.email_verified_at == 7
    await sql.mark_email_verified(sql_engine, ann.id, now=99)
    again = await sql.get_user(sql_engine, ann.id)
    assert again is not None and again.email_verified_at == 7
    assert await sql.mark_email_verified(sql_engine, ann.id + 100, now=1) == []


async def test_account_tokens_work_once_and_until_they_expire(sql_engine: AsyncEngine):
    user = await sql.create_user(sql_engine, "tok@example.com", "h")
    verify = sql.AccountTokenPurpose.VERIFY_EMAIL.value
    reset = sql.AccountTokenPurpose.RESET_PASSWORD.value
    token_hash = sql.hash_token("link-token")
    await _account_token(sql_engine, user, token_hash, verify, 10 * MINUTE)
    # the raw token is refused, never stored
    with pytest.raises(ValueError, match="SHA-256"):
        await _account_token(sql_engine, user, "link-token", verify, 1)
    assert await sql.peek_account_token(sql_engine, token_hash, verify, MINUTE) is not None
    assert await sql.use_account_token(sql_engine, token_hash, reset, MINUTE) is None
    used = await sql.use_account_token(sql_engine, token_hash, verify, 2 * MINUTE)
    assert used is not None and used.user_id == user.id and used.used_at == 2 * MINUTE
    assert await sql.use_account_token(sql_engine, token_hash, verify, 3 * MINUTE) is None
    assert await sql.peek_account_token(sql_engine, token_hash, verify, 3 * MINUTE) is None

    late = sql.hash_token("late-token")
    await _account_token(sql_engine, user, late, reset, 10 * MINUTE)
    assert await sql.use_account_token(sql_engine, late, reset, 10 * MINUTE) is None
    assert await sql.delete_expired_account_tokens(sql_engine, 10 * MINUTE) == 2


async def test_a_confirm_token_names_its_target_and_goes_with_it(sql_engine: AsyncEngine):
    user = await sql.create_user(sql_engine, "t@example.com", "h")
    confirm = sql.AccountTokenPurpose.CONFIRM_TARGET.value
    with pytest.raises(ValueError, match="names its target"):
        await _account_token(sql_engine, user, sql.hash_token("x"), confirm, MINUTE)
    target, _ = await sql.add_target(
        sql_engine, user.id, "EMAIL", "x@example.org", confirmed=False, now=0
    )
    token_hash = sql.hash_token("confirm-x")
    await _account_token(sql_engine, user, token_hash, confirm, MINUTE, target_id=target.id)
    await sql.delete_target(sql_engine, target.id, user.id, now=1)
    assert await sql.use_account_token(sql_engine, token_hash, confirm, 2) is None


async def _count(db: AsyncEngine, table: Table) -> int:
    async with db.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())


async def _account_with_everything(db: AsyncEngine, email: str) -> sql.User:
    user = await sql.create_user(db, email, "h")
    await sql.create_token(db, user.id, sql.hash_token(f"bearer-{email}"), 10**13)
    target, _ = await sql.add_target(db, user.id, "SMS", "+15555550100", confirmed=False, now=0)
    confirm = sql.AccountTokenPurpose.CONFIRM_TARGET.value
    await _account_token(
        db, user, sql.hash_token(f"confirm-{email}"), confirm, 10**13, target_id=target.id
    )
    sub = await _sub(db, user, status="active")
    await sql.claim_notification(db, sub.id, "event-1", "alert", 900)
    reporter = f"user:{user.id}"
    await sql.record_decisions(
        db,
        [
            AuditRecord(
                report_id=f"r{user.id:031d}",
                market="us",
                asin="B0DEST0001",
                series="buybox",
                reporter=reporter,
                observed_at=1,
                price=900,
                verdict=AuditVerdict.CONFIRMED,
                decided_at=2,
            )
        ],
    )
    return user


async def test_deleting_an_account_removes_all_of_it_and_nothing_of_another(
    sql_engine: AsyncEngine,
):
    gone = await _account_with_everything(sql_engine, "gone@example.com")
    kept = await _account_with_everything(sql_engine, "kept@example.com")
    tables = [
        users,
        auth_tokens,
        targets,
        account_tokens,
        subscriptions,
        notifications,
        reporters,
        report_audit,
    ]
    before = [await _count(sql_engine, t) for t in tables]
    assert before == [2] * len(tables)

    assert await sql.delete_account(sql_engine, gone.id, f"user:{gone.id}")
    assert [await _count(sql_engine, t) for t in tables] == [1] * len(tables)
    assert await sql.get_user(sql_engine, gone.id) is None
    assert await sql.get_reporter(sql_engine, f"user:{gone.id}") is None
    assert await sql.audit_log(sql_engine, reporter=f"user:{gone.id}") == []
    # the other account is whole
    assert await sql.get_user(sql_engine, kept.id) is not None
    assert len(await sql.subscriptions_of_user(sql_engine, kept.id)) == 1
    assert len(await sql.notifications_of_user(sql_engine, kept.id)) == 1
    assert len(await sql.list_targets(sql_engine, kept.id)) == 1
    assert await sql.get_reporter(sql_engine, f"user:{kept.id}") is not None
    assert not await sql.delete_account(sql_engine, gone.id, f"user:{gone.id}")


async def test_signing_out_everywhere_can_spare_one_token(sql_engine: AsyncEngine):
    user = await sql.create_user(sql_engine, "many@example.com", "h")
    other = await sql.create_user(sql_engine, "other@example.com", "h")
    for name in ("a", "b", "c"):
        await sql.create_token(sql_engine, user.id, sql.hash_token(name), 10**13)
    await sql.create_token(sql_engine, other.id, sql.hash_token("o"), 10**13)
    assert await sql.delete_user_tokens(sql_engine, user.id, keep=sql.hash_token("b")) == 2
    assert await sql.user_for_token(sql_engine, sql.hash_token("b"), 0) is not None
    assert await sql.user_for_token(sql_engine, sql.hash_token("a"), 0) is None
    assert await sql.delete_user_tokens(sql_engine, user.id) == 1
    assert await sql.user_for_token(sql_engine, sql.hash_token("o"), 0) is not None
    assert await sql.set_password_hash(sql_engine, user.id, "new-hash")
    changed = await sql.get_user(sql_engine, user.id)
    assert changed is not None and changed.password_hash == "new-hash"

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from pricewatch.storage import sql
from pricewatch.storage.sql_schema import auth_tokens

HOUR = 3_600_000


async def test_email_is_unique_whatever_its_case(sql_engine: AsyncEngine):
    user = await sql.create_user(sql_engine, "  Alice@Example.COM ", "argon2-hash", now=1000)
    assert user.email == "alice@example.com"
    assert user.created_at == 1000

    with pytest.raises(sql.DuplicateEmailError, match="alice@example.com"):
        await sql.create_user(sql_engine, "ALICE@example.com", "other-hash")

    assert await sql.get_user_by_email(sql_engine, "aLiCe@example.com") == user
    assert await sql.get_user(sql_engine, user.id) == user
    assert await sql.get_user_by_email(sql_engine, "bob@example.com") is None
    assert await sql.get_user(sql_engine, user.id + 1) is None


async def test_duplicate_email_inside_a_caller_transaction_leaves_it_usable(
    sql_engine: AsyncEngine,
):
    async with sql_engine.begin() as conn:
        await sql.create_user(conn, "a@example.com", "h")
        with pytest.raises(sql.DuplicateEmailError):
            await sql.create_user(conn, "A@example.com", "h")
        # the transaction is not aborted: PostgreSQL would refuse this otherwise
        await sql.create_user(conn, "b@example.com", "h")
    assert await sql.get_user_by_email(sql_engine, "b@example.com") is not None


@pytest.mark.parametrize("email", ["", "no-at-sign", "@example.com", "a@", "a b@example.com"])
async def test_malformed_email_is_refused(sql_engine: AsyncEngine, email: str):
    with pytest.raises(ValueError, match="e-mail"):
        await sql.create_user(sql_engine, email, "h")


async def test_token_signs_in_until_it_expires(sql_engine: AsyncEngine):
    user = await sql.create_user(sql_engine, "t@example.com", "h")
    token = "s3cret-bearer-token"
    token_hash = sql.hash_token(token)
    await sql.create_token(sql_engine, user.id, token_hash, expires_at=10 * HOUR, now=HOUR)

    assert await sql.user_for_token(sql_engine, token_hash, now=2 * HOUR) == user
    assert await sql.user_for_token(sql_engine, token_hash, now=10 * HOUR - 1) == user
    assert await sql.user_for_token(sql_engine, token_hash, now=10 * HOUR) is None
    assert await sql.user_for_token(sql_engine, sql.hash_token("guess"), now=HOUR) is None
    # the raw token is never what is stored or looked up
    assert await sql.user_for_token(sql_engine, token, now=HOUR) is None
    async with sql_engine.connect() as conn:
        stored = (await conn.execute(select(auth_tokens.c.token_hash))).scalars().all()
    assert stored == [token_hash]

    assert await sql.delete_expired_tokens(sql_engine, now=2 * HOUR) == 0
    assert await sql.delete_token(sql_engine, token_hash) is True
    assert await sql.delete_token(sql_engine, token_hash) is False
    assert await sql.user_for_token(sql_engine, token_hash, now=2 * HOUR) is None


async def test_expired_tokens_are_swept(sql_engine: AsyncEngine):
    user = await sql.create_user(sql_engine, "t@example.com", "h")
    await sql.create_token(sql_engine, user.id, sql.hash_token("old"), expires_at=HOUR)
    await sql.create_token(sql_engine, user.id, sql.hash_token("new"), expires_at=3 * HOUR)
    assert await sql.delete_expired_tokens(sql_engine, now=2 * HOUR) == 1
    assert await sql.user_for_token(sql_engine, sql.hash_token("new"), now=2 * HOUR) == user


async def test_a_raw_token_cannot_be_stored(sql_engine: AsyncEngine):
    user = await sql.create_user(sql_engine, "t@example.com", "h")
    with pytest.raises(ValueError, match="SHA-256"):
        await sql.create_token(sql_engine, user.id, "raw-token-by-mistake", expires_at=HOUR)


async def test_token_for_unknown_user_is_refused_by_the_foreign_key(sql_engine: AsyncEngine):
    with pytest.raises(IntegrityError):
        await sql.create_token(sql_engine, 999, sql.hash_token("x"), expires_at=HOUR)

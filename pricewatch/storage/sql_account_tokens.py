"""Single-use tokens of the links sent about an account: verify an e-mail address,
reset a password, confirm a target.

Like bearer tokens, only the SHA-256 of a token is stored (``hash_token``). Using
one is a single conditional UPDATE (unused, unexpired, right purpose), so two
clicks racing each other cannot both succeed.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, delete, select, update

from pricewatch.storage.sql_engine import Db, transaction
from pricewatch.storage.sql_records import AccountToken, from_row
from pricewatch.storage.sql_schema import AccountTokenPurpose, account_tokens
from pricewatch.storage.sql_users import checked_token_hash

_a = account_tokens.c


async def create_account_token(
    db: Db,
    *,
    user_id: int,
    token_hash: str,
    purpose: str,
    expires_at: int,
    now: int,
    target_id: int | None = None,
) -> None:
    purpose = AccountTokenPurpose(purpose).value
    if (purpose == AccountTokenPurpose.CONFIRM_TARGET) != (target_id is not None):
        raise ValueError("a confirm_target token, and only one, names its target")
    async with transaction(db) as conn:
        await conn.execute(
            account_tokens.insert().values(
                token_hash=checked_token_hash(token_hash),
                user_id=user_id,
                purpose=purpose,
                target_id=target_id,
                created_at=now,
                expires_at=expires_at,
            )
        )


def _valid(token_hash: str, purpose: str, now: int) -> ColumnElement[bool]:
    return and_(
        _a.token_hash == token_hash,
        _a.purpose == AccountTokenPurpose(purpose).value,
        _a.used_at.is_(None),
        _a.expires_at > now,
    )


async def use_account_token(db: Db, token_hash: str, purpose: str, now: int) -> AccountToken | None:
    """Spend a valid token: it is marked used and returned; None when it is unknown,
    for another purpose, expired or already used."""
    stmt = (
        update(account_tokens)
        .where(_valid(token_hash, purpose, now))
        .values(used_at=now)
        .returning(account_tokens)
    )
    async with transaction(db) as conn:
        row = (await conn.execute(stmt)).one_or_none()
    return None if row is None else from_row(row, AccountToken)


async def peek_account_token(
    db: Db, token_hash: str, purpose: str, now: int
) -> AccountToken | None:
    """The token if it could be used now, without using it (pages opened by a link)."""
    async with transaction(db) as conn:
        row = (
            await conn.execute(select(account_tokens).where(_valid(token_hash, purpose, now)))
        ).one_or_none()
    return None if row is None else from_row(row, AccountToken)


async def drop_account_tokens(db: Db, user_id: int, purpose: str) -> int:
    """Forget the user's tokens of one purpose (the others of a reset once one worked)."""
    async with transaction(db) as conn:
        result = await conn.execute(
            delete(account_tokens).where(
                _a.user_id == user_id, _a.purpose == AccountTokenPurpose(purpose).value
            )
        )
    return result.rowcount


async def delete_expired_account_tokens(db: Db, now: int) -> int:
    async with transaction(db) as conn:
        result = await conn.execute(delete(account_tokens).where(_a.expires_at <= now))
    return result.rowcount

"""Users and their bearer tokens."""

from __future__ import annotations

import hashlib
import re

from sqlalchemy import delete, select, update

from pricewatch.storage.sql_dialect import upsert_insert
from pricewatch.storage.sql_engine import Db, transaction
from pricewatch.storage.sql_records import DuplicateEmailError, User, from_row, now_ms
from pricewatch.storage.sql_schema import auth_tokens, users

_TOKEN_HASH = re.compile(r"^[0-9a-f]{64}$")


def normalize_email(email: str) -> str:
    """Lower-cased and trimmed; the form in which e-mails are stored and compared."""
    normalized = email.strip().lower()
    local, at, domain = normalized.partition("@")
    if not (local and at and domain) or any(c.isspace() for c in normalized):
        raise ValueError(f"not an e-mail address: {email!r}")
    if len(normalized) > 320:
        raise ValueError("e-mail address longer than 320 characters")
    return normalized


def hash_token(token: str) -> str:
    """SHA-256 hex of a bearer token: the only form of it that is ever stored."""
    return hashlib.sha256(token.encode()).hexdigest()


def checked_token_hash(token_hash: str) -> str:
    # refuses a raw token passed by mistake, so it can never reach the table
    if not _TOKEN_HASH.match(token_hash):
        raise ValueError("token_hash must be the SHA-256 hex digest of the token (see hash_token)")
    return token_hash


async def create_user(db: Db, email: str, password_hash: str, *, now: int | None = None) -> User:
    """Raises :class:`DuplicateEmailError` when the e-mail (any case) is taken."""
    email = normalize_email(email)
    if not password_hash:
        raise ValueError("password_hash must not be empty")
    created_at = now_ms() if now is None else now
    async with transaction(db) as conn:
        # ON CONFLICT DO NOTHING instead of catching IntegrityError: a failed
        # statement would abort the caller's whole transaction on PostgreSQL.
        stmt = (
            upsert_insert(conn, users)
            .values(email=email, password_hash=password_hash, created_at=created_at)
            .on_conflict_do_nothing(index_elements=[users.c.email])
            .returning(users.c.id)
        )
        user_id = (await conn.execute(stmt)).scalar_one_or_none()
    if user_id is None:
        raise DuplicateEmailError(email)
    return User(id=user_id, email=email, password_hash=password_hash, created_at=created_at)


async def get_user(db: Db, user_id: int) -> User | None:
    async with transaction(db) as conn:
        row = (await conn.execute(select(users).where(users.c.id == user_id))).one_or_none()
    return None if row is None else from_row(row, User)


async def get_user_by_email(db: Db, email: str) -> User | None:
    try:
        email = normalize_email(email)
    except ValueError:
        return None
    async with transaction(db) as conn:
        row = (await conn.execute(select(users).where(users.c.email == email))).one_or_none()
    return None if row is None else from_row(row, User)


async def create_token(
    db: Db, user_id: int, token_hash: str, expires_at: int, *, now: int | None = None
) -> None:
    """Store a token by its hash (see :func:`hash_token`); valid until ``expires_at`` (ms)."""
    values = {
        "token_hash": checked_token_hash(token_hash),
        "user_id": user_id,
        "created_at": now_ms() if now is None else now,
        "expires_at": expires_at,
    }
    async with transaction(db) as conn:
        await conn.execute(auth_tokens.insert().values(**values))


async def user_for_token(db: Db, token_hash: str, now: int) -> User | None:
    """The user a token signs in, or None if it is unknown or expired at ``now`` (ms)."""
    if not _TOKEN_HASH.match(token_hash):
        return None
    stmt = (
        select(users)
        .join(auth_tokens, auth_tokens.c.user_id == users.c.id)
        .where(auth_tokens.c.token_hash == token_hash, auth_tokens.c.expires_at > now)
    )
    async with transaction(db) as conn:
        row = (await conn.execute(stmt)).one_or_none()
    return None if row is None else from_row(row, User)


async def delete_token(db: Db, token_hash: str) -> bool:
    """Sign out; True if the token existed."""
    async with transaction(db) as conn:
        result = await conn.execute(
            delete(auth_tokens).where(auth_tokens.c.token_hash == token_hash)
        )
    return result.rowcount > 0


async def delete_expired_tokens(db: Db, now: int) -> int:
    async with transaction(db) as conn:
        result = await conn.execute(delete(auth_tokens).where(auth_tokens.c.expires_at <= now))
    return result.rowcount


async def set_password_hash(db: Db, user_id: int, password_hash: str) -> bool:
    if not password_hash:
        raise ValueError("password_hash must not be empty")
    async with transaction(db) as conn:
        result = await conn.execute(
            update(users).where(users.c.id == user_id).values(password_hash=password_hash)
        )
    return result.rowcount > 0


async def delete_user_tokens(db: Db, user_id: int, *, keep: str | None = None) -> int:
    """Sign the user out everywhere (but for the token hashed ``keep``); returns how many."""
    stmt = delete(auth_tokens).where(auth_tokens.c.user_id == user_id)
    if keep is not None:
        stmt = stmt.where(auth_tokens.c.token_hash != keep)
    async with transaction(db) as conn:
        result = await conn.execute(stmt)
    return result.rowcount

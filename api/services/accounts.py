"""Accounts: argon2 password hashes and opaque bearer tokens.

A token is 32 random bytes given to the client once; only its SHA-256 is stored
(``pricewatch.storage.sql.hash_token``), so a leaked table signs nobody in. Argon2 is
deliberately slow (tens of ms of CPU), so hashing runs in a worker thread, never on
the event loop.
"""

from __future__ import annotations

import asyncio
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from litestar.exceptions import NotAuthorizedException, ValidationException

from api.services.passwords import password_problem
from pricewatch.destinations import email_address
from pricewatch.storage import sql
from pricewatch.storage.sql import Db, User

_hasher = PasswordHasher()
# Verified against when the e-mail is unknown, so that a wrong e-mail takes as long
# as a wrong password and response times do not reveal who has an account.
_DUMMY_HASH = _hasher.hash("not a password of anyone")


class BadCredentials(NotAuthorizedException):
    pass


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_hasher.hash, password)


async def verify_password(password_hash: str, password: str) -> bool:
    def check() -> bool:
        try:
            return _hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    return await asyncio.to_thread(check)


def check_new_password(password: str) -> None:
    """400 with a sentence for a password that breaks the rule."""
    problem = password_problem(password)
    if problem is not None:
        raise ValidationException(problem)


async def register(db: Db, email: str, password: str, now_ms: int) -> User:
    """Raises ``ValueError`` (not an e-mail address we can send to), 400 (a password
    that breaks the rule) or ``sql.DuplicateEmailError``."""
    address = email_address(email)
    check_new_password(password)
    return await sql.create_user(db, address, await hash_password(password), now=now_ms)


async def sign_in(
    db: Db, email: str, password: str, now_ms: int, ttl_s: int
) -> tuple[User, str, int]:
    """(user, new bearer token, expiry ms); raises BadCredentials."""
    user = await sql.get_user_by_email(db, email)
    ok = await verify_password(user.password_hash if user else _DUMMY_HASH, password)
    if user is None or not ok:
        raise BadCredentials("wrong e-mail or password")
    token = secrets.token_urlsafe(32)
    expires = now_ms + ttl_s * 1000
    await sql.create_token(db, user.id, sql.hash_token(token), expires, now=now_ms)
    return user, token, expires


async def user_for_token(db: Db, token: str, now_ms: int) -> User | None:
    if not token or len(token) > 512:
        return None
    return await sql.user_for_token(db, sql.hash_token(token), now_ms)


async def sign_out(db: Db, token: str) -> bool:
    return await sql.delete_token(db, sql.hash_token(token))

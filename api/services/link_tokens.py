"""The single-use tokens of the links we send: verify an e-mail address, reset a
password, confirm a target. The link carries the token; only its hash is stored.
"""

from __future__ import annotations

import secrets

from api.state import ApiState
from pricewatch.storage import sql
from pricewatch.storage.sql import AccountToken, AccountTokenPurpose

# what a link is for, as callers name it
__all__ = ["AccountTokenPurpose", "issue", "spend", "works"]

# what we make is 43 characters; anything much longer is not one of ours
MAX_TOKEN_CHARS = 512


async def issue(
    state: ApiState,
    user_id: int,
    purpose: AccountTokenPurpose,
    ttl_s: int,
    target_id: int | None = None,
) -> tuple[str, int]:
    """A new token (stored by its hash only) and its expiry (ms)."""
    token = secrets.token_urlsafe(32)
    now = state.clock()
    expires_at = now + ttl_s * 1000
    await sql.create_account_token(
        state.db,
        user_id=user_id,
        token_hash=sql.hash_token(token),
        purpose=purpose.value,
        expires_at=expires_at,
        now=now,
        target_id=target_id,
    )
    return token, expires_at


async def spend(state: ApiState, token: str, purpose: AccountTokenPurpose) -> AccountToken | None:
    """Use the token of a link (once); None when it is not valid (any more)."""
    if not token or len(token) > MAX_TOKEN_CHARS:
        return None
    return await sql.use_account_token(
        state.db, sql.hash_token(token), purpose.value, state.clock()
    )


async def works(state: ApiState, token: str, purpose: AccountTokenPurpose) -> bool:
    """Whether the link could be used now, without using it: the page a link opens
    only tells (mail scanners open links on their own)."""
    if not token or len(token) > MAX_TOKEN_CHARS:
        return False
    found = await sql.peek_account_token(
        state.db, sql.hash_token(token), purpose.value, state.clock()
    )
    return found is not None

"""How often a client may repeat what costs us or guesses at a secret: signing in,
registering, following a link. Counted in Redis for every API process together
(``api.ratelimit``); beyond a limit the answer is a 429 with Retry-After.
"""

from __future__ import annotations

import hashlib

from api.ratelimit import Limit, enforce
from api.state import ApiState

HOUR_S = 3600
DAY_S = 24 * HOUR_S


def address_ident(kind: str, address: str) -> str:
    """A Redis key part for an address that does not spell it out."""
    return hashlib.sha256(f"{kind}:{address}".encode()).hexdigest()[:32]


async def within(state: ApiState, *limits: Limit) -> None:
    """Count this request against every limit; 429 if any is exceeded."""
    await enforce(state.redis, state.keys, list(limits), state.clock())


async def auth(state: ApiState, client_ip: str, *extra: Limit) -> None:
    """The per-IP limit of everything that signs in or spends a link, and ``extra``."""
    await within(state, Limit("auth", client_ip, state.settings.api_auth_rate_per_min), *extra)


async def password_attempt(state: ApiState, client_ip: str, email: str) -> None:
    """A password tried against an account: limited per client IP, and per account
    from anywhere (guesses spread over many addresses still add up)."""
    await auth(
        state,
        client_ip,
        Limit(
            "signin-account",
            address_ident("EMAIL", email.strip().lower()),
            state.settings.api_signin_account_rate_per_hour,
            HOUR_S,
        ),
    )

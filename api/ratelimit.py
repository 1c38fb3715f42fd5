"""Fixed-window rate limits in Redis, shared by every API process.

Litestar's built-in RateLimitMiddleware reads, then writes a JSON list of timestamps
under a per-process lock: it serialises every request of a process and can overshoot
across processes. Here one script of INCR + EXPIRE per limit is atomic on the server,
so N workers together never let more than the limit through in a window.
"""

from __future__ import annotations

import dataclasses

import redis.asyncio
from litestar.exceptions import HTTPException

from pricewatch.keys import Keys

# KEYS: a window's counter. ARGV: its lifetime (s). One count, and the counter's expiry
# set with its first: atomic per key, and each key alone, so that the limits of one
# request may live in different Redis Cluster slots.
_COUNT = """
local used = redis.call('INCR', KEYS[1])
if used == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return used
"""


@dataclasses.dataclass(frozen=True)
class Limit:
    scope: str
    ident: str
    max_requests: int
    window_s: int = 60


class RateLimited(HTTPException):
    status_code = 429


@dataclasses.dataclass(frozen=True)
class Exceeded:
    limit: Limit
    retry_after_s: int

    def error(self) -> RateLimited:
        limit = self.limit
        return RateLimited(
            detail=f"too many requests ({limit.scope}): at most {limit.max_requests} "
            f"per {_span(limit.window_s)}; retry in {self.retry_after_s} s",
            headers={"Retry-After": str(self.retry_after_s)},
        )


def _span(seconds: int) -> str:
    if seconds % 3600 == 0:
        return "hour" if seconds == 3600 else f"{seconds // 3600} hours"
    if seconds % 60 == 0:
        return "minute" if seconds == 60 else f"{seconds // 60} minutes"
    return f"{seconds} s"


async def count(
    client: redis.asyncio.Redis, keys: Keys, limits: list[Limit], now_ms: int
) -> Exceeded | None:
    """Count this request against every limit; the first one exceeded, if any."""
    pipe = client.pipeline(transaction=False)
    for limit in limits:
        window = now_ms // 1000 // limit.window_s
        key = keys.rate_limit(limit.scope, f"{limit.ident}:{window}")
        pipe.eval(_COUNT, 1, key, limit.window_s + 1)
    replies = await pipe.execute()
    for limit, used in zip(limits, replies, strict=True):
        if int(used) > limit.max_requests:
            return Exceeded(limit, limit.window_s - (now_ms // 1000) % limit.window_s)
    return None


async def enforce(
    client: redis.asyncio.Redis, keys: Keys, limits: list[Limit], now_ms: int
) -> None:
    """Count this request against every limit; raise 429 if any is exceeded."""
    exceeded = await count(client, keys, limits, now_ms)
    if exceeded is not None:
        raise exceeded.error()

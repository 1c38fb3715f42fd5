"""Fixed-window rate limits in Redis, shared by every API process.

Litestar's built-in RateLimitMiddleware reads, then writes a JSON list of timestamps
under a per-process lock: it serialises every request of a process and can overshoot
across processes. Here one MULTI of INCR + EXPIRE per limit is atomic on the server,
so N workers together never let more than the limit through in a window.
"""

from __future__ import annotations

import dataclasses

import redis.asyncio
from litestar.exceptions import HTTPException

from pricewatch.keys import Keys


@dataclasses.dataclass(frozen=True)
class Limit:
    scope: str
    ident: str
    max_requests: int
    window_s: int = 60


class RateLimited(HTTPException):
    status_code = 429


async def enforce(client: redis.asyncio.Redis, keys: Keys, limits: list[Limit],
                  now_ms: int) -> None:
    """Count this request against every limit; raise 429 if any is exceeded."""
    pipe = client.pipeline(transaction=True)
    for limit in limits:
        window = now_ms // 1000 // limit.window_s
        key = keys.rate_limit(limit.scope, f"{limit.ident}:{window}")
        pipe.incr(key)
        pipe.expire(key, limit.window_s + 1)
    replies = await pipe.execute()
    for limit, count in zip(limits, replies[::2], strict=True):
        if int(count) > limit.max_requests:
            retry = limit.window_s - (now_ms // 1000) % limit.window_s
            raise RateLimited(
                detail=f"too many requests ({limit.scope}): at most {limit.max_requests} "
                f"per {limit.window_s} s; retry in {retry} s",
                headers={"Retry-After": str(retry)},
            )

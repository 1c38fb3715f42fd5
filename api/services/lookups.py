"""First crawls of products someone looked up that nobody has crawled yet.

Anyone can type any ten characters, so a lookup may cost a crawl only within limits:
each client gets a few per hour, everybody together a share of the fleet's crawl
budget, and the crawls rank below every scheduled product on the frontier. A product
already queued is not queued twice, and an ASIN a crawl found to have no page is not
queued again until that finding expires (ingest remembers it; see
``pricewatch.ingest.core``).
"""

from __future__ import annotations

import dataclasses
import enum
import math

from api.ratelimit import Limit, count
from api.state import ApiState
from pricewatch.models import CrawlTask
from pricewatch.politeness import fleet_rate
from pricewatch.settings import Settings

# A lookup stays queued this long: time for the crawl, and for its result to show.
QUEUED_TTL_S = 3600


class Lookup(enum.StrEnum):
    QUEUED = "queued"
    NOT_FOUND = "not_found"
    LIMITED = "limited"


@dataclasses.dataclass(frozen=True)
class LookupOutcome:
    status: Lookup
    # for LIMITED: seconds until the client may try again
    retry_after_s: int = 0


@dataclasses.dataclass(frozen=True, kw_only=True)
class LookupLimits:
    per_client_per_hour: int
    per_minute: int
    priority: float

    @classmethod
    def from_settings(cls, settings: Settings) -> LookupLimits:
        rate = fleet_rate(
            len(settings.proxies), settings.proxy_interval_s, settings.direct_interval_s
        )
        return cls(
            per_client_per_hour=settings.api_lookup_crawls_per_ip_per_hour,
            per_minute=max(1, math.floor(rate * 60 * settings.api_lookup_crawl_budget_share)),
            priority=settings.api_lookup_crawl_priority,
        )


async def request_first_crawl(
    state: ApiState, market: str, asin: str, client: str
) -> LookupOutcome:
    """Queue a first crawl of ``market:asin`` for ``client`` (an IP), within limits."""
    keys = state.keys
    queued_key = keys.lookup_crawl(market, asin)
    pipe = state.redis.pipeline(transaction=False)
    pipe.exists(keys.not_found(market, asin))
    pipe.exists(queued_key)
    missing, queued = await pipe.execute()
    if missing:
        return LookupOutcome(Lookup.NOT_FOUND)
    if queued:
        return LookupOutcome(Lookup.QUEUED)
    limits = LookupLimits.from_settings(state.settings)
    now = state.clock()
    # The client's own allowance first: a client over it must not use up everybody's.
    for limit in (
        Limit("lookup-crawl-ip", client, limits.per_client_per_hour, 3600),
        Limit("lookup-crawl", "all", limits.per_minute, 60),
    ):
        exceeded = await count(state.redis, keys, [limit], now)
        if exceeded is not None:
            return LookupOutcome(Lookup.LIMITED, exceeded.retry_after_s)
    if await state.redis.set(queued_key, b"1", nx=True, ex=QUEUED_TTL_S):
        await state.frontier.push([CrawlTask(market=market, asin=asin, priority=limits.priority)])
    return LookupOutcome(Lookup.QUEUED)

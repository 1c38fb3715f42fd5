"""Discovery: listing pages (best sellers, new releases) -> product tasks for new ASINs.

Discovery is a task kind on the shared frontier (``TaskKind.DISCOVER``, the
listing URL in ``url``), crawled by the product spider under the same proxies
and politeness as product pages. A Redis set per market
(:meth:`pricewatch.keys.Keys.known_products`) remembers every ASIN seen, so
only products never seen before are enqueued.
"""

from __future__ import annotations

from collections.abc import Sequence

import redis

from pricewatch.frontier import Frontier
from pricewatch.keys import Keys
from pricewatch.models import CrawlTask


def enqueue_new_products(
    client: redis.Redis,
    frontier: Frontier,
    keys: Keys,
    market: str,
    asins: Sequence[str],
    priority: float = 0.0,
) -> list[str]:
    """Queue a product task for each ASIN not known yet in ``market``; returns them.

    SADD both tests and marks, so two workers reading the same listing never queue a
    product twice. If queueing fails, the ASINs are unmarked again: a failed push
    must not hide them from the next discovery round.
    """
    if not asins:
        return []
    key = keys.known_products(market)
    pipe = client.pipeline(transaction=False)
    for asin in asins:
        pipe.sadd(key, asin)
    new = [asin for asin, added in zip(asins, pipe.execute(), strict=True) if added]
    if not new:
        return []
    try:
        frontier.push(CrawlTask(market=market, asin=a, priority=priority) for a in new)
    except BaseException:
        client.srem(key, *new)
        raise
    return new

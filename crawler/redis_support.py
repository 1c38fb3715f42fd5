"""Redis and key names for crawler components, from Scrapy settings.

crawler/settings.py copies the values of :func:`pricewatch.settings.get_settings`
into ``PRICEWATCH_*`` Scrapy settings; components read those (so a test can
run a crawler with settings of its own) and never the environment.
"""

from __future__ import annotations

from typing import Any

import redis
from scrapy.settings import BaseSettings

from pricewatch.keys import DEFAULT_PREFIX, Keys
from pricewatch.storage.redis import connect


def redis_url_from_settings(settings: BaseSettings) -> str:
    url = settings.get("PRICEWATCH_REDIS_URL")
    if not url:
        raise ValueError(
            "PRICEWATCH_REDIS_URL is not set: crawler workers share the frontier, the "
            "politeness state and the observations stream through one Redis "
            "(`pricewatch up` passes the URL of the Redis it starts)"
        )
    return str(url)


def redis_from_settings(settings: BaseSettings) -> redis.Redis:
    return connect(redis_url_from_settings(settings))


class RedisFromUrl:
    """scrapy-redis's ``redis_cls`` (``REDIS_PARAMS``): its client made as every other
    of ours, by :func:`pricewatch.storage.redis.connect`, so that a Redis Cluster URL
    works there too. scrapy-redis's own client defaults (30 s socket timeouts, a
    deprecated retry-on-timeout flag) are left out, as for the worker's other clients."""

    @staticmethod
    def from_url(url: str, **_scrapy_redis_defaults: Any) -> redis.Redis:
        return connect(url)


def keys_from_settings(settings: BaseSettings) -> Keys:
    return Keys(prefix=settings.get("PRICEWATCH_KEY_PREFIX") or DEFAULT_PREFIX)

"""scrapy-redis's scheduler over the shared frontier (``SCHEDULER``).

The scheduler is scrapy-redis's; what differs is adapted by subclassing, not
patched:

- its queue is :class:`crawler.queue.FrontierQueue` (``SCHEDULER_QUEUE_CLASS``);
- its Redis is the one named by ``PRICEWATCH_REDIS_URL``, like every other
  component's, built by :mod:`scrapy_redis.connection` with our client class
  (:class:`crawler.redis_support.RedisFromUrl`: a Redis Cluster URL works too);
- it never flushes: the frontier belongs to the fleet, so a worker that closes (or
  starts) must leave it alone, and ``SCHEDULER_PERSIST`` / ``SCHEDULER_FLUSH_ON_START``
  are checked rather than trusted;
- no duplicate filter: re-crawling a page is the point, and the frontier already
  keeps one entry per product (:class:`NoDupeFilter`, ``DUPEFILTER_CLASS``);
- no deprecated calls on Scrapy 2.19 (``spider=`` arguments to stats,
  ``Spider.log``), so a worker's log is free of warnings.
"""

from __future__ import annotations

import logging

from scrapy import Request, Spider
from scrapy.dupefilters import BaseDupeFilter
from scrapy.settings import BaseSettings
from scrapy.utils.misc import load_object
from scrapy_redis.scheduler import Scheduler

from crawler.redis_support import RedisFromUrl, redis_url_from_settings

logger = logging.getLogger(__name__)


class NoDupeFilter(BaseDupeFilter):
    """Sees nothing twice and stores no fingerprints (scrapy-redis's filter keeps a
    set in Redis that grows forever)."""

    @classmethod
    def from_spider(cls, spider: Spider) -> NoDupeFilter:
        return cls()

    def clear(self) -> None:
        pass


class FrontierScheduler(Scheduler):
    # scrapy-redis's dupefilter (a no-op one here), made in open()
    df: BaseDupeFilter | None

    @classmethod
    def from_settings(cls, settings: BaseSettings) -> FrontierScheduler:
        if not settings.getbool("SCHEDULER_PERSIST") or settings.getbool(
            "SCHEDULER_FLUSH_ON_START"
        ):
            raise ValueError(
                "the frontier is shared by every crawler worker: set SCHEDULER_PERSIST = "
                "True and SCHEDULER_FLUSH_ON_START = False (crawler/settings.py does)"
            )
        # the crawl's settings are frozen by now: scrapy-redis reads a copy that names
        # our Redis (REDIS_URL) and otherwise holds the same values
        ours = BaseSettings(settings.copy_to_dict())
        ours.set("REDIS_URL", redis_url_from_settings(settings))
        ours.set("REDIS_PARAMS", {"redis_cls": RedisFromUrl})
        scheduler = super().from_settings(ours)
        assert isinstance(scheduler, FrontierScheduler)
        return scheduler

    def open(self, spider: Spider) -> None:
        self.spider = spider
        try:
            self.queue = load_object(self.queue_cls)(
                server=self.server,
                spider=spider,
                key=self.queue_key % {"spider": spider.name},
                serializer=self.serializer,
            )
        except TypeError as exc:
            raise ValueError(f"cannot make queue class {self.queue_cls!r}: {exc}") from exc
        if not self.df:
            self.df = load_object(self.dupefilter_cls).from_spider(spider)
        queued = len(self.queue)
        if queued:
            logger.info("%d tasks queued on the frontier", queued)

    def close(self, reason: str) -> None:
        """Leaves the frontier as it is, whatever the reason."""

    def flush(self) -> None:
        raise RuntimeError("a crawler worker never flushes the shared frontier")

    def enqueue_request(self, request: Request) -> bool:
        if not request.dont_filter and self.df is not None and self.df.request_seen(request):
            return False
        self.queue.push(request)
        self._count("scheduler/enqueued/redis")
        return True

    def next_request(self) -> Request | None:
        request: Request | None = self.queue.pop(self.idle_before_close)
        if request is not None:
            self._count("scheduler/dequeued/redis")
        return request

    def _count(self, name: str) -> None:
        if self.stats is not None:
            self.stats.inc_value(name)

"""``scrapy crawl product``: crawl tasks from the shared Redis frontier, on any number
of processes and machines.

Why this shape: the stack is scrapy-redis, and scrapy-redis is extended where it
is meant to be. Its scheduler (``SCHEDULER``, :mod:`crawler.frontier_scheduler`) takes a
pluggable queue, and ours (:class:`crawler.queue.FrontierQueue`) is the frontier of
:mod:`pricewatch.frontier` itself: two priority lanes, one entry per product,
leases, acks and heartbeats. Its own queues (pickled requests under one key)
know none of that, and RedisSpider's start-URL list would be a second queue
beside the frontier, so this spider reads no start URLs (``next_requests`` yields
nothing). Scrapy's engine asks the scheduler for the next request whenever it
has room for one, so each worker keeps ``CONCURRENT_REQUESTS`` tasks leased with
no stall between batches. RedisSpider contributes the keep-alive: an idle worker
is not closed (``spider_idle`` -> ``DontCloseSpider``) unless
``PRICEWATCH_CRAWL_IDLE_CLOSE_S`` is set and the fleet's frontier (leased tasks
included) has been empty that long, for tests and one-off runs.

Task life (:mod:`crawler.leases`): popped through the scheduler (leased to this
worker) -> request -> observation published by the pipeline -> ``item_scraped``
-> ack. A robot check, a download failure or an error nacks the task (it goes
back to the frontier with its rank); a page that can never make an observation
is given up (acked, logged). A redirect or a retry of a held task stays with this
worker. A timer extends this worker's leases and returns the expired leases of
dead workers to the queue (cheap and safe from every worker at once).
"""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import redis
from scrapy import Request, signals
from scrapy.crawler import Crawler
from scrapy.http import Response
from scrapy.utils.defer import deferred_from_coro
from scrapy_redis.spiders import RedisSpider
from twisted.internet import task as twisted_task
from twisted.python.failure import Failure

from crawler.bans import looks_like_captcha
from crawler.discovery import enqueue_new_products
from crawler.items import ObservationItem
from crawler.leases import WorkerLeases, worker_name
from crawler.listing import parse_listing
from crawler.observations import GONE_STATUSES, observations_for
from crawler.parsing import PageKind, parse_page
from crawler.redis_support import keys_from_settings, redis_from_settings
from crawler.task_requests import TASK, TASK_KEY
from crawler.urls import amazon_url
from pricewatch.frontier import Frontier
from pricewatch.keys import Keys
from pricewatch.markets import get_market
from pricewatch.models import CrawlTask, TaskKind
from pricewatch.supervision import SUPERVISOR_CHECK_S, supervisor_gone


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class ProductSpider(RedisSpider):
    name = "product"

    server: redis.Redis
    keys: Keys
    frontier: Frontier
    leases: WorkerLeases
    origins: dict[str, str]
    # set in setup_redis; the first two are scrapy-redis's own attributes
    redis_batch_size: int
    spider_idle_start_time: int
    tick_s: float

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> ProductSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)  # calls setup_redis
        assert isinstance(spider, ProductSpider)
        return spider

    def setup_redis(self, crawler: Crawler | None = None) -> None:
        """RedisMixin's setup from our settings: the frontier instead of a start-URL
        key, our Redis, and the idle time before closing in seconds (0: never)."""
        if self.server is not None:
            return
        crawler = crawler or getattr(self, "crawler", None)
        if crawler is None:
            raise ValueError("crawler is required")
        s = crawler.settings
        self.server = redis_from_settings(s)
        self.keys = keys_from_settings(s)
        lease_ms = s.getint("PRICEWATCH_CRAWL_LEASE_MS", 120_000)
        partitions = s.getint("PRICEWATCH_STREAM_PARTITIONS", 4)
        self.frontier = Frontier(self.server, self.keys, lease_ms=lease_ms, partitions=partitions)
        self.leases = WorkerLeases(self.frontier, worker_name())
        capacity = s.getint("CONCURRENT_REQUESTS")
        if capacity < 1:
            raise ValueError(f"CONCURRENT_REQUESTS must be >= 1, got {capacity}")
        self.origins = dict(s.getdict("PRICEWATCH_MARKET_ORIGINS"))
        # nominal: scrapy-redis reads no start URLs here (see next_requests)
        self.redis_key = self.keys.frontier(0)
        self.redis_batch_size = capacity
        idle_close_s = s.getfloat("PRICEWATCH_CRAWL_IDLE_CLOSE_S", 0)
        if idle_close_s < 0:
            raise ValueError(f"PRICEWATCH_CRAWL_IDLE_CLOSE_S must be >= 0, got {idle_close_s}")
        # RedisMixin counts whole seconds; rounding up never closes early
        self.max_idle_time = math.ceil(idle_close_s)
        self.spider_idle_start_time = int(time.time())
        # well inside the lease, so a slow tick or two never lets a live lease expire
        self.tick_s = max(0.2, lease_ms / 1000 / 4)
        self._ticker: twisted_task.LoopingCall | None = None
        self._watch: twisted_task.LoopingCall | None = None
        for handler, signal in [
            (self.spider_idle, signals.spider_idle),
            (self._opened, signals.spider_opened),
            (self._closed, signals.spider_closed),
            (self._item_scraped, signals.item_scraped),
            (self._item_dropped, signals.item_dropped),
            (self._item_error, signals.item_error),
            (self._spider_error, signals.spider_error),
        ]:
            crawler.signals.connect(handler, signal=signal)

    # -- scrapy-redis: where work comes from, and when to stop ---------------------------

    async def start(self) -> AsyncIterator[Request]:
        """Nothing up front: the scheduler's queue feeds the engine from the frontier."""
        self.logger.info(
            "worker %s: up to %d tasks at a time", self.leases.worker, self.redis_batch_size
        )
        return
        yield  # an async generator that yields nothing

    def next_requests(self) -> Iterator[Request]:
        """RedisMixin calls this when idle; no start-URL list: the queue has the work."""
        return iter(())

    def count_size(self, key: str) -> int:
        """RedisMixin's "is there work?" look, asked when this worker is idle."""
        return self.leases.fleet_pending()

    def spider_idle(self) -> None:
        # RedisMixin measures idleness from its last look at a non-empty queue; a
        # worker's own last task counts as such a look, so an idle close waits the
        # whole time after the frontier emptied, however busy the worker was before
        self.spider_idle_start_time = max(
            self.spider_idle_start_time, int(self.leases.last_activity)
        )
        super().spider_idle()

    # -- callbacks -------------------------------------------------------------------------

    def parse_product(self, response: Response) -> Iterator[ObservationItem]:
        task: CrawlTask = response.meta[TASK]
        key: str = response.meta[TASK_KEY]
        assert task.asin is not None
        # the Amazon URL, not the fetched one: it names the market for the parser
        page = parse_page(response.body, get_market(task.market).product_url(task.asin))
        if page.page_kind is PageKind.CAPTCHA:
            # every proxy tried showed a robot check: back to the frontier, retried later
            self.logger.info("robot check for %s through %s", key, response.meta.get("proxy"))
            self.leases.finish(key, done=False, stat="retried/captcha")
            return
        observations = observations_for(task, page, response.status, now_ms())
        if observations is None:
            self.logger.warning(
                "giving up %s: unrecognised page (%s, status %d)",
                key,
                page.page_kind,
                response.status,
            )
            self.leases.finish(key, done=True, stat="given_up/unrecognised_page")
            return
        yield ObservationItem(tuple(observations), key)

    def parse_listing(self, response: Response) -> None:
        task: CrawlTask = response.meta[TASK]
        key: str = response.meta[TASK_KEY]
        if looks_like_captcha(response.body):
            self.leases.finish(key, done=False, stat="retried/captcha")
            return
        if response.status in GONE_STATUSES:
            self.logger.warning("listing %s is gone (status %d)", task.url, response.status)
            self.leases.finish(key, done=True, stat="given_up/listing_gone")
            return
        listing = parse_listing(response.body, response.url)
        new = enqueue_new_products(
            self.server, self.frontier, self.keys, task.market, listing.asins, task.priority
        )
        if listing.next_url:
            self.frontier.push(
                [
                    CrawlTask(
                        market=task.market,
                        kind=TaskKind.DISCOVER,
                        priority=task.priority,
                        url=amazon_url(listing.next_url, task.market),
                    )
                ]
            )
        self.logger.info("listing %s: %d products, %d new", task.url, len(listing.asins), len(new))
        self.crawler.stats.inc_value("pricewatch/discovered", len(new))
        self.leases.finish(key, done=True, stat="listings")

    def fetch_failed(self, failure: Failure) -> None:
        request = getattr(failure, "request", None)
        key = request.meta.get(TASK_KEY) if request is not None else None
        if key is None:
            return
        self.logger.info("fetching %s failed: %s", key, failure.getErrorMessage())
        self.leases.finish(key, done=False, stat=f"retried/{failure.type.__name__}")

    # -- signals -----------------------------------------------------------------------------

    def _item_scraped(self, item: object, **_: Any) -> None:
        if isinstance(item, ObservationItem):
            self.leases.finish(item.task_key, done=True, stat="observations")

    def _item_dropped(self, item: object, exception: BaseException, **_: Any) -> None:
        if isinstance(item, ObservationItem):
            self.logger.error("giving up %s: %s", item.task_key, exception)
            self.leases.finish(item.task_key, done=True, stat="given_up/dropped")

    def _item_error(self, item: object, failure: Failure, **_: Any) -> None:
        if isinstance(item, ObservationItem):
            self.logger.error("publishing %s failed: %s", item.task_key, failure.getErrorMessage())
            self.leases.finish(item.task_key, done=False, stat="retried/item_error")

    def _spider_error(self, failure: Failure, response: Response | None = None, **_: Any) -> None:
        key = response.meta.get(TASK_KEY) if response is not None else None
        if key is not None:
            self.leases.finish(key, done=False, stat="retried/spider_error")

    def _opened(self, **_: Any) -> None:
        # the crawler's stats exist from here on, not when the spider is made
        self.leases.stats = self.crawler.stats
        self._ticker = twisted_task.LoopingCall(self.leases.tick)
        self._ticker.start(self.tick_s, now=True)
        # every second, as the role processes look, whatever the leases' pace (a
        # quarter of a lease: half a minute by default)
        self._watch = twisted_task.LoopingCall(self._watch_supervisor)
        self._watch.start(SUPERVISOR_CHECK_S, now=False)

    def _watch_supervisor(self) -> None:
        if supervisor_gone():
            # the `up --processes` that started this worker died without stopping it
            self.logger.warning("the pricewatch up that started this crawler is gone: stopping")
            self._stop_loops()
            deferred_from_coro(self.crawler.engine.close_spider_async(reason="supervisor_gone"))

    def _stop_loops(self) -> None:
        for loop in (self._ticker, self._watch):
            if loop is not None and loop.running:
                loop.stop()

    def _closed(self, reason: str, **_: Any) -> None:
        self._stop_loops()
        # give unfinished tasks back now rather than when their leases run out
        given_back = self.leases.release_all()
        if given_back:
            self.logger.info("gave %d unfinished tasks back to the frontier", given_back)

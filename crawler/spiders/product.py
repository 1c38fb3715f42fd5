"""``scrapy crawl product``: crawl tasks from the shared Redis frontier, on any number
of processes and machines.

Why a plain Spider with ``async def start()`` rather than scrapy-redis's
RedisSpider: the frontier (:mod:`pricewatch.frontier`) is not scrapy-redis's
queue (two priority lanes, leases, acks, heartbeats), so of RedisSpider only
its idle-signal loop would remain, and that loop refills only once the engine
has run completely dry, stalling every worker between batches. Here ``start()``
is a long-running generator that keeps exactly ``CONCURRENT_REQUESTS`` tasks
leased: it pops as soon as one finishes and sleeps while the frontier is empty.

Task life: popped (leased to this worker) -> request -> observation published
by the pipeline -> ``item_scraped`` -> ack. A robot check, a download failure
or an error nacks the task (it goes back to the frontier with its rank); a
page that can never make an observation is given up (acked, logged). A timer
extends this worker's leases and returns the expired leases of dead workers
to the queue (cheap and safe from every worker at once).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import redis
import scrapy
from scrapy import Request, signals
from scrapy.crawler import Crawler
from scrapy.http import Response
from twisted.internet import task as twisted_task
from twisted.python.failure import Failure

from crawler.bans import looks_like_captcha
from crawler.discovery import enqueue_new_products
from crawler.items import ObservationItem
from crawler.listing import parse_listing
from crawler.observations import GONE_STATUSES, observation_for
from crawler.parsing import PageKind, parse_page
from crawler.redis_support import keys_from_settings, redis_from_settings
from crawler.urls import amazon_url, fetch_url, product_url
from pricewatch.frontier import Frontier, task_key
from pricewatch.keys import Keys
from pricewatch.markets import get_market
from pricewatch.models import CrawlTask, TaskKind


def worker_name() -> str:
    """Unique per process: leases, heartbeats and acks are per worker."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class ProductSpider(scrapy.Spider):
    name = "product"
    # seconds between two looks at an empty frontier
    poll_s = 1.0
    # seconds before trying again when Redis cannot be reached
    redis_retry_s = 5.0

    client: redis.Redis
    keys: Keys
    frontier: Frontier
    worker: str
    capacity: int
    origins: dict[str, str]
    idle_close_s: float

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> ProductSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        spider._configure(crawler)
        return spider

    def _configure(self, crawler: Crawler) -> None:
        s = crawler.settings
        self.client = redis_from_settings(s)
        self.keys = keys_from_settings(s)
        lease_ms = s.getint("PRICEWATCH_CRAWL_LEASE_MS", 120_000)
        self.frontier = Frontier(self.client, self.keys, lease_ms=lease_ms)
        self.worker = worker_name()
        self.capacity = s.getint("CONCURRENT_REQUESTS")
        if self.capacity < 1:
            raise ValueError(f"CONCURRENT_REQUESTS must be >= 1, got {self.capacity}")
        self.origins = dict(s.getdict("PRICEWATCH_MARKET_ORIGINS"))
        self.idle_close_s = s.getfloat("PRICEWATCH_CRAWL_IDLE_CLOSE_S", 0)
        # well inside the lease, so a slow tick or two never lets a live lease expire
        self.tick_s = max(0.2, lease_ms / 1000 / 4)
        self._held: dict[str, CrawlTask] = {}
        # finished tasks the frontier has not acknowledged yet: (key, done)
        self._unsettled: list[tuple[str, bool]] = []
        self._wake: asyncio.Event | None = None
        self._ticker: twisted_task.LoopingCall | None = None
        for handler, signal in [
            (self._opened, signals.spider_opened),
            (self._closed, signals.spider_closed),
            (self._item_scraped, signals.item_scraped),
            (self._item_dropped, signals.item_dropped),
            (self._item_error, signals.item_error),
            (self._spider_error, signals.spider_error),
        ]:
            crawler.signals.connect(handler, signal=signal)

    # -- the frontier loop ---------------------------------------------------------------

    async def start(self) -> AsyncIterator[Request]:
        self._wake = asyncio.Event()
        empty_since: float | None = None
        self.logger.info("worker %s: up to %d tasks at a time", self.worker, self.capacity)
        while True:
            # cleared before looking, so a task finishing meanwhile still wakes us
            self._wake.clear()
            free = self.capacity - len(self._held)
            try:
                tasks = self.frontier.pop(self.worker, free) if free > 0 else []
            except redis.RedisError as exc:
                # a fleet worker outlives a Redis restart: wait, then look again
                self.logger.warning("cannot pop from the frontier: %s", exc)
                await asyncio.sleep(self.redis_retry_s)
                continue
            for task in tasks:
                request = self._request_for(task)
                if request is not None:
                    yield request
            if tasks:
                empty_since = None
                continue
            if free > 0 and self.idle_close_s > 0:
                if self._fleet_idle():
                    empty_since = empty_since or time.monotonic()
                    if time.monotonic() - empty_since >= self.idle_close_s:
                        self.logger.info("frontier empty for %.0f s: stopping", self.idle_close_s)
                        return
                else:
                    empty_since = None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_s)

    def _fleet_idle(self) -> bool:
        # leased tasks count: a dead worker's leases come back when they expire
        if self._held or self._unsettled:
            return False
        try:
            return not self.frontier.size() and not self.frontier.inflight_size()
        except redis.RedisError:
            return False

    def _request_for(self, task: CrawlTask) -> Request | None:
        key = task_key(task)
        callback: Callable[[Response], object]
        try:
            if task.kind is TaskKind.DISCOVER:
                assert task.url is not None  # task_key checked it
                url = fetch_url(task.url, task.market, self.origins)
                callback = self.parse_listing
            else:
                assert task.asin is not None
                url = product_url(task.market, task.asin, self.origins)
                callback = self.parse_product
        except ValueError as exc:
            # an unknown market: no retry can help, and keeping it would block the key
            self.logger.error("giving up task %s: %s", key, exc)
            self._unsettled.append((key, True))
            self._settle()
            self._stat("given_up/bad_task")
            return None
        self._held[key] = task
        return Request(
            url,
            callback=callback,
            errback=self.fetch_failed,
            dont_filter=True,
            priority=1 if task.kind is TaskKind.VERIFY else 0,
            meta={"task": task, "task_key": key, "handle_httpstatus_list": sorted(GONE_STATUSES)},
        )

    # -- callbacks -------------------------------------------------------------------------

    def parse_product(self, response: Response) -> Iterator[ObservationItem]:
        task: CrawlTask = response.meta["task"]
        key: str = response.meta["task_key"]
        assert task.asin is not None
        # the Amazon URL, not the fetched one: it names the market for the parser
        page = parse_page(response.body, get_market(task.market).product_url(task.asin))
        if page.page_kind is PageKind.CAPTCHA:
            # every proxy tried showed a robot check: back to the frontier, retried later
            self.logger.info("robot check for %s through %s", key, response.meta.get("proxy"))
            self._finish(key, done=False, stat="retried/captcha")
            return
        observation = observation_for(task, page, response.status, now_ms())
        if observation is None:
            self.logger.warning("giving up %s: unrecognised page (%s, status %d)",
                                key, page.page_kind, response.status)
            self._finish(key, done=True, stat="given_up/unrecognised_page")
            return
        yield ObservationItem(observation, key)

    def parse_listing(self, response: Response) -> None:
        task: CrawlTask = response.meta["task"]
        key: str = response.meta["task_key"]
        if looks_like_captcha(response.body):
            self._finish(key, done=False, stat="retried/captcha")
            return
        if response.status in GONE_STATUSES:
            self.logger.warning("listing %s is gone (status %d)", task.url, response.status)
            self._finish(key, done=True, stat="given_up/listing_gone")
            return
        listing = parse_listing(response.body, response.url)
        new = enqueue_new_products(self.client, self.frontier, self.keys, task.market,
                                   listing.asins, task.priority)
        if listing.next_url:
            self.frontier.push([CrawlTask(
                market=task.market, kind=TaskKind.DISCOVER, priority=task.priority,
                url=amazon_url(listing.next_url, task.market),
            )])
        self.logger.info("listing %s: %d products, %d new", task.url, len(listing.asins), len(new))
        self._stat("discovered", len(new))
        self._finish(key, done=True, stat="listings")

    def fetch_failed(self, failure: Failure) -> None:
        request = getattr(failure, "request", None)
        key = request.meta.get("task_key") if request is not None else None
        if key is None:
            return
        self.logger.info("fetching %s failed: %s", key, failure.getErrorMessage())
        self._finish(key, done=False, stat=f"retried/{failure.type.__name__}")

    # -- task bookkeeping --------------------------------------------------------------------

    def _stat(self, name: str, count: int = 1) -> None:
        self.crawler.stats.inc_value(f"pricewatch/{name}", count)

    def _finish(self, key: str, *, done: bool, stat: str) -> None:
        """Ack (done: observed or given up) or nack (retry later) a held task, once."""
        if self._held.pop(key, None) is None:
            return
        self._stat(stat)
        self._unsettled.append((key, done))
        self._settle()
        if self._wake is not None:
            self._wake.set()

    def _settle(self) -> None:
        """Tell the frontier. Heartbeats extend every lease this worker holds in Redis,
        so a task must not be forgotten locally before the frontier has heard of it:
        when Redis cannot be reached, the timer tries again."""
        while self._unsettled:
            key, done = self._unsettled[0]
            try:
                if done:
                    self.frontier.ack(self.worker, [key])
                else:
                    self.frontier.nack(self.worker, [key])
            except redis.RedisError as exc:
                self.logger.warning("cannot settle %d tasks yet: %s", len(self._unsettled), exc)
                return
            self._unsettled.pop(0)

    def _item_scraped(self, item: object, **_: Any) -> None:
        if isinstance(item, ObservationItem):
            self._finish(item.task_key, done=True, stat="observations")

    def _item_dropped(self, item: object, exception: BaseException, **_: Any) -> None:
        if isinstance(item, ObservationItem):
            self.logger.error("giving up %s: %s", item.task_key, exception)
            self._finish(item.task_key, done=True, stat="given_up/dropped")

    def _item_error(self, item: object, failure: Failure, **_: Any) -> None:
        if isinstance(item, ObservationItem):
            self.logger.error("publishing %s failed: %s", item.task_key,
                              failure.getErrorMessage())
            self._finish(item.task_key, done=False, stat="retried/item_error")

    def _spider_error(self, failure: Failure, response: Response | None = None,
                      **_: Any) -> None:
        key = response.meta.get("task_key") if response is not None else None
        if key is not None:
            self._finish(key, done=False, stat="retried/spider_error")

    # -- leases ------------------------------------------------------------------------------

    def _opened(self, **_: Any) -> None:
        self._ticker = twisted_task.LoopingCall(self._tick)
        self._ticker.start(self.tick_s, now=True)

    def _tick(self) -> None:
        self._settle()
        try:
            self.frontier.heartbeat(self.worker)
            requeued = self.frontier.requeue_expired()
        except redis.RedisError as exc:
            # the next tick tries again; leases are several ticks long
            self.logger.warning("frontier heartbeat failed: %s", exc)
            return
        if requeued:
            self.logger.info("returned %d expired tasks to the frontier", requeued)

    def _closed(self, reason: str, **_: Any) -> None:
        if self._ticker is not None and self._ticker.running:
            self._ticker.stop()
        # give unfinished tasks back now rather than when their leases run out
        unfinished = list(self._held)
        self._held.clear()
        self._unsettled += [(key, False) for key in unfinished]
        self._settle()
        if unfinished:
            self.logger.info("gave %d unfinished tasks back to the frontier", len(unfinished))

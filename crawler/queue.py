"""The scrapy-redis scheduler queue over our frontier (``SCHEDULER_QUEUE_CLASS``).

scrapy-redis's own queues hold pickled requests under one key; ours hands out
CrawlTasks from :mod:`pricewatch.frontier`, which stays the single source of truth:
priorities, one entry per product, the verification lane first, leases that a dead
worker's tasks come back from. The engine asks for a request whenever it has room
(``CONCURRENT_REQUESTS``), and each ask pops one task leased to this worker.
"""

from __future__ import annotations

import logging
from collections import deque
from typing import Any

import redis
from scrapy import Request, Spider
from scrapy_redis.queue import Base

from crawler.leases import WorkerLeases
from crawler.task_requests import TASK_KEY, request_for, task_of
from pricewatch.frontier import task_key

logger = logging.getLogger(__name__)


class FrontierQueue(Base):
    """``push(request)``: a request for a task this worker holds (a redirect, a retry)
    is a follow-up of that task and stays here, since its lease in Redis already says
    who is on it (and brings it back if this worker dies), and its retry counters must
    survive; a request for any other task queues that task on the frontier.
    ``pop()``: follow-ups first, then the next task of the frontier."""

    def __init__(
        self, server: redis.Redis, spider: Spider, key: str, serializer: Any = None
    ) -> None:
        super().__init__(server, spider, key, serializer)
        leases = getattr(spider, "leases", None)
        if not isinstance(leases, WorkerLeases):
            raise ValueError(
                f"FrontierQueue needs a spider with frontier leases (spider.leases), "
                f"and {spider.name!r} has none: use the 'product' spider"
            )
        self.leases = leases
        # the key scrapy-redis offers is not where the tasks are
        self.key = leases.frontier.keys.frontier(0)
        self._follow_ups: deque[Request] = deque()
        self._redis_failing = False

    def __len__(self) -> int:
        try:
            queued = self.leases.frontier.size()
        except redis.RedisError:
            # unknown: say pending, so that the worker keeps asking rather than idles out
            queued = 1
        return len(self._follow_ups) + queued

    def push(self, request: Request) -> None:
        task = task_of(request)
        if self.leases.holds(task_key(task)):
            self._follow_ups.append(request)
        else:
            self.leases.frontier.push([task])

    def pop(self, timeout: int = 0) -> Request | None:
        """Never blocks (``timeout`` is ignored): the engine calls this on its own
        loop and comes back on its next heartbeat."""
        while self._follow_ups:
            request = self._follow_ups.popleft()
            # a task given back meanwhile (a shutdown) is someone else's now
            if self.leases.holds(request.meta[TASK_KEY]):
                return request
        while True:
            try:
                task = self.leases.pop()
            except redis.RedisError as exc:
                # a fleet worker outlives a Redis restart: the engine asks again later
                if not self._redis_failing:
                    logger.warning("cannot pop from the frontier: %s", exc)
                self._redis_failing = True
                return None
            self._redis_failing = False
            if task is None:
                return None
            try:
                return request_for(task, self.spider)
            except ValueError as exc:
                self.leases.give_up(task, str(exc), stat="given_up/bad_task")

    def clear(self) -> None:
        """Never: the frontier is the fleet's, not this worker's to flush."""
        logger.info("not clearing the shared frontier")

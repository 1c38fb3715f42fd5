"""CrawlTask <-> Scrapy Request: what the frontier queue hands the engine, and what it
takes back.

The request carries its task (``meta["task"]``) and the task's frontier key, so the
callbacks and the queue can ack, nack or re-queue it; nothing else about a task
lives in a request.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from scrapy import Request
from scrapy.http import Response
from twisted.python.failure import Failure

from crawler.observations import GONE_STATUSES
from crawler.urls import fetch_url, product_url
from pricewatch.frontier import task_key
from pricewatch.models import CrawlTask, TaskKind

TASK = "task"
TASK_KEY = "task_key"


class TaskSpider(Protocol):
    """What a spider offers for its tasks' requests."""

    origins: Mapping[str, str]

    def parse_product(self, response: Response) -> Any: ...

    def parse_listing(self, response: Response) -> Any: ...

    def fetch_failed(self, failure: Failure) -> Any: ...


def request_for(task: CrawlTask, spider: TaskSpider) -> Request:
    """The request that fetches a task's page. ValueError for a task no request can
    serve (an unknown market): retrying it cannot help."""
    key = task_key(task)
    callback: Callable[[Response], object]
    if task.kind is TaskKind.DISCOVER:
        assert task.url is not None  # task_key checked it
        url = fetch_url(task.url, task.market, spider.origins)
        callback = spider.parse_listing
    else:
        assert task.asin is not None
        url = product_url(task.market, task.asin, spider.origins)
        callback = spider.parse_product
    return Request(
        url,
        callback=callback,
        errback=spider.fetch_failed,
        # re-crawling the same page is the point; the frontier dedups by product
        dont_filter=True,
        priority=1 if task.kind is TaskKind.VERIFY else 0,
        meta={TASK: task, TASK_KEY: key, "handle_httpstatus_list": sorted(GONE_STATUSES)},
    )


def task_of(request: Request) -> CrawlTask:
    """The task a request fetches; ValueError naming the request if it carries none."""
    task = request.meta.get(TASK)
    if not isinstance(task, CrawlTask):
        raise ValueError(
            f"{request} carries no CrawlTask (meta['task']): the frontier queues crawl "
            "tasks, not bare requests"
        )
    return task

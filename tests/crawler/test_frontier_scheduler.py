"""The scrapy-redis scheduler over the frontier, in process: what crawler/settings.py
configures, and a worker taking its tasks through it from a real Redis."""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import pytest
import redis as redis_lib
from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.utils.misc import build_from_crawler, load_object
from scrapy.utils.test import get_crawler
from scrapy_redis.queue import Base
from scrapy_redis.scheduler import Scheduler

from crawler import settings as project
from crawler.frontier_scheduler import FrontierScheduler, NoDupeFilter
from crawler.queue import FrontierQueue
from crawler.spiders.product import ProductSpider
from crawler.task_requests import TASK_KEY
from pricewatch.frontier import Frontier
from pricewatch.keys import Keys
from pricewatch.models import CrawlTask, TaskKind
from tests.frontiers import held_by as frontier_held_by

SCHEDULER_SETTINGS = (
    "SCHEDULER",
    "SCHEDULER_QUEUE_CLASS",
    "SCHEDULER_PERSIST",
    "SCHEDULER_FLUSH_ON_START",
    "SCHEDULER_IDLE_BEFORE_CLOSE",
    "DUPEFILTER_CLASS",
    "CONCURRENT_REQUESTS",
)
ORIGIN = "http://127.0.0.1:9"


def test_the_configured_scheduler_is_scrapy_redis_over_the_frontier() -> None:
    scheduler_cls = load_object(project.SCHEDULER)
    assert scheduler_cls is FrontierScheduler and issubclass(scheduler_cls, Scheduler)
    queue_cls = load_object(project.SCHEDULER_QUEUE_CLASS)
    assert queue_cls is FrontierQueue and issubclass(queue_cls, Base)
    assert load_object(project.DUPEFILTER_CLASS) is NoDupeFilter
    assert project.SCHEDULER_PERSIST is True and project.SCHEDULER_FLUSH_ON_START is False
    # the spider reads no start URLs: scrapy-redis's idle loop, our frontier
    assert issubclass(ProductSpider, load_object("scrapy_redis.spiders.RedisSpider"))


def crawler_for(redis_url: str, keys: Keys, **overrides: object) -> Crawler:
    settings = {name: getattr(project, name) for name in SCHEDULER_SETTINGS}
    settings.update(
        PRICEWATCH_REDIS_URL=redis_url,
        PRICEWATCH_KEY_PREFIX=keys.prefix,
        PRICEWATCH_MARKET_ORIGINS={"us": ORIGIN, "de": ORIGIN},
        PRICEWATCH_CRAWL_IDLE_CLOSE_S=0,
        # one partition: these tests read the frontier's order across every task
        # (verification lane first, then priority), which holds within a partition
        PRICEWATCH_STREAM_PARTITIONS=1,
        **overrides,
    )
    return get_crawler(ProductSpider, settings_dict=settings)


class Worker(NamedTuple):
    spider: ProductSpider
    scheduler: FrontierScheduler
    frontier: Frontier


@pytest.fixture
def worker(redis_url: str, redis_client: redis_lib.Redis, keys: Keys) -> Iterator[Worker]:
    """A worker's spider, the scheduler the engine would build for it, and the frontier
    they take tasks from (in the session's Redis, emptied for the test)."""
    crawler = crawler_for(redis_url, keys)
    spider = ProductSpider.from_crawler(crawler)
    crawler.spider = spider
    scheduler = build_from_crawler(load_object(crawler.settings["SCHEDULER"]), crawler)
    assert isinstance(scheduler, FrontierScheduler)
    scheduler.open(spider)
    partitions = len(spider.frontier.partitions)
    yield Worker(spider, scheduler, Frontier(redis_client, keys, partitions=partitions))
    spider.leases.release_all()


def held_by(worker: Worker) -> set[str]:
    spider = worker.spider
    frontier = worker.frontier
    return frontier_held_by(
        frontier.redis, spider.keys, spider.leases.worker, len(frontier.partitions)
    )


@pytest.mark.redis
def test_a_worker_pops_leased_tasks_through_the_scheduler(
    worker: Worker, redis_client: redis_lib.Redis, keys: Keys
) -> None:
    spider, scheduler, frontier = worker
    assert isinstance(scheduler.queue, FrontierQueue)
    frontier.push(
        [
            CrawlTask(market="us", asin="B0SCHED001", priority=9.0),
            CrawlTask(market="de", asin="B0SCHED002", kind=TaskKind.VERIFY, report_id="r1"),
            CrawlTask(
                market="us",
                kind=TaskKind.DISCOVER,
                priority=1.0,
                url="https://www.amazon.com/gp/bestsellers/",
            ),
        ]
    )
    assert scheduler.has_pending_requests() and len(scheduler) == 3

    first = scheduler.next_request()
    assert first is not None
    # the verification lane first, whatever the priorities
    assert first.url == f"{ORIGIN}/dp/B0SCHED002"
    assert first.meta["task"].kind is TaskKind.VERIFY and first.meta[TASK_KEY] == "de:B0SCHED002"
    assert first.callback == spider.parse_product and first.dont_filter
    second, third = scheduler.next_request(), scheduler.next_request()
    assert second is not None and third is not None
    assert second.meta[TASK_KEY] == "us:B0SCHED001"
    assert third.url == f"{ORIGIN}/gp/bestsellers/" and third.callback == spider.parse_listing
    assert scheduler.next_request() is None and not scheduler.has_pending_requests()
    # each one leased to this worker in Redis
    assert held_by(worker) == {
        "de:B0SCHED002",
        "us:B0SCHED001",
        "https://www.amazon.com/gp/bestsellers/",
    }
    assert frontier.inflight_size() == 3

    # observed: acked; a robot check: nacked, back on the frontier with its rank
    spider.leases.finish("de:B0SCHED002", done=True, stat="observations")
    spider.leases.finish("us:B0SCHED001", done=False, stat="retried/captcha")
    assert frontier.inflight_size() == 1
    again = scheduler.next_request()
    assert again is not None and again.meta["task"].priority == 9.0


@pytest.mark.redis
def test_follow_ups_stay_with_the_worker_and_new_tasks_go_to_the_frontier(worker: Worker) -> None:
    _, scheduler, frontier = worker
    frontier.push([CrawlTask(market="us", asin="B0SCHED003")])
    request = scheduler.next_request()
    assert request is not None
    # a redirect (or a retry) of a held task keeps its lease and its meta
    moved = request.replace(
        url=f"{ORIGIN}/dp/B0SCHED003/moved", meta={**request.meta, "retry_times": 1}
    )
    assert scheduler.enqueue_request(moved)
    assert frontier.size() == 0 and frontier.inflight_size() == 1
    follow_up = scheduler.next_request()
    assert follow_up is not None and follow_up.url.endswith("/moved")
    assert follow_up.meta["retry_times"] == 1

    # a request for a task nobody holds queues the task, not the request
    other = CrawlTask(market="de", asin="B0SCHED004", priority=3.0)
    assert scheduler.enqueue_request(Request(f"{ORIGIN}/x", meta={"task": other}))
    assert frontier.size() == 1
    with pytest.raises(ValueError, match="carries no CrawlTask"):
        scheduler.enqueue_request(Request(f"{ORIGIN}/bare"))
    assert frontier.size() == 1
    assert scheduler.stats is not None
    assert scheduler.stats.get_value("scheduler/enqueued/redis") == 2
    assert scheduler.stats.get_value("scheduler/dequeued/redis") == 2


@pytest.mark.redis
def test_a_task_no_request_can_serve_is_given_up_and_the_next_one_served(worker: Worker) -> None:
    _, scheduler, frontier = worker
    frontier.push(
        [
            CrawlTask(market="zz", asin="B0SCHED005", priority=5.0),
            CrawlTask(market="us", asin="B0SCHED006"),
        ]
    )
    request = scheduler.next_request()
    assert request is not None and request.meta[TASK_KEY] == "us:B0SCHED006"
    # acked, not returned to loop forever
    assert frontier.size() == 0 and frontier.inflight_size() == 1


@pytest.mark.redis
def test_closing_a_worker_never_clears_the_frontier(
    worker: Worker, redis_url: str, keys: Keys
) -> None:
    _, scheduler, frontier = worker
    frontier.push([CrawlTask(market="us", asin=f"B0SCHED10{i}") for i in range(3)])
    assert scheduler.next_request() is not None
    scheduler.close("finished")
    scheduler.queue.clear()
    with pytest.raises(RuntimeError, match="never flushes"):
        scheduler.flush()
    assert frontier.size() == 2 and frontier.inflight_size() == 1
    # settings that would flush it are refused up front
    for bad in ({"SCHEDULER_PERSIST": False}, {"SCHEDULER_FLUSH_ON_START": True}):
        with pytest.raises(ValueError, match="SCHEDULER_PERSIST"):
            FrontierScheduler.from_crawler(crawler_for(redis_url, keys, **bad))


@pytest.mark.redis
def test_idle_close_waits_for_the_fleet_frontier_to_stay_empty(worker: Worker) -> None:
    from scrapy.exceptions import DontCloseSpider

    spider, _, frontier = worker
    assert spider.max_idle_time == 0
    with pytest.raises(DontCloseSpider):  # a fleet worker waits for work forever
        spider.spider_idle()
    spider.max_idle_time = 5
    # a task leased anywhere in the fleet keeps the worker up, and so does an empty
    # frontier that has not been empty that long
    frontier.push([CrawlTask(market="us", asin="B0SCHED200")])
    frontier.pop("another-worker", 1)
    spider.spider_idle_start_time -= 60
    with pytest.raises(DontCloseSpider):
        spider.spider_idle()
    frontier.ack("another-worker", ["us:B0SCHED200"])
    with pytest.raises(DontCloseSpider):
        spider.spider_idle()
    # empty for longer than that: RedisMixin lets the engine close the spider
    spider.spider_idle_start_time -= 60
    spider.leases.last_activity -= 60
    assert spider.spider_idle() is None

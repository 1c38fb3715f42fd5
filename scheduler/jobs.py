"""The scheduler's jobs: re-score products, refill the frontier, queue discovery.

Scores are written to ClickHouse's ``crawl_schedule`` (the full schedule, through
:class:`pricewatch.storage.clickhouse.ScheduleStore`); Redis holds only the frontier's
due-soon window, plus the scheduler's own small state:

- watermarks (:class:`scheduler.inputs.Watermarks`): what the last pass saw, so the
  next incremental pass re-scores only products with new price observations, new
  views or new/edited subscriptions;
- water levels, one per budget group: the level ``c`` of the last full pass
  (``rate = clip(c * sqrt(w * lambda))``), so an incremental pass prices changed
  products against the same allocation. Their rates then no longer sum exactly to the
  budget; the periodic full pass re-balances;
- products pushed to the frontier and when, so a product is not pushed again while
  its crawl is pending (pushing a product that is in flight would crawl it twice).

Several schedulers may run; one leads (``pricewatch.leader``). Its pushes to the
frontier and its writes of the state carry its fencing token (``fence``), so a leader
that was replaced while paused cannot push or re-allocate the budget when it wakes.

Budget groups: a market with its own budget (``market_budgets``) is allocated alone;
every other market shares what is left of the fleet budget.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import functools
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import numpy as np
import redis
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.util import undefined
from clickhouse_connect.driver.client import Client

from pricewatch.frontier import Frontier, discovery_tasks
from pricewatch.keys import Keys
from pricewatch.leader import FENCE_CHECK, NotLeader, fenced_call, token_arg
from pricewatch.markets import get_market
from pricewatch.models import CrawlTask
from pricewatch.storage.clickhouse import DueProduct, ScheduleStore
from pricewatch.storage.sql import Db
from pricewatch.summaries import Tally
from scheduler import metrics
from scheduler.inputs import (
    ProductInputs,
    ProductKey,
    Watermarks,
    changed_since,
    current_watermarks,
    gather_inputs,
)
from scheduler.scoring import (
    DAY_MS,
    UNKNOWN_AGE_DAYS,
    FloatArray,
    IntArray,
    ScoringParams,
    change_rate,
    crawl_shares,
    importance,
    next_due,
    priority,
    rates_at_level,
    water_fill,
)

log = logging.getLogger(__name__)

SHARED_GROUP = "*"

# KEYS: state, fence. ARGV: token ('' = unfenced), '1' to replace the levels, then
# field, value pairs.
_SAVE_STATE = (
    "local FENCE_KEY, FENCE_TOKEN = KEYS[2], ARGV[1]\n"
    + FENCE_CHECK
    + """
if ARGV[2] == '1' then redis.call('DEL', KEYS[1]) end
if #ARGV > 2 then redis.call('HSET', KEYS[1], unpack(ARGV, 3)) end
return 1
"""
)


@dataclasses.dataclass(frozen=True, kw_only=True)
class SchedulerConfig:
    """Plain values the jobs run with (``scheduler.service`` builds it from settings)."""

    # scheduled crawls per second for the whole fleet (verification share already off)
    budget: float
    # markets with a budget of their own (crawls per second), taken out of ``budget``
    market_budgets: Mapping[str, float] = dataclasses.field(default_factory=dict)
    params: ScoringParams = ScoringParams()
    # the frontier holds what is due within this window, at most frontier_max tasks
    window_s: float = 3_600.0
    frontier_max: int = 100_000
    # a pushed product whose crawl never showed up is pushed again after this
    repush_after_s: float = 3_600.0
    discovery_markets: tuple[str, ...] = ("us",)
    discovery_priority: float = 500.0

    def __post_init__(self) -> None:
        if not (np.isfinite(self.budget) and self.budget >= 0):
            raise ValueError(f"budget must be a non-negative number, got {self.budget}")
        for market, budget in self.market_budgets.items():
            get_market(market)
            if not budget >= 0:
                raise ValueError(f"budget of market {market!r} must be >= 0, got {budget}")
        if sum(self.market_budgets.values()) > self.budget:
            raise ValueError(
                f"market budgets {dict(self.market_budgets)} exceed the fleet budget "
                f"{self.budget:.3f} crawls/s"
            )
        for market in self.discovery_markets:
            get_market(market)
        if self.window_s <= 0 or self.repush_after_s <= 0 or self.frontier_max <= 0:
            raise ValueError("window_s, repush_after_s and frontier_max must be positive")

    def group_of(self, market: str) -> str:
        return market if market in self.market_budgets else SHARED_GROUP

    def budget_of(self, group: str) -> float:
        if group == SHARED_GROUP:
            return self.budget - sum(self.market_budgets.values())
        return self.market_budgets[group]


@dataclasses.dataclass
class Scores:
    """A scoring pass's result, one element per product of ``keys``."""

    keys: list[ProductKey]
    importance: FloatArray
    change_rate: FloatArray
    rate: FloatArray
    last_observed_ms: IntArray
    next_due_ms: IntArray
    levels: dict[str, float]


def score_products(
    inputs: ProductInputs,
    now_ms: int,
    config: SchedulerConfig,
    levels: Mapping[str, float] | None = None,
) -> Scores:
    """Score products (pure). Without ``levels`` this is a full pass: every budget group
    is water-filled and its new level returned. With ``levels`` (an incremental pass)
    rates are priced at those levels; a group without one counts as having budget to
    spare (its products get the maximum rate)."""
    params = config.params
    first_seen = inputs.first_seen_ms
    age_days = np.where(first_seen > 0, np.maximum(now_ms - first_seen, 0) / DAY_MS, 0.0)
    w = importance(
        subscriptions=inputs.subscriptions,
        proximity=inputs.proximity,
        views_7d=inputs.views_7d,
        views_30d=inputs.views_30d,
        age_days=age_days,
        params=params,
    )
    lam = change_rate(inputs.changes, inputs.observed_days, params)
    shares = crawl_shares(w, lam)
    groups = np.array([config.group_of(market) for market, _ in inputs.keys], dtype=object)
    rates = np.zeros(len(inputs))
    new_levels: dict[str, float] = {}
    names = set(groups.tolist())
    if levels is None:
        names |= {SHARED_GROUP, *config.market_budgets}
    for group in sorted(names):
        members = groups == group
        if levels is None:
            if not members.any():
                # nothing to share the budget with yet: whatever comes gets the maximum
                new_levels[group] = float("inf")
                continue
            rates[members], new_levels[group] = water_fill(
                shares[members], config.budget_of(group), params.min_rate, params.max_rate
            )
        else:
            level = levels.get(group, float("inf"))
            rates[members] = rates_at_level(
                shares[members], level, params.min_rate, params.max_rate
            )
    last = np.maximum(inputs.last_crawl_ms, inputs.last_report_ms)
    return Scores(
        keys=inputs.keys,
        importance=w,
        change_rate=lam,
        rate=rates,
        last_observed_ms=last,
        next_due_ms=next_due(inputs.last_crawl_ms, inputs.last_report_ms, rates),
        levels=new_levels if levels is None else dict(levels),
    )


def refill_plan(
    due: Sequence[DueProduct], pushed_at: Mapping[ProductKey, int], room: int, now_ms: int
) -> list[CrawlTask]:
    """Which due products go to the frontier, highest priority first (pure).

    A product pushed after its last observation is still on its way (queued or in
    flight) and is left out.
    """
    fresh = [d for d in due if pushed_at.get((d.market, d.asin), -1) < d.last_observed_ms]
    if not fresh or room <= 0:
        return []
    ranks = priority(
        [d.importance for d in fresh],
        [d.change_rate for d in fresh],
        [d.last_observed_ms for d in fresh],
        now_ms,
    )
    order = np.argsort(-ranks, kind="stable")[:room]
    return [
        CrawlTask(market=fresh[i].market, asin=fresh[i].asin, priority=float(ranks[i]))
        for i in order
    ]


@dataclasses.dataclass(kw_only=True, eq=False)
class CrawlScheduler:
    """The jobs, over real stores. Async; blocking calls run on worker threads."""

    clickhouse: Client
    database: str
    db: Db
    redis_client: redis.Redis
    keys: Keys
    frontier: Frontier
    config: SchedulerConfig
    # the leader's fencing token (NotLeader when this process does not lead); None: a
    # scheduler that runs alone, unfenced
    fence: Callable[[], int] | None = None
    store: ScheduleStore = dataclasses.field(init=False)
    _lock: asyncio.Lock = dataclasses.field(init=False, default_factory=asyncio.Lock)
    _save: Any = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        self.store = ScheduleStore(
            self.clickhouse, self.database, unknown_age_days=UNKNOWN_AGE_DAYS
        )
        self._save = self.redis_client.register_script(_SAVE_STATE)

    def _token(self) -> int | None:
        return None if self.fence is None else self.fence()

    # -- state in Redis

    def _load_state(self) -> tuple[Watermarks, dict[str, float]] | None:
        raw = self.redis_client.hgetall(self.keys.scheduler_state)
        fields = {_text(k): _text(v) for k, v in raw.items()}
        marks = Watermarks.from_fields({k: int(v) for k, v in fields.items() if k[:3] == "wm:"})
        levels = {k[6:]: float(v) for k, v in fields.items() if k.startswith("level:")}
        if marks is None or not levels:
            return None
        return marks, levels

    def _save_state(self, marks: Watermarks, levels: Mapping[str, float] | None) -> None:
        """Write the watermarks, and the levels if given (replacing the old ones)."""
        fields = {name: str(value) for name, value in marks.as_fields().items()}
        if levels is not None:
            fields.update({f"level:{g}": repr(level) for g, level in levels.items()})
        pairs = [part for item in fields.items() for part in item]
        args = [token_arg(self._token()), "1" if levels is not None else "0", *pairs]
        keys = [self.keys.scheduler_state, self.keys.scheduler_fence]
        fenced_call(lambda: self._save(keys, args))

    # -- jobs

    async def rescore_all(self, now_ms: int) -> int:
        """Full pass: score every product, re-balance every budget group."""
        async with self._lock:
            self._token()  # NotLeader: no pass at all rather than one whose state is refused
            return await self._rescore_all(now_ms)

    async def _rescore_all(self, now_ms: int) -> int:
        marks = await current_watermarks(self.clickhouse, self.database, self.db)
        inputs = await gather_inputs(self.clickhouse, self.database, self.db, now_ms)
        scores = await asyncio.to_thread(score_products, inputs, now_ms, self.config)
        await asyncio.to_thread(self.store.write, scores, now_ms)
        await asyncio.to_thread(self._save_state, marks, scores.levels)
        metrics.record_pass(self.config, scores)
        log.info("scored %d products; levels %s", len(inputs), scores.levels)
        return len(inputs)

    async def rescore_changed(self, now_ms: int) -> int:
        """Incremental pass: only products whose inputs changed since the last pass.
        Without a previous pass (first start) this is a full pass."""
        async with self._lock:
            self._token()
            state = await asyncio.to_thread(self._load_state)
            if state is None:
                return await self._rescore_all(now_ms)
            marks, levels = state
            changed, new_marks = await changed_since(self.clickhouse, self.database, self.db, marks)
            if changed:
                inputs = await gather_inputs(
                    self.clickhouse, self.database, self.db, now_ms, changed
                )
                scores = await asyncio.to_thread(
                    score_products, inputs, now_ms, self.config, levels
                )
                await asyncio.to_thread(self.store.write, scores, now_ms)
            await asyncio.to_thread(self._save_state, new_marks, None)
            return len(changed)

    async def refill(self, now_ms: int) -> int:
        """Push what is due within the window onto the frontier, up to its bound."""
        pushed = await asyncio.to_thread(self.refill_now, now_ms)
        metrics.record_refill(pushed)
        return pushed

    def refill_now(self, now_ms: int) -> int:
        """:meth:`refill`, blocking."""
        room = self.config.frontier_max - self.frontier.size()
        if room <= 0:
            return 0
        pushed_key = self.keys.scheduler_pushed
        self.redis_client.zremrangebyscore(
            pushed_key, "-inf", now_ms - int(self.config.repush_after_s * 1000)
        )
        pending = int(self.redis_client.zcard(pushed_key))
        due = self.store.due(now_ms + int(self.config.window_s * 1000), now_ms, room + pending)
        members = [f"{d.market}:{d.asin}" for d in due]
        scores = self.redis_client.zmscore(pushed_key, members) if members else []
        pushed_at = {
            (d.market, d.asin): int(s) for d, s in zip(due, scores, strict=True) if s is not None
        }
        tasks = refill_plan(due, pushed_at, room, now_ms)
        if not tasks:
            return 0
        # refused (FencedOut) before anything is marked pushed if another leads now
        self.frontier.push(tasks, token=self._token())
        self.redis_client.zadd(pushed_key, {t.product_key: now_ms for t in tasks})
        return len(tasks)

    async def discover(self) -> int:
        """Queue the listing pages of every discovery market (the frontier dedups)."""
        tasks = discovery_tasks(self.config.discovery_markets, self.config.discovery_priority)
        await asyncio.to_thread(self.frontier.push, tasks, self._token())
        return len(tasks)


@dataclasses.dataclass(frozen=True, kw_only=True)
class JobIntervals:
    """Seconds between runs of each job."""

    refill_s: float = 10.0
    rescore_s: float = 60.0
    full_rescore_s: float = 6 * 3600.0
    discovery_s: float = 6 * 3600.0


def add_jobs(
    aps: AsyncIOScheduler,
    scheduler: CrawlScheduler,
    intervals: JobIntervals,
    clock: Callable[[], int],
) -> None:
    """Register the jobs on ``aps``. ``clock()`` returns now in ms.

    Each job runs one at a time (``max_instances=1``) and missed runs collapse into
    one (``coalesce``): a slow full pass delays the next, it does not pile up.
    """

    @_waits_for_redis
    async def rescore_changed() -> None:
        count = await scheduler.rescore_changed(clock())
        log.debug("re-scored %d changed products", count)

    @_waits_for_redis
    async def rescore_all() -> None:
        await scheduler.rescore_all(clock())

    # one line a minute at most, however often refill runs
    pushes = Tally()

    @_waits_for_redis
    async def refill() -> None:
        now_ms = clock()
        pushed = await scheduler.refill(now_ms)
        if due := pushes.add(now_ms / 1000, pushed=pushed):
            log.info("pushed %d due products to the frontier in the last minute", due["pushed"])

    @_waits_for_redis
    async def discover() -> None:
        await scheduler.discover()

    def every(
        seconds: float, job: Callable[[], Awaitable[None]], job_id: str, at_once: bool
    ) -> None:
        aps.add_job(
            job,
            "interval",
            seconds=seconds,
            id=job_id,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,
            # APScheduler's default (undefined) is one interval from now
            next_run_time=_now(aps) if at_once else undefined,
        )

    # the first incremental pass runs at once (a full one on a fresh start), then refill
    every(intervals.rescore_s, rescore_changed, "rescore", at_once=True)
    every(intervals.full_rescore_s, rescore_all, "full-rescore", at_once=False)
    every(intervals.refill_s, refill, "refill", at_once=False)
    every(intervals.discovery_s, discover, "discovery", at_once=True)


def _waits_for_redis(job: Callable[[], Awaitable[None]]) -> Callable[[], Awaitable[None]]:
    """A job that finds Redis away (restarting, say) or finds that this scheduler no
    longer leads says so in one line and simply runs again at its next turn (if it
    leads then); any other failure keeps its traceback."""

    @functools.wraps(job)
    async def run() -> None:
        try:
            await job()
        except NotLeader as exc:
            log.warning("scheduler: %s stopped, not the leader (%s)", job.__name__, exc)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            log.warning(
                "scheduler: %s skipped, Redis unavailable (%s); it runs again at its next turn",
                job.__name__,
                exc,
            )

    return run


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _now(aps: AsyncIOScheduler) -> dt.datetime:
    return dt.datetime.now(aps.timezone)

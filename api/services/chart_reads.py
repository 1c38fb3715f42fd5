"""The ClickHouse reads of chart misses, gathered: reads that wait while a query runs
leave together, as one query.

A chart nobody asked for lately (the extension's usual request: a random product
page) costs one ClickHouse query. Most of that query's cost is fixed (with the embedded
chDB, analysing and planning the query that writes a chart's lines take 15-20 ms of a
core, whatever the rows), so charts one at a time top out near fifty a second. Here a
read starts at once when a store is free, so a lone request waits for nothing; the
reads that arrive while every store is busy queue by kind and shape, and the next free
store takes up to ``MAX_BATCH`` of the oldest kind in one query
(``PriceStore.chart_lines_of`` / ``changes_of``). The busier the API, the larger the
batches and the cheaper each chart.

Each store runs one query at a time; several stores run at once. With chDB each has a
handle of its own onto the process's one engine (``another_handle``): a handle
serializes its queries, the engine does not, and planning is single-threaded, so two
handles plan two queries on two cores.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import time
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Any

from api.metrics import CHART_QUERY_READS, CHART_QUERY_SECONDS
from api.services.pricing import RANK_SERIES, WIRE_EXPONENTS
from pricewatch.history import Bucket, Granularity, bucket_span, check_range
from pricewatch.models import Product
from pricewatch.storage.clickhouse import PriceStore
from pricewatch.storage.clickhouse.chart_points import EncodedLine
from pricewatch.storage.clickhouse.price_history import ChartRead

# Reads per query: 32 one-year charts cost chDB about twice what a lone one does (47
# against 21 ms of a core here). A longer batch would hold the first chart of it back
# for longer than it saves.
MAX_BATCH = 32

Lines = dict[str, EncodedLine]
Changes = dict[str, list[Bucket]] | None
# runs a blocking call off the event loop (ApiState.clickhouse)
Runner = Callable[..., Awaitable[Any]]


@dataclasses.dataclass
class _Queue:
    """Reads of one kind and shape, waiting for a query."""

    # its kind, the first part of its shape, as the metrics name it
    kind: str
    read_all: Callable[[PriceStore, list[ChartRead]], list[Any]]
    reads: list[ChartRead] = dataclasses.field(default_factory=list)
    waiters: list[asyncio.Future[Any]] = dataclasses.field(default_factory=list)


class ChartReads:
    def __init__(self, stores: Sequence[PriceStore], run: Runner) -> None:
        """``stores``: one per query that may run at once."""
        if not stores:
            raise ValueError("at least one store to query")
        self.stores = list(stores)
        self.run = run
        self.idle = list(stores)
        # by kind and shape, oldest first (but see _join)
        self._waiting: collections.OrderedDict[tuple[Hashable, ...], _Queue] = (
            collections.OrderedDict()
        )
        self._tasks: set[asyncio.Task[None]] = set()
        # a query just ended: the next start waits for its requests to queue what follows
        self._start_pending = False

    @property
    def running(self) -> int:
        """Queries running now."""
        return len(self.stores) - len(self.idle)

    async def product(self, market: str, asin: str, *, second: bool = False) -> Product | None:
        """A catalogue row (None: not in the catalogue), in a query shared with the
        catalogue reads waiting beside it."""

        def read_all(store: PriceStore, reads: list[ChartRead]) -> list[Product | None]:
            found = store.products((read.market, read.asin) for read in reads)
            return [found.get((read.market, read.asin)) for read in reads]

        answer: Product | None = await self._join(
            ("product",), read_all, ChartRead(market, asin, 0, 0), second=second
        )
        return answer

    async def histories(
        self, read: ChartRead, granularity: Granularity, *, second: bool = False
    ) -> Lines:
        """``PriceStore.chart_lines_of`` one read (its buckets as the API's JSON), in a
        query shared with the reads of the same span waiting beside it. A range of too
        many buckets raises ValueError here, before it can fail others."""
        span = bucket_span(read.start_ms, read.end_ms, granularity)

        def read_all(store: PriceStore, reads: list[ChartRead]) -> list[Lines]:
            return store.chart_lines_of(
                reads, granularity, exponents=WIRE_EXPONENTS, counts=RANK_SERIES
            )

        answer: Lines = await self._join(
            ("lines", granularity, span), read_all, read, second=second
        )
        return answer

    async def changes(
        self, read: ChartRead, limit: int, *, opening: bool = True, second: bool = False
    ) -> Changes:
        """``PriceStore.changes`` of one read, in a query shared with the reads of the
        same limit waiting beside it. ``opening=False``: the read starts no later than
        its product was first seen (see ``PriceHistory.changes_of``)."""
        check_range(read.start_ms, read.end_ms)

        def read_all(store: PriceStore, reads: list[ChartRead]) -> list[Changes]:
            return store.changes_of(reads, limit, opening=opening)

        answer: Changes = await self._join(
            ("changes", limit, opening), read_all, read, second=second
        )
        return answer

    async def _join(
        self,
        shape: tuple[Hashable, ...],
        read_all: Callable[[PriceStore, list[ChartRead]], list[Any]],
        read: ChartRead,
        *,
        second: bool,
    ) -> Any:
        """``shape``: the kind of read ("lines", "changes" or "product", as the metrics
        name it) and what the reads of one query must share.

        ``second``: the read is its request's second (the first showed that another is
        needed: a young product's change points, the buckets of one with too many
        changes, or the catalogue row of one without prices). Its queue leaves before
        every queue of first reads, so that such a request waits for two queries, not
        for a third one started meanwhile (and first reads queued with it go along)."""
        queue = self._waiting.get(shape)
        if queue is None:
            queue = self._waiting[shape] = _Queue(str(shape[0]), read_all)
        if second:
            self._waiting.move_to_end(shape, last=False)
        waiter: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        queue.reads.append(read)
        queue.waiters.append(waiter)
        if not self._start_pending:  # else the queries start with the others queued now
            self._start_queries()
        return await waiter

    def _start_queries(self) -> None:
        while self.idle and self._waiting:
            shape, queue = next(iter(self._waiting.items()))
            reads, waiters = queue.reads[:MAX_BATCH], queue.waiters[:MAX_BATCH]
            del queue.reads[:MAX_BATCH], queue.waiters[:MAX_BATCH]
            if not queue.reads:
                del self._waiting[shape]
            store = self.idle.pop()
            task = asyncio.ensure_future(self._query(store, queue, reads, waiters))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _query(
        self,
        store: PriceStore,
        queue: _Queue,
        reads: list[ChartRead],
        waiters: Sequence[asyncio.Future[Any]],
    ) -> None:
        started = time.perf_counter()
        try:
            answers = await self.run(queue.read_all, store, reads)
        except Exception as exc:  # every read of the query fails with it
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_exception(exc)
        else:
            for waiter, answer in zip(waiters, answers, strict=True):
                if not waiter.done():  # its request may be gone
                    waiter.set_result(answer)
        finally:
            CHART_QUERY_READS.labels(queue.kind).observe(len(reads))
            CHART_QUERY_SECONDS.labels(queue.kind).observe(time.perf_counter() - started)
            self.idle.append(store)
            # Not at once: the requests just answered run first (their wake-ups are
            # queued before this). A request whose answer calls for a second read
            # queues it then, ahead of every first read, and the second reads of one
            # query leave together, in the next: such a request waits for two queries,
            # not for a batch of first reads between them.
            if not self._start_pending:
                self._start_pending = True
                asyncio.get_running_loop().call_soon(self._start_pending_queries)

    def _start_pending_queries(self) -> None:
        self._start_pending = False
        self._start_queries()

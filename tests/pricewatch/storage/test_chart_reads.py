"""The reads behind a chart nobody asked for lately: buckets or change points, in as
few queries as the window allows, and the catalogue only when their rows cannot tell."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import msgspec
import pytest
from prometheus_client import REGISTRY

from api.schemas import PriceHistoryOut
from api.services import products as chart
from api.services.chart_reads import MAX_BATCH, ChartReads, Lines
from api.services.pricing import (
    MAX_CHANGE_POINTS,
    MAX_CHANGES_SPAN_MS,
    RANK_SERIES,
    WIRE_EXPONENTS,
    ChartWindow,
)
from pricewatch.history import DAY_MS, HOUR_MS, Granularity, floor_bucket
from pricewatch.markets import get_market
from pricewatch.models import Availability, Product
from pricewatch.storage.clickhouse import PriceStore
from pricewatch.storage.clickhouse.price_history import ChartRead
from tests.pricewatch.storage.test_clickhouse import T0, _random_series, _row

pytestmark = pytest.mark.clickhouse

NOW = T0 + 400 * DAY_MS + 12_345
US = get_market("us")


def _catalogue(store: PriceStore, asin: str, first_seen: int, currency: str | None) -> None:
    # two versions of the row: readers must take the newest
    for version in (0, 1):
        store.upsert_products(
            [
                Product(
                    market="us",
                    asin=asin,
                    title=f"v{version}",
                    currency=currency,
                    availability=Availability.IN_STOCK,
                    first_seen=first_seen + (1 - version) * HOUR_MS,
                    last_seen=NOW - (2 - version) * HOUR_MS,
                )
            ]
        )


async def run_here(fn: Any, *args: Any) -> Any:
    return fn(*args)


class Counting:
    """A client that counts the queries sent through it."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.queries = 0

    def query(self, *args: Any, **kwargs: Any) -> Any:
        self.queries += 1
        return self.client.query(*args, **kwargs)


@pytest.fixture
def stocked(price_store: PriceStore) -> PriceStore:
    """An old product with several series and a young one, in unmerged parts."""
    rng = random.Random(8)
    rows = []
    for name in ("buybox", "new", "used", "sales_rank"):
        rows += [_row("B0OLDPROD1", t, p, name) for t, p in _random_series(rng, T0, 399)]
    young = _random_series(rng, NOW - 40 * DAY_MS, 39)
    rows += [_row("B0YOUNGPR1", t, p) for t, p in young]
    rng.shuffle(rows)
    for i in range(0, len(rows), len(rows) // 3 + 1):
        price_store.insert_prices(rows[i : i + len(rows) // 3 + 1])
    _catalogue(price_store, "B0OLDPROD1", T0, "USD")
    _catalogue(price_store, "B0YOUNGPR1", young[0][0], None)
    return price_store


def test_reads_from_a_product_s_first_sighting_leave_out_the_state_before(
    stocked: PriceStore,
) -> None:
    first_seen = stocked.product("us", "B0YOUNGPR1").first_seen  # type: ignore[union-attr]
    assert first_seen is not None
    for start in (NOW - 365 * DAY_MS, first_seen):
        read = ChartRead("us", "B0YOUNGPR1", start, NOW)
        alone = stocked.changes_of([read], MAX_CHANGE_POINTS, opening=False)
        assert alone == stocked.changes_of([read], MAX_CHANGE_POINTS)
        assert alone[0]
    # the part is really left out: a read from inside an older product's life, told
    # otherwise, loses the state in force at its start
    late = ChartRead("us", "B0OLDPROD1", NOW - 30 * DAY_MS, NOW)
    [kept] = stocked.changes_of([late], MAX_CHANGE_POINTS)
    [left] = stocked.changes_of([late], MAX_CHANGE_POINTS, opening=False)
    assert kept and left
    assert all(points[0].start_ms == late.start_ms for points in kept.values())
    assert all(points[0].start_ms > late.start_ms for points in left.values())


class Noting(PriceStore):
    """A store that notes whether each changes read asked for the state before it."""

    openings: list[bool]

    def changes_of(self, *args: Any, **kwargs: Any) -> Any:
        self.openings.append(kwargs.get("opening", True))
        return super().changes_of(*args, **kwargs)


@pytest.mark.parametrize(
    ("asin", "period", "granularity", "queries", "served"),
    [
        # the window alone decides, and the rows show the product: one query
        ("B0OLDPROD1", "1y", "auto", 1, "daily"),
        ("B0OLDPROD1", "30d", "auto", 1, "changes"),
        ("B0OLDPROD1", "7d", "hourly", 1, "hourly"),
        ("B0YOUNGPR1", "30d", "auto", 1, "changes"),
        # a young product's long window is its changes after all
        ("B0YOUNGPR1", "1y", "auto", 2, "changes"),
        # "all" starts when the product was first seen: the catalogue first
        ("B0OLDPROD1", "all", "auto", 2, "weekly"),
        ("B0NOTHERE1", "all", "auto", 1, None),
        # no rows: the catalogue says whether the product exists
        ("B0NOTHERE1", "1y", "auto", 2, None),
        ("B0NOTHERE1", "30d", "auto", 2, None),
    ],
)
def test_a_chart_miss_costs_one_query_when_the_window_decides(
    stocked: PriceStore, asin: str, period: str, granularity: str, queries: int, served: str | None
) -> None:
    counting = Counting(stocked.client)
    store = Noting(counting, stocked.database)  # type: ignore[arg-type]
    store.openings = []
    req = chart.ChartRequest(US, asin, ChartWindow(period, granularity, None, None))
    reads = ChartReads([store], run_here)
    body = asyncio.run(chart._history_body(reads, req, NOW))
    assert counting.queries == queries
    if served is None:
        assert body is None
    else:
        assert body is not None and f'"granularity":"{served}"'.encode() in body
    # a young product's year, read as changes once its first read showed its age, is
    # read from before its first sighting: nothing to read of the state before
    young_year = (asin, period) == ("B0YOUNGPR1", "1y")
    # a short "auto" window is read as changes first, with the state before it
    short_auto = (period, granularity) == ("30d", "auto")
    assert store.openings == ([False] if young_year else [True] if short_auto else [])


@pytest.mark.parametrize(
    ("first_seen_ms", "queries", "served"),
    [
        # first seen the day before the one that straddles the limit: old, by its rows
        (NOW - MAX_CHANGES_SPAN_MS - DAY_MS, 1, "daily"),
        # in the straddling day: the catalogue says on which side
        (NOW - MAX_CHANGES_SPAN_MS - 5_000, 2, "daily"),
        (NOW - MAX_CHANGES_SPAN_MS + 6 * HOUR_MS, 3, "changes"),
        # the day after: young, by its rows; its change points are a second read
        (NOW - MAX_CHANGES_SPAN_MS + DAY_MS + 6 * HOUR_MS, 2, "changes"),
    ],
)
def test_a_product_first_seen_near_the_changes_limit_is_judged_to_the_millisecond(
    price_store: PriceStore, first_seen_ms: int, queries: int, served: str
) -> None:
    limit = NOW - MAX_CHANGES_SPAN_MS  # the two cases "in the straddling day" are in one
    assert floor_bucket(limit - 5_000, Granularity.DAILY) == floor_bucket(
        limit + 6 * HOUR_MS, Granularity.DAILY
    )
    prices = [1999, 2499, None, 2199]
    price_store.insert_prices(
        [
            _row("B0EDGEPROD", at, prices[i % len(prices)])
            for i, at in enumerate(range(first_seen_ms, NOW, 2 * DAY_MS))
        ]
    )
    _catalogue(price_store, "B0EDGEPROD", first_seen_ms, "USD")
    counting = Counting(price_store.client)
    store = PriceStore(counting, price_store.database)  # type: ignore[arg-type]
    req = chart.ChartRequest(US, "B0EDGEPROD", ChartWindow("1y", "auto", None, None))
    body = asyncio.run(chart._history_body(ChartReads([store], run_here), req, NOW))
    assert body is not None and f'"granularity":"{served}"'.encode() in body
    assert counting.queries == queries


def test_a_known_product_without_prices_in_the_window_is_an_empty_chart(
    stocked: PriceStore,
) -> None:
    counting = Counting(stocked.client)
    store = PriceStore(counting, stocked.database)  # type: ignore[arg-type]
    reads = ChartReads([store], run_here)
    before = ChartWindow(None, "auto", NOW - 300 * DAY_MS, NOW - 200 * DAY_MS)
    for asin, queries in (("B0YOUNGPR1", 3), ("B0NOTHERE1", 2)):
        counting.queries = 0
        req = chart.ChartRequest(US, asin, before)
        body = asyncio.run(chart._history_body(reads, req, NOW))
        # buckets, none; the catalogue; the change points since the first sighting, none
        assert counting.queries == queries
        if asin == "B0NOTHERE1":
            assert body is None
        else:
            assert body is not None and b'"lines":[]' in body


def test_a_chart_body_is_the_api_s_history_with_the_reference_buckets(stocked: PriceStore) -> None:
    """The lines ClickHouse writes, spliced into the body, make the documented
    ``PriceHistoryOut``, point for point the buckets ``histories`` reads."""
    reads = ChartReads([stocked], run_here)
    windows = [
        ChartWindow("1y", "auto", None, None),  # 4 series of 366 days
        ChartWindow(None, "hourly", NOW - 200 * DAY_MS, NOW),  # 4 of 4,801 hours
        ChartWindow("30d", "auto", None, None),  # change points
    ]
    for window in windows:
        req = chart.ChartRequest(US, "B0OLDPROD1", window)
        body = asyncio.run(chart._history_body(reads, req, NOW))
        assert body is not None
        out = msgspec.json.decode(body, type=PriceHistoryOut)
        resolved = window.resolve(NOW, None)
        if out.granularity == "changes":
            found = stocked.changes("us", "B0OLDPROD1", resolved.start_ms, NOW, MAX_CHANGE_POINTS)
            assert found is not None
        else:
            found = stocked.histories(
                "us", "B0OLDPROD1", resolved.start_ms, NOW, resolved.granularity
            )
        assert {line.series: line.points for line in out.lines} == {
            name: chart._points(buckets, name, US) for name, buckets in found.items()
        }
        assert [line.series for line in out.lines] == ["buybox", "new", "used", "sales_rank"]
        assert out.history and out.history == out.lines[0].points
        assert [line.unit for line in out.lines] == ["money"] * 3 + ["rank"]


def test_reads_of_several_products_in_one_query_answer_as_alone(stocked: PriceStore) -> None:
    counting = Counting(stocked.client)
    store = PriceStore(counting, stocked.database)  # type: ignore[arg-type]
    asins = ("B0OLDPROD1", "B0NOTHERE1", "B0YOUNGPR1", "B0OLDPROD1")
    for granularity in Granularity:
        span = {"hourly": 5 * DAY_MS}.get(granularity, 300 * DAY_MS)
        # each its own range within the one span of rollup rows, a product read twice
        reads = [
            ChartRead("us", asin, NOW - span - 7 * i, NOW - 7 * i) for i, asin in enumerate(asins)
        ]
        before = counting.queries
        together = store.histories_of(reads, granularity)
        assert counting.queries == before + 1
        assert together == [stocked.histories(*read, granularity) for read in reads]
        assert together[0] and together[2] and together[1] == {}
        alone = store.histories_of(reads, granularity, series=["new"])
        assert alone == [stocked.histories(*read, granularity, series=["new"]) for read in reads]
        assert alone[0] and alone[0] != together[0]
    for limit in (3, 40, MAX_CHANGE_POINTS):
        reads = [
            ChartRead("us", asin, NOW - (20 + i) * DAY_MS, NOW - i) for i, asin in enumerate(asins)
        ]
        before = counting.queries
        together = store.changes_of(reads, limit)
        # a product read twice takes one query more
        assert counting.queries == before + 2
        assert together == [stocked.changes(*read, limit) for read in reads]
        assert together[1] == {}
        if limit == MAX_CHANGE_POINTS:  # the product read twice, over two ranges
            assert together[0] != together[3]
        alone = store.changes_of(reads, limit, series=["buybox"])
        assert alone == [stocked.changes(*read, limit, series=["buybox"]) for read in reads]
    # one product over the limit leaves the others their points
    cut = store.changes_of(
        [
            ChartRead("us", "B0OLDPROD1", NOW - 300 * DAY_MS, NOW),
            ChartRead("us", "B0YOUNGPR1", NOW - 30 * DAY_MS, NOW),
        ],
        60,
    )
    assert cut[0] is None and cut[1]


def test_reads_of_different_spans_are_refused_together(stocked: PriceStore) -> None:
    reads = [
        ChartRead("us", "B0OLDPROD1", NOW - 30 * DAY_MS, NOW),
        ChartRead("us", "B0YOUNGPR1", NOW - 31 * DAY_MS, NOW),
    ]
    with pytest.raises(ValueError, match="does not share"):
        stocked.histories_of(reads, Granularity.DAILY)
    assert stocked.histories_of([], Granularity.DAILY) == []
    with pytest.raises(ValueError, match="empty or negative"):
        stocked.changes_of([ChartRead("us", "B0OLDPROD1", NOW, NOW)], 10)


class Gate:
    """Runs the blocking reads of a ChartReads, or holds them while closed; notes how
    many reads each query carried, and on which store."""

    def __init__(self) -> None:
        self.opened = asyncio.Event()
        self.opened.set()
        self.sizes: list[int] = []
        self.stores: list[PriceStore] = []
        # "histories", "changes" or "product", by the ChartReads method whose reads ran
        self.kinds: list[str] = []

    async def run(self, fn: Any, *args: Any) -> Any:
        store, reads = args
        self.sizes.append(len(reads))
        self.stores.append(store)
        self.kinds.append(fn.__qualname__.split(".")[1])
        await self.opened.wait()
        return fn(*args)


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def _year(asin: str, back_ms: int = 0) -> ChartRead:
    return ChartRead("us", asin, NOW - 365 * DAY_MS - back_ms, NOW - back_ms)


def _lines(store: PriceStore, read: ChartRead, granularity: str) -> Lines:
    """What ``ChartReads.histories`` answers for ``read`` alone."""
    [lines] = store.chart_lines_of(
        [read], granularity, exponents=WIRE_EXPONENTS, counts=RANK_SERIES
    )
    return lines


async def _one_running(reads: ChartReads, gate: Gate) -> asyncio.Future[Any]:
    """A year of the old product's buckets, held running by the closed ``gate``: the
    reads that follow queue behind it."""
    gate.opened.clear()
    running = asyncio.ensure_future(reads.histories(_year("B0OLDPROD1"), Granularity.DAILY))
    await settle()
    return running


def test_reads_waiting_for_a_query_leave_together(stocked: PriceStore) -> None:
    async def scenario() -> None:
        gate = Gate()
        reads = ChartReads([stocked], gate.run)
        # a lone read waits for nothing
        alone = await reads.histories(_year("B0OLDPROD1"), Granularity.DAILY)
        assert alone == _lines(stocked, _year("B0OLDPROD1"), "daily")
        assert gate.sizes == [1]
        first = await _one_running(reads, gate)
        asins = ["B0YOUNGPR1", "B0NOTHERE1", "B0OLDPROD1", "B0YOUNGPR1"]
        histories = [
            asyncio.ensure_future(reads.histories(_year(asin, i), Granularity.DAILY))
            for i, asin in enumerate(asins)
        ]
        month = [ChartRead("us", asin, NOW - 30 * DAY_MS - i, NOW) for i, asin in enumerate(asins)]
        changes = [asyncio.ensure_future(reads.changes(read, 50)) for read in month]
        await settle()
        assert gate.sizes == [1, 1]  # the others wait for the one running
        gate.opened.set()
        answers = await asyncio.gather(first, *histories)
        assert answers == [
            _lines(stocked, _year(asin, i), "daily")
            for i, asin in enumerate(["B0OLDPROD1", *asins])
        ]
        assert await asyncio.gather(*changes) == [stocked.changes(*read, 50) for read in month]
        # one query for the histories, one for the changes (where changes_of reads the
        # product asked for twice in a query of its own)
        assert gate.sizes == [1, 1, 4, 4]
        assert reads.running == 0

    asyncio.run(scenario())


def _query_metrics(kind: str) -> tuple[float, float, float]:
    """(queries, reads they answered, seconds they took) of one kind, so far."""
    sample = REGISTRY.get_sample_value
    labels = {"kind": kind}
    return (
        sample("pricewatch_api_chart_query_reads_count", labels) or 0.0,
        sample("pricewatch_api_chart_query_reads_sum", labels) or 0.0,
        sample("pricewatch_api_chart_query_seconds_sum", labels) or 0.0,
    )


def test_a_request_s_second_read_leaves_before_first_reads_queued_earlier(
    stocked: PriceStore,
) -> None:
    async def scenario() -> None:
        gate = Gate()
        reads = ChartReads([stocked], gate.run)
        running = await _one_running(reads, gate)
        firsts = [
            asyncio.ensure_future(reads.histories(_year(asin, 1), Granularity.DAILY))
            for asin in ("B0OLDPROD1", "B0YOUNGPR1")
        ]
        await settle()
        # the young product's year, its first read done, is its change points after all
        second = asyncio.ensure_future(
            reads.changes(_year("B0YOUNGPR1"), MAX_CHANGE_POINTS, opening=False, second=True)
        )
        await settle()
        gate.opened.set()
        *_, changes = await asyncio.gather(running, *firsts, second)
        assert gate.kinds == ["histories", "changes", "histories"]
        assert gate.sizes == [1, 1, 2]
        assert changes == stocked.changes(*_year("B0YOUNGPR1"), MAX_CHANGE_POINTS)

    before = {kind: _query_metrics(kind) for kind in ("lines", "changes", "product")}
    asyncio.run(scenario())
    # the metrics name each kind of query and count the reads each answered
    moved = {
        kind: [now - then for now, then in zip(_query_metrics(kind), before[kind], strict=True)]
        for kind in before
    }
    assert [moved["lines"][:2], moved["changes"][:2], moved["product"]] == [[2, 3], [1, 1], [0] * 3]
    assert moved["lines"][2] > 0 and moved["changes"][2] > 0


def test_the_second_reads_of_one_query_s_requests_leave_together_and_first(
    stocked: PriceStore,
) -> None:
    """Two young products' year charts: read as buckets in one query, both turn out to
    be change points. Their two second reads go in the next query, together, before a
    first read that was queued all along."""
    rng = random.Random(3)
    young = _random_series(rng, NOW - 60 * DAY_MS, 59)
    stocked.insert_prices([_row("B0YOUNGPR2", t, p) for t, p in young])
    year = ChartWindow("1y", "auto", None, None)

    async def scenario() -> list[bytes | None]:
        gate = Gate()
        reads = ChartReads([stocked], gate.run)
        running = await _one_running(reads, gate)
        bodies = [
            asyncio.ensure_future(
                chart._history_body(reads, chart.ChartRequest(US, asin, year), NOW)
            )
            for asin in ("B0YOUNGPR1", "B0YOUNGPR2")
        ]
        await settle()
        weekly = asyncio.ensure_future(reads.histories(_year("B0OLDPROD1"), Granularity.WEEKLY))
        await settle()
        gate.opened.set()
        *_, first, second = await asyncio.gather(running, weekly, *bodies)
        assert gate.kinds == ["histories", "histories", "changes", "histories"]
        assert gate.sizes == [1, 2, 2, 1]
        return [first, second]

    for body in asyncio.run(scenario()):
        assert body is not None and b'"granularity":"changes"' in body


def test_a_long_queue_leaves_in_batches_of_the_most_a_query_takes(stocked: PriceStore) -> None:
    async def scenario() -> None:
        gate = Gate()
        reads = ChartReads([stocked], gate.run)
        gate.opened.clear()
        count = 2 * MAX_BATCH + 2
        waiting = [
            asyncio.ensure_future(reads.histories(_year("B0OLDPROD1", i), Granularity.WEEKLY))
            for i in range(count)
        ]
        await settle()
        gate.opened.set()
        answers = await asyncio.gather(*waiting)
        assert gate.sizes == [1, MAX_BATCH, MAX_BATCH, 1]
        assert answers[-1] == _lines(stocked, _year("B0OLDPROD1", count - 1), "weekly")

    asyncio.run(scenario())


class FailingOnce:
    """A client whose next query fails, once, as a lost connection would."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.armed = False

    def query(self, *args: Any, **kwargs: Any) -> Any:
        if self.armed:
            self.armed = False
            raise ConnectionError("ClickHouse went away")
        return self.client.query(*args, **kwargs)


def test_a_failed_query_fails_its_reads_only(stocked: PriceStore) -> None:
    failing = FailingOnce(stocked.client)
    store = PriceStore(failing, stocked.database)  # type: ignore[arg-type]

    async def scenario() -> None:
        gate = Gate()
        reads = ChartReads([store], gate.run)
        first = await _one_running(reads, gate)
        batch = [
            asyncio.ensure_future(reads.histories(_year(asin), Granularity.DAILY))
            for asin in ("B0YOUNGPR1", "B0OLDPROD1", "B0NOTHERE1")
        ]
        gone = asyncio.ensure_future(reads.histories(_year("B0YOUNGPR1", 1), Granularity.DAILY))
        await settle()
        gone.cancel()  # its client hung up: the others still get their answers
        failing.armed = True
        gate.opened.set()
        with pytest.raises(ConnectionError):
            await first
        answers = await asyncio.gather(*batch)
        assert answers[1] == _lines(stocked, _year("B0OLDPROD1"), "daily")
        assert gate.sizes == [1, 4]
        # a range of too many buckets fails alone, before any query
        with pytest.raises(ValueError, match="more than"):
            await reads.histories(ChartRead("us", "B0OLDPROD1", 0, NOW), Granularity.HOURLY)
        assert gate.sizes == [1, 4]
        assert reads.running == 0

    asyncio.run(scenario())


def test_several_queries_at_once_one_per_store(stocked: PriceStore) -> None:
    # two stores of their own, as two chDB handles would be
    one, two = (PriceStore(stocked.client, stocked.database) for _ in range(2))

    async def scenario() -> None:
        gate = Gate()
        reads = ChartReads([one, two], gate.run)
        gate.opened.clear()
        waiting = [
            asyncio.ensure_future(reads.histories(_year("B0OLDPROD1"), granularity))
            for granularity in (Granularity.DAILY, Granularity.WEEKLY, Granularity.MONTHLY)
        ]
        await settle()
        # a store runs one query at a time: the third waits for one to come free
        assert gate.sizes == [1, 1] and reads.running == 2
        assert {id(store) for store in gate.stores} == {id(one), id(two)}
        gate.opened.set()
        answers = await asyncio.gather(*waiting)
        assert gate.sizes == [1, 1, 1]
        assert answers[2] == _lines(stocked, _year("B0OLDPROD1"), "monthly")
        assert reads.running == 0 and len(reads.idle) == 2

    asyncio.run(scenario())
    with pytest.raises(ValueError, match="at least one"):
        ChartReads([], run_here)

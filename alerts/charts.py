"""The price chart of an alert e-mail: the last 30 days of the series that fired, and
the product's other prices now, read from the price history (ClickHouse).

One read per product event, whatever the fan-out: the senders of one event's e-mails
share it (the first asks, the others wait for its answer), and a few recent events
are remembered. The worker starts the read as it queues the e-mails
(:meth:`ChartReader.prefetch`), so that it runs while the claim commits and the
e-mails wait for a sender, rather than after. A history that cannot be read (the
store down, slow, or in another process) costs the chart, never the alert: the
e-mail goes without it and the reason is logged once per event.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence

from alerts.notices import Notice
from pricewatch.chart_png import ChartData
from pricewatch.history import DAY_MS, Bucket
from pricewatch.storage.sql import NotificationKind, NotificationType

log = logging.getLogger(__name__)

# (market, asin, start_ms, end_ms) -> every series' hourly buckets in the window, by name
HistoryRead = Callable[[str, str, int, int], Awaitable[Mapping[str, Sequence[Bucket]]]]

WINDOW_DAYS = 30


@dataclasses.dataclass(frozen=True, slots=True)
class _Read:
    series: Mapping[str, Sequence[Bucket]] | None
    end_ms: int


def wants_chart(notice: Notice) -> bool:
    return (
        notice.notification_type == NotificationType.EMAIL
        and notice.kind == NotificationKind.ALERT
        and notice.chart is None
    )


def chart_of(notice: Notice, series: Mapping[str, Sequence[Bucket]], end_ms: int) -> Notice:
    """``notice`` with its series' chart and the product's other prices now (pure)."""
    start_ms = end_ms - WINDOW_DAYS * DAY_MS
    points = [(b.start_ms, b.close) for b in series.get(notice.series, ())]
    points = [(max(at, start_ms), price) for at, price in points if at < end_ms]
    # the change that fired may be newer than the rollup the history was read from
    if notice.observed_at is not None and start_ms <= notice.observed_at < end_ms:
        points = [p for p in points if p[0] < notice.observed_at]
        points.append((notice.observed_at, notice.new_price))
    chart = None
    if any(price is not None for _, price in points):
        chart = ChartData(tuple(points), start_ms, end_ms, notice.threshold)
    others = tuple(
        (name, buckets[-1].close)
        for name, buckets in series.items()
        if name != notice.series and buckets and buckets[-1].close is not None
    )
    return dataclasses.replace(notice, chart=chart, others=others)  # type: ignore[arg-type]


class ChartReader:
    """Adds the chart to e-mail alerts, reading the history at most once per event."""

    def __init__(
        self,
        read: HistoryRead,
        *,
        timeout_s: float,
        remember: int = 256,
        clock: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
    ) -> None:
        self.read = read
        self.timeout_s = timeout_s
        self.remember = remember
        self.clock = clock
        self.reads = 0
        self._events: collections.OrderedDict[tuple[str, str, str], asyncio.Future[_Read]] = (
            collections.OrderedDict()
        )
        # reads under way (the loop keeps only weak references to tasks)
        self._reading: set[asyncio.Task[None]] = set()

    def prefetch(self, notice: Notice) -> None:
        """Start reading ``notice``'s chart, unless it needs none or its event's read
        is under way or done; :meth:`with_chart` then finds it (sooner)."""
        if wants_chart(notice):
            self._future(notice)

    async def with_chart(self, notice: Notice) -> Notice:
        """``notice`` with its chart, or as it is when the history cannot be read."""
        if not wants_chart(notice):
            return notice
        found = await asyncio.shield(self._future(notice))
        if found.series is None:
            return notice
        return chart_of(notice, found.series, found.end_ms)

    def _future(self, notice: Notice) -> asyncio.Future[_Read]:
        """The answer of the read of ``notice``'s event, started now when it is not
        under way or remembered."""
        key = (notice.market, notice.asin, notice.event_id)
        future = self._events.get(key)
        if future is not None:
            self._events.move_to_end(key)
            return future
        future = asyncio.get_running_loop().create_future()
        self._events[key] = future
        while len(self._events) > self.remember:
            self._events.popitem(last=False)
        # a task of its own: no waiting e-mail owns the read, so none cancels it
        task = asyncio.create_task(self._fill(key, future, notice))
        self._reading.add(task)
        task.add_done_callback(self._reading.discard)
        return future

    async def _fill(
        self, key: tuple[str, str, str], future: asyncio.Future[_Read], notice: Notice
    ) -> None:
        try:
            future.set_result(await self._read(notice))
        finally:
            if not future.done():
                # cancelled while reading: the e-mails waiting go without a chart,
                # the next one asks again
                future.set_result(_Read(None, 0))
                self._events.pop(key, None)

    async def _read(self, notice: Notice) -> _Read:
        # the window ends just after the change, so a retry days later shows the same
        end_ms = (notice.observed_at or self.clock()) + 1
        self.reads += 1
        try:
            async with asyncio.timeout(self.timeout_s):
                series = await self.read(
                    notice.market, notice.asin, end_ms - WINDOW_DAYS * DAY_MS, end_ms
                )
        except Exception as exc:
            log.warning(
                "alerts: no chart for %s:%s (event %s), sending without it: %s",
                notice.market,
                notice.asin,
                notice.event_id,
                f"no answer within {self.timeout_s:g} s"
                if isinstance(exc, TimeoutError)
                else f"{type(exc).__name__}: {exc}",
            )
            return _Read(None, end_ms)
        return _Read(series, end_ms)

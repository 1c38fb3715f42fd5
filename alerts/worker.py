"""The alerts worker: price changes in, messages out, each exactly once.

For each ``PriceChange`` read from the ``price-changes`` streams (consumer
group ``alerts``, read by :class:`pricewatch.storage.streams.GroupReader`):

1. one transaction re-arms the series' fired price alerts whose threshold is
   now below the price (and, when the buy box is out of stock or gone, the
   product's back-in-stock alerts), selects the armed ones at or above it
   (keyset pages over ``ix_subscriptions_due``), claims a notification row per
   subscription (unique on subscription, event, kind) and disarms them; a buy
   box in stock claims and disarms the product's armed back-in-stock alerts
   the same way, page by page. The changes of one read are matched together: a
   product's changes in their order, one per round, and each round's changes in
   one such transaction whose statements each run once for all of them
   (:mod:`pricewatch.storage.sql_matching`);
2. the stream message is acked only after every page is committed;
3. the claimed notifications are sent; a group commit marks them sent.

A replayed message finds its rows already claimed and sends nothing. Nor does it
meet the state later messages of its batch left (an alert it passed over as already
told, re-armed since): each subscription remembers the page time of the last change it
fired on or was re-armed by, and the statements skip a change at or before it. Rows a
crash left unsent carry a lease (``next_attempt_at``); once it runs out the
sweep, run at start and periodically, leases and sends them, as it does
retries. Transient failures are retried with exponential backoff up to
``max_attempts``; permanent ones fail at once.

Each notification type (e-mail, SMS, webhook, Apprise) has its own queue and its
own senders, so slow targets of one kind never hold the senders another kind
needs. An e-mail alert gets its price chart just before it is sent
(:class:`alerts.charts.ChartReader`: one history read per event, and an e-mail
without chart when the history cannot be read). A webhook whose host is busy
or failing is not waited for: its row is moved a moment later without counting
an attempt (``Deferred``), and the sender goes on with the next message.

The one window left: the SMTP server (or webhook, or SMS provider) accepted a
message and the process died before the group commit recorded it. That
message is sent again after the lease. The window is the duration of one
small UPDATE, and every message carries a stable Message-ID (and a
``X-Pricewatch-Key`` header) by which receivers can drop the duplicate.

A ``Recheck`` on the same streams (a subscription that made a new promise)
fires the one subscription it names, when the state in force meets it (the
price at or below its threshold; back in stock: armed and in stock): claimed
and disarmed in one transaction, like a change. A back-in-stock alert that
meets a product out of stock is armed by it instead.

``PriceCorrection`` events (``price-corrections``) give every subscriber who
was sent the refuted price a correction, claimed and sent the same way;
alerts for that event not sent yet are cancelled.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import dataclasses
import functools
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

import msgspec
import redis
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from alerts import matching, metrics
from alerts.channels.base import Channel, Deferred, DeliveryError, PermanentError, TransientError
from alerts.charts import ChartReader
from alerts.config import SenderConfig
from alerts.notices import (
    LinkMaker,
    Notice,
    alert_notice,
    correction_notice,
    recheck_notice,
    recipient_of,
)
from alerts.rendering import chart_png_of
from pricewatch.destinations import masked
from pricewatch.keys import ALERTS_GROUP, PRICE_CHANGES, PRICE_CORRECTIONS, RECHECK, Keys
from pricewatch.models import PriceChange, PriceCorrection, Recheck, decode, decode_each, encode
from pricewatch.rechecks import is_recheck
from pricewatch.retry import FailedRounds
from pricewatch.storage import sql
from pricewatch.storage.sql_alerts import (
    cancel_pending,
    lease_due_notifications,
    mark_sent_many,
    subscriptions_by_id,
    user_emails,
)
from pricewatch.storage.sql_matching import (
    Fired,
    PricedSeries,
    SeenProduct,
    disarm_each,
    first_due_pages,
    rearm_above_each,
    rearm_out_of_stock_each,
)
from pricewatch.storage.streams import (
    GroupReader,
    Message,
    PartitionedStream,
    consume_async,
    dead_letter,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

# kinds of events kept for retries (Keys.alert_event), with RECHECK
CHANGE = "change"
CORRECTION = "correction"
_EVENT_TYPES: dict[str, type[Any]] = {
    CHANGE: PriceChange,
    RECHECK: Recheck,
    CORRECTION: PriceCorrection,
}
MAX_BACKOFF_MS = 6 * 3600 * 1000
# A deferred notification comes back after its target's hint, never sooner
# than this, spread over up to this much more so a busy host is not met by a
# crowd all at once.
MIN_DEFER_MS = 1_000
DEFER_JITTER_MS = 1_000
# charts remembered as drawn; fewer than the PNGs alerts.rendering keeps
DRAWN_REMEMBERED = 32


@dataclasses.dataclass(frozen=True, kw_only=True)
class WorkerConfig(SenderConfig):
    public_url: str
    secret: str
    partitions: int = 4
    retry_base_ms: int = 30_000
    lease_ms: int = 60_000
    sweep_ms: int = 1_000
    # senders per notification type
    concurrency: int = 64
    claim_idle_ms: int = 30_000
    # subscriptions claimed per transaction, and notifications leased per sweep step
    page_size: int = 1_000
    read_count: int = 100
    block_ms: int = 500
    # how long an event stays available to render retries from
    event_ttl_s: int = 7 * 24 * 3600

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.lease_ms < 3 * self.send_timeout_s * 1000:
            raise ValueError(
                f"the lease ({self.lease_ms} ms) must be at least three send timeouts "
                f"({self.send_timeout_s} s)"
            )


@dataclasses.dataclass(frozen=True, slots=True)
class Job:
    notice: Notice
    # the row's lease ends here: sending later could race a sweep
    deadline: int
    # failed attempts so far (for the backoff)
    attempts: int = 0


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def backoff_ms(base_ms: int, attempts: int) -> int:
    """Delay before attempt ``attempts + 1``: base, 2x base, 4x base... capped."""
    return min(base_ms * 2 ** max(attempts - 1, 0), MAX_BACKOFF_MS)


def _state(sub: sql.Subscription) -> matching.SubscriptionState:
    return matching.SubscriptionState(
        market=sub.market,
        asin=sub.asin,
        series=sub.series,
        threshold=sub.threshold,
        armed=sub.armed,
        active=sub.status == sql.SubscriptionStatus.ACTIVE,
        kind=sub.kind.value,
        last_change_at=sub.last_change_at,
    )


# one page of due subscriptions after the given one (None: the first page)
PageReader = Callable[[sql.Db, sql.Subscription | None], Awaitable[list[sql.Subscription]]]


class SentRecorder:
    """Group commit of "sent": every id that arrives while one UPDATE runs goes
    into the next one. No artificial delay, so the crash window stays one
    statement long, while 100,000 deliveries cost a few hundred commits."""

    def __init__(self, db: AsyncEngine) -> None:
        self.db = db
        self._ids: list[int] = []
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()

    def add(self, notification_id: int) -> None:
        self._ids.append(notification_id)
        self._idle.clear()
        self._wake.set()

    async def run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            ids, self._ids = self._ids, []
            if ids:
                try:
                    await mark_sent_many(self.db, ids)
                except Exception:
                    log.exception("cannot record %d sent notifications; retrying", len(ids))
                    self._ids[:0] = ids
                    self._wake.set()
                    await asyncio.sleep(0.5)
                    continue
            if not self._ids:
                self._idle.set()

    async def drain(self) -> None:
        await self._idle.wait()


class _NothingFires(Exception):
    """Undoes a re-check's claim: the subscription it names does not fire."""


class AlertsWorker:
    def __init__(
        self,
        *,
        client: redis.Redis,
        keys: Keys,
        db: AsyncEngine,
        channels: Mapping[sql.NotificationType, Channel],
        config: WorkerConfig,
        charts: ChartReader | None = None,
    ) -> None:
        self.client = client
        self.keys = keys
        self.db = db
        self.channels = dict(channels)
        self.config = config
        # None: e-mails go without a price chart (no price history in reach)
        self.charts = charts
        self.links = LinkMaker(config.public_url, config.secret)
        self.changes = self._reader(PRICE_CHANGES)
        self.corrections = self._reader(PRICE_CORRECTIONS)
        # sweeps done and sends under way: how a test (or an operator) can tell that
        # nothing more is coming, rather than waiting a while and hoping
        self.sweeps = 0
        self._sending = 0
        self.queues: dict[sql.NotificationType, asyncio.Queue[Job]] = {
            kind: asyncio.Queue(maxsize=2 * config.page_size) for kind in sql.NotificationType
        }
        self.recorder = SentRecorder(db)
        # The worker's blocking Redis calls (stream reads, acks, event records) run on
        # threads of its own. On the default executor they queued behind the e-mail
        # charts' history reads, which wait for the ClickHouse client ingest shares,
        # and every alert waited with them.
        self._threads = concurrent.futures.ThreadPoolExecutor(
            max_workers=6, thread_name_prefix="alerts-redis"
        )

        # Drawing a chart's PNG takes milliseconds of CPU (most of it in zlib, which
        # lets go of the GIL): drawn on a thread of its own, not on the event loop
        # every claim and send waits for. Charts drawn lately (rendering caches the
        # PNGs) are not sent there again: a fan-out draws one per threshold.
        self._draw_thread = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="alerts-draw"
        )
        self._drawn: collections.OrderedDict[Any, None] = collections.OrderedDict()

    async def _draw(self, notice: Notice) -> None:
        """Draws ``notice``'s chart off the event loop, so that rendering its e-mail
        finds the PNG drawn."""
        if notice.chart is None or notice.kind != sql.NotificationKind.ALERT:
            return
        key = (notice.chart, notice.currency)
        if key in self._drawn:
            return
        await asyncio.get_running_loop().run_in_executor(self._draw_thread, chart_png_of, notice)
        self._drawn[key] = None
        while len(self._drawn) > DRAWN_REMEMBERED:
            self._drawn.popitem(last=False)

    async def _blocking(self, call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``call`` on one of the worker's own threads."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._threads, functools.partial(call, *args, **kwargs))

    # -- lifecycle ---------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        """Consume both streams, send, sweep, until ``stop`` is set."""
        await self._blocking(self.changes.ensure_group)
        await self._blocking(self.corrections.ensure_group)
        log.info(
            "alerts consumer %s on %d partitions", self.config.consumer, self.config.partitions
        )
        background = [
            asyncio.create_task(self.recorder.run(), name="sent-recorder"),
            *(
                asyncio.create_task(self._sender(queue), name=f"sender-{kind.value}-{i}")
                for kind, queue in self.queues.items()
                for i in range(self.config.concurrency)
            ),
        ]
        loops = [
            asyncio.create_task(self._consume(self.changes, self._on_changes, stop)),
            asyncio.create_task(self._consume(self.corrections, self._on_corrections, stop)),
            asyncio.create_task(self._sweep_loop(stop)),
        ]
        try:
            done, _ = await asyncio.wait(loops, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                task.result()
            # let what is already claimed go out before stopping
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.config.send_timeout_s):
                    for queue in self.queues.values():
                        await queue.join()
                    await self.recorder.drain()
        finally:
            for task in [*loops, *background]:
                task.cancel()
            await asyncio.gather(*loops, *background, return_exceptions=True)
            # a last group commit for what the cancelled recorder still held
            if self.recorder._ids:
                with contextlib.suppress(Exception):
                    await mark_sent_many(self.db, self.recorder._ids)

    def _reader(self, name: str) -> GroupReader:
        cfg = self.config
        return PartitionedStream(self.keys, name, cfg.partitions).reader(
            self.client,
            ALERTS_GROUP,
            cfg.consumer,
            count=cfg.read_count,
            wait_ms=cfg.block_ms,
            claim_idle_ms=cfg.claim_idle_ms,
        )

    async def _consume(
        self,
        reader: GroupReader,
        handler: Callable[[list[Message]], Awaitable[None]],
        stop: asyncio.Event,
    ) -> None:
        async def handle(messages: list[Message]) -> None:
            await handler(messages)
            # only once every one is handled: what a crash interrupts is read again
            await self._blocking(reader.ack, messages)

        await consume_async(
            reader, handle, stop, log=log, what=f"alerts ({reader.name})", executor=self._threads
        )

    async def _decoded(self, message: Message, type_: type[T]) -> T | None:
        """The event ``message`` holds; None when it holds none (dead-lettered)."""
        events = await self._decoded_all(message, type_)
        return events[0] if events else None

    async def _decoded_all(self, message: Message, type_: type[T]) -> list[T]:
        """The events ``message`` holds, one or an array of them; each one that is
        unreadable is dead-lettered, alone."""
        events, bad = decode_each(message.data, type_)
        for error, payload in bad:
            reason = f"not a {type_.__name__}: {error}"
            log.error("alerts: unreadable event moved to %s: %s", self.keys.dead_letter, reason)
            await self._blocking(
                dead_letter, self.client, self.keys, message, reason, role="alerts", payload=payload
            )
        return events

    # -- price changes -------------------------------------------------------------
    async def _on_changes(self, messages: list[Message]) -> None:
        """Handle a read's changes and re-checks in their order: each run of changes
        matched together, each re-check on its own between them."""
        run: list[PriceChange] = []
        for message in messages:
            if message.kind == RECHECK:
                await self.handle_changes(run)
                run = []
                recheck = await self._decoded(message, Recheck)
                if recheck is not None:
                    await self.handle_recheck(recheck)
                continue
            run.extend(await self._decoded_all(message, PriceChange))
        await self.handle_changes(run)

    async def handle_change(self, change: PriceChange) -> int:
        """Claim and disarm what ``change`` fires, re-arm what it lifts, and
        queue the claimed notifications for sending; returns how many."""
        return await self.handle_changes([change])

    async def handle_changes(self, changes: Sequence[PriceChange]) -> int:
        """:meth:`handle_change` for each of ``changes`` in turn, with the statements of
        changes to different products run together: a product's changes apply in
        their order, one per round, and a round matches as one."""
        count = 0
        # at most a read's worth of changes at a time: ingest packs up to a hundred in
        # an entry, and a round's first pages share one page's size
        size = self.config.read_count
        for start in range(0, len(changes), size):
            for round_ in matching.rounds(changes[start : start + size]):
                count += await self._match_round(round_)
        return count

    async def _match_round(self, changes: Sequence[PriceChange]) -> int:
        """Match changes to different products (:mod:`pricewatch.storage.sql_matching`):
        one transaction re-arms what they lift, reads the first page each fires and
        claims it; then each change's further pages and back-in-stock alerts.

        The first pages share one page's size, so that a round's transaction claims
        no more rows than a page's: most changes fire a handful of alerts and are done
        in it, and a big fan-out goes on page by page, as it would alone."""
        plans = [(c, p) for c in changes if not (p := matching.plan(c)).empty]
        rearmed = [
            PricedSeries(c.market, c.asin, c.series, p.rearm_above, c.observed_at)
            for c, p in plans
            if p.rearm_above is not None
        ]
        priced = [
            PricedSeries(c.market, c.asin, c.series, p.fire_at, c.observed_at)
            for c, p in plans
            if p.fire_at is not None
        ]
        gone = [SeenProduct(c.market, c.asin, c.observed_at) for c, p in plans if p.rearm_in_stock]
        limit = max(1, self.config.page_size // max(1, len(priced)))
        pages: dict[tuple[str, str, str], list[sql.Subscription]] = {}
        count = 0
        if priced or gone:
            # every statement skips the rows that applied its change (or a later one)
            # already; reads the due pages, then claims them: a writing transaction
            async with sql.writing(self.db) as conn:
                # a change's price re-arms what is below it and fires what is at or
                # above it: disjoint sets, so the order of the two does not matter
                await rearm_above_each(conn, rearmed)
                await rearm_out_of_stock_each(conn, gone)
                if priced:
                    pages = await first_due_pages(conn, priced, limit=limit)
                jobs = await self._claim_alerts(
                    conn, [(c, pages.get(_series_of(c), [])) for c, _ in plans]
                )
            count += await self._enqueue(jobs)
        for change, plan in plans:
            first_page = pages.get(_series_of(change), [])
            full = len(first_page) == limit
            count += await self._claim_rest(change, plan, first_page[-1] if full else None)
        return count

    async def _claim_rest(
        self, change: PriceChange, plan: matching.Plan, last_claimed: sql.Subscription | None
    ) -> int:
        """Claim what ``change`` fires beyond its first page of price alerts: the pages
        after ``last_claimed`` (the last of a full first page) and the product's
        back-in-stock alerts."""
        size = self.config.page_size
        market, asin, series, seen = change.market, change.asin, change.series, change.observed_at
        fire_at = plan.fire_at
        count = 0
        if fire_at is not None and last_claimed is not None:

            async def priced(db: sql.Db, after: sql.Subscription | None) -> list[sql.Subscription]:
                return await sql.due_subscriptions(
                    db, market, asin, series, fire_at, limit=size, after=after, observed_at=seen
                )

            count += await self._claim_pages(change, priced, last_claimed)
        if plan.fire_in_stock:

            async def back(db: sql.Db, after: sql.Subscription | None) -> list[sql.Subscription]:
                return await sql.due_in_stock(
                    db, market, asin, limit=size, after=after, observed_at=seen
                )

            count += await self._claim_pages(change, back, None)
        return count

    async def _claim_pages(
        self, change: PriceChange, read: PageReader, after: sql.Subscription | None
    ) -> int:
        """Claim what ``change`` fires, page after page of ``read`` from ``after``: each
        page read on its own, then claimed in a transaction whose first statement
        writes. Handed over page by page: a big fan-out starts sending at once, and
        the bounded queue holds claiming back to the pace of sending."""
        count = 0
        while True:
            page = await read(self.db, after)
            if page:
                async with self.db.begin() as conn:
                    jobs = await self._claim_alerts(conn, [(change, page)])
                count += await self._enqueue(jobs)
            if len(page) < self.config.page_size:
                return count
            after = page[-1]

    async def _enqueue(self, jobs: Sequence[Job]) -> int:
        # Each type's queue holds claiming back to the pace of its own senders.
        for job in jobs:
            if self.charts is not None:
                # the chart is read while the e-mail waits for a sender, not after
                self.charts.prefetch(job.notice)
            await self.queues[job.notice.notification_type].put(job)
        return len(jobs)

    async def _claim_alerts(
        self, conn: AsyncConnection, pages: Sequence[tuple[PriceChange, Sequence[sql.Subscription]]]
    ) -> list[Job]:
        """Claim and disarm, for each change, what it fires on its page (changes to
        different products: no subscription is on two pages)."""
        due = [(c, s) for c, page in pages for s in page if matching.fires(_state(s), c)]
        if not due:
            return []
        await self._remember(CHANGE, {c.event_id: c for c, _ in due})
        now = now_ms()
        deadline = now + self.config.lease_ms
        claimed = await sql.claim_each(
            conn,
            [sql.Claim(s.id, c.event_id, c.new_price) for c, s in due],
            sql.NotificationKind.ALERT.value,
            now=now,
            retry_at=deadline,
        )
        await disarm_each(conn, [Fired(s.id, c.new_price, c.observed_at) for c, s in due])
        won = [(c, s) for c, s in due if (s.id, c.event_id) in claimed]
        emails = await self._emails(conn, [s for _, s in won])
        return [
            Job(
                alert_notice(
                    claimed[s.id, c.event_id],
                    s,
                    recipient_of(s, emails),
                    self.links,
                    event_id=c.event_id,
                    change=c,
                    price=c.new_price,
                ),
                deadline,
            )
            for c, s in won
        ]

    # -- re-checks -------------------------------------------------------------------
    async def handle_recheck(self, recheck: Recheck) -> int:
        """Fire the subscription ``recheck`` names when the state in force meets it,
        and queue the notification; returns how many (0 or 1). A back-in-stock alert
        that meets its product out of stock is armed instead.

        At most once per promise: the claim is unique per (subscription, event), and
        it stands only if this transaction is what disarms the subscription (a change
        that fired it first leaves nothing to fire)."""
        sid = recheck.subscription_id
        found = (await subscriptions_by_id(self.db, [sid])).get(sid)
        if found is None:
            return 0  # deleted since: nothing may point at it
        if matching.arms_on_recheck(_state(found), recheck):
            await sql.arm_in_stock_alert(self.db, sid)
            return 0
        now = now_ms()
        deadline = now + self.config.lease_ms
        try:
            async with self.db.begin() as conn:
                # The claim comes first so that, on SQLite, the transaction takes the
                # write lock at its first statement; _NothingFires rolls it back.
                claimed = await sql.claim_notifications(
                    conn,
                    [sid],
                    recheck.event_id,
                    sql.NotificationKind.ALERT.value,
                    recheck.price,
                    now=now,
                    retry_at=deadline,
                )
                sub = (await subscriptions_by_id(conn, [sid])).get(sid)
                if sid not in claimed or sub is None:
                    raise _NothingFires
                if not matching.fires_on_recheck(_state(sub), recheck):
                    raise _NothingFires
                # No page time is remembered (observed_at stays the last change's). The
                # re-check has none of its own: checked_at is the API's clock when it was
                # asked for, and changes seen before it may still be behind it on the
                # partition (ingest publishes a page's change after fetching it); marking
                # checked_at would skip them, a rise re-arming the alert among them, and
                # leave the next drop untold. Nor is a mark needed for its own replay: its
                # claim is once per promise (subscription, re-check id).
                if not await sql.disarm(conn, [sid], recheck.price, recheck.checked_at):
                    raise _NothingFires
                await self._remember(RECHECK, {recheck.event_id: recheck})
                emails = await self._emails(conn, [sub])
        except _NothingFires:
            return 0
        notice = recheck_notice(
            claimed[sid],
            sub,
            recipient_of(sub, emails),
            self.links,
            event_id=recheck.event_id,
            recheck=recheck,
            price=recheck.price,
        )
        return await self._enqueue([Job(notice, deadline)])

    # -- corrections ---------------------------------------------------------------
    async def _on_corrections(self, messages: list[Message]) -> None:
        for message in messages:
            correction = await self._decoded(message, PriceCorrection)
            if correction is not None:
                await self.handle_correction(correction)

    async def handle_correction(self, correction: PriceCorrection) -> int:
        """Claim a correction for everyone who was sent the refuted price and
        queue them for sending; returns how many."""
        event_id = correction.refuted_event_id
        # Alerts not out yet will not go out: nobody needs to be told twice.
        cancelled = await cancel_pending(
            self.db, event_id, sql.NotificationKind.ALERT.value, "price refuted before delivery"
        )
        if cancelled:
            log.info("cancelled %d unsent alerts of refuted event %s", cancelled, event_id)
        if correction.actual_price is not None:
            # subscriptions the false price disarmed watch the real one again (no page
            # time: a correction is no change, and neither checks nor moves the mark)
            await sql.rearm_above(
                self.db,
                correction.market,
                correction.asin,
                correction.series,
                correction.actual_price,
            )
        recipients = await sql.recipients_of_event(self.db, event_id)
        if not recipients:
            return 0
        await self._remember(CORRECTION, {event_id: correction})
        now = now_ms()
        deadline = now + self.config.lease_ms
        async with self.db.begin() as conn:
            claimed = await sql.claim_notifications(
                conn,
                [s.id for s in recipients],
                event_id,
                sql.NotificationKind.CORRECTION.value,
                correction.actual_price,
                now=now,
                retry_at=deadline,
            )
            won = [s for s in recipients if s.id in claimed]
            emails = await self._emails(conn, won)
        return await self._enqueue(
            [
                Job(
                    correction_notice(
                        claimed[s.id],
                        s,
                        recipient_of(s, emails),
                        self.links,
                        event_id=event_id,
                        correction=correction,
                        price=correction.actual_price,
                    ),
                    deadline,
                )
                for s in won
            ]
        )

    # -- helpers ---------------------------------------------------------------------
    async def _emails(
        self, conn: AsyncConnection, subs: Sequence[sql.Subscription]
    ) -> dict[int, str]:
        need = {
            s.user_id
            for s in subs
            if s.target is None and s.notification_type == sql.NotificationType.EMAIL
        }
        return await user_emails(conn, need) if need else {}

    async def _remember(self, kind: str, events: Mapping[str, msgspec.Struct]) -> None:
        """Keep ``events`` (by event id) for the retries that render them later, in one
        round trip."""

        def record() -> None:
            pipe = self.client.pipeline(transaction=False)
            for event_id, event in events.items():
                pipe.set(
                    self.keys.alert_event(kind, event_id), encode(event), ex=self.config.event_ttl_s
                )
            pipe.execute()

        await self._blocking(record)

    async def _recall(self, kind: str, event_id: str, type_: type[Any]) -> Any:
        raw = await self._blocking(self.client.get, self.keys.alert_event(kind, event_id))
        if raw is None:
            return None
        try:
            return decode(raw, type_)
        except msgspec.DecodeError:
            return None

    # -- the sweep: retries and what a crash left behind -------------------------------
    async def _sweep_loop(self, stop: asyncio.Event) -> None:
        rounds = FailedRounds(log, "alerts sweep")
        while not stop.is_set():
            pause = self.config.sweep_ms / 1000
            try:
                await self.sweep()
                rounds.ok()
            except Exception as exc:
                pause = max(pause, rounds.failed(exc))
            self.sweeps += 1
            await _wait(stop, pause)

    async def sweep(self) -> int:
        """Lease every due pending notification and queue it; returns how many."""
        total = 0
        while True:
            now = now_ms()
            deadline = now + self.config.lease_ms
            rows = await lease_due_notifications(
                self.db, now, deadline, limit=self.config.page_size
            )
            if not rows:
                return total
            total += len(rows)
            await self._enqueue(await self._jobs_for_rows(rows, deadline))
            if len(rows) < self.config.page_size:
                return total

    async def _jobs_for_rows(self, rows: Sequence[sql.Notification], deadline: int) -> list[Job]:
        subs = await subscriptions_by_id(self.db, {r.subscription_id for r in rows})
        emails = await user_emails(self.db, {s.user_id for s in subs.values() if s.target is None})
        events: dict[tuple[str, str], Any] = {}
        jobs: list[Job] = []
        for row in rows:
            sub = subs.get(row.subscription_id)
            if sub is None:
                continue  # deleted with its rows (ON DELETE CASCADE)
            if row.kind == sql.NotificationKind.ALERT:
                if sub.status != sql.SubscriptionStatus.ACTIVE:
                    await sql.mark_failed_attempt(
                        self.db, row.id, f"subscription is {sub.status.value}", now_ms(), 1
                    )
                    continue
                kind = RECHECK if is_recheck(row.event_id) else CHANGE
            else:
                kind = CORRECTION
            if (kind, row.event_id) not in events:
                found = await self._recall(kind, row.event_id, _EVENT_TYPES[kind])
                events[kind, row.event_id] = found
            event = events[kind, row.event_id]
            render = {
                CHANGE: functools.partial(alert_notice, change=event),
                RECHECK: functools.partial(recheck_notice, recheck=event),
                CORRECTION: functools.partial(correction_notice, correction=event),
            }[kind]
            recipient = recipient_of(sub, emails)
            notice = render(
                row.id, sub, recipient, self.links, event_id=row.event_id, price=row.price
            )
            jobs.append(Job(notice, deadline, row.attempts))
        return jobs

    # -- sending -----------------------------------------------------------------------
    async def _sender(self, queue: asyncio.Queue[Job]) -> None:
        while True:
            job = await queue.get()
            self._sending += 1
            try:
                metrics.record(job.notice, await self.deliver(job))
            except Exception:
                log.exception(
                    "alerts: delivery of notification %s crashed", job.notice.notification_id
                )
            finally:
                self._sending -= 1
                queue.task_done()

    def idle(self) -> bool:
        """Nothing queued and nothing being sent right now."""
        return self._sending == 0 and all(q.empty() for q in self.queues.values())

    async def deliver(self, job: Job) -> str:
        """Send one notice and record the outcome: "sent", "retry", "failed",
        "deferred" (not tried: its target's host is busy; no attempt counted) or
        "skipped" (its lease is about to run out; the sweep will take it)."""
        notice = job.notice
        timeout = self.config.send_timeout_s
        # Start only with two send timeouts of lease left, so the row cannot be
        # leased again by a sweep while this send (or its "sent" commit) runs.
        if now_ms() + 2 * timeout * 1000 > job.deadline:
            log.info(
                "alerts: notification %s waited too long to be sent in its lease; "
                "the sweep will send it",
                notice.notification_id,
            )
            return "skipped"
        channel = self.channels.get(notice.notification_type)
        error: DeliveryError
        try:
            if channel is None:
                raise PermanentError(f"no channel for {notice.notification_type}")
            if not notice.recipient:
                raise PermanentError("the subscription has no recipient")
            if self.charts is not None:
                notice = await self.charts.with_chart(notice)
                await self._draw(notice)
            async with asyncio.timeout(timeout):
                await channel.send(notice)
        except Deferred as exc:
            await self._defer(job, exc)
            return "deferred"
        except DeliveryError as exc:
            error = exc
        except TimeoutError:
            error = TransientError(f"no answer within {timeout} s")
        else:
            self.recorder.add(notice.notification_id)
            log.info(
                "%s sent: %s/%s for %s:%s to %s %s",
                notice.kind.value,
                notice.series,
                notice.alert_kind.value,
                notice.market,
                notice.asin,
                notice.notification_type.value.lower(),
                masked(notice.notification_type, notice.recipient),
            )
            return "sent"
        attempts = job.attempts + 1
        max_attempts = self.config.max_attempts if error.transient else 1
        status = await sql.mark_failed_attempt(
            self.db,
            notice.notification_id,
            f"{type(error).__name__}: {error}",
            now_ms() + backoff_ms(self.config.retry_base_ms, attempts),
            max_attempts,
        )
        log.warning(
            "alerts: notification %s (%s) attempt %d failed: %s -> %s",
            notice.notification_id,
            notice.key,
            attempts,
            error,
            status.value,
        )
        return "failed" if status == sql.NotificationStatus.FAILED else "retry"

    async def _defer(self, job: Job, reason: Deferred) -> None:
        delay = max(int(reason.retry_after_s * 1000), MIN_DEFER_MS)
        delay = min(delay + random.randrange(DEFER_JITTER_MS), MAX_BACKOFF_MS)
        moved = await sql.defer_notification(
            self.db, job.notice.notification_id, now_ms() + delay, leased_until=job.deadline
        )
        log.debug(
            "alerts: notification %s deferred by %d ms (%s)%s",
            job.notice.notification_id,
            delay,
            reason,
            "" if moved else "; its lease had passed, the sweep has it",
        )


def _series_of(change: PriceChange) -> tuple[str, str, str]:
    return change.market, change.asin, change.series


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)

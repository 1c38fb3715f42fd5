"""Fixtures for the alerts role: a real SMTP server (aiosmtpd) whose answers a
test can script, a migrated database on SQLite and on PostgreSQL, a running
alerts worker over the session's real Redis, and what the worker is fed (price
changes, subscriptions) and sends (notifications, e-mails)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from email.message import EmailMessage
from typing import Any

import pytest
import redis as redis_lib
from sqlalchemy.ext.asyncio import AsyncEngine

from alerts.account_mail import AccountMailer, MailerConfig
from alerts.channels.base import Channel
from alerts.channels.email import SmtpChannel
from alerts.channels.sms import LogSms
from alerts.charts import ChartReader
from alerts.notices import Links, Notice
from alerts.worker import AlertsWorker, WorkerConfig
from pricewatch.egress import SafeHttpClient
from pricewatch.ingest.worker import CHANGES_PER_ENTRY
from pricewatch.keys import PRICE_CHANGES, Keys
from pricewatch.models import PriceChange
from pricewatch.storage import sql
from pricewatch.storage.streams import PartitionedStream
from tests import sql_store
from tests.mail import MailRecorder, plain_text, smtp_server
from tests.observations import price_change
from tests.services import eventually

SECRET = "test-secret"
PUBLIC_URL = "https://pricewatch.test"
SENDER = "Pricewatch <alerts@pricewatch.test>"
# the product the worker tests subscribe to and publish changes of
ASIN = "B0ALERT001"


@pytest.fixture
def smtp() -> Iterator[tuple[MailRecorder, int]]:
    recorder = MailRecorder()
    with smtp_server(recorder) as port:
        yield recorder, port


@pytest.fixture
def mail(smtp: tuple[MailRecorder, int]) -> MailRecorder:
    """What reached the test's SMTP server (whose answers the test may script)."""
    return smtp[0]


@contextlib.contextmanager
def logging_kept() -> Iterator[None]:
    """Put the loggers back as they were after starting the API: Litestar and uvicorn
    configure logging on start-up, and later tests would capture the SMTP server's own
    INFO lines (recipients' addresses) as if they were ours."""
    loggers = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
    kept = [
        (lg, lg.level, lg.handlers[:], lg.propagate, lg.disabled)
        for lg in loggers
        if isinstance(lg, logging.Logger)
    ]
    try:
        yield
    finally:
        for lg, level, handlers, propagate, disabled in kept:
            lg.setLevel(level)
            lg.handlers[:] = handlers
            lg.propagate, lg.disabled = propagate, disabled


@pytest.fixture
def root_logging_kept() -> Iterator[None]:
    """:func:`logging_kept` around one test."""
    with logging_kept():
        yield


# --- relational store on both backends ------------------------------------------------


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def db(request: pytest.FixtureRequest) -> AsyncIterator[AsyncEngine]:
    """A freshly migrated database of the test's own, SQLite or PostgreSQL."""
    async for url in sql_store.database_on(request.param, request, migrated=True):
        async with sql_store.engine_on(url) as engine:
            yield engine


# --- a running worker --------------------------------------------------------------------


def make_config(**overrides: Any) -> WorkerConfig:
    values: dict[str, Any] = {
        "public_url": PUBLIC_URL,
        "secret": SECRET,
        "consumer": "test-consumer",
        "partitions": 2,
        "max_attempts": 3,
        "retry_base_ms": 50,
        "lease_ms": 4_000,
        "send_timeout_s": 1.0,
        "sweep_ms": 50,
        "concurrency": 8,
        "claim_idle_ms": 1_000,
        "block_ms": 100,
    }
    values.update(overrides)
    return WorkerConfig(**values)


class RunningWorker:
    def __init__(self, worker: AlertsWorker, task: asyncio.Task[None], stop: asyncio.Event):
        self.worker = worker
        self.task = task
        self.stop = stop

    async def close(self) -> None:
        self.stop.set()
        await asyncio.wait_for(self.task, 15)

    async def settled(self, sweeps: int = 2) -> None:
        """Wait until ``sweeps`` more sweeps have run with nothing left to send: any
        retry or duplicate that could still go out would have gone out by then."""
        start = self.worker.sweeps
        await eventually(lambda: self.worker.sweeps >= start + sweeps and self.worker.idle())


@pytest.fixture
async def start_worker(
    redis_client: redis_lib.Redis, keys: Keys, db: AsyncEngine
) -> AsyncIterator[Callable[..., Awaitable[RunningWorker]]]:
    running: list[RunningWorker] = []
    channels: list[Channel] = []

    async def start(
        channel_map: dict[sql.NotificationType, Channel],
        charts: ChartReader | None = None,
        **config: Any,
    ) -> RunningWorker:
        channels.extend(channel_map.values())
        worker = AlertsWorker(
            client=redis_client,
            keys=keys,
            db=db,
            channels=channel_map,
            config=make_config(**config),
            charts=charts,
        )
        stop = asyncio.Event()
        task = asyncio.create_task(worker.run(stop))
        handle = RunningWorker(worker, task, stop)
        running.append(handle)
        return handle

    yield start
    for handle in running:
        if not handle.task.done():
            await handle.close()
    for channel in channels:
        with contextlib.suppress(Exception):
            await channel.aclose()


def smtp_channel(port: int, **options: Any) -> SmtpChannel:
    """An SMTP channel to the local server; ``options`` override the defaults."""
    values: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": port,
        "sender": SENDER,
        "tls": "none",
        "connections": 2,
        "timeout": 2.0,
    }
    values.update(options)
    return SmtpChannel(**values)


@pytest.fixture
def start_mailing(
    start_worker: Callable[..., Awaitable[RunningWorker]], smtp: tuple[MailRecorder, int]
) -> Callable[..., Awaitable[RunningWorker]]:
    """Start the alerts worker with e-mail through the test's SMTP server as its only
    channel; keyword arguments override its WorkerConfig."""

    async def start(**config: Any) -> RunningWorker:
        return await start_worker({sql.NotificationType.EMAIL: smtp_channel(smtp[1])}, **config)

    return start


def account_mailer(
    client: redis_lib.Redis,
    keys: Keys,
    db: AsyncEngine,
    email: Any,
    http: SafeHttpClient,
    *,
    prices: Any = None,
    apprise: Any = None,
    **options: Any,
) -> AccountMailer:
    """The account-message sender over the test's Redis and database, sending e-mail
    through ``email``, webhooks through ``http``, Apprise messages through ``apprise``
    and looking up the prices of re-checks with ``prices``; ``options`` override the
    test's MailerConfig."""
    config = {
        "consumer": "test-mailer",
        "sender": SENDER,
        "webhook_secret": SECRET,
        "partitions": 2,
        "block_ms": 10,
        **options,
    }
    return AccountMailer(
        client=client,
        keys=keys,
        db=db,
        email=email,
        sms=LogSms(),
        http=http,
        prices=prices,
        apprise=apprise,
        config=MailerConfig(**config),
    )


# --- what the worker reads and writes -------------------------------------------------------

_events = itertools.count(1)


def change(
    new: int | None,
    old: int | None = None,
    *,
    asin: str = ASIN,
    event_id: str | None = None,
    title: str = "Espresso Machine",
) -> PriceChange:
    """A price change of ``asin`` with an event id and a moment of its own."""
    n = next(_events)
    return price_change(
        new,
        old,
        event_id=event_id or f"ev{n}",
        asin=asin,
        observed_at=1_700_000_000_000 + n,
        title=title,
    )


def publish(client: redis_lib.Redis, keys: Keys, *events: PriceChange) -> None:
    """Put ``events`` on the price-changes stream, as ingest does: a product's in
    entries of up to ``CHANGES_PER_ENTRY``."""
    pipe = client.pipeline(transaction=False)
    PartitionedStream(keys, PRICE_CHANGES, 2).add_many(lambda _: pipe, events, CHANGES_PER_ENTRY)
    pipe.execute()


async def subscribe(
    db: AsyncEngine,
    email: str,
    *thresholds: int,
    asin: str = ASIN,
    kind: str = "EMAIL",
    target: str | None = None,
) -> list[sql.Subscription]:
    """Alerts at ``thresholds`` on ``asin`` for the account of ``email`` (made if new)."""
    user = await sql.get_user_by_email(db, email) or await sql.create_user(db, email, "h")
    return [
        await sql_store.subscribe(db, user, asin, t, notification_type=kind, target=target)
        for t in thresholds
    ]


async def statuses(db: AsyncEngine) -> list[tuple[int, str, str, int]]:
    """(subscription, event, status, attempts) of every notification, oldest first."""
    async with db.connect() as conn:
        rows = await conn.exec_driver_sql(
            "SELECT subscription_id, event_id, status, attempts FROM notifications ORDER BY id"
        )
        return [tuple(r) for r in rows]  # type: ignore[misc]


async def notifications_are(db: AsyncEngine, status: str, count: int | None = None) -> bool:
    """There are notifications (``count`` of them, if given), all in ``status``."""
    rows = await statuses(db)
    counted = count is None or len(rows) == count
    return bool(rows) and counted and all(r[2] == status for r in rows)


def notice(recipient: str, kind: sql.NotificationType) -> Notice:
    """An alert about a tea pot on the UK market, for ``recipient`` by ``kind``."""
    return Notice(
        notification_id=5,
        kind=sql.NotificationKind.ALERT,
        notification_type=kind,
        subscription_id=9,
        event_id="ev9",
        market="uk",
        asin="B000000009",
        currency="GBP",
        series="buybox",
        alert_kind=sql.SubscriptionKind.PRICE,
        threshold=20_00,
        recipient=recipient,
        links=Links(
            "https://p.test/p/uk/B000000009",
            "https://www.amazon.co.uk/dp/B000000009",
            "https://p.test/alerts/9/stop?token=x",
        ),
        title="Tea Pot",
        new_price=18_50,
        old_price=24_00,
    )


def assert_price_drop_email(
    message: EmailMessage, title: str, *, now: str, was: str, threshold: str
) -> str:
    """``message`` tells of the buy-box price of ``title`` dropping to ``now`` (from
    ``was``) below the alert's ``threshold``, prices as the reader's market writes them;
    its plain text, for further checks."""
    assert message["Subject"] == f"Price of {title} is at {now}, below your {threshold}"
    text = plain_text(message)
    assert f"Price of {title} dropped to {now} (was {was})." in text
    assert f"Your alert: price at or below {threshold}." in text
    return text

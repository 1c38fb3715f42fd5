"""Running the alerts role: channels and worker built from settings.

``run`` blocks until ``stop`` is set, so ``pricewatch up`` runs it in a thread
next to the other roles and ``pricewatch alerts`` in the foreground (the CLI
calls it by the dotted path ``alerts.service:run``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import threading
from collections.abc import Coroutine
from typing import Any

from alerts.account_service import account_mailer
from alerts.channels.apprise import AppriseChannel
from alerts.channels.base import Channel
from alerts.channels.email import SmtpChannel
from alerts.channels.outbox import OutboxChannel
from alerts.channels.sms import LogSms, TwilioSms
from alerts.channels.webhook import WebhookChannel
from alerts.charts import ChartReader
from alerts.worker import AlertsWorker, WorkerConfig
from pricewatch import alert_links
from pricewatch.egress import EgressPolicy, safe_http_client
from pricewatch.history import Bucket, Granularity
from pricewatch.keys import Keys
from pricewatch.settings import Settings
from pricewatch.storage.clickhouse import PriceStore, database_from_url, embedded, get_clickhouse
from pricewatch.storage.redis import connect
from pricewatch.storage.sql import NotificationType, create_engine, migrate_sql_async

log = logging.getLogger(__name__)


def consumer_name(settings: Settings) -> str:
    """Stable across restarts when configured (a restarted worker then re-reads
    its own unacked messages at once); host and pid otherwise."""
    return settings.alerts_consumer or f"{socket.gethostname()}-{os.getpid()}"


def build_channels(settings: Settings) -> dict[NotificationType, Channel]:
    timeout = settings.alert_send_timeout_s
    email: Channel
    if settings.smtp_host:
        email = SmtpChannel(
            host=settings.smtp_host,
            port=settings.smtp_port,
            sender=settings.mail_from,
            tls=settings.smtp_tls,
            user=settings.smtp_user,
            password=settings.smtp_password,
            ca_file=settings.smtp_ca_file,
            connections=settings.smtp_connections,
            timeout=timeout,
        )
    else:
        log.info("no SMTP host configured: e-mails go to %s", settings.outbox_dir)
        email = OutboxChannel(settings.outbox_dir, settings.mail_from)
    sms: Channel
    if settings.sms_provider == "twilio":
        sms = TwilioSms(
            base_url=settings.sms_api_base,
            account_sid=settings.sms_account_sid or "",
            auth_token=settings.sms_auth_token or "",
            sender=settings.sms_from or "",
            timeout=timeout,
        )
    else:
        sms = LogSms()
    return {
        NotificationType.EMAIL: email,
        NotificationType.SMS: sms,
        NotificationType.WEBHOOK: WebhookChannel(
            alert_links.webhook_secret(settings), client=safe_http_client(settings)
        ),
        NotificationType.APPRISE: apprise_channel(settings),
    }


def apprise_channel(settings: Settings) -> AppriseChannel:
    """Apprise under the egress policy and limits the webhooks keep to."""
    return AppriseChannel(
        EgressPolicy(settings.egress_allow),
        connect_timeout_s=settings.egress_connect_timeout_s,
        read_timeout_s=settings.egress_read_timeout_s,
        host_concurrency=settings.egress_host_concurrency,
        breaker_failures=settings.egress_breaker_failures,
        breaker_cooldown_s=settings.egress_breaker_cooldown_s,
    )


def worker_config(settings: Settings) -> WorkerConfig:
    return WorkerConfig(
        public_url=settings.public_url,
        secret=alert_links.alert_secret(settings),
        consumer=consumer_name(settings),
        partitions=settings.stream_partitions,
        max_attempts=settings.alert_max_attempts,
        retry_base_ms=settings.alert_retry_base_ms,
        lease_ms=settings.alert_lease_ms,
        send_timeout_s=settings.alert_send_timeout_s,
        sweep_ms=settings.alert_sweep_ms,
        concurrency=settings.alert_concurrency,
        claim_idle_ms=settings.claim_idle_ms,
    )


def chart_reader(settings: Settings, clickhouse_client: Any) -> tuple[ChartReader | None, Any]:
    """The reader of e-mail charts over the price history, and the ClickHouse client it
    opened (to close), if any. An embedded chDB belongs to one process: an alerts role
    running apart from it sends its e-mails without charts."""
    client, own = clickhouse_client, None
    if client is None:
        if embedded(settings.clickhouse_url):
            log.info("alerts: no price history in this process; e-mails go without charts")
            return None, None
        client = own = get_clickhouse(settings.clickhouse_url, cluster=settings.clickhouse_cluster)
    store = PriceStore(client, database_from_url(settings.clickhouse_url))

    async def read(market: str, asin: str, start_ms: int, end_ms: int) -> dict[str, list[Bucket]]:
        # one query for every series: the chart's and the other prices now
        return await asyncio.to_thread(
            store.histories, market, asin, start_ms, end_ms, Granularity.HOURLY
        )

    # a third of a send's time at most, so that the send keeps its own
    return ChartReader(read, timeout_s=settings.alert_send_timeout_s / 3), own


async def serve(
    settings: Settings, redis_url: str, stop: threading.Event, clickhouse_client: Any = None
) -> None:
    config = worker_config(settings)
    await migrate_sql_async(settings.database_url)
    engine = create_engine(settings.database_url)
    client = connect(redis_url)
    channels = build_channels(settings)
    charts, own_clickhouse = chart_reader(settings, clickhouse_client)
    worker = AlertsWorker(
        client=client,
        keys=Keys(settings.key_prefix),
        db=engine,
        channels=channels,
        config=config,
        charts=charts,
    )
    done = asyncio.Event()

    async def watch() -> None:
        # threading.Event cannot be awaited; a short poll keeps shutdown prompt
        while not stop.is_set():
            await asyncio.sleep(0.1)
        done.set()

    watcher = asyncio.create_task(watch())
    try:
        # messages about accounts go out next to the alerts, over the same channels
        async with account_mailer(
            settings, redis_url, engine, channels, config.consumer, clickhouse_client
        ) as mailer:
            await asyncio.gather(
                _then_stop(worker.run(done), done), _then_stop(mailer.run(done), done)
            )
    finally:
        watcher.cancel()
        for channel in channels.values():
            with contextlib.suppress(Exception):
                await channel.aclose()
        await engine.dispose()
        client.close()
        if own_clickhouse is not None:
            own_clickhouse.close()


async def _then_stop(loop: Coroutine[Any, Any, None], done: asyncio.Event) -> None:
    # one of the loops ending (a crash included) ends the other
    try:
        await loop
    finally:
        done.set()


def run(
    settings: Settings, redis_url: str, stop: threading.Event, clickhouse_client: Any = None
) -> None:
    """Run the alerts worker and the account-message sender until ``stop`` is set
    (blocking). ``clickhouse_client`` is the process's own, when it has one."""
    asyncio.run(serve(settings, redis_url, stop, clickhouse_client))

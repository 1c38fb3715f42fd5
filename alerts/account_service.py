"""The account-message sender of the alerts role, built from settings.

It shares the role's e-mail, SMS and Apprise channels (one SMTP pool) and has a safe HTTP
client of its own for webhook challenges. Re-checking the subscriptions a webhook
confirmation activates needs the current prices: from the ClickHouse client the
process shares (``pricewatch up``), or from a ClickHouse server. An embedded chDB
belongs to one process only; an alerts role running apart from it leaves those
re-checks to the next price change.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any, cast

from sqlalchemy.ext.asyncio import AsyncEngine

from alerts.account_mail import AccountMailer, EmailSender, MailerConfig
from alerts.channels.apprise import AppriseChannel
from alerts.channels.base import Channel
from alerts.channels.sms import SmsChannel
from pricewatch import alert_links
from pricewatch.egress import safe_http_client
from pricewatch.keys import Keys
from pricewatch.models import LastState, SeriesKey
from pricewatch.rechecks import PriceLookup
from pricewatch.settings import Settings
from pricewatch.storage.clickhouse import PriceStore, database_from_url, embedded, get_clickhouse
from pricewatch.storage.redis import connect
from pricewatch.storage.sql import NotificationType

log = logging.getLogger(__name__)


@dataclasses.dataclass
class _Prices:
    lookup: PriceLookup | None
    own_client: Any = None


def _prices(settings: Settings, clickhouse_client: Any) -> _Prices:
    client, own = clickhouse_client, None
    if client is None:
        if embedded(settings.clickhouse_url):
            log.info(
                "account messages: no price store in this process; webhook "
                "confirmations leave re-checks to the next price change"
            )
            return _Prices(None)
        client = own = get_clickhouse(settings.clickhouse_url, cluster=settings.clickhouse_cluster)
    store = PriceStore(client, database_from_url(settings.clickhouse_url))

    async def lookup(keys: list[SeriesKey]) -> Mapping[SeriesKey, LastState]:
        return await asyncio.to_thread(store.last_accepted, keys)

    return _Prices(lookup, own)


@contextlib.asynccontextmanager
async def account_mailer(
    settings: Settings,
    redis_url: str,
    db: AsyncEngine,
    channels: Mapping[NotificationType, Channel],
    consumer: str,
    clickhouse_client: Any,
) -> AsyncIterator[AccountMailer]:
    """The sender, with what it holds released on exit (the channels are the caller's)."""
    client = connect(redis_url)
    http = safe_http_client(settings)
    prices = _prices(settings, clickhouse_client)
    mailer = AccountMailer(
        client=client,
        keys=Keys(settings.key_prefix),
        db=db,
        email=cast(EmailSender, channels[NotificationType.EMAIL]),
        sms=cast(SmsChannel, channels[NotificationType.SMS]),
        apprise=cast(AppriseChannel | None, channels.get(NotificationType.APPRISE)),
        http=http,
        prices=prices.lookup,
        config=MailerConfig(
            consumer=consumer,
            sender=settings.mail_from,
            webhook_secret=alert_links.webhook_secret(settings),
            partitions=settings.stream_partitions,
            stream_maxlen=settings.stream_maxlen,
            max_attempts=settings.alert_max_attempts,
            retry_ms=max(
                settings.alert_retry_base_ms, int(2 * settings.alert_send_timeout_s * 1000)
            ),
            send_timeout_s=settings.alert_send_timeout_s,
        ),
    )
    try:
        yield mailer
    finally:
        await http.aclose()
        client.close()
        if prices.own_client is not None:
            prices.own_client.close()

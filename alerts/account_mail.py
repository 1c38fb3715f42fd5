"""Messages about accounts, sent by the alerts role: verification and password reset
e-mails, and the confirmation of targets (a link by e-mail or SMS, a signed challenge
a webhook must echo).

The API adds :class:`~pricewatch.account_messages.AccountMessage` entries to the
``account_messages`` stream; :class:`AccountMailer` reads them in the consumer group
``account-messages`` and sends each with the role's own channels (the SMTP pool or the
outbox, the SMS provider, the safe HTTP client). Delivery is at least once: an entry
is acked after it was sent or given up. A failure worth retrying leaves it pending;
it is claimed again once it has been idle ``retry_ms`` (by this consumer or, after a
crash, any other), at most ``max_attempts`` times. Unreadable entries and permanent
failures go to the dead-letter stream with the reason.

Before sending, the entry is checked against the database: a target confirmed or
removed since, a deleted account or an address verified meanwhile needs no message.
A webhook that echoes its challenge is confirmed here, its waiting subscriptions go
active and are re-checked against the current price.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from email.utils import parseaddr
from typing import Any, Protocol

import msgspec
import redis
import redis.asyncio
from sqlalchemy.ext.asyncio import AsyncEngine

from alerts.account_texts import email_bytes, sms_text, webhook_challenge_body
from alerts.channels.base import DeliveryError, PermanentError, TransientError
from alerts.channels.sms import SmsChannel
from alerts.channels.webhook import post_signed
from pricewatch.account_messages import AccountMessage, MessageKind
from pricewatch.egress import SafeHttpClient
from pricewatch.keys import ACCOUNT_MESSAGES_GROUP, Keys
from pricewatch.models import decode
from pricewatch.rechecks import PriceLookup, publish_rechecks
from pricewatch.retry import log_failed_round, retry_delay
from pricewatch.storage import sql
from pricewatch.storage.redis import FIELD
from pricewatch.storage.sql import NotificationType

log = logging.getLogger(__name__)

# a receiver's answer is read this far for the echoed challenge
MAX_ECHO_BYTES = 4096


class EmailSender(Protocol):
    async def send_email(self, to: str, data: bytes, name: str = "") -> None: ...


@dataclasses.dataclass(frozen=True, kw_only=True)
class MailerConfig:
    consumer: str
    # the From of the e-mails (Settings.mail_from)
    sender: str
    # signs webhook challenges like alerts (X-Pricewatch-Signature)
    webhook_secret: str
    # where re-checks of newly active subscriptions go
    partitions: int
    stream_maxlen: int = 1_000_000
    max_attempts: int = 5
    # a failed entry is tried again after it has been idle this long
    retry_ms: int = 30_000
    send_timeout_s: float = 15.0
    read_count: int = 20
    block_ms: int = 1_000

    def __post_init__(self) -> None:
        if self.retry_ms < 2 * self.send_timeout_s * 1000:
            raise ValueError(
                "retry_ms must be at least two send timeouts: an entry being "
                "sent must not be claimed by another consumer meanwhile"
            )
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")


class ChallengeFailed(PermanentError):
    """The receiver answered, but not with the challenge: it does not confirm."""


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class AccountMailer:
    def __init__(
        self,
        *,
        client: redis.asyncio.Redis,
        keys: Keys,
        db: AsyncEngine,
        email: EmailSender,
        sms: SmsChannel,
        http: SafeHttpClient,
        config: MailerConfig,
        prices: PriceLookup | None = None,
    ) -> None:
        self.client = client
        self.keys = keys
        self.db = db
        self.email = email
        self.sms = sms
        self.http = http
        self.config = config
        # None: re-checks are left to the next price change (no price store here)
        self.prices = prices
        self.stream = keys.account_messages
        self.sender_domain = parseaddr(config.sender)[1].rpartition("@")[2] or "localhost"

    # -- the loop -------------------------------------------------------------------
    async def ensure_group(self) -> None:
        try:
            await self.client.xgroup_create(
                self.stream, ACCOUNT_MESSAGES_GROUP, id="0", mkstream=True
            )
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def run(self, stop: asyncio.Event) -> None:
        await self.ensure_group()
        log.info("account messages: consumer %s", self.config.consumer)
        failures = 0
        while not stop.is_set():
            try:
                await self.step()
                failures = 0
            except Exception as exc:
                failures += 1
                delay = retry_delay(failures)
                log_failed_round(log, "account messages", exc, failures, delay)
                await _wait(stop, delay)

    async def step(self) -> int:
        """One round: entries due for another try, then new ones; returns how many
        entries were handled."""
        cfg = self.config
        handled = 0
        _, claimed, deleted = await self.client.xautoclaim(
            self.stream,
            ACCOUNT_MESSAGES_GROUP,
            cfg.consumer,
            cfg.retry_ms,
            "0-0",
            count=cfg.read_count,
        )
        if deleted:
            # trimmed away while pending: nothing left to send
            await self.client.xack(self.stream, ACCOUNT_MESSAGES_GROUP, *deleted)
        retries = [(entry_id, fields) for entry_id, fields in claimed if fields]
        if retries:
            counts = await self._deliveries([entry_id for entry_id, _ in retries])
            await asyncio.gather(
                *(
                    self.handle(entry_id, fields.get(FIELD, b""), counts.get(entry_id, 2))
                    for entry_id, fields in retries
                )
            )
            handled += len(retries)
        # redis-py: [[stream, [(id, {field: value}), ...]]] (RESP2)
        reply: Any = await self.client.xreadgroup(
            ACCOUNT_MESSAGES_GROUP,
            cfg.consumer,
            {self.stream: ">"},
            count=cfg.read_count,
            block=cfg.block_ms,
        )
        fresh = [
            (entry_id, fields)
            for _, entries in reply or []
            for entry_id, fields in entries
            if fields
        ]
        await asyncio.gather(
            *(self.handle(entry_id, fields.get(FIELD, b""), 1) for entry_id, fields in fresh)
        )
        return handled + len(fresh)

    async def _deliveries(self, entry_ids: list[Any]) -> dict[Any, int]:
        counts: dict[Any, int] = {}
        for entry_id in entry_ids:
            pending = await self.client.xpending_range(
                self.stream, ACCOUNT_MESSAGES_GROUP, min=entry_id, max=entry_id, count=1
            )
            if pending:
                counts[entry_id] = int(pending[0]["times_delivered"])
        return counts

    # -- one entry ----------------------------------------------------------------------
    async def handle(self, entry_id: Any, data: bytes, deliveries: int) -> str:
        """Send one entry and settle it: "sent", "skipped" (nothing to send any more),
        "retry" (left pending) or "dead" (dead-lettered)."""
        try:
            message = decode(data, AccountMessage)
        except msgspec.DecodeError as exc:
            return await self._dead(entry_id, data, f"not an AccountMessage: {exc}")
        if deliveries > self.config.max_attempts:
            return await self._dead(
                entry_id, data, f"gave up after {self.config.max_attempts} attempts"
            )
        if not await self._still_wanted(message):
            log.info(
                "account message %s (%s) no longer needed", message.message_id, message.kind.value
            )
            await self._ack(entry_id)
            return "skipped"
        try:
            async with asyncio.timeout(self.config.send_timeout_s):
                await self.send(message)
        except PermanentError as exc:
            return await self._dead(entry_id, data, f"{type(exc).__name__}: {exc}")
        except (DeliveryError, TimeoutError) as exc:
            log.warning(
                "account message %s attempt %d failed: %s",
                message.message_id,
                deliveries,
                exc or "timed out",
            )
            return "retry"
        await self._ack(entry_id)
        return "sent"

    async def send(self, message: AccountMessage) -> None:
        """Deliver ``message`` or raise a DeliveryError."""
        channel = message.channel
        try:
            if channel == NotificationType.EMAIL:
                data = email_bytes(message, self.config.sender, self.sender_domain)
                await self.email.send_email(
                    message.recipient, data, name=f"account-{message.message_id}"
                )
            elif channel == NotificationType.SMS:
                await self.sms.send_text(message.recipient, sms_text(message))
            elif channel == NotificationType.WEBHOOK and (
                message.kind == MessageKind.CONFIRM_TARGET
            ):
                await self._challenge(message)
            else:
                raise PermanentError(f"{message.kind.value} messages do not go by {channel}")
        except ValueError as exc:
            # a message that cannot be rendered (no link, no challenge) never will be
            raise PermanentError(str(exc)) from None

    async def _challenge(self, message: AccountMessage) -> None:
        answer = await post_signed(
            self.http,
            message.recipient,
            webhook_challenge_body(message),
            self.config.webhook_secret,
            max_body=MAX_ECHO_BYTES,
        )
        if answer.status >= 500 or answer.status in (408, 429):
            raise TransientError(f"the webhook answered HTTP {answer.status}")
        if not 200 <= answer.status < 300:
            raise ChallengeFailed(f"the webhook answered HTTP {answer.status}")
        assert message.challenge is not None
        if message.challenge.encode() not in answer.body:
            raise ChallengeFailed("the webhook did not echo the challenge")
        assert message.target_id is not None
        activated = await sql.confirm_target(self.db, message.target_id, now_ms())
        log.info(
            "webhook target %s confirmed; %d subscriptions active",
            message.target_id,
            len(activated),
        )
        if activated and self.prices is not None:
            await publish_rechecks(
                self.client,
                self.keys,
                activated,
                self.prices,
                partitions=self.config.partitions,
                maxlen=self.config.stream_maxlen,
                now_ms=now_ms(),
            )

    async def _still_wanted(self, message: AccountMessage) -> bool:
        if message.kind == MessageKind.CONFIRM_TARGET:
            if message.target_id is None:
                return False
            target = await sql.get_target(self.db, message.target_id, message.user_id)
            return (
                target is not None
                and not target.confirmed
                and (target.address == message.recipient)
            )
        user = await sql.get_user(self.db, message.user_id)
        if user is None or user.email != message.recipient:
            return False
        return message.kind != MessageKind.VERIFY_EMAIL or not user.email_verified

    async def _ack(self, entry_id: Any) -> None:
        await self.client.xack(self.stream, ACCOUNT_MESSAGES_GROUP, entry_id)

    async def _dead(self, entry_id: Any, data: bytes, reason: str) -> str:
        log.error("account message %r moved to %s: %s", entry_id, self.keys.dead_letter, reason)
        pipe = self.client.pipeline(transaction=True)
        pipe.xadd(
            self.keys.dead_letter,
            {b"reason": reason.encode(), b"role": b"account-messages", b"d": data},
            maxlen=100_000,
            approximate=True,
        )
        pipe.xack(self.stream, ACCOUNT_MESSAGES_GROUP, entry_id)
        await pipe.execute()
        return "dead"


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)

"""Messages about accounts, sent by the alerts role: verification and password reset
e-mails, and the confirmation of targets (a link by e-mail, SMS or Apprise, a signed
challenge a webhook must echo).

The API adds :class:`~pricewatch.account_messages.AccountMessage` entries to the
``account_messages`` stream; :class:`AccountMailer` reads them in the consumer group
``account-messages`` (:class:`pricewatch.storage.streams.GroupReader`) and sends each
with the role's own channels (the SMTP pool or the outbox, the SMS provider, the safe
HTTP client). Delivery is at least once: an entry is acked after it was sent or given
up. A failure worth retrying leaves it pending; it is claimed again once it has been
idle ``retry_ms`` (by this consumer or any other; a restarted consumer replays its own
at once), at most ``max_attempts`` deliveries in all. Unreadable entries and permanent
failures go to the dead-letter stream with the reason.

Before sending, the entry is checked against the database: a target confirmed or
removed since, a deleted account or an address verified meanwhile needs no message.
A webhook that echoes its challenge is confirmed here, its waiting subscriptions go
active and are re-checked against the current price.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from email.utils import parseaddr
from typing import Protocol

import msgspec
import redis
from sqlalchemy.ext.asyncio import AsyncEngine

from alerts.account_texts import apprise_text, email_bytes, sms_text, webhook_challenge_body
from alerts.channels.apprise import AppriseChannel
from alerts.channels.base import DeliveryError, PermanentError, TransientError
from alerts.channels.sms import SmsChannel
from alerts.channels.webhook import post_signed
from alerts.config import SenderConfig
from pricewatch.account_messages import AccountMessage, MessageKind
from pricewatch.egress import SafeHttpClient
from pricewatch.keys import ACCOUNT_MESSAGES_GROUP, Keys
from pricewatch.models import decode
from pricewatch.rechecks import PriceLookup, queue_rechecks
from pricewatch.storage import sql
from pricewatch.storage.sql import NotificationType
from pricewatch.storage.streams import GroupReader, Message, consume_async, dead_letter

log = logging.getLogger(__name__)

# a receiver's answer is read this far for the echoed challenge
MAX_ECHO_BYTES = 4096


class EmailSender(Protocol):
    async def send_email(self, to: str, data: bytes, name: str = "") -> None: ...


@dataclasses.dataclass(frozen=True, kw_only=True)
class MailerConfig(SenderConfig):
    # the From of the e-mails (Settings.mail_from)
    sender: str
    # signs webhook challenges like alerts (X-Pricewatch-Signature)
    webhook_secret: str
    # where re-checks of newly active subscriptions go
    partitions: int
    stream_maxlen: int = 1_000_000
    # a failed entry is tried again after it has been idle this long
    retry_ms: int = 30_000
    read_count: int = 20
    block_ms: int = 1_000

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.retry_ms < 2 * self.send_timeout_s * 1000:
            raise ValueError(
                "retry_ms must be at least two send timeouts: an entry being "
                "sent must not be claimed by another consumer meanwhile"
            )


class ChallengeFailed(PermanentError):
    """The receiver answered, but not with the challenge: it does not confirm."""


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclasses.dataclass(kw_only=True, eq=False)
class AccountMailer:
    client: redis.Redis
    keys: Keys
    db: AsyncEngine
    email: EmailSender
    sms: SmsChannel
    http: SafeHttpClient
    config: MailerConfig
    # None: re-checks are left to the next price change (no price store here)
    prices: PriceLookup | None = None
    # None: Apprise targets cannot be confirmed by this sender
    apprise: AppriseChannel | None = None
    reader: GroupReader = dataclasses.field(init=False)
    sender_domain: str = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        config = self.config
        self.reader = GroupReader(
            self.client,
            [self.keys.account_messages],
            ACCOUNT_MESSAGES_GROUP,
            config.consumer,
            count=config.read_count,
            wait_ms=config.block_ms,
            # a failed entry is tried again once idle this long, like a dead consumer's
            claim_idle_ms=config.retry_ms,
            name="account-messages",
        )
        self.sender_domain = parseaddr(config.sender)[1].rpartition("@")[2] or "localhost"

    # -- the loop -------------------------------------------------------------------
    async def ensure_group(self) -> None:
        await asyncio.to_thread(self.reader.ensure_group)

    async def run(self, stop: asyncio.Event) -> None:
        await self.ensure_group()
        log.info("account messages: consumer %s", self.config.consumer)
        await consume_async(self.reader, self._handle_all, stop, log=log, what="account messages")

    async def step(self) -> int:
        """One round (entries due for another try, else new ones); returns how many
        entries were handled."""
        messages = await asyncio.to_thread(self.reader.next)
        await self._handle_all(messages)
        return len(messages)

    async def _handle_all(self, messages: list[Message]) -> None:
        await asyncio.gather(*(self.handle(m) for m in messages))

    # -- one entry ----------------------------------------------------------------------
    async def handle(self, entry: Message) -> str:
        """Send one entry and settle it: "sent", "skipped" (nothing to send any more),
        "retry" (left pending) or "dead" (dead-lettered)."""
        try:
            message = decode(entry.data, AccountMessage)
        except msgspec.DecodeError as exc:
            return await self._dead(entry, f"not an AccountMessage: {exc}")
        if entry.deliveries > self.config.max_attempts:
            return await self._dead(entry, f"gave up after {self.config.max_attempts} attempts")
        if not await self._still_wanted(message):
            log.info(
                "account message %s (%s) no longer needed", message.message_id, message.kind.value
            )
            await asyncio.to_thread(self.reader.ack, [entry])
            return "skipped"
        try:
            async with asyncio.timeout(self.config.send_timeout_s):
                await self.send(message)
        except PermanentError as exc:
            return await self._dead(entry, f"{type(exc).__name__}: {exc}")
        except (DeliveryError, TimeoutError) as exc:
            log.warning(
                "account message %s attempt %d failed: %s",
                message.message_id,
                entry.deliveries,
                exc or "timed out",
            )
            return "retry"
        await asyncio.to_thread(self.reader.ack, [entry])
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
            elif channel == NotificationType.APPRISE and self.apprise is not None:
                title, body = apprise_text(message)
                await self.apprise.send_text(message.recipient, title, body)
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
            pipe = self.client.pipeline(transaction=False)
            if await queue_rechecks(
                pipe,
                self.keys,
                activated,
                self.prices,
                partitions=self.config.partitions,
                maxlen=self.config.stream_maxlen,
                now_ms=now_ms(),
            ):
                await asyncio.to_thread(pipe.execute)

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

    async def _dead(self, entry: Message, reason: str) -> str:
        log.error("account message %r moved to %s: %s", entry.id, self.keys.dead_letter, reason)
        # in order, not in one MULTI: the two streams may live in different Redis
        # Cluster slots; a crash between them records the dead letter twice, never
        # loses it
        pipe = self.client.pipeline(transaction=False)
        dead_letter(pipe, self.keys, entry, reason, role="account-messages")
        self.reader.ack([entry], pipe=pipe)
        await asyncio.to_thread(pipe.execute)
        return "dead"

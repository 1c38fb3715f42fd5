"""The account-message sender of the alerts role over real Redis, a real database
(SQLite and PostgreSQL), a real SMTP server and a real HTTP receiver for webhooks."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import redis as redis_lib
import redis.asyncio
from sqlalchemy.ext.asyncio import AsyncEngine

from alerts.account_mail import AccountMailer
from alerts.channels.email import SmtpChannel
from alerts.channels.outbox import OutboxChannel
from alerts.channels.webhook import verify_signature
from pricewatch.account_messages import AccountMessage, MessageKind, verify_email_url
from pricewatch.egress import SafeHttpClient
from pricewatch.keys import ACCOUNT_MESSAGES_GROUP, Keys
from pricewatch.models import SeriesKey, encode
from pricewatch.storage import sql
from pricewatch.storage.clickhouse import PriceStore
from pricewatch.storage.redis import connect_async
from pricewatch.storage.streams import FIELD
from tests.alerts.conftest import PUBLIC_URL, SECRET, SENDER, account_mailer, smtp_channel
from tests.egress import safe_client
from tests.http_targets import Answer, recording_server
from tests.mail import MailRecorder, parse_email, plain_text
from tests.observations import seed_product
from tests.sql_store import subscribe
from tests.streams import rechecks_on_stream

pytestmark = [pytest.mark.clickhouse, pytest.mark.redis]

NOW = 1_700_000_000_000
HOOK_HOST = "hooks.test"
# how long an entry waits before another try (and twice the send timeout)
RETRY_MS = 2_000


@pytest.fixture
async def http() -> AsyncIterator[SafeHttpClient]:
    # hooks.test stands for a receiver on this machine: its address is reachable (the
    # loopback range is allowed) but the name is not on the allow-list, so it is
    # challenged like any public host
    client = safe_client(
        ("127.0.0.0/8",),
        {HOOK_HOST: ["127.0.0.1"]},
        connect_timeout_s=1,
        read_timeout_s=1,
        breaker_failures=100,
        breaker_cooldown_s=1,
    )
    yield client
    await client.aclose()


@dataclasses.dataclass
class Mailroom:
    """What the account-message sender works with in one test: the database, the
    account-messages stream (read through ``aredis``), and the SMTP server's
    ``mail``; ``make_mailer(**config)`` makes a sender mailing to that server."""

    db: AsyncEngine
    aredis: Any
    keys: Keys
    mail: MailRecorder
    make_mailer: Callable[..., Awaitable[AccountMailer]]

    async def user(self, email: str) -> sql.User:
        return await sql.create_user(self.db, email, "h")

    async def queue(self, message: AccountMessage | bytes) -> None:
        data = message if isinstance(message, bytes) else encode(message)
        await self.aredis.xadd(self.keys.account_messages, {FIELD: data})

    async def pending(self) -> int:
        info = await self.aredis.xpending(self.keys.account_messages, ACCOUNT_MESSAGES_GROUP)
        return int(info["pending"])

    async def dead_letters(self) -> list[str]:
        entries = await self.aredis.xrange(self.keys.dead_letter)
        return [fields[b"reason"].decode() for _, fields in entries]


@pytest.fixture
async def mailroom(
    redis_url: str,
    redis_client: redis_lib.Redis,
    keys: Keys,
    db: AsyncEngine,
    http: SafeHttpClient,
    smtp: tuple[MailRecorder, int],
    price_store: PriceStore,
) -> AsyncIterator[Mailroom]:
    channels: list[SmtpChannel] = []

    async def lookup(wanted: list[SeriesKey]) -> Any:
        return price_store.last_accepted(wanted)

    async def make(**config: Any) -> AccountMailer:
        channels.append(smtp_channel(smtp[1]))
        # the send timeout is generous: under a loaded machine an SMTP round trip can
        # take a while, and a timeout would turn a refusal (550) into a retry
        config = {
            "max_attempts": 3,
            "retry_ms": RETRY_MS,
            "send_timeout_s": RETRY_MS / 2000,
            **config,
        }
        mailer = account_mailer(redis_client, keys, db, channels[-1], http, prices=lookup, **config)
        await mailer.ensure_group()
        return mailer

    aredis = connect_async(redis_url)
    yield Mailroom(db, aredis, keys, smtp[0], make)
    await aredis.aclose()
    for channel in channels:
        await channel.aclose()


def verification(user: sql.User, message_id: str = "m1") -> AccountMessage:
    return AccountMessage(
        message_id=message_id,
        kind=MessageKind.VERIFY_EMAIL,
        channel="EMAIL",
        recipient=user.email,
        user_id=user.id,
        link=verify_email_url(PUBLIC_URL, "tok"),
        expires_at=NOW + 86_400_000,
        created_at=NOW,
    )


async def test_a_verification_email_is_sent_once_with_its_link(mailroom: Mailroom) -> None:
    user = await mailroom.user("ann@example.com")
    mailer = await mailroom.make_mailer()
    await mailroom.queue(verification(user))
    assert await mailer.step() == 1
    [mail] = mailroom.mail.messages
    assert mail["To"] == "ann@example.com"
    assert mail["Subject"] == "Confirm your e-mail address for Pricewatch"
    assert f"{PUBLIC_URL}/verify-email?token=tok" in plain_text(mail)
    assert await mailroom.pending() == 0
    assert await mailer.step() == 0
    assert len(mailroom.mail.messages) == 1


async def test_what_is_no_longer_needed_is_not_sent(mailroom: Mailroom) -> None:
    db = mailroom.db
    verified = await mailroom.user("done@example.com")
    await sql.mark_email_verified(db, verified.id, NOW)
    other = await mailroom.user("other@example.com")
    target, _ = await sql.add_target(
        db, other.id, "EMAIL", "gone@example.com", confirmed=False, now=NOW
    )
    await sql.delete_target(db, target.id, other.id, NOW)
    mailer = await mailroom.make_mailer()
    await mailroom.queue(verification(verified))
    await mailroom.queue(
        AccountMessage(
            message_id="m2",
            kind=MessageKind.CONFIRM_TARGET,
            channel="EMAIL",
            recipient="gone@example.com",
            user_id=other.id,
            target_id=target.id,
            link=f"{PUBLIC_URL}/confirm?token=x",
            created_at=NOW,
        )
    )
    await mailer.step()
    assert mailroom.mail.messages == []
    assert await mailroom.pending() == 0


async def test_a_refused_message_is_retried_then_sent_and_bad_ones_are_dead_lettered(
    mailroom: Mailroom,
) -> None:
    recorder = mailroom.mail
    user = await mailroom.user("retry@example.com")
    mailer = await mailroom.make_mailer()
    recorder.replies = ["451 4.3.0 try again later"]
    await mailroom.queue(verification(user))
    await mailer.step()
    assert recorder.messages == [] and await mailroom.pending() == 1
    # not again before it has waited retry_ms
    await mailer.step()
    assert recorder.attempts == 1
    await asyncio.sleep(RETRY_MS / 1000 + 0.05)
    await mailer.step()
    assert len(recorder.messages) == 1 and recorder.attempts == 2
    assert await mailroom.pending() == 0

    recorder.refused.add("nobody@example.com")
    nobody = await mailroom.user("nobody@example.com")
    await mailroom.queue(verification(nobody, "m3"))
    await mailroom.queue(b"{not json")
    await mailer.step()
    reasons = await mailroom.dead_letters()
    assert len(reasons) == 2
    assert any("550" in r for r in reasons) and any("not an AccountMessage" in r for r in reasons)
    assert await mailroom.pending() == 0


async def test_retries_are_bounded(mailroom: Mailroom) -> None:
    user = await mailroom.user("flaky@example.com")
    mailer = await mailroom.make_mailer(max_attempts=2)
    mailroom.mail.replies = ["451 busy"] * 5
    await mailroom.queue(verification(user))
    for _ in range(3):
        await mailer.step()
        await asyncio.sleep(RETRY_MS / 1000 + 0.05)
    await mailer.step()
    assert mailroom.mail.attempts == 2
    assert await mailroom.dead_letters() == ["gave up after 2 attempts"]
    assert await mailroom.pending() == 0


async def _webhook_target(
    mailroom: Mailroom, port: int
) -> tuple[sql.User, sql.Target, sql.Subscription]:
    user = await mailroom.user("hooks@example.com")
    url = f"http://{HOOK_HOST}:{port}/in"
    target, _ = await sql.add_target(mailroom.db, user.id, "WEBHOOK", url, confirmed=False, now=NOW)
    waiting = {"target": url, "status": sql.SubscriptionStatus.UNCONFIRMED.value}
    sub = await subscribe(
        mailroom.db, user, "B0HOOKME01", 2500, notification_type="WEBHOOK", **waiting
    )
    return user, target, sub


def challenge_for(user: sql.User, target: sql.Target, challenge: str) -> AccountMessage:
    return AccountMessage(
        message_id="w1",
        kind=MessageKind.CONFIRM_TARGET,
        channel="WEBHOOK",
        recipient=target.address,
        user_id=user.id,
        target_id=target.id,
        challenge=challenge,
        created_at=NOW,
    )


async def test_a_webhook_that_echoes_its_signed_challenge_is_confirmed_and_rechecked(
    mailroom: Mailroom, price_store: PriceStore, redis_client: redis_lib.Redis
) -> None:
    seed_product(price_store, asin="B0HOOKME01", prices=[(NOW, 1999)])
    with recording_server() as (receiver, port):
        user, target, sub = await _webhook_target(mailroom, port)
        receiver.default = Answer(200, json.dumps({"challenge": "chal-123"}).encode())
        mailer = await mailroom.make_mailer()
        await mailroom.queue(challenge_for(user, target, "chal-123"))
        await mailer.step()
        [seen] = receiver.seen
    assert json.loads(seen.body) == {"type": "verification", "challenge": "chal-123"}
    assert verify_signature(seen.body, seen.headers["X-Pricewatch-Signature"], SECRET)
    confirmed = await sql.get_target(mailroom.db, target.id)
    assert confirmed is not None and confirmed.confirmed
    active = await sql.get_subscription(mailroom.db, sub.id, user.id)
    assert active is not None and active.status == sql.SubscriptionStatus.ACTIVE
    [event] = rechecks_on_stream(redis_client, mailroom.keys, "B0HOOKME01")
    assert (event.event_id.startswith(f"recheck:{sub.id}:"), event.price) == (True, 1999)
    assert event.subscription_id == sub.id
    assert await mailroom.pending() == 0


@pytest.mark.parametrize(
    ("answer", "outcome"),
    [
        (Answer(200, b"ok"), "did not echo the challenge"),
        (Answer(404, b"chal-123"), "HTTP 404"),
        (Answer(503, b"chal-123"), None),
    ],
)
async def test_a_webhook_that_does_not_echo_is_not_confirmed(
    mailroom: Mailroom, answer: Answer, outcome: str | None
) -> None:
    with recording_server() as (receiver, port):
        user, target, sub = await _webhook_target(mailroom, port)
        receiver.default = answer
        mailer = await mailroom.make_mailer()
        await mailroom.queue(challenge_for(user, target, "chal-123"))
        await mailer.step()
        assert len(receiver.seen) == 1
    still = await sql.get_target(mailroom.db, target.id)
    assert still is not None and not still.confirmed
    waiting = await sql.get_subscription(mailroom.db, sub.id, user.id)
    assert waiting is not None and waiting.status == sql.SubscriptionStatus.UNCONFIRMED
    reasons = await mailroom.dead_letters()
    if outcome is None:  # a server error is worth another try later
        assert reasons == [] and await mailroom.pending() == 1
    else:
        assert len(reasons) == 1 and outcome in reasons[0]
        assert await mailroom.pending() == 0


async def test_a_webhook_at_a_forbidden_address_is_never_called(mailroom: Mailroom) -> None:
    user = await mailroom.user("sneaky@example.com")
    url = "http://10.0.0.7/admin"
    target, _ = await sql.add_target(mailroom.db, user.id, "WEBHOOK", url, confirmed=False, now=NOW)
    mailer = await mailroom.make_mailer()
    await mailroom.queue(challenge_for(user, target, "c"))
    await mailer.step()
    [reason] = await mailroom.dead_letters()
    assert "private address" in reason


async def test_without_smtp_the_email_lands_in_the_outbox(
    mailroom: Mailroom, redis_client: redis_lib.Redis, http: SafeHttpClient, tmp_path: Path
) -> None:
    user = await mailroom.user("offline@example.com")
    outbox = OutboxChannel(tmp_path / "outbox", SENDER)
    mailer = account_mailer(
        redis_client, mailroom.keys, mailroom.db, outbox, http, consumer="outbox-mailer"
    )
    await mailer.ensure_group()
    await mailroom.queue(verification(user, "m-outbox"))
    await mailer.step()
    [path] = (tmp_path / "outbox").iterdir()
    assert path.name == "account-m-outbox.eml"
    mail = parse_email(path.read_bytes())
    assert mail["To"] == "offline@example.com"

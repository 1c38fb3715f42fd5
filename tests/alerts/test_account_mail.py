"""The account-message sender of the alerts role over real Redis, a real database
(SQLite and PostgreSQL), a real SMTP server and a real HTTP receiver for webhooks."""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import redis as redis_lib
import redis.asyncio
from sqlalchemy.ext.asyncio import AsyncEngine

from alerts.account_mail import AccountMailer, MailerConfig
from alerts.channels.outbox import OutboxChannel
from alerts.channels.sms import LogSms
from alerts.channels.webhook import verify_signature
from pricewatch.account_messages import AccountMessage, MessageKind, verify_email_url
from pricewatch.egress import EgressPolicy, SafeHttpClient
from pricewatch.keys import ACCOUNT_MESSAGES_GROUP, Keys
from pricewatch.models import SeriesKey, encode
from pricewatch.storage import sql
from pricewatch.storage.clickhouse import PriceStore
from pricewatch.storage.streams import FIELD
from tests.alerts.conftest import PUBLIC_URL, SECRET, SENDER, MailRecorder, smtp_channel
from tests.api.conftest import seed_product
from tests.http_targets import Answer, recording_server
from tests.stand_in_dns import StandInDns
from tests.streams import rechecks_on_stream

pytestmark = [pytest.mark.clickhouse, pytest.mark.redis]

NOW = 1_700_000_000_000
HOOK_HOST = "hooks.test"
# how long an entry waits before another try (and twice the send timeout)
RETRY_MS = 2_000


@pytest.fixture
async def aredis(redis_url: str, redis_client: redis_lib.Redis) -> AsyncIterator[Any]:
    client = redis.asyncio.Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
async def http() -> AsyncIterator[SafeHttpClient]:
    # hooks.test stands for a receiver on this machine: its address is reachable (the
    # loopback range is allowed) but the name is not on the allow-list, so it is
    # challenged like any public host
    policy = EgressPolicy(("127.0.0.0/8",), resolver=StandInDns({HOOK_HOST: ["127.0.0.1"]}))
    client = SafeHttpClient(
        policy,
        connect_timeout_s=1,
        read_timeout_s=1,
        host_concurrency=4,
        breaker_failures=100,
        breaker_cooldown_s=1,
    )
    yield client
    await client.aclose()


MakeMailer = Callable[..., Awaitable[AccountMailer]]


@pytest.fixture
async def make_mailer(
    redis_client: redis_lib.Redis,
    keys: Keys,
    db: AsyncEngine,
    http: SafeHttpClient,
    smtp: tuple[MailRecorder, int],
    price_store: PriceStore,
) -> AsyncIterator[MakeMailer]:
    channels = []

    async def lookup(wanted: list[SeriesKey]) -> Any:
        return price_store.last_accepted(wanted)

    async def make(**config: Any) -> AccountMailer:
        values: dict[str, Any] = {
            "consumer": "test-mailer",
            "sender": SENDER,
            "webhook_secret": SECRET,
            "partitions": 2,
            "max_attempts": 3,
            "retry_ms": RETRY_MS,
            # generous: under a loaded machine an SMTP round trip can take a while, and
            # a timeout would turn a refusal (550) into a retry
            "send_timeout_s": RETRY_MS / 2000,
            "block_ms": 10,
        }
        values.update(config)
        email = smtp_channel(smtp[1])
        channels.append(email)
        mailer = AccountMailer(
            client=redis_client,
            keys=keys,
            db=db,
            email=email,
            sms=LogSms(),
            http=http,
            prices=lookup,
            config=MailerConfig(**values),
        )
        await mailer.ensure_group()
        return mailer

    yield make
    for channel in channels:
        await channel.aclose()


async def queue(aredis: Any, keys: Keys, message: AccountMessage | bytes) -> None:
    data = message if isinstance(message, bytes) else encode(message)
    await aredis.xadd(keys.account_messages, {FIELD: data})


async def pending(aredis: Any, keys: Keys) -> int:
    return int((await aredis.xpending(keys.account_messages, ACCOUNT_MESSAGES_GROUP))["pending"])


async def dead_letters(aredis: Any, keys: Keys) -> list[str]:
    return [fields[b"reason"].decode() for _, fields in await aredis.xrange(keys.dead_letter)]


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


async def test_a_verification_email_is_sent_once_with_its_link(
    db: AsyncEngine,
    make_mailer: MakeMailer,
    aredis: Any,
    keys: Keys,
    smtp: tuple[MailRecorder, int],
) -> None:
    recorder, _ = smtp
    user = await sql.create_user(db, "ann@example.com", "h")
    mailer = await make_mailer()
    await queue(aredis, keys, verification(user))
    assert await mailer.step() == 1
    [mail] = recorder.messages
    assert mail["To"] == "ann@example.com"
    assert mail["Subject"] == "Confirm your e-mail address for Pricewatch"
    text = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert f"{PUBLIC_URL}/verify-email?token=tok" in text
    assert await pending(aredis, keys) == 0
    assert await mailer.step() == 0
    assert len(recorder.messages) == 1


async def test_what_is_no_longer_needed_is_not_sent(
    db: AsyncEngine,
    make_mailer: MakeMailer,
    aredis: Any,
    keys: Keys,
    smtp: tuple[MailRecorder, int],
) -> None:
    recorder, _ = smtp
    verified = await sql.create_user(db, "done@example.com", "h")
    await sql.mark_email_verified(db, verified.id, NOW)
    other = await sql.create_user(db, "other@example.com", "h")
    target, _ = await sql.add_target(
        db, other.id, "EMAIL", "gone@example.com", confirmed=False, now=NOW
    )
    await sql.delete_target(db, target.id, other.id, NOW)
    mailer = await make_mailer()
    await queue(aredis, keys, verification(verified))
    await queue(
        aredis,
        keys,
        AccountMessage(
            message_id="m2",
            kind=MessageKind.CONFIRM_TARGET,
            channel="EMAIL",
            recipient="gone@example.com",
            user_id=other.id,
            target_id=target.id,
            link=f"{PUBLIC_URL}/confirm?token=x",
            created_at=NOW,
        ),
    )
    await mailer.step()
    assert recorder.messages == []
    assert await pending(aredis, keys) == 0


async def test_a_refused_message_is_retried_then_sent_and_bad_ones_are_dead_lettered(
    db: AsyncEngine,
    make_mailer: MakeMailer,
    aredis: Any,
    keys: Keys,
    smtp: tuple[MailRecorder, int],
) -> None:
    recorder, _ = smtp
    user = await sql.create_user(db, "retry@example.com", "h")
    mailer = await make_mailer()
    recorder.replies = ["451 4.3.0 try again later"]
    await queue(aredis, keys, verification(user))
    await mailer.step()
    assert recorder.messages == [] and await pending(aredis, keys) == 1
    # not again before it has waited retry_ms
    await mailer.step()
    assert recorder.attempts == 1
    await asyncio.sleep(RETRY_MS / 1000 + 0.05)
    await mailer.step()
    assert len(recorder.messages) == 1 and recorder.attempts == 2
    assert await pending(aredis, keys) == 0

    recorder.refused.add("nobody@example.com")
    nobody = await sql.create_user(db, "nobody@example.com", "h")
    await queue(aredis, keys, verification(nobody, "m3"))
    await queue(aredis, keys, b"{not json")
    await mailer.step()
    reasons = await dead_letters(aredis, keys)
    assert len(reasons) == 2
    assert any("550" in r for r in reasons) and any("not an AccountMessage" in r for r in reasons)
    assert await pending(aredis, keys) == 0


async def test_retries_are_bounded(
    db: AsyncEngine,
    make_mailer: MakeMailer,
    aredis: Any,
    keys: Keys,
    smtp: tuple[MailRecorder, int],
) -> None:
    recorder, _ = smtp
    user = await sql.create_user(db, "flaky@example.com", "h")
    mailer = await make_mailer(max_attempts=2)
    recorder.replies = ["451 busy"] * 5
    await queue(aredis, keys, verification(user))
    for _ in range(3):
        await mailer.step()
        await asyncio.sleep(RETRY_MS / 1000 + 0.05)
    await mailer.step()
    assert recorder.attempts == 2
    assert await dead_letters(aredis, keys) == ["gave up after 2 attempts"]
    assert await pending(aredis, keys) == 0


async def _webhook_target(
    db: AsyncEngine, port: int
) -> tuple[sql.User, sql.Target, sql.Subscription]:
    user = await sql.create_user(db, "hooks@example.com", "h")
    url = f"http://{HOOK_HOST}:{port}/in"
    target, _ = await sql.add_target(db, user.id, "WEBHOOK", url, confirmed=False, now=NOW)
    sub = await sql.create_subscription(
        db,
        user_id=user.id,
        market="us",
        asin="B0HOOKME01",
        notification_type="WEBHOOK",
        threshold=2500,
        target=url,
        status=sql.SubscriptionStatus.UNCONFIRMED.value,
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
    db: AsyncEngine,
    make_mailer: MakeMailer,
    aredis: Any,
    keys: Keys,
    price_store: PriceStore,
    redis_client: redis_lib.Redis,
) -> None:
    seed_product(price_store, asin="B0HOOKME01", prices=[(NOW, 1999)])
    with recording_server() as (receiver, port):
        user, target, sub = await _webhook_target(db, port)
        receiver.default = Answer(200, json.dumps({"challenge": "chal-123"}).encode())
        mailer = await make_mailer()
        await queue(aredis, keys, challenge_for(user, target, "chal-123"))
        await mailer.step()
        [seen] = receiver.seen
    assert json.loads(seen.body) == {"type": "verification", "challenge": "chal-123"}
    assert verify_signature(seen.body, seen.headers["X-Pricewatch-Signature"], SECRET)
    confirmed = await sql.get_target(db, target.id)
    assert confirmed is not None and confirmed.confirmed
    active = await sql.get_subscription(db, sub.id, user.id)
    assert active is not None and active.status == sql.SubscriptionStatus.ACTIVE
    [event] = rechecks_on_stream(redis_client, keys, "B0HOOKME01")
    assert (event.event_id.startswith(f"recheck:{sub.id}:"), event.price) == (True, 1999)
    assert event.subscription_id == sub.id
    assert await pending(aredis, keys) == 0


@pytest.mark.parametrize(
    ("answer", "outcome"),
    [
        (Answer(200, b"ok"), "did not echo the challenge"),
        (Answer(404, b"chal-123"), "HTTP 404"),
        (Answer(503, b"chal-123"), None),
    ],
)
async def test_a_webhook_that_does_not_echo_is_not_confirmed(
    db: AsyncEngine,
    make_mailer: MakeMailer,
    aredis: Any,
    keys: Keys,
    answer: Answer,
    outcome: str | None,
) -> None:
    with recording_server() as (receiver, port):
        user, target, sub = await _webhook_target(db, port)
        receiver.default = answer
        mailer = await make_mailer()
        await queue(aredis, keys, challenge_for(user, target, "chal-123"))
        await mailer.step()
        assert len(receiver.seen) == 1
    still = await sql.get_target(db, target.id)
    assert still is not None and not still.confirmed
    waiting = await sql.get_subscription(db, sub.id, user.id)
    assert waiting is not None and waiting.status == sql.SubscriptionStatus.UNCONFIRMED
    reasons = await dead_letters(aredis, keys)
    if outcome is None:  # a server error is worth another try later
        assert reasons == [] and await pending(aredis, keys) == 1
    else:
        assert len(reasons) == 1 and outcome in reasons[0]
        assert await pending(aredis, keys) == 0


async def test_a_webhook_at_a_forbidden_address_is_never_called(
    db: AsyncEngine, make_mailer: MakeMailer, aredis: Any, keys: Keys, http: SafeHttpClient
) -> None:
    user = await sql.create_user(db, "sneaky@example.com", "h")
    url = "http://10.0.0.7/admin"
    target, _ = await sql.add_target(db, user.id, "WEBHOOK", url, confirmed=False, now=NOW)
    mailer = await make_mailer()
    await queue(aredis, keys, challenge_for(user, target, "c"))
    await mailer.step()
    [reason] = await dead_letters(aredis, keys)
    assert "private address" in reason


async def test_without_smtp_the_email_lands_in_the_outbox(
    db: AsyncEngine,
    aredis: Any,
    redis_client: redis_lib.Redis,
    keys: Keys,
    http: SafeHttpClient,
    tmp_path: Path,
) -> None:
    user = await sql.create_user(db, "offline@example.com", "h")
    outbox = OutboxChannel(tmp_path / "outbox", SENDER)
    mailer = AccountMailer(
        client=redis_client,
        keys=keys,
        db=db,
        email=outbox,
        sms=LogSms(),
        http=http,
        config=MailerConfig(
            consumer="outbox-mailer",
            sender=SENDER,
            webhook_secret=SECRET,
            partitions=2,
            block_ms=10,
        ),
    )
    await mailer.ensure_group()
    await queue(aredis, keys, verification(user, "m-outbox"))
    await mailer.step()
    [path] = (tmp_path / "outbox").iterdir()
    assert path.name == "account-m-outbox.eml"
    mail = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert mail["To"] == "offline@example.com"

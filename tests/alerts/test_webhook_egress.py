"""Webhooks under the egress policy: forbidden targets receive nothing, what a
target answers is never kept, and a target that never answers delays nobody
else's messages. Real listeners on loopback, a real SMTP server, the real
alerts worker over real Redis and a real database."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from alerts.channels.base import Deferred, PermanentError
from alerts.channels.webhook import WebhookChannel, verify_signature
from pricewatch.storage import sql
from tests.alerts.conftest import (
    change,
    notice,
    notifications_are,
    publish,
    smtp_channel,
    statuses,
    subscribe,
)
from tests.egress import safe_client
from tests.http_targets import Answer, recording_server, tarpit
from tests.mail import MailRecorder
from tests.services import eventually

SECRET = "hook-secret"


@pytest.fixture
async def webhooks() -> AsyncIterator[Callable[..., WebhookChannel]]:
    made: list[WebhookChannel] = []

    def make(*args: object, **kwargs: object) -> WebhookChannel:
        made.append(WebhookChannel(SECRET, client=safe_client(*args, **kwargs)))  # type: ignore[arg-type]
        return made[-1]

    yield make
    for channel in made:
        await channel.aclose()


FORBIDDEN_HOSTS = [
    "127.0.0.1",
    "localhost",
    "LocalHost.",
    "api.localhost",
    "[::1]",
    "2130706433",
    "0x7f000001",
    "0177.0.0.1",
    "127.1",
    "017700000001",
    "[::ffff:127.0.0.1]",
    "[::ffff:7f00:1]",
    "[::127.0.0.1]",
    "[64:ff9b::7f00:1]",
    "[2002:7f00:1::]",
    "0.0.0.0",
    "[::]",
    "\uff11\uff12\uff17.\uff10.\uff10.\uff11",
    "user:pass@127.0.0.1",
    "internal.test",
]


async def test_forbidden_forms_of_a_local_address_receive_nothing(webhooks) -> None:
    channel = webhooks(table={"internal.test": ["127.0.0.1"]})
    with recording_server() as (recorder, port):
        for host in FORBIDDEN_HOSTS:
            url = f"http://{host}:{port}/hook?query=1"
            with pytest.raises(PermanentError, match="^target refused: "):
                await channel.send(notice(url, sql.NotificationType.WEBHOOK))
        assert recorder.seen == []


async def test_an_allowed_address_receives_the_signed_post(webhooks) -> None:
    channel = webhooks(allow=("127.0.0.2",), table={"hooks.lan": ["127.0.0.2"]})
    with recording_server() as (recorder, port):
        await channel.send(notice(f"http://127.0.0.2:{port}/h", sql.NotificationType.WEBHOOK))
        await channel.send(notice(f"http://hooks.lan:{port}/h", sql.NotificationType.WEBHOOK))
        # the allow-list names 127.0.0.2, not its neighbours
        with pytest.raises(PermanentError, match="127.0.0.1 is a loopback address"):
            await channel.send(notice(f"http://127.0.0.1:{port}/h", sql.NotificationType.WEBHOOK))
        assert recorder.addresses() == ["127.0.0.2", "127.0.0.2"]
    for seen in recorder.seen:
        assert verify_signature(seen.body, seen.headers["X-Pricewatch-Signature"], SECRET)
    assert recorder.seen[1].headers["Host"] == f"hooks.lan:{port}"


async def test_a_redirect_fails_the_webhook_and_is_not_followed(webhooks) -> None:
    channel = webhooks(allow=("127.0.0.2",))
    with recording_server() as (inside, inside_port), recording_server() as (target, port):
        target.default = Answer(302, headers={"Location": f"http://127.0.0.1:{inside_port}/"})
        with pytest.raises(PermanentError, match="redirects are not followed"):
            await channel.send(notice(f"http://127.0.0.2:{port}/h", sql.NotificationType.WEBHOOK))
        assert inside.seen == []


async def test_a_busy_host_defers_the_message_without_trying(webhooks) -> None:
    channel = webhooks(allow=("127.0.0.2",), host_concurrency=1, read_timeout_s=30)
    async with tarpit() as (pit, port):
        url = f"http://127.0.0.2:{port}/h"
        waiting = asyncio.ensure_future(channel.send(notice(url, sql.NotificationType.WEBHOOK)))
        await eventually(lambda: pit.connections == 1)
        with pytest.raises(Deferred) as deferred:
            await channel.send(notice(url, sql.NotificationType.WEBHOOK))
        assert deferred.value.retry_after_s > 0
        assert pit.connections == 1
        waiting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await waiting


# --- through the worker -------------------------------------------------------------------------


@pytest.mark.redis
async def test_a_failing_targets_answer_is_never_stored_nor_logged(
    db: AsyncEngine, start_worker, redis_client, keys, caplog: pytest.LogCaptureFixture
) -> None:
    secret = b"root:x:0:0 SECRET-TOKEN-4f1c internal admin page"
    with recording_server() as (recorder, port):
        recorder.default = Answer(500, body=secret)
        await subscribe(
            db, "anna@example.com", 100_00, kind="WEBHOOK", target=f"http://127.0.0.2:{port}/h"
        )
        channel = WebhookChannel(SECRET, client=safe_client(allow=("127.0.0.2",)))
        with caplog.at_level(logging.DEBUG):
            await start_worker({sql.NotificationType.WEBHOOK: channel}, max_attempts=2)
            publish(redis_client, keys, change(90_00))
            await eventually(lambda: notifications_are(db, "failed"))
        assert len(recorder.seen) == 2
    async with db.connect() as conn:
        [error] = (await conn.exec_driver_sql("SELECT last_error FROM notifications")).all()
    assert error[0] == "TransientError: HTTP 500: Internal Server Error"
    assert "SECRET" not in caplog.text and "root:x" not in caplog.text


WEBHOOKS = 300


@pytest.mark.redis
@pytest.mark.parametrize("hosts", [1, WEBHOOKS], ids=["one-host", "a-host-each"])
async def test_a_tarpit_does_not_delay_another_users_email(
    db: AsyncEngine, smtp: tuple[MailRecorder, int], start_worker, redis_client, keys, hosts: int
) -> None:
    recorder, smtp_port = smtp
    senders = 8  # per notification type
    host_concurrency = 4
    async with tarpit() as (pit, port):
        names = [f"h{i % hosts}.tarpit.test" for i in range(WEBHOOKS)]
        for name in names:
            await subscribe(
                db,
                "mallory@example.com",
                100_00,
                kind="WEBHOOK",
                target=f"http://{name}:{port}/hook",
            )
        # the e-mail is claimed last: the highest threshold comes last in the page
        [email] = await subscribe(db, "anna@example.com", 200_00)
        webhook = WebhookChannel(
            SECRET,
            client=safe_client(
                allow=("127.0.0.2",),
                table=dict.fromkeys(names, ["127.0.0.2"]),
                host_concurrency=host_concurrency,
                read_timeout_s=60,
            ),
        )
        await start_worker(
            {
                sql.NotificationType.EMAIL: smtp_channel(smtp_port),
                sql.NotificationType.WEBHOOK: webhook,
            },
            concurrency=senders,
            send_timeout_s=20,
            lease_ms=60_000,
        )
        publish(redis_client, keys, change(90_00))

        await eventually(lambda: len(recorder.messages) == 1, timeout=15)
        held = pit.connections
        rows = await statuses(db)
        assert recorder.messages[0]["To"] == "anna@example.com"
        # Every sender slot the webhooks can take is stuck in the tarpit for 20 s, so
        # by the time the e-mail went out no more connections than that were made:
        # one host is capped at its share, many hosts at the webhook senders.
        assert held <= (host_concurrency if hosts == 1 else senders)
        webhook_rows = [r for r in rows if r[0] != email.id]
        assert len(webhook_rows) == WEBHOOKS
        assert all(r[2] == "pending" for r in webhook_rows)
        # and the webhooks were being tried meanwhile, not left aside
        await eventually(lambda: pit.connections > 0)
        pit.hang_up()  # let the worker's shutdown be quick

"""Fixtures for the alerts role: a real SMTP server (aiosmtpd) whose answers a
test can script, a migrated database on SQLite and on PostgreSQL, and a
running alerts worker over the session's real Redis."""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import redis as redis_lib
from aiosmtpd.controller import Controller
from sqlalchemy.ext.asyncio import AsyncEngine

from alerts.channels.base import Channel
from alerts.channels.email import SmtpChannel
from alerts.worker import AlertsWorker, WorkerConfig
from pricewatch.keys import Keys
from pricewatch.storage import sql
from tests import services
from tests.services import eventually, free_port

SECRET = "test-secret"
PUBLIC_URL = "https://pricewatch.test"
SENDER = "Pricewatch <alerts@pricewatch.test>"


class MailRecorder:
    """aiosmtpd handler: keeps every accepted message; ``replies`` scripts the
    answers to the next DATA commands (e.g. ["451 try later"]), ``refused``
    holds addresses whose RCPT is answered 550. With ``pipelining`` the EHLO
    reply offers PIPELINING (aiosmtpd reads commands line by line, so it
    serves pipelined clients as they are)."""

    def __init__(self, *, pipelining: bool = True) -> None:
        self.messages: list[EmailMessage] = []
        self.raw: list[bytes] = []
        self.replies: list[str] = []
        self.refused: set[str] = set()
        self.pipelining = pipelining
        self.attempts = 0
        self.lock = threading.Lock()

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        if self.pipelining:
            responses.insert(-1, "250-PIPELINING")
        return responses

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address in self.refused:
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.attempts += 1
            if self.replies:
                return self.replies.pop(0)
            message = email.message_from_bytes(envelope.content, policy=email.policy.default)
            assert isinstance(message, EmailMessage)
            self.messages.append(message)
            self.raw.append(envelope.original_content)
        return "250 OK"

    def keys(self) -> list[str]:
        with self.lock:
            return [str(m["X-Pricewatch-Key"]) for m in self.messages]


@contextlib.contextmanager
def smtp_server(recorder: MailRecorder, **params: Any) -> Iterator[int]:
    """aiosmtpd on a free port, with ``recorder`` as its handler; ``params``
    go to aiosmtpd's SMTP (TLS, timeouts)."""
    port = free_port()
    controller = Controller(recorder, hostname="127.0.0.1", port=port, **params)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


@pytest.fixture
def smtp() -> Iterator[tuple[MailRecorder, int]]:
    recorder = MailRecorder()
    with smtp_server(recorder) as port:
        yield recorder, port


# --- relational store on both backends ------------------------------------------------


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """A freshly migrated database of the test's own, SQLite or PostgreSQL."""
    if request.param == "sqlite":
        engine = sql.create_engine(f"sqlite+aiosqlite:///{tmp_path}/alerts.db")
        await sql.migrate_sql_async(engine)
        yield engine
        await engine.dispose()
        return
    server_url: str = request.getfixturevalue("postgres_url")
    async with services.postgres_database(server_url, prefix="pw_alerts") as url:
        engine = sql.create_engine(url)
        await sql.migrate_sql_async(engine)
        yield engine
        await engine.dispose()


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
        channel_map: dict[sql.NotificationType, Channel], **config: Any
    ) -> RunningWorker:
        channels.extend(channel_map.values())
        worker = AlertsWorker(
            client=redis_client,
            keys=keys,
            db=db,
            channels=channel_map,
            config=make_config(**config),
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

"""The SMTP channel against a real SMTP server (aiosmtpd), with and without
PIPELINING offered: what arrives, how refusals are classified, and what a
session does after a refusal, a timeout or a server that hung up."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from alerts.channels.base import PermanentError, TransientError
from alerts.channels.email import SmtpChannel
from alerts.channels.smtp_sessions import PipelinedSession, PlainSession, dot_stuffed
from alerts.notices import Links, Notice
from alerts.rendering import KEY_HEADER
from pricewatch.devtools.tls import self_signed_certificate
from pricewatch.storage.sql import NotificationKind, NotificationType, SubscriptionKind
from tests.alerts.conftest import smtp_channel
from tests.mail import MailRecorder, smtp_server
from tests.services import eventually, free_port

MODES = [pytest.param(True, id="pipelined"), pytest.param(False, id="plain")]


def notice(n: int, recipient: str | None = None) -> Notice:
    return Notice(
        notification_id=n,
        kind=NotificationKind.ALERT,
        notification_type=NotificationType.EMAIL,
        subscription_id=n,
        event_id="ev1",
        market="us",
        asin="B000000001",
        currency="USD",
        series="buybox",
        alert_kind=SubscriptionKind.PRICE,
        threshold=100_00,
        recipient=recipient or f"user{n}@example.com",
        links=Links(
            product_page="https://p.test/p/us/B000000001",
            amazon="https://www.amazon.com/dp/B000000001",
            stop=f"https://p.test/stop/{n}",
        ),
        title="Espresso Machine",
        new_price=89_99,
        old_price=120_00,
    )


class SlowRecipients(MailRecorder):
    """Answers every RCPT after ``delay_s``."""

    def __init__(self, delay_s: float) -> None:
        super().__init__()
        self.delay_s = delay_s

    async def handle_RCPT(self, *args: Any) -> str:
        await asyncio.sleep(self.delay_s)
        return await super().handle_RCPT(*args)


def session_types(smtp: SmtpChannel) -> set[type]:
    return {type(s) for s in smtp._sessions}


@pytest.mark.parametrize("pipelining", MODES)
async def test_concurrent_messages_all_arrive_once_over_few_sessions(pipelining: bool) -> None:
    recorder = MailRecorder(pipelining=pipelining)
    with smtp_server(recorder) as port:
        smtp = smtp_channel(port)
        try:
            await asyncio.gather(*(smtp.send(notice(n)) for n in range(1, 61)))
            expected = PipelinedSession if pipelining else PlainSession
            assert session_types(smtp) == {expected}
            assert len(smtp._sessions) == 2
        finally:
            await smtp.aclose()
    keys = sorted(recorder.keys())
    assert keys == sorted(f"{n}:ev1:alert" for n in range(1, 61))
    by_key = {str(m[KEY_HEADER]): m for m in recorder.messages}
    assert by_key["7:ev1:alert"]["To"] == "user7@example.com"
    body = by_key["7:ev1:alert"].get_body(("plain",))
    assert body is not None and "$89.99" in body.get_content()


@pytest.mark.parametrize("pipelining", MODES)
async def test_lines_starting_with_a_dot_arrive_intact(pipelining: bool) -> None:
    recorder = MailRecorder(pipelining=pipelining)
    content = b"Subject: dots\r\n\r\n.hidden\r\n..two\r\nplain\r\n.\r\nend\r\n"
    with smtp_server(recorder) as port:
        smtp = smtp_channel(port)
        try:
            session = await smtp._session()
            await session.send("a@pricewatch.test", "b@example.com", content)
        finally:
            await smtp.aclose()
    assert recorder.raw == [content]


def test_dot_stuffing_follows_rfc_5321() -> None:
    assert dot_stuffed(b".a\r\nb\r\n.\r\n") == b"..a\r\nb\r\n..\r\n.\r\n"
    assert dot_stuffed(b"a\r\n") == b"a\r\n.\r\n"


@pytest.mark.parametrize("pipelining", MODES)
async def test_a_refused_recipient_is_permanent_and_the_next_message_goes(pipelining: bool) -> None:
    recorder = MailRecorder(pipelining=pipelining)
    recorder.refused.add("nobody@example.com")
    with smtp_server(recorder) as port:
        smtp = smtp_channel(port, connections=1)
        try:
            with pytest.raises(PermanentError, match="550"):
                await smtp.send(notice(1, "nobody@example.com"))
            await smtp.send(notice(2))
        finally:
            await smtp.aclose()
    assert recorder.keys() == ["2:ev1:alert"]


@pytest.mark.parametrize("pipelining", MODES)
async def test_a_4xx_to_the_content_is_transient_and_the_next_message_goes(
    pipelining: bool,
) -> None:
    recorder = MailRecorder(pipelining=pipelining)
    recorder.replies = ["451 4.3.0 try again later"]
    with smtp_server(recorder) as port:
        smtp = smtp_channel(port, connections=1)
        try:
            results = await asyncio.gather(
                smtp.send(notice(1)), smtp.send(notice(2)), return_exceptions=True
            )
        finally:
            await smtp.aclose()
    assert isinstance(results[0], TransientError) and "451" in str(results[0])
    assert results[1] is None
    assert recorder.keys() == ["2:ev1:alert"]


@pytest.mark.parametrize("pipelining", MODES)
async def test_sessions_the_server_closed_while_idle_are_replaced(pipelining: bool) -> None:
    recorder = MailRecorder(pipelining=pipelining)
    # aiosmtpd hangs up on a client silent for longer than ``timeout``
    with smtp_server(recorder, timeout=0.3) as port:
        smtp = smtp_channel(port)
        try:
            await smtp.send(notice(1))
            first = list(smtp._sessions)
            await eventually(lambda: not any(s.usable for s in first), timeout=5)
            await smtp.send(notice(2))
            assert not set(smtp._sessions) & set(first)
        finally:
            await smtp.aclose()
    assert recorder.keys() == ["1:ev1:alert", "2:ev1:alert"]


async def test_a_send_cut_short_mid_envelope_closes_its_session() -> None:
    """A timeout after MAIL went out leaves the server mid-transaction: the
    session is closed rather than reused, and the next message goes out on a
    new one."""

    recorder = SlowRecipients(delay_s=1.0)
    with smtp_server(recorder) as port:
        smtp = smtp_channel(port, connections=1)
        try:
            await smtp.send(notice(1))
            (session,) = smtp._sessions
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.3):
                    await smtp.send(notice(2))
            assert not session.usable
            await smtp.send(notice(3))
        finally:
            await smtp.aclose()
    assert recorder.keys() == ["1:ev1:alert", "3:ev1:alert"]


async def test_a_message_given_up_while_it_waited_for_its_turn_is_never_sent() -> None:
    recorder = SlowRecipients(delay_s=0.5)
    with smtp_server(recorder) as port:
        smtp = smtp_channel(port, connections=1)
        try:
            first = asyncio.create_task(smtp.send(notice(1)))
            await asyncio.sleep(0.05)  # the first message is in its envelope
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.2):
                    await smtp.send(notice(2))  # queued behind it on the one session
            await first
            await smtp.send(notice(3))
            assert len(smtp._sessions) == 1  # the session lived on
        finally:
            await smtp.aclose()
    assert recorder.keys() == ["1:ev1:alert", "3:ev1:alert"]


async def test_pipelining_over_starttls_with_a_private_ca(tmp_path: Path) -> None:
    bundle = self_signed_certificate(["127.0.0.1"])
    ca_file, _ = bundle.write(tmp_path)
    recorder = MailRecorder()
    with smtp_server(recorder, tls_context=bundle.server_context(), require_starttls=True) as port:
        smtp = smtp_channel(port, tls="starttls", ca_file=str(ca_file))
        try:
            await asyncio.gather(*(smtp.send(notice(n)) for n in range(1, 11)))
            assert session_types(smtp) == {PipelinedSession}
        finally:
            await smtp.aclose()
        untrusted = smtp_channel(port, tls="starttls")
        try:
            with pytest.raises(TransientError, match="cannot reach"):
                await untrusted.send(notice(99))
        finally:
            await untrusted.aclose()
    assert sorted(recorder.keys()) == sorted(f"{n}:ev1:alert" for n in range(1, 11))


async def test_an_unreachable_server_is_transient() -> None:
    smtp = smtp_channel(free_port())
    with pytest.raises(TransientError, match="cannot reach"):
        await smtp.send(notice(1))


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        pytest.param(b"this is not an SMTP reply\r\n", "not an SMTP reply", id="garbage"),
        pytest.param(b"250-more\r\n" * 500, "too long", id="endless"),
    ],
)
async def test_a_server_that_answers_nonsense_loses_the_message_transiently(
    reply: bytes, error: str
) -> None:
    """Replies that are not SMTP end the session. Nothing of the message was
    accepted, so it gets one more try on a new session, then is left to the
    worker's retries; the next message starts on a new session too."""
    sessions = 0

    async def talk(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal sessions
        sessions += 1
        writer.write(b"220 odd ESMTP\r\n")
        line = await reader.readline()  # EHLO
        assert line.upper().startswith(b"EHLO")
        writer.write(b"250-odd\r\n250 PIPELINING\r\n")
        await reader.readline()  # MAIL FROM
        writer.write(reply)
        await writer.drain()
        await reader.read()  # until the client hangs up
        writer.close()

    server = await asyncio.start_server(talk, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    smtp = smtp_channel(port, connections=1)
    try:
        for n in (1, 2):
            with pytest.raises(TransientError, match=error):
                await smtp.send(notice(n))
    finally:
        await smtp.aclose()
        server.close()
        await server.wait_closed()
    assert sessions == 4

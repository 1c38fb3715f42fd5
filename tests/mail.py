"""E-mail as the tests see it: a real SMTP server (aiosmtpd) that keeps what it
accepts and answers as a test scripts it, and the messages read back as a person
reads them (their text, their links)."""

from __future__ import annotations

import contextlib
import email
import email.policy
import html
import re
import threading
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

from tests.services import free_port


def parse_email(data: bytes) -> EmailMessage:
    """The message in ``data`` (RFC 5322 bytes), parsed with the modern policy."""
    message = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def plain_text(message: EmailMessage) -> str:
    """The text/plain body of ``message``."""
    body = message.get_body(("plain",))
    assert body is not None, "no text/plain part"
    return str(body.get_content())


def link_in(message: EmailMessage) -> str:
    """The one link of an account message: the only line of its text that is a URL."""
    [link] = [line for line in plain_text(message).splitlines() if line.startswith("http")]
    return link


def links_in(message: EmailMessage) -> list[str]:
    """Every distinct http(s) link in the text parts of ``message``, in order."""
    found: list[str] = []
    for part in message.walk():
        if part.get_content_maintype() != "text":
            continue
        for link in re.findall(r"https?://[^\s\"'<>]+", part.get_content()):
            link = html.unescape(link)
            if link not in found:
                found.append(link)
    return found


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
            self.messages.append(parse_email(envelope.content))
            self.raw.append(envelope.original_content)
        return "250 OK"

    def keys(self) -> list[str]:
        with self.lock:
            return [str(m["X-Pricewatch-Key"]) for m in self.messages]

    def to(self, address: str) -> list[EmailMessage]:
        """The messages so far whose To names ``address``."""
        with self.lock:
            return [m for m in self.messages if address in str(m["To"])]


@contextlib.contextmanager
def smtp_server(recorder: Any, **params: Any) -> Iterator[int]:
    """aiosmtpd on a free port, with ``recorder`` as its handler; ``params``
    go to aiosmtpd's SMTP (TLS, timeouts)."""
    port = free_port()
    controller = Controller(recorder, hostname="127.0.0.1", port=port, **params)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()

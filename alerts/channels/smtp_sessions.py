"""SMTP sessions: one open connection each, carrying one message at a time.

aiosmtplib opens every session (connect, TLS or STARTTLS, EHLO, AUTH). What
carries the messages afterwards depends on the server:

- It offers PIPELINING (RFC 2920; Postfix, Exim and the large providers do):
  the connection is handed to :class:`PipelinedSession`. It writes MAIL, RCPT
  and DATA at once and the content in a second write, and lets the next
  message's commands follow the content before the server has replied to it.
  That is two writes and about one read per message instead of aiosmtplib's
  four of each; with 100,000 subscribers to one product, socket calls and
  per-command parsing were most of the alerts worker's time.
- It does not: :class:`PlainSession` runs aiosmtplib's ``sendmail``, one
  command per round trip.

Both raise :class:`SmtpReply` for a refusal and :class:`SessionLost` when the
connection ends under a message. Callers bound each send with a timeout; a
send cancelled halfway through closes its session, whose state on the server
is then unknown.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from typing import Protocol

import aiosmtplib

# RFC 5321 4.5.3.1.5: a reply line is at most 512 octets; this leaves room
MAX_REPLY_LINE = 8192
# lines of one multi-line reply (an EHLO reply has a dozen)
MAX_REPLY_LINES = 100


class SmtpReply(Exception):
    """The server refused the message with this reply."""

    def __init__(self, code: int, text: str) -> None:
        super().__init__(f"SMTP {code}: {text[:300]}")
        self.code = code
        self.text = text


class SessionLost(Exception):
    """The connection ended while a message was on it. ``replied`` tells
    whether the server had answered any of that message's commands: if not,
    nothing of it was accepted and it can go at once on another session."""

    def __init__(self, detail: str, *, replied: bool) -> None:
        super().__init__(detail)
        self.replied = replied


class Session(Protocol):
    # messages sent or waiting for their turn on this session
    load: int

    @property
    def usable(self) -> bool: ...

    async def send(self, sender: str, to: str, content: bytes) -> None: ...

    async def close(self) -> None: ...


def dot_stuffed(content: bytes) -> bytes:
    """The content as DATA carries it (RFC 5321 4.5.2), terminator included.
    ``content`` has CRLF line endings and ends with one."""
    if b"\n." in content:
        content = content.replace(b"\r\n.", b"\r\n..")
    if content.startswith(b"."):
        content = b"." + content
    return content + b".\r\n"


class PipelinedSession(asyncio.Protocol):
    """The transaction phase of a session whose server offers PIPELINING.

    Replies are matched to commands in order: every write of a command appends
    a future to ``_waiting``, every complete reply resolves the oldest one.
    """

    def __init__(self, client: aiosmtplib.SMTP) -> None:
        transport = client.transport
        if transport is None or transport.is_closing():
            raise SessionLost("the SMTP connection is closed", replied=False)
        self.load = 0
        self._loop = asyncio.get_running_loop()
        # a duck-typed transport: uvloop's are not asyncio.Transport subclasses
        self._transport: asyncio.Transport = transport  # type: ignore[assignment]
        self._with_size = client.supports_extension("size")
        self._waiting: collections.deque[asyncio.Future[tuple[int, str]]] = collections.deque()
        self._buffer = bytearray()
        self._lines: list[bytes] = []
        self._turn = asyncio.Lock()
        self._lost: str | None = None
        # From here on this object receives the connection's data and events.
        transport.set_protocol(self)

    # -- asyncio.Protocol -----------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        start = 0
        while self._lost is None and (end := buffer.find(b"\n", start)) >= 0:
            line = bytes(buffer[start:end]).rstrip(b"\r")
            start = end + 1
            self._lines.append(line)
            if line[3:4] != b"-":
                lines, self._lines = self._lines, []
                self._reply(lines)
        del buffer[:start]
        if len(buffer) > MAX_REPLY_LINE or len(self._lines) > MAX_REPLY_LINES:
            self._abort("the server sent a reply too long to be SMTP")

    def eof_received(self) -> bool:
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = self._lost or f"the SMTP server closed the connection ({exc or 'EOF'})"
        waiting, self._waiting = self._waiting, collections.deque()
        for future in waiting:
            if not future.done():
                future.set_exception(ConnectionError(self._lost))
                future.exception()  # nobody may await it (a cancelled send)

    def _reply(self, lines: list[bytes]) -> None:
        try:
            code = int(lines[0][:3])
        except ValueError:
            self._abort(f"not an SMTP reply: {lines[0][:80]!r}")
            return
        if not self._waiting:
            self._abort(f"an SMTP reply nothing asked for: {lines[0][:80]!r}")
            return
        future = self._waiting.popleft()
        if not future.done():
            text = "\n".join(line[4:].decode("utf-8", "replace") for line in lines)
            future.set_result((code, text))

    def _abort(self, reason: str) -> None:
        self._lost = reason
        self._transport.abort()

    # -- Session -----------------------------------------------------------------------
    @property
    def usable(self) -> bool:
        return self._lost is None and not self._transport.is_closing()

    def _write(self, data: bytes, replies: int) -> list[asyncio.Future[tuple[int, str]]]:
        if not self.usable:
            raise ConnectionError(self._lost or "the SMTP connection is closing")
        futures = [self._loop.create_future() for _ in range(replies)]
        self._waiting.extend(futures)
        self._transport.write(data)
        return futures

    async def send(self, sender: str, to: str, content: bytes) -> None:
        payload = dot_stuffed(content)
        size = b" SIZE=%d" % len(payload) if self._with_size else b""
        envelope = b"MAIL FROM:<%s>%s\r\nRCPT TO:<%s>\r\nDATA\r\n" % (
            sender.encode(), size, to.encode()
        )
        self.load += 1
        try:
            accepted, envelope_replies = await self._transmit(envelope, payload)
            # Waited for outside the turn: the next message's commands go out
            # right behind this content, before the server's verdict on it.
            try:
                code, text = await accepted
            except ConnectionError as exc:
                raise SessionLost(str(exc), replied=True) from exc
        finally:
            self.load -= 1
        if code != 250:
            raise SmtpReply(code, text)
        mail, rcpt, _ = envelope_replies
        if mail[0] != 250 or rcpt[0] not in (250, 251):
            # A server that refused the envelope yet took DATA got a message
            # addressed to nobody; the refusal is what counts.
            raise _first_refusal(*envelope_replies)

    async def _transmit(
        self, envelope: bytes, payload: bytes
    ) -> tuple[asyncio.Future[tuple[int, str]], list[tuple[int, str]]]:
        """Envelope, then content once DATA is accepted; returns the future of
        the server's verdict on the content and the envelope's replies."""
        replied = False
        async with self._turn:
            try:
                futures = self._write(envelope, 3)
                replies = [await futures[0]]
                replied = True
                replies += [await futures[1], await futures[2]]
                if replies[2][0] == 354:
                    (accepted,) = self._write(payload, 1)
                    return accepted, replies
                # Refused before the content (by MAIL, RCPT or DATA): nothing
                # of the message was sent; the envelope is reset.
                (reset,) = self._write(b"RSET\r\n", 1)
                await reset
            except ConnectionError as exc:
                raise SessionLost(str(exc), replied=replied) from exc
            except BaseException:
                # cancelled (timed out) mid-envelope: the server's state is unknown
                self._abort("a message was interrupted halfway")
                raise
        raise _first_refusal(*replies)

    async def close(self) -> None:
        if self.usable:
            with contextlib.suppress(ConnectionError):
                (bye,) = self._write(b"QUIT\r\n", 1)
                with contextlib.suppress(TimeoutError, ConnectionError):
                    await asyncio.wait_for(bye, timeout=2)
        self._transport.close()


def _first_refusal(*replies: tuple[int, str]) -> SmtpReply:
    for code, text in replies:
        if code >= 400:
            return SmtpReply(code, text)
    code, text = replies[-1]
    return SmtpReply(code, text)


class PlainSession:
    """A session whose server does not pipeline: aiosmtplib, one command per
    round trip."""

    def __init__(self, client: aiosmtplib.SMTP) -> None:
        self.load = 0
        self._client = client
        self._turn = asyncio.Lock()
        self._broken = False

    @property
    def usable(self) -> bool:
        return not self._broken and self._client.is_connected

    async def send(self, sender: str, to: str, content: bytes) -> None:
        self.load += 1
        try:
            async with self._turn:
                await self._client.sendmail(sender, [to], content)
        # A refusal leaves the session usable: sendmail has sent RSET.
        except aiosmtplib.SMTPRecipientsRefused as exc:
            first = exc.recipients[0]
            raise SmtpReply(first.code, first.message) from exc
        except aiosmtplib.SMTPResponseException as exc:
            raise SmtpReply(exc.code, exc.message) from exc
        except aiosmtplib.SMTPServerDisconnected as exc:
            self._break()
            # aiosmtplib does not say how far the transaction got
            raise SessionLost(f"the SMTP server hung up: {exc}", replied=False) from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            self._break()
            raise SessionLost(f"SMTP delivery interrupted: {exc!r}", replied=True) from exc
        except BaseException:
            self._break()
            raise
        finally:
            self.load -= 1

    def _break(self) -> None:
        # after a broken transaction the connection's state is not worth trusting
        self._broken = True
        self._client.close()

    async def close(self) -> None:
        if self.usable:
            try:
                await asyncio.wait_for(self._client.quit(), timeout=2)
            except (aiosmtplib.SMTPException, OSError, TimeoutError):
                self._client.close()
        else:
            self._client.close()

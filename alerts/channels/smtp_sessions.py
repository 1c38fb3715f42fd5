"""SMTP sessions: one open connection each, carrying messages in order.

aiosmtplib opens every session (connect, TLS or STARTTLS, EHLO, AUTH). What
carries the messages afterwards depends on the server:

- It offers PIPELINING (RFC 2920; Postfix, Exim and the large providers do):
  the connection is handed to :class:`PipelinedSession`, which writes each
  message's content together with the next message's MAIL, RCPT and DATA.
  That is one write and about one read per message instead of aiosmtplib's
  four of each; with 100,000 subscribers to one product, socket calls and
  per-command parsing were most of the alerts worker's time (bench/alerts.py:
  2,000 e-mails/s with aiosmtplib, 5,100 pipelined). aiosmtplib's own
  protocol cannot pipeline: it drops replies no command is waiting for yet.
- It does not: :class:`PlainSession` runs aiosmtplib's ``sendmail``, one
  command per round trip.

Both raise :class:`SmtpReply` for a refusal and :class:`SessionLost` when the
connection ends under a message. Callers bound each send with a timeout; a
send cancelled in the middle of its envelope closes its session, whose state
on the server is then unknown.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
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


# What an expected reply answers
MAIL, RCPT, DATA, CONTENT, RSET, QUIT = range(6)


@dataclasses.dataclass(eq=False, slots=True)
class _Message:
    envelope: bytes
    payload: bytes
    done: asyncio.Future[None]
    # the replies to MAIL, RCPT and DATA, as they come
    replies: list[tuple[int, str]] = dataclasses.field(default_factory=list)


class PipelinedSession(asyncio.Protocol):
    """The transaction phase of a session whose server offers PIPELINING.

    A small state machine driven by the server's replies, matched in order to
    what was sent (``_expected``). One message at a time is in its envelope
    (MAIL, RCPT and DATA written, the 354 awaited). When the 354 comes, its
    content goes out in the same write as the next queued message's envelope,
    so a message costs one write, and the replies to one message's content and
    to the next one's envelope mostly arrive in one read.
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
        self._queued: collections.deque[_Message] = collections.deque()
        self._in_envelope: _Message | None = None
        self._expected: collections.deque[tuple[int, _Message | None]] = collections.deque()
        self._bye: asyncio.Future[None] | None = None
        self._buffer = bytearray()
        self._lines: list[bytes] = []
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
        messages = {m for _, m in self._expected if m is not None} | set(self._queued)
        self._expected.clear()
        self._queued.clear()
        self._in_envelope = None
        for message in messages:
            # A message no reply has touched was not accepted, in part or whole.
            _settle(message.done, SessionLost(self._lost, replied=bool(message.replies)))
        if self._bye is not None and not self._bye.done():
            self._bye.set_result(None)

    # -- the state machine -------------------------------------------------------------
    def _reply(self, lines: list[bytes]) -> None:
        try:
            code = int(lines[0][:3])
        except ValueError:
            self._abort(f"not an SMTP reply: {lines[0][:80]!r}")
            return
        if not self._expected:
            self._abort(f"an SMTP reply nothing asked for: {lines[0][:80]!r}")
            return
        stage, message = self._expected.popleft()
        text = "\n".join(line[4:].decode("utf-8", "replace") for line in lines)
        if message is None:
            if stage == QUIT and self._bye is not None and not self._bye.done():
                self._bye.set_result(None)
            return  # RSET needs nothing more
        if stage in (MAIL, RCPT):
            message.replies.append((code, text))
        elif stage == DATA:
            message.replies.append((code, text))
            if code != 354:
                # Refused before the content (by MAIL, RCPT or DATA): nothing
                # of it was sent; the envelope is reset.
                _settle(message.done, _first_refusal(*message.replies))
                self._expected.append((RSET, None))
                self._next_envelope(after=b"RSET\r\n")
            elif message.done.done():
                # its sender gave up: the server now waits for content it won't get
                self._abort("a message was given up halfway")
            else:
                self._expected.append((CONTENT, message))
                self._next_envelope(after=message.payload)
        elif stage == CONTENT:
            mail, rcpt, _ = message.replies
            if code != 250:
                _settle(message.done, SmtpReply(code, text))
            elif mail[0] != 250 or rcpt[0] not in (250, 251):
                # A server that refused the envelope yet took DATA got a message
                # addressed to nobody; the refusal is what counts.
                _settle(message.done, _first_refusal(mail, rcpt))
            else:
                _settle(message.done, None)

    def _next_envelope(self, after: bytes = b"") -> None:
        """Write ``after`` and the envelope of the next queued message, if any,
        in one write."""
        message = None
        while self._queued:
            candidate = self._queued.popleft()
            if not candidate.done.done():  # else its sender gave up while it waited
                message = candidate
                break
        self._in_envelope = message
        if message is not None:
            self._expected.extend(((MAIL, message), (RCPT, message), (DATA, message)))
            after += message.envelope
        if after:
            self._transport.write(after)

    def _abort(self, reason: str) -> None:
        self._lost = reason
        self._transport.abort()

    # -- Session -----------------------------------------------------------------------
    @property
    def usable(self) -> bool:
        return self._lost is None and not self._transport.is_closing()

    async def send(self, sender: str, to: str, content: bytes) -> None:
        if not self.usable:
            raise SessionLost(self._lost or "the SMTP connection is closing", replied=False)
        payload = dot_stuffed(content)
        size = b" SIZE=%d" % len(payload) if self._with_size else b""
        message = _Message(
            envelope=b"MAIL FROM:<%s>%s\r\nRCPT TO:<%s>\r\nDATA\r\n"
            % (sender.encode(), size, to.encode()),
            payload=payload,
            done=self._loop.create_future(),
        )
        self._queued.append(message)
        if self._in_envelope is None:
            self._next_envelope()
        self.load += 1
        try:
            await message.done
        except asyncio.CancelledError:
            if message is self._in_envelope:
                # cut short mid-envelope (a timeout): the server's state is unknown
                self._abort("a message was interrupted halfway")
            raise
        finally:
            self.load -= 1

    async def close(self) -> None:
        if self.usable:
            self._bye = self._loop.create_future()
            self._expected.append((QUIT, None))
            self._transport.write(b"QUIT\r\n")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._bye, timeout=2)
        self._transport.close()


def _settle(done: asyncio.Future[None], error: BaseException | None) -> None:
    if done.done():
        return
    if error is None:
        done.set_result(None)
    else:
        done.set_exception(error)
        done.exception()  # its sender may have given up: nobody else reads it


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

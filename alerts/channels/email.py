"""E-mail over SMTP, through a small pool of open sessions.

Throughput comes from sessions kept open between messages (a product with
100,000 subscribers would otherwise pay a TCP + TLS + EHLO + AUTH handshake
per mail) and, where the server offers it, from pipelining the commands of
each message (see :mod:`alerts.channels.smtp_sessions`). A message goes to
the least busy session; another one is opened while every session is busy
and the pool is not full.

Failures: a reply code of 5xx to the message is permanent (the address does
not exist, the content is refused), 4xx is transient (greylisting, a full
mailbox). Not reaching or authenticating to our own server is transient for
every message: it is a server or configuration problem, not the recipient's.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging

import aiosmtplib

from alerts.channels.base import Channel, DeliveryError, PermanentError, TransientError
from alerts.channels.smtp_sessions import (
    PipelinedSession,
    PlainSession,
    Session,
    SessionLost,
    SmtpReply,
)
from alerts.notices import Notice
from alerts.rendering import BadAddress, address_of, email_bytes

log = logging.getLogger(__name__)

TLS_MODES = ("starttls", "tls", "none")


def _from_reply(reply: SmtpReply) -> DeliveryError:
    error_type = PermanentError if 500 <= reply.code < 600 else TransientError
    return error_type(str(reply))


@dataclasses.dataclass(kw_only=True, eq=False)
class SmtpChannel(Channel):
    host: str
    port: int
    # the From of every message; its address is the envelope sender
    sender: str
    tls: str = "starttls"
    user: str | None = None
    password: str | None = dataclasses.field(default=None, repr=False)
    ca_file: str | None = None
    # sessions at most in the pool
    connections: int = 8
    timeout: float = 15.0
    # use RFC 2920 pipelining where the server offers it
    pipelining: bool = True
    envelope_from: str = dataclasses.field(init=False)
    _sessions: list[Session] = dataclasses.field(init=False, default_factory=list)
    # sessions being opened right now; each holds a place in the pool
    _opening: int = dataclasses.field(init=False, default=0)
    _opened: asyncio.Condition = dataclasses.field(init=False, default_factory=asyncio.Condition)

    def __post_init__(self) -> None:
        if self.tls not in TLS_MODES:
            raise ValueError(f"tls must be one of {TLS_MODES}, got {self.tls!r}")
        if self.connections < 1:
            raise ValueError(f"connections must be at least 1, got {self.connections}")
        self.envelope_from = address_of(self.sender)

    async def _open(self) -> Session:
        client = aiosmtplib.SMTP(
            hostname=self.host,
            port=self.port,
            use_tls=self.tls == "tls",
            start_tls=self.tls == "starttls",
            username=self.user,
            password=self.password,
            cert_bundle=self.ca_file,
            timeout=self.timeout,
        )
        try:
            await client.connect()
            if client.is_ehlo_or_helo_needed:
                # after STARTTLS without AUTH the extensions are not known yet
                await client.ehlo()
        except aiosmtplib.SMTPResponseException as exc:
            client.close()
            raise TransientError(f"SMTP server refused us: {exc.code} {exc.message}") from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            client.close()
            raise TransientError(f"cannot reach SMTP {self.host}:{self.port}: {exc}") from exc
        if self.pipelining and client.supports_extension("pipelining"):
            try:
                return PipelinedSession(client)
            except SessionLost as exc:
                raise TransientError(str(exc)) from exc
        return PlainSession(client)

    async def _session(self) -> Session:
        """The least busy open session, or a new one when all are busy and
        the pool has room."""
        while True:
            self._sessions = [s for s in self._sessions if s.usable]
            best = min(self._sessions, key=lambda s: s.load, default=None)
            room = len(self._sessions) + self._opening < self.connections
            if room and (best is None or best.load > 0):
                return await self._new_session()
            if best is not None:
                return best
            # every slot is a session being opened right now
            async with self._opened:
                await self._opened.wait()

    async def _new_session(self) -> Session:
        self._opening += 1
        try:
            session = await self._open()
            self._sessions.append(session)
            return session
        finally:
            self._opening -= 1
            async with self._opened:
                self._opened.notify_all()

    async def send(self, notice: Notice) -> None:
        try:
            to = address_of(notice.recipient)
            data = email_bytes(notice, self.sender, to=to)
        except BadAddress as exc:
            raise PermanentError(str(exc)) from exc
        await self.send_email(to, data)

    async def send_email(self, to: str, data: bytes, name: str = "") -> None:
        """Send a rendered message (CRLF lines) to the bare address ``to``; ``name``
        is for channels that file messages (the outbox)."""
        session = await self._session()
        for fresh in (False, True):
            try:
                await session.send(self.envelope_from, to, data)
                return
            except SmtpReply as exc:
                raise _from_reply(exc) from exc
            except SessionLost as exc:
                if fresh or exc.replied:
                    raise TransientError(str(exc)) from exc
                # Nothing of the message got through (typically a session the
                # server closed while it sat idle): one more try on a new one.
                log.debug("SMTP session lost before the message (%s); reconnecting", exc)
            session = await self._new_session()

    async def aclose(self) -> None:
        sessions, self._sessions = self._sessions, []
        await asyncio.gather(*(s.close() for s in sessions), return_exceptions=True)

"""E-mail over SMTP (aiosmtplib), through a small pool of open connections.

One SMTP connection carries one transaction at a time, so throughput comes
from several connections kept open between messages (a product with 100,000
subscribers would otherwise pay a TCP + TLS + EHLO + AUTH handshake per mail).

Failures: a reply code of 5xx to the message is permanent (the address does
not exist, the content is refused), 4xx is transient (greylisting, a full
mailbox). Not reaching or authenticating to our own server is transient for
every message: it is a server or configuration problem, not the recipient's.
"""

from __future__ import annotations

import asyncio
import logging

import aiosmtplib

from alerts.channels.base import Channel, DeliveryError, PermanentError, TransientError
from alerts.messages import BadAddress, Notice, address_of, email_bytes

log = logging.getLogger(__name__)

TLS_MODES = ("starttls", "tls", "none")


class _StaleConnection(Exception):
    pass


def _from_reply(code: int, message: str) -> DeliveryError:
    text = f"SMTP {code}: {message[:300]}"
    return PermanentError(text) if 500 <= code < 600 else TransientError(text)


class SmtpChannel(Channel):
    def __init__(
        self,
        *,
        host: str,
        port: int,
        sender: str,
        tls: str = "starttls",
        user: str | None = None,
        password: str | None = None,
        connections: int = 8,
        timeout: float = 15.0,
    ) -> None:
        if tls not in TLS_MODES:
            raise ValueError(f"tls must be one of {TLS_MODES}, got {tls!r}")
        if connections < 1:
            raise ValueError(f"connections must be at least 1, got {connections}")
        self.host = host
        self.port = port
        self.sender = sender
        self.envelope_from = address_of(sender)
        self.tls = tls
        self.user = user
        self.password = password
        self.timeout = timeout
        self._slots = asyncio.Semaphore(connections)
        self._idle: list[aiosmtplib.SMTP] = []

    async def _connect(self) -> aiosmtplib.SMTP:
        client = aiosmtplib.SMTP(
            hostname=self.host,
            port=self.port,
            use_tls=self.tls == "tls",
            start_tls=self.tls == "starttls",
            username=self.user,
            password=self.password,
            timeout=self.timeout,
        )
        try:
            await client.connect()
        except aiosmtplib.SMTPResponseException as exc:
            raise TransientError(f"SMTP server refused us: {exc.code} {exc.message}") from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise TransientError(f"cannot reach SMTP {self.host}:{self.port}: {exc}") from exc
        return client

    async def _deliver(
        self, client: aiosmtplib.SMTP, to: str, data: bytes, *, reused: bool
    ) -> None:
        """One SMTP transaction; the connection goes back to the pool only
        when it ended cleanly (after an error its state is not worth trusting)."""
        try:
            await client.sendmail(self.envelope_from, [to], data)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            client.close()
            first = exc.recipients[0]
            raise _from_reply(first.code, first.message) from exc
        except aiosmtplib.SMTPResponseException as exc:
            client.close()
            raise _from_reply(exc.code, exc.message) from exc
        except aiosmtplib.SMTPServerDisconnected as exc:
            client.close()
            if reused:
                raise _StaleConnection from exc
            raise TransientError(f"SMTP server hung up: {exc}") from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            client.close()
            raise TransientError(f"SMTP delivery interrupted: {exc!r}") from exc
        except BaseException:
            client.close()
            raise
        self._idle.append(client)

    async def send(self, notice: Notice) -> None:
        try:
            to = address_of(notice.recipient)
            data = email_bytes(notice, self.sender, to=to)
        except BadAddress as exc:
            raise PermanentError(str(exc)) from exc
        async with self._slots:
            if self._idle:
                try:
                    await self._deliver(self._idle.pop(), to, data, reused=True)
                    return
                except _StaleConnection:
                    # An idle connection the server has closed meanwhile: the
                    # message did not get through, so it goes on a fresh one.
                    log.debug("pooled SMTP connection was closed; reconnecting")
            await self._deliver(await self._connect(), to, data, reused=False)

    async def aclose(self) -> None:
        idle, self._idle = self._idle, []
        for client in idle:
            try:
                await asyncio.wait_for(client.quit(), timeout=2)
            except (aiosmtplib.SMTPException, OSError, TimeoutError):
                client.close()

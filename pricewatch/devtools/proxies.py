"""Local forward proxies, one loopback address each, for crawler tests and demos.

Each proxy listens on its own address (127.0.0.2, 127.0.0.3, ...) and opens
its outgoing connections from that same address, so the marketplace sees one
client IP per proxy, as a real site sees one IP per rented proxy. Linux routes
all of 127.0.0.0/8 to the loopback interface, so no set-up is needed.

Proxies speak plain-HTTP forwarding (absolute-URI requests) and CONNECT
tunnels. Where traffic may go is a ``route(host, port)`` function: by default
only loopback addresses, and ``Marketplace.upstream`` sends the Amazon domains
to the local marketplace, so nothing behind a proxy reaches the internet.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import ipaddress
import logging
import threading
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, TypeVar
from urllib.parse import urlsplit

from pricewatch.devtools.serving import BackgroundServer, origin_form

__all__ = ["ForwardProxy", "ProxyPool", "ProxyStats", "Route", "loopback_only"]

log = logging.getLogger(__name__)

Route = Callable[[str, int], "tuple[str, int] | None"]
T = TypeVar("T")

_HEAD_LIMIT = 64 * 1024
_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authorization",
    "proxy-authenticate",
    "te",
    "trailer",
    "upgrade",
}


def loopback_only(host: str, port: int) -> tuple[str, int] | None:
    """Pass traffic to loopback addresses (and ``localhost``) unchanged, refuse the rest."""
    if host == "localhost":
        return (host, port)
    try:
        return (host, port) if ipaddress.ip_address(host).is_loopback else None
    except ValueError:
        return None


@dataclasses.dataclass
class ProxyStats:
    """Counters of one proxy (written by its event loop, read from anywhere)."""

    # every request (CONNECT or plain) that arrived with a readable head
    requests: int = 0
    # connected upstream and relayed
    forwarded: int = 0
    # answered 4xx by the proxy itself: malformed, unsupported or not routable
    refused: int = 0
    # the upstream could not be reached: answered 502/504
    failed: int = 0


class _Refused(Exception):
    """The proxy answers itself: 4xx counts as refused, 5xx (upstream trouble) as failed."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class ForwardProxy:
    """One HTTP forward proxy; lives in an asyncio loop (see ``ProxyPool`` for threads)."""

    def __init__(
        self, ip: str, port: int = 0, *, route: Route = loopback_only, connect_timeout: float = 5.0
    ) -> None:
        self.ip = ip
        self.port = port
        self.route = route
        self.connect_timeout = connect_timeout
        self.stats = ProxyStats()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[Any]] = set()

    @property
    def url(self) -> str:
        return f"http://{self.ip}:{self.port}"

    @property
    def alive(self) -> bool:
        return self._server is not None

    async def start(self) -> None:
        """Listen (again, on the same port after a ``close``)."""
        if self._server is not None:
            return
        self._server = await asyncio.start_server(
            self._handle, self.ip, self.port, limit=_HEAD_LIMIT
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        """Stop listening and drop every open connection, as a dead proxy would."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        # every stream this connection opens, so that all are closed at its end
        opened = [writer]
        try:
            await self._serve(reader, writer, opened)
        except _Refused as refusal:
            if refusal.status >= 500 and refusal.status != 501:
                self.stats.failed += 1
            else:
                self.stats.refused += 1
            await self._answer(writer, refusal.status, refusal.reason)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            # only close() cancels a connection; ending normally keeps asyncio's
            # client-connected callback from reporting the cancellation as an error
            pass
        except Exception:
            self.stats.failed += 1
            log.exception("proxy %s: unexpected error on a connection", self.url)
        finally:
            self._writers.discard(writer)
            self._tasks.discard(task)
            for stream in opened:
                self._writers.discard(stream)
                stream.close()

    async def _serve(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        opened: list[asyncio.StreamWriter],
    ) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return  # connected and left without asking anything
        except asyncio.LimitOverrunError:
            self.stats.requests += 1
            raise _Refused(431, "request head too large") from None
        self.stats.requests += 1
        try:
            method, target, version, headers = _parse_head(head)
        except ValueError as exc:
            raise _Refused(400, str(exc)) from None
        if method == "CONNECT":
            host, port = _split_authority(target, default_port=443)
            up_reader, up_writer = await self._connect(host, port, opened)
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await writer.drain()
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
            return
        try:
            parts = urlsplit(target)
            port = parts.port or 80
            length = int(next((v for n, v in headers if n.lower() == "content-length"), 0))
        except ValueError:
            raise _Refused(400, f"malformed request target or length: {target!r}") from None
        if parts.scheme != "http" or not parts.hostname or length < 0:
            raise _Refused(400, f"expected an absolute http:// URI or CONNECT, got {target!r}")
        if any(name.lower() == "transfer-encoding" for name, _ in headers):
            raise _Refused(501, "chunked request bodies are not supported")
        up_reader, up_writer = await self._connect(parts.hostname, port, opened)
        path = origin_form(target)
        kept = [(n, v) for n, v in headers if n.lower() not in _HOP_BY_HOP]
        if not any(n.lower() == "host" for n, _ in kept):
            kept.insert(0, ("Host", parts.netloc))
        # one request per upstream connection: the end of the response is then
        # simply the end of the stream, whatever framing the server uses
        up_writer.write(_build_head(f"{method} {path} {version}", [*kept, ("Connection", "close")]))
        if length:
            up_writer.write(await reader.readexactly(length))
        await up_writer.drain()
        try:
            response_head = await up_reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            raise _Refused(502, "upstream sent no valid response head") from None
        status_line, _, rest = response_head.partition(b"\r\n")
        response_headers = [
            (n, v) for n, v in _parse_header_lines(rest) if n.lower() not in _HOP_BY_HOP
        ]
        writer.write(
            _build_head(status_line.decode("latin-1"), [*response_headers, ("Connection", "close")])
        )
        await _pipe(up_reader, writer)

    async def _connect(
        self, host: str, port: int, opened: list[asyncio.StreamWriter]
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        destination = self.route(host, port)
        if destination is None:
            raise _Refused(403, f"destination {host}:{port} is not allowed through this proxy")
        try:
            connection = await asyncio.wait_for(
                asyncio.open_connection(*destination, local_addr=(self.ip, 0)), self.connect_timeout
            )
        except TimeoutError:
            raise _Refused(504, f"timed out connecting to {host}:{port}") from None
        except OSError as exc:
            raise _Refused(502, f"cannot connect to {host}:{port}: {exc}") from None
        self.stats.forwarded += 1
        self._writers.add(connection[1])
        opened.append(connection[1])
        return connection

    @staticmethod
    async def _answer(writer: asyncio.StreamWriter, status: int, reason: str) -> None:
        body = f"{status} {reason}\n".encode()
        writer.write(
            _build_head(
                f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}",
                [
                    ("Content-Type", "text/plain; charset=utf-8"),
                    ("Content-Length", str(len(body))),
                    ("Connection", "close"),
                ],
            )
            + body
        )
        with contextlib.suppress(ConnectionError):
            await writer.drain()


_REASONS = {
    400: "Bad Request",
    403: "Forbidden",
    431: "Request Header Fields Too Large",
    501: "Not Implemented",
    502: "Bad Gateway",
    504: "Gateway Timeout",
}


def _parse_header_lines(raw: bytes) -> list[tuple[str, str]]:
    headers = []
    for line in raw.decode("latin-1").split("\r\n"):
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not name.strip():
            raise ValueError(f"malformed header line {line!r}")
        headers.append((name.strip(), value.strip()))
    return headers


def _parse_head(head: bytes) -> tuple[str, str, str, list[tuple[str, str]]]:
    request_line, _, rest = head.partition(b"\r\n")
    fields = request_line.decode("latin-1").split()
    if len(fields) != 3 or not fields[2].startswith("HTTP/"):
        raise ValueError(f"malformed request line {request_line[:200]!r}")
    method, target, version = fields
    return method.upper(), target, version, _parse_header_lines(rest)


def _split_authority(target: str, default_port: int) -> tuple[str, int]:
    host, sep, port = target.rpartition(":")
    if not sep:
        host, port = target, str(default_port)
    host = host.strip("[]")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise _Refused(400, f"malformed CONNECT authority {target!r}")
    return host, int(port)


def _build_head(first_line: str, headers: Sequence[tuple[str, str]]) -> bytes:
    lines = [first_line, *(f"{n}: {v}" for n, v in headers), "", ""]
    return "\r\n".join(lines).encode("latin-1")


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy until end of stream, then pass the half-close on."""
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        writer.transport.abort()


class ProxyPool(BackgroundServer):
    """``count`` proxies on consecutive loopback addresses from ``first_ip``, one event loop
    thread for all of them. Use as a context manager, or ``start()`` / ``stop()``."""

    def __init__(
        self,
        count: int,
        *,
        route: Route = loopback_only,
        first_ip: str = "127.0.0.2",
        ports: Sequence[int] | None = None,
    ) -> None:
        if count < 1:
            raise ValueError(f"a proxy pool needs at least one proxy, got {count}")
        if ports is not None and len(ports) != count:
            raise ValueError(f"{count} proxies but {len(ports)} ports")
        first = ipaddress.ip_address(first_ip)
        if not first.is_loopback or not (first + count - 1).is_loopback:
            raise ValueError(f"{count} addresses from {first_ip} leave the loopback range")
        self.proxies = [
            ForwardProxy(str(first + i), ports[i] if ports else 0, route=route)
            for i in range(count)
        ]
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def _run(self, coro: Coroutine[Any, Any, T], timeout: float = 10.0) -> T:
        if self._loop is None:
            coro.close()
            raise RuntimeError("proxy pool is not started")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def start(self) -> ProxyPool:
        if self._loop is not None:
            raise RuntimeError("proxy pool already started")
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="proxy-pool", daemon=True
        )
        self._thread.start()
        try:
            for proxy in self.proxies:
                self._run(proxy.start())
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        with contextlib.suppress(Exception):
            self._run(self._close_all())
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
        self._loop = self._thread = None

    async def _close_all(self) -> None:
        await asyncio.gather(*(p.close() for p in self.proxies))

    @property
    def urls(self) -> list[str]:
        return [p.url for p in self.proxies]

    def proxy(self, which: int | str) -> ForwardProxy:
        """A proxy by index, URL or IP."""
        if isinstance(which, int):
            return self.proxies[which]
        for proxy in self.proxies:
            if which in (proxy.url, proxy.ip):
                return proxy
        raise KeyError(f"no proxy {which!r} in this pool; have {self.urls}")

    def kill(self, which: int | str) -> None:
        """The proxy stops listening and drops its connections (connects are refused)."""
        self._run(self.proxy(which).close())

    def revive(self, which: int | str) -> None:
        """Listen again on the same address and port."""
        self._run(self.proxy(which).start())

    def stats(self, which: int | str) -> ProxyStats:
        return self.proxy(which).stats

    def requests(self, which: int | str) -> int:
        return self.proxy(which).stats.requests

"""Local HTTP servers standing in for the targets users aim requests at.

:class:`Recorder` listens on every local address at once (dual-stack ``::``
when the machine has IPv6, else ``0.0.0.0``) and notes, for each request, the
local address the client dialled: a test can then tell a request that reached
127.0.0.2 from one that reached 127.0.0.1, [::1] or 0.0.0.0 on the same port.
:class:`Tarpit` accepts connections and never answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import ipaddress
import socket
import ssl
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def _has_ipv6() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


HAS_IPV6 = _has_ipv6()


@dataclasses.dataclass(frozen=True)
class Seen:
    # the local address the client connected to (IPv4-mapped forms unwrapped)
    address: str
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclasses.dataclass
class Answer:
    status: int = 201
    body: bytes = b"{}"
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    # a body that never ends (chunked, sent until the client hangs up)
    endless: bool = False


class Recorder:
    def __init__(self) -> None:
        self.seen: list[Seen] = []
        self.answers: list[Answer] = []
        self.default = Answer()
        self.sni: list[str | None] = []
        self.lock = threading.Lock()

    def addresses(self) -> list[str]:
        with self.lock:
            return [s.address for s in self.seen]


def _local_address(sock: socket.socket) -> str:
    address = ipaddress.ip_address(sock.getsockname()[0])
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return str(address.ipv4_mapped)
    return str(address)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, recorder: Recorder, tls: ssl.SSLContext | None) -> None:
        self.recorder = recorder
        self.tls = tls
        self.address_family = socket.AF_INET6 if HAS_IPV6 else socket.AF_INET
        super().__init__(("::" if HAS_IPV6 else "0.0.0.0", 0), _Handler)

    def server_bind(self) -> None:
        if HAS_IPV6:
            self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()

    def get_request(self) -> tuple[socket.socket, object]:
        sock, peer = self.socket.accept()
        if self.tls is not None:
            sock.settimeout(5)
            # a failed handshake (the client refused our certificate) raises OSError,
            # which serve_forever treats as "no request"
            try:
                sock = self.tls.wrap_socket(sock, server_side=True)
            except OSError:
                sock.close()
                raise
        return sock, peer


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        recorder = self.server.recorder
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with recorder.lock:
            recorder.seen.append(
                Seen(
                    _local_address(self.connection),
                    self.command,
                    self.path,
                    dict(self.headers.items()),
                    body,
                )
            )
            answer = recorder.answers.pop(0) if recorder.answers else recorder.default
        self.send_response(answer.status)
        for name, value in answer.headers.items():
            self.send_header(name, value)
        if answer.endless:
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            chunk = b"%x\r\n%s\r\n" % (1024, b"x" * 1024)
            with contextlib.suppress(OSError):
                while True:
                    self.wfile.write(chunk)
        else:
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            self.wfile.write(answer.body)

    def log_message(self, *args: object) -> None:
        pass


@contextlib.contextmanager
def recording_server(tls: ssl.SSLContext | None = None) -> Iterator[tuple[Recorder, int]]:
    """A :class:`Recorder` on a free port of every local address; with ``tls``
    (a server context) it speaks HTTPS and notes the SNI name each client sent."""
    recorder = Recorder()
    if tls is not None:

        def note_sni(sock: object, name: str | None, context: ssl.SSLContext) -> None:
            with recorder.lock:
                recorder.sni.append(name)

        tls.sni_callback = note_sni  # type: ignore[assignment]
    server = _Server(recorder, tls)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield recorder, server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


class Tarpit:
    """Accepts connections and never answers; ``connections`` counts them."""

    def __init__(self) -> None:
        self.connections = 0
        self._transports: list[asyncio.BaseTransport] = []

    def protocol(self) -> asyncio.Protocol:
        pit = self

        class Hold(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                pit.connections += 1
                pit._transports.append(transport)

        return Hold()

    def hang_up(self) -> None:
        """Drop every connection held so far (their clients see a reset)."""
        for transport in self._transports:
            transport.abort()  # type: ignore[attr-defined]
        self._transports.clear()


@contextlib.asynccontextmanager
async def tarpit(host: str = "127.0.0.2") -> AsyncIterator[tuple[Tarpit, int]]:
    """A :class:`Tarpit` on a free port of ``host``."""
    pit = Tarpit()
    server = await asyncio.get_running_loop().create_server(pit.protocol, host, 0, backlog=1024)
    port = server.sockets[0].getsockname()[1]
    try:
        yield pit, port
    finally:
        server.close()
        pit.hang_up()
        await server.wait_closed()

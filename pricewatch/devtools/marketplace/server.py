"""The local marketplace: an Amazon-like website on loopback, over HTTP and HTTPS.

Stdlib ``ThreadingHTTPServer`` in background threads: a test drives the
catalog from its own thread while the crawler under test fetches pages, and
nothing here needs an event loop of its own. The decision of what to answer
(``Marketplace.respond``) is separate from the socket handling, so it can be
called directly.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import re
import socket
import socketserver
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from pricewatch.devtools.serving import BackgroundServer, origin_form
from pricewatch.devtools.tls import CertBundle, self_signed_certificate
from pricewatch.markets import Market, get_market, market_for_host

from . import pages
from .catalog import Catalog

__all__ = ["Marketplace", "RequestLog", "RequestRecord", "Response"]

log = logging.getLogger(__name__)

_PRODUCT_PATH = re.compile(r"^(?:/[^/]+)?/(?:dp|gp/product)/([0-9A-Za-z]{10})(?:[/?]|$)")
_LISTING_PATH = re.compile(r"^/gp/(bestsellers|new-releases)(?:/.*)?$")
# a 1x1 transparent GIF: every product image and the CAPTCHA picture
_PIXEL = bytes.fromhex(
    "47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b"
)
_ROBOTS = b"User-agent: *\nDisallow: /errors/\nAllow: /\n"


@dataclasses.dataclass(frozen=True)
class RequestRecord:
    """One request as the marketplace saw it."""

    monotonic: float
    wall: float
    client_ip: str
    method: str
    path: str
    status: int
    host: str
    market: str
    tls: bool


class RequestLog:
    """Every request, in arrival order; thread-safe; optionally appended to a JSON-lines file."""

    def __init__(self, path: Path | None = None) -> None:
        self._lock = threading.Lock()
        self._records: list[RequestRecord] = []
        self._path = path

    def append(self, record: RequestRecord) -> None:
        with self._lock:
            self._records.append(record)
            if self._path is not None:
                with self._path.open("a", encoding="utf-8") as fh:
                    fh.write(json.dumps(dataclasses.asdict(record)) + "\n")

    def records(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._records)

    def for_ip(self, client_ip: str) -> list[RequestRecord]:
        return [r for r in self.records() if r.client_ip == client_ip]

    def client_ips(self) -> set[str]:
        return {r.client_ip for r in self.records()}

    def clear(self) -> None:
        with self._lock:
            self._records.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._records)


def min_gap_per_ip(records: list[RequestRecord]) -> dict[str, float]:
    """Smallest interval between two consecutive requests seen from each client IP."""
    by_ip: dict[str, list[float]] = {}
    for record in records:
        by_ip.setdefault(record.client_ip, []).append(record.monotonic)
    gaps = {}
    for ip, times in by_ip.items():
        times.sort()
        if len(times) > 1:
            gaps[ip] = min(b - a for a, b in zip(times, times[1:], strict=False))
    return gaps


@dataclasses.dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    content_type: str = "text/html;charset=UTF-8"
    headers: tuple[tuple[str, str], ...] = ()


def _html(status: int, text: str) -> Response:
    return Response(status, text.encode("utf-8"))


class Marketplace(BackgroundServer):
    """An Amazon-like site on a free loopback port (plus a TLS port), in background threads.

    Use as a context manager, or ``start()`` / ``stop()``. The market of a
    request comes from its host (``www.amazon.de`` -> ``de``: absolute-URI
    request line first, then the Host header), else ``default_market``.
    ``captcha_ips`` get a robot-check page (status 200) for every request,
    ``throttle_ips`` a 503; both are plain sets a test may change at any time.
    """

    def __init__(
        self,
        catalog: Catalog | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: bool = True,
        tls_port: int = 0,
        default_market: str = "us",
        listing_page_size: int = 30,
        log_file: Path | None = None,
        certificate: CertBundle | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if listing_page_size < 1:
            raise ValueError(f"listing_page_size must be >= 1, got {listing_page_size}")
        self.catalog = catalog if catalog is not None else Catalog()
        self.default_market: Market = get_market(default_market)
        self.log = RequestLog(log_file)
        self.captcha_ips: set[str] = set()
        self.throttle_ips: set[str] = set()
        self.listing_page_size = listing_page_size
        self._host = host
        self._port = port
        self._tls = tls
        self._tls_port = tls_port
        self._clock = clock
        self._certificate = certificate
        self._servers: list[_Server] = []
        self._threads: list[threading.Thread] = []
        # bound ports by "is TLS", kept after stop() so proxies still route to the
        # (now closed) site and report it as unreachable
        self._bound: dict[bool, int] = {}

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> Marketplace:
        if self._servers:
            raise RuntimeError("marketplace already started")
        try:
            self._servers.append(_Server((self._host, self._port), self, None))
            if self._tls:
                context = self.certificate.server_context()
                self._servers.append(_Server((self._host, self._tls_port), self, context))
        except OSError:
            self.stop()
            raise
        for server in self._servers:
            self._bound[server.ssl_context is not None] = int(server.server_address[1])
            thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"marketplace:{server.server_address[1]}",
                daemon=True,
            )
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        """Stop listening and cut open keep-alive connections; safe to call twice."""
        for server, thread in zip(self._servers, self._threads, strict=False):
            server.shutdown()
            thread.join(5)
        for server in self._servers:
            server.server_close()
            server.close_connections()
        self._servers.clear()
        self._threads.clear()

    # -- addresses -------------------------------------------------------------------------

    def _port_of(self, tls: bool) -> int:
        try:
            return self._bound[tls]
        except KeyError:
            raise RuntimeError(
                "TLS is off" if tls and self._bound else "marketplace is not started"
            ) from None

    @property
    def host(self) -> str:
        return self._host

    @property
    def port(self) -> int:
        return self._port_of(False)

    @property
    def tls_port(self) -> int:
        return self._port_of(True)

    @property
    def base_url(self) -> str:
        return f"http://{self._host}:{self.port}"

    @property
    def tls_base_url(self) -> str:
        return f"https://{self._host}:{self.tls_port}"

    @property
    def certificate(self) -> CertBundle:
        if self._certificate is None:
            self._certificate = self_signed_certificate()
        return self._certificate

    def client_ssl_context(self) -> ssl.SSLContext:
        """An SSL context that trusts the marketplace certificate."""
        return self.certificate.client_context()

    def upstream(self, host: str, port: int) -> tuple[str, int] | None:
        """Where a forward proxy should send traffic meant for ``host:port``.

        Amazon hosts go to this marketplace (port 443 to the TLS port, others to
        plain HTTP); the marketplace's own address passes; anything else is
        refused, so nothing behind the proxy ever reaches the internet.
        """
        if market_for_host(host) is not None:
            if port == 443 and self._tls:
                return (self._host, self.tls_port)
            return (self._host, self.port)
        own = {self.port, *([self.tls_port] if self._tls else [])}
        if host in (self._host, "localhost") and port in own:
            return (self._host, port)
        return None

    # -- what to answer ----------------------------------------------------------------------

    def market_of(self, target: str, host_header: str | None) -> tuple[str, Market]:
        """(host, market) of a request: an absolute-URI target names the host, else Host."""
        host = urlsplit(target).netloc.rpartition("@")[2] if "://" in target else ""
        host = host or (host_header or "")
        return host, market_for_host(host) or self.default_market

    def respond(
        self,
        method: str,
        target: str,
        host_header: str | None,
        client_ip: str,
        *,
        tls: bool = False,
    ) -> Response:
        """The response to one request (no I/O besides reading the catalog)."""
        host, market = self.market_of(target, host_header)
        path, _, query = origin_form(target).partition("?")
        if client_ip in self.throttle_ips:
            return _html(503, pages.render_throttled(market))
        if client_ip in self.captcha_ips:
            return _html(200, pages.render_captcha(market))
        if method not in ("GET", "HEAD", "POST"):
            return _html(405, pages.render_not_found(market))
        self.catalog.tick(self._clock())
        if match := _PRODUCT_PATH.match(path):
            product = self.catalog.get(market.code, match.group(1).upper())
            if product is None:
                return _html(404, pages.render_not_found(market))
            scheme = "https" if tls else "http"
            origin = f"{scheme}://{host}" if host else self.base_url
            return _html(200, pages.render_product(market, product, origin=origin))
        if match := _LISTING_PATH.match(path):
            return self._listing(market, match.group(1), query)
        if path == "/":
            return _html(200, pages.render_home(market))
        if path.startswith(("/images/", "/captcha/")):
            return Response(200, _PIXEL, "image/gif")
        if path == "/robots.txt":
            return Response(200, _ROBOTS, "text/plain")
        if path == "/errors/validateCaptcha":
            # a client reaching this is no longer flagged: send it on its way
            return Response(302, b"", headers=(("Location", "/"),))
        return _html(404, pages.render_not_found(market))

    def _listing(self, market: Market, kind: str, query: str) -> Response:
        raw = parse_qs(query).get("pg", ["1"])[0]
        page = int(raw) if raw.isdigit() and int(raw) >= 1 else 1
        products = self.catalog.products(market.code)
        if kind == "new-releases":
            products.reverse()
        size = self.listing_page_size
        chunk = products[(page - 1) * size : page * size]
        if page > 1 and not chunk:
            return _html(404, pages.render_not_found(market))
        text = pages.render_listing(
            market,
            kind,
            chunk,
            page=page,
            first_rank=(page - 1) * size + 1,
            has_next=len(products) > page * size,
            path=f"/gp/{kind}/",
        )
        return _html(200, text)

    def record(self, record: RequestRecord) -> None:
        self.log.append(record)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # a crawler fleet opens many connections at once
    request_queue_size = 128

    def __init__(
        self, address: tuple[str, int], marketplace: Marketplace, context: ssl.SSLContext | None
    ) -> None:
        self.marketplace = marketplace
        self.ssl_context = context
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host's FQDN, which can stall for
        # seconds on machines without DNS; nothing here needs it.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def get_request(self) -> tuple[socket.socket, tuple[str, int]]:
        sock, addr = super().get_request()
        if self.ssl_context is not None:
            # the handshake runs in the connection's own thread (Handler.setup),
            # so one stalled client cannot hold up accept()
            sock = self.ssl_context.wrap_socket(
                sock, server_side=True, do_handshake_on_connect=False
            )
        return sock, addr

    @contextlib.contextmanager
    def tracked(self, sock: socket.socket) -> Iterator[None]:
        with self._connections_lock:
            self._connections.add(sock)
        try:
            yield
        finally:
            with self._connections_lock:
                self._connections.discard(sock)

    def close_connections(self) -> None:
        with self._connections_lock:
            open_now = list(self._connections)
        for sock in open_now:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def process_request_thread(self, request: socket.socket, client_address: object) -> None:  # type: ignore[override]
        with self.tracked(request):
            super().process_request_thread(request, client_address)

    def handle_error(self, request: object, client_address: object) -> None:
        # clients hanging up mid-request or failing the TLS handshake are routine here
        log.debug("marketplace connection from %s failed", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "Server"
    sys_version = ""
    # idle keep-alive connections are dropped after this many seconds
    timeout = 30
    # headers and body go out in separate writes; with Nagle on, a keep-alive
    # client waits for a delayed ACK (~40 ms) on every response
    disable_nagle_algorithm = True
    server: _Server

    def version_string(self) -> str:
        return self.server_version

    def setup(self) -> None:
        super().setup()
        if isinstance(self.connection, ssl.SSLSocket):
            self.connection.do_handshake()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        log.debug("%s " + format, self.address_string(), *args)

    def _record(self, status: int) -> None:
        marketplace = self.server.marketplace
        target = getattr(self, "path", "") or ""
        headers = getattr(self, "headers", None)
        host, market = marketplace.market_of(target, headers.get("Host") if headers else None)
        marketplace.record(
            RequestRecord(
                monotonic=time.monotonic(),
                wall=time.time(),
                client_ip=self.client_address[0],
                method=getattr(self, "command", None) or "",
                path=origin_form(target),
                status=status,
                host=host,
                market=market.code,
                tls=self.server.ssl_context is not None,
            )
        )

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        # malformed requests and unsupported methods are requests too
        self._record(code)
        super().send_error(code, message, explain)

    def _serve(self) -> None:
        raw_length = self.headers.get("Content-Length") or "0"
        if not raw_length.isdigit():
            self.send_error(400, f"bad Content-Length {raw_length!r}")
            return
        if int(raw_length):
            self.rfile.read(int(raw_length))
        response = self.server.marketplace.respond(
            self.command,
            self.path,
            self.headers.get("Host"),
            self.client_address[0],
            tls=self.server.ssl_context is not None,
        )
        self._record(response.status)
        self.send_response(response.status, HTTPStatus(response.status).phrase)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        for name, value in response.headers:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    do_GET = _serve
    do_HEAD = _serve
    do_POST = _serve

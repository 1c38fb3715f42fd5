"""One egress policy for every outbound request a user can aim, and the HTTP
client that keeps to it.

Whoever can make us send a request can aim it at our own side of the network:
the API on loopback, a database on the LAN, a cloud metadata service. So:

- :meth:`EgressPolicy.check_url` refuses, from the text alone, what has no
  business in a target URL: other schemes, credentials, ``localhost``,
  numeric hosts in any spelling but a plain dotted quad (resolvers read
  ``2130706433``, ``0x7f000001`` and ``127.1`` as 127.0.0.1), names that are
  not valid host names, IP literals that are not public.
- :meth:`EgressPolicy.vet` resolves the name and refuses it unless *every*
  address is public: one internal address is enough, since which one a client
  picks is up to it. The operator's allow-list (``PRICEWATCH_EGRESS_ALLOW``)
  lets chosen names or ranges through, e.g. a receiver on the LAN.
- :class:`SafeHttpClient` vets again at send time and connects only to the
  addresses it has just checked. The name is never resolved a second time, so
  a name that answers a public address to the check and a private one to the
  connection (DNS rebinding) gets nowhere, while the request still carries the
  name in ``Host`` and TLS still checks the certificate against it. It follows
  no redirects, keeps timeouts short, keeps at most ``max_body`` bytes of an
  answer, and admits requests per host without ever waiting
  (:mod:`pricewatch.host_gate`).

Which addresses count as public is :mod:`pricewatch.public_ip`.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import dataclasses
import ipaddress
import re
import socket
import ssl
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit

import httpcore
import httpx
import idna

from pricewatch.host_gate import EgressError, HostBusy, HostGate, Outcome
from pricewatch.public_ip import (
    IPAddress,
    as_connected,
    is_public,
    non_public_reason,
    plain_address,
)

if TYPE_CHECKING:
    from pricewatch.settings import Settings

__all__ = [
    "EgressError",
    "EgressPolicy",
    "EgressRefused",
    "EgressResponse",
    "HostBusy",
    "IPAddress",
    "Resolver",
    "SafeHttpClient",
    "Target",
    "Vetted",
    "is_public",
    "non_public_reason",
    "safe_http_client",
    "system_resolver",
]

# (host, port) -> the addresses the name stands for
Resolver = Callable[[str, int], Awaitable[Sequence[IPAddress | str]]]

MAX_URL_CHARS = 2048
DEFAULT_PORTS = {"http": 80, "https": 443}


class EgressRefused(ValueError):
    """The policy forbids this target; trying again will not help. The message
    says why, for the user who gave us the URL."""


# --- URLs ---------------------------------------------------------------------------------

# Parsers disagree about these (a backslash is a slash to browsers, not to urllib)
_UNSAFE_CHARS = re.compile(r"[\x00-\x20\x7f\\]")
_PORT = re.compile(r"[0-9]{1,5}")
_LDH_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
# A host whose last label is a number is an IPv4 address to browsers (WHATWG
# "ends in a number") and to inet_aton, in decimal, octal or hex parts.
_NUMBER = re.compile(r"[0-9]+|0x[0-9a-f]*")
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_DOTTED_QUAD = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}")
# what may stay unescaped in a request target
_TARGET_SAFE = "!$&'()*+,/:;=?@~%-._"


@dataclasses.dataclass(frozen=True, slots=True)
class Target:
    """A URL that passed the syntax checks, in normal form."""

    scheme: str
    # lower-case A-label name, dotted quad, or IPv6 address without brackets
    host: str
    port: int
    # path and query, as the request line carries them
    path: str
    # the host as an address, when the URL names one
    ip: IPAddress | None = None

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host_header}{self.path}"


@dataclasses.dataclass(frozen=True, slots=True)
class Vetted:
    """A target and the addresses it was checked at: the only ones to connect to."""

    target: Target
    addresses: tuple[IPAddress, ...]

    @property
    def url(self) -> str:
        return self.target.url


def _split_authority(authority: str) -> tuple[str, str]:
    """(host, port text) of an authority without userinfo."""
    if authority.startswith("["):
        end = authority.find("]")
        rest = authority[end + 1 :]
        if end < 0 or (rest and not rest.startswith(":")):
            raise EgressRefused(f"{authority!r} is not a valid host and port")
        return authority[: end + 1], rest[1:]
    host, _, port = authority.partition(":")
    if ":" in port:
        raise EgressRefused(f"{authority!r} is not a valid host and port")
    return host, port


def _odd_number(host: str) -> EgressRefused:
    try:
        meant = ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        what = f"{host} ends in a number, so it would be read as an IP address"
    else:
        what = f"{host} is an unusual way of writing the IP address {meant}"
    return EgressRefused(f"{what}; use a host name or a plain dotted address like 192.0.2.10")


def normal_host_name(raw: str) -> str:
    """``raw`` as a lower-case ASCII (A-label) name without a trailing dot.
    Non-ASCII names go through IDNA with UTS 46 mapping, which also turns
    full-width digits and dots into ASCII ones (checked afterwards like any)."""
    if raw.isascii():
        name = raw.lower()
    else:
        try:
            name = idna.encode(raw, uts46=True).decode("ascii")
        except idna.IDNAError as exc:
            raise EgressRefused(f"{raw!r} is not a valid host name: {exc}") from None
    return name[:-1] if name.endswith(".") else name


def _check_name(name: str, raw: str) -> None:
    labels = name.split(".")
    if len(name) > 253 or not all(_LDH_LABEL.fullmatch(label) for label in labels):
        raise EgressRefused(
            f"{raw!r} is not a valid host name (letters, digits and hyphens, dot-separated)"
        )
    for label in labels:
        if label.startswith("xn--"):
            try:
                idna.decode(label)
            except idna.IDNAError:
                raise EgressRefused(f"{raw!r} is not a valid host name") from None


def parse_url(url: str) -> Target:
    """The syntax checks of the policy (no DNS, no allow-list): scheme, no
    credentials, host and port well formed, no odd numeric spellings."""
    if len(url) > MAX_URL_CHARS:
        raise EgressRefused(f"the URL is longer than {MAX_URL_CHARS} characters")
    if _UNSAFE_CHARS.search(url):
        raise EgressRefused("the URL must not contain spaces, control characters or backslashes")
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise EgressRefused(f"not a valid URL: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        what = f"{scheme}:" if scheme else "a URL without a scheme"
        raise EgressRefused(f"only http:// and https:// URLs are accepted, not {what}")
    authority = parts.netloc
    if "@" in authority:
        raise EgressRefused("webhook URLs must not carry a user name or password")
    if "%" in authority:
        raise EgressRefused("the host must not be percent-encoded or carry an IPv6 zone")
    raw_host, port_text = _split_authority(authority)
    if not raw_host:
        raise EgressRefused("the URL has no host")
    port = DEFAULT_PORTS[scheme]
    if port_text:  # "host:" with nothing after the colon means the default port
        if not _PORT.fullmatch(port_text) or not 0 < int(port_text) < 65536:
            raise EgressRefused(f"{port_text!r} is not a valid port (1 to 65535)")
        port = int(port_text)
    path = quote(parts.path or "/", safe=_TARGET_SAFE)
    if parts.query:
        path += "?" + quote(parts.query, safe=_TARGET_SAFE)

    ip: IPAddress | None
    if raw_host.startswith("["):
        try:
            ip = ipaddress.IPv6Address(raw_host[1:-1])
        except ValueError:
            raise EgressRefused(f"{raw_host} is not an IPv6 address") from None
        host = ip.compressed
    else:
        host = normal_host_name(raw_host)
        if not host:
            raise EgressRefused("the URL has no host")
        if _NUMBER.fullmatch(host.rsplit(".", 1)[-1]):
            if not _DOTTED_QUAD.fullmatch(host):
                raise _odd_number(host)
            ip = ipaddress.IPv4Address(host)
        else:
            _check_name(host, raw_host)
            ip = None
    return Target(scheme=scheme, host=host, port=port, path=path, ip=ip)


def _is_localhost(name: str) -> bool:
    # RFC 6761: resolvers may answer loopback for these without asking DNS
    return name == "localhost" or name.endswith(".localhost")


async def system_resolver(host: str, port: int) -> list[IPAddress]:
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [ipaddress.ip_address(info[4][0]) for info in infos]


# getaddrinfo failures that may pass (a resolver timing out, SERVFAIL)
_DNS_TRANSIENT = {socket.EAI_AGAIN, socket.EAI_FAIL}


class EgressPolicy:
    """Which targets outbound requests may reach.

    ``allow`` is the operator's allow-list: host names (exact, lower case),
    IP addresses or CIDR ranges that may be reached although not public.
    ``resolver`` answers ``(host, port) -> addresses``; the system's
    ``getaddrinfo`` unless given (tests pass one that simulates DNS).
    """

    def __init__(self, allow: Sequence[str] = (), resolver: Resolver | None = None) -> None:
        hosts: set[str] = set()
        networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for item in allow:
            try:
                networks.append(ipaddress.ip_network(item.strip(), strict=False))
            except ValueError:
                try:
                    name = normal_host_name(item.strip())
                    _check_name(name, item)
                    hosts.add(name)
                except EgressRefused:
                    raise ValueError(f"{item!r} is not a host name or IP range") from None
        self.allowed_hosts = frozenset(hosts)
        self.allowed_networks = tuple(networks)
        self.resolver: Resolver = resolver or system_resolver

    def _address_allowed(self, ip: IPAddress) -> bool:
        return any(
            ip in network for network in self.allowed_networks if network.version == ip.version
        )

    def _not_allowed(self, ip: IPAddress) -> str | None:
        """Why ``ip`` may not be reached ("a loopback address"), or None."""
        if self._address_allowed(as_connected(ip)):
            return None
        return non_public_reason(ip)

    def target(self, url: str) -> Target:
        """:meth:`check_url`, returning the parsed target."""
        target = parse_url(url)
        if target.ip is not None:
            why = self._not_allowed(target.ip)
            if why is not None:
                raise EgressRefused(f"{target.ip} is {why}, not a public one")
        elif _is_localhost(target.host) and target.host not in self.allowed_hosts:
            raise EgressRefused(f"{target.host} is this machine, not a public host")
        return target

    def check_url(self, url: str) -> str:
        """The URL in normal form if its text is acceptable (no DNS lookup);
        raises :class:`EgressRefused` saying why not."""
        return self.target(url).url

    async def vet(self, url: str) -> Vetted:
        """:meth:`check_url`, then resolve: every address the name has must be
        public (or allowed). Raises :class:`EgressRefused`, or
        :class:`EgressError` when DNS fails for now."""
        return await self.vet_target(self.target(url))

    async def vet_target(self, target: Target) -> Vetted:
        if target.ip is not None:
            return Vetted(target, (as_connected(target.ip),))
        try:
            answers = await self.resolver(target.host, target.port)
        except socket.gaierror as exc:
            if exc.errno in _DNS_TRANSIENT:
                raise EgressError(
                    f"cannot resolve {target.host} right now: {exc.strerror}"
                ) from None
            raise EgressRefused(f"{target.host} does not resolve to an address") from None
        except OSError as exc:
            raise EgressError(f"cannot resolve {target.host} right now: {exc}") from None
        addresses = tuple(dict.fromkeys(as_connected(plain_address(a)) for a in answers))
        if not addresses:
            raise EgressRefused(f"{target.host} does not resolve to an address")
        if target.host not in self.allowed_hosts:
            for ip in addresses:
                why = self._not_allowed(ip)
                if why is not None:
                    raise EgressRefused(f"{target.host} resolves to {ip}, {why}, not a public one")
        return Vetted(target, addresses)


# --- the client -----------------------------------------------------------------------------

# The addresses the request being sent was vetted at. The connection pool opens
# connections inside the request's own task, so this is the request's own.
_PINNED: contextvars.ContextVar[Vetted | None] = contextvars.ContextVar(
    "pricewatch_egress_pinned", default=None
)


class _PinnedBackend(httpcore.AsyncNetworkBackend):
    """Opens connections only to the vetted addresses of the current request:
    the host name in the URL is never looked up again."""

    def __init__(self) -> None:
        self._backend = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        vetted = _PINNED.get()
        if vetted is None or (vetted.target.host, vetted.target.port) != (host, port):
            raise httpcore.ConnectError(f"no checked address to connect to {host}:{port}")
        error: Exception = httpcore.ConnectError(f"no address for {host}")
        for address in vetted.addresses:
            try:
                return await self._backend.connect_tcp(
                    str(address),
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        raise error

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("a unix socket is not an egress target")

    async def sleep(self, seconds: float) -> None:
        await self._backend.sleep(seconds)


@dataclasses.dataclass(frozen=True, slots=True)
class EgressResponse:
    status: int
    # the reason phrase as sent, reduced to printable ASCII
    reason: str
    # at most ``max_body`` bytes of the answer
    body: bytes
    # the Location header of a redirect, as sent (printable ASCII only), else None
    location: str | None = None


# Headers the client sets itself; a caller's copy would contradict them.
_OWN_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection"})


def _reason(extensions: Mapping[str, object]) -> str:
    raw = extensions.get("reason_phrase", b"")
    text = raw.decode("ascii", "replace") if isinstance(raw, bytes) else ""
    return "".join(c for c in text if c.isascii() and c.isprintable())[:80]


def _location(response: httpcore.Response) -> str | None:
    if not 300 <= response.status < 400:
        return None
    for name, value in response.headers:
        if name.lower() == b"location":
            text = value.decode("latin-1")
            if text.isascii() and text.isprintable():
                return text
            return None
    return None


def _host_failed(status: int) -> bool:
    """Answers that count against a host's breaker: it is down or overloaded."""
    return status >= 500 or status == 429


class SafeHttpClient:
    """POSTs to targets users gave us, within :class:`EgressPolicy`.

    Every request is vetted again when sent (a name may have moved since it
    was accepted) and goes to the checked addresses only. Per host at most
    ``host_concurrency`` requests are in flight and a breaker leaves a failing
    host alone for ``breaker_cooldown_s`` after ``breaker_failures`` failures
    in a row; either way :meth:`post` does not wait but raises
    :class:`HostBusy` at once. ``ssl_context`` defaults to the certifi trust
    store with host name checking.
    """

    def __init__(
        self,
        policy: EgressPolicy,
        *,
        connect_timeout_s: float,
        read_timeout_s: float,
        host_concurrency: int,
        breaker_failures: int,
        breaker_cooldown_s: float,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if connect_timeout_s <= 0 or read_timeout_s <= 0:
            raise ValueError("egress timeouts must be positive")
        self.policy = policy
        self.connect_timeout_s = connect_timeout_s
        self.read_timeout_s = read_timeout_s
        self.gate = HostGate(
            concurrency=host_concurrency, failures=breaker_failures, cooldown_s=breaker_cooldown_s
        )
        self._timeouts = {
            "connect": connect_timeout_s,
            "pool": connect_timeout_s,
            "read": read_timeout_s,
            "write": read_timeout_s,
        }
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context or httpx.create_ssl_context(),
            max_connections=None,
            max_keepalive_connections=100,
            keepalive_expiry=15.0,
            retries=0,
            network_backend=_PinnedBackend(),
        )

    async def post(
        self, url: str, *, content: bytes, headers: Mapping[str, str], max_body: int = 4096
    ) -> EgressResponse:
        """POST ``content`` to ``url``. Raises :class:`EgressRefused` (the
        policy forbids the target, or it answered with a redirect),
        :class:`HostBusy` (not sent: come back later) or :class:`EgressError`
        (timeout, refused or broken connection). Any other status is returned."""
        response = await self._request(url, "POST", content, headers, max_body)
        if 300 <= response.status < 400:
            raise EgressRefused(
                f"{self.policy.target(url).host} answered with a redirect "
                f"(HTTP {response.status}); redirects are not followed"
            )
        return response

    async def head(self, url: str, *, headers: Mapping[str, str]) -> EgressResponse:
        """HEAD ``url`` within the same policy, gate and timeouts as :meth:`post`. A
        redirect is answered, not followed: its target is in ``location``, for the
        caller to judge (it is never requested here). Raises :class:`EgressRefused`,
        :class:`HostBusy` or :class:`EgressError` as :meth:`post` does."""
        return await self._request(url, "HEAD", b"", headers, 0)

    async def _request(
        self, url: str, method: str, content: bytes, headers: Mapping[str, str], max_body: int
    ) -> EgressResponse:
        """One request under the host gate and the deadline; what a target answers is
        returned whatever its status, a redirect included."""
        target = self.policy.target(url)
        host = target.host
        self.gate.enter(host, time.monotonic())
        outcome = Outcome.FAILED
        # DNS, connecting and TLS within the connect timeout, the rest within the read one
        deadline_s = self.connect_timeout_s + self.read_timeout_s
        try:
            async with asyncio.timeout(deadline_s):
                vetted = await self.policy.vet_target(target)
                response = await self._exchange(vetted, method, content, headers, max_body)
            outcome = Outcome.FAILED if _host_failed(response.status) else Outcome.OK
        except EgressRefused:
            outcome = Outcome.UNTRIED
            raise
        except TimeoutError:
            raise EgressError(f"{host} did not answer within {deadline_s:g} s") from None
        finally:
            self.gate.leave(host, time.monotonic(), outcome)
        return response

    async def _exchange(
        self, vetted: Vetted, method: str, content: bytes, headers: Mapping[str, str], max_body: int
    ) -> EgressResponse:
        target = vetted.target
        request_headers = [("Host", target.host_header)] + [
            (k, v) for k, v in headers.items() if k.lower() not in _OWN_HEADERS
        ]
        url = httpcore.URL(
            scheme=target.scheme, host=target.host, port=target.port, target=target.path
        )
        token = _PINNED.set(vetted)
        try:
            async with self._pool.stream(
                method,
                url,
                headers=request_headers,
                content=content,
                extensions={"timeout": self._timeouts},
            ) as response:
                body = await _read_at_most(response, max_body)
                return EgressResponse(
                    response.status, _reason(response.extensions), body, _location(response)
                )
        except httpcore.TimeoutException:
            raise EgressError(f"{target.host} timed out") from None
        except httpcore.ConnectError as exc:
            # produced by our own network and TLS stack, never by the remote's content
            raise EgressError(f"cannot connect to {target.host}: {str(exc)[:200]}") from None
        except httpcore.NetworkError:
            raise EgressError(f"the connection to {target.host} broke off") from None
        except httpcore.ProtocolError:
            raise EgressError(f"{target.host} did not answer in HTTP/1.1") from None
        finally:
            _PINNED.reset(token)

    async def aclose(self) -> None:
        await self._pool.aclose()


async def _read_at_most(response: httpcore.Response, limit: int) -> bytes:
    """Up to ``limit`` bytes of the body; reading stops once they are there
    (closing the response then drops the connection instead of draining it)."""
    body = bytearray()
    if limit <= 0:
        return b""
    async with contextlib.aclosing(response.aiter_stream()) as chunks:  # type: ignore[type-var]
        async for chunk in chunks:
            body += chunk[: limit - len(body)]
            if len(body) >= limit:
                break
    return bytes(body)


def safe_http_client(
    settings: Settings,
    *,
    resolver: Resolver | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> SafeHttpClient:
    """The client for user-aimed requests, as the settings configure it."""
    return SafeHttpClient(
        EgressPolicy(settings.egress_allow, resolver),
        connect_timeout_s=settings.egress_connect_timeout_s,
        read_timeout_s=settings.egress_read_timeout_s,
        host_concurrency=settings.egress_host_concurrency,
        breaker_failures=settings.egress_breaker_failures,
        breaker_cooldown_s=settings.egress_breaker_cooldown_s,
        ssl_context=ssl_context,
    )

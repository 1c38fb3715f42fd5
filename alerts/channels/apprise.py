"""Alerts through Apprise: Telegram, Discord, Slack, ntfy, Pushover, Matrix, Gotify...
named by an Apprise URL (``tgram://bottoken/chat_id``, ``ntfy://ntfy.example.org/topic``).

Which services are accepted is :func:`pricewatch.destinations.apprise_url`: network
notification services that Apprise reaches over HTTP(S) with ``requests``. The URL is
the subscriber's choice, so every request Apprise makes for it goes through the egress
policy, whatever host the plugin picks (the service's API, the server in the URL, a
redirect's target):

- while a message is being sent, ``requests`` sessions in that call (the plugins use
  ``requests.post`` and their own sessions, in this thread or in Apprise's worker
  threads, which copy the caller's context) are served by :class:`_PinnedAdapter`: the
  request's host is vetted by :class:`~pricewatch.egress.EgressPolicy` (public
  addresses only, or what the operator allowed) on the event loop, and the connection
  goes to the vetted address only, the name kept for ``Host``, SNI and the
  certificate check. It is never resolved again, so DNS rebinding gets nowhere;
- redirects are refused, not followed; proxies from the environment are not used;
- connect and read timeouts are ours, not the plugin's.

Apprise is synchronous: each message is sent in a thread of the channel's own pool, so a
slow service holds one of those threads and nothing else (the worker gives the channel
its own queue and senders, like every notification type). A service's host (the server
of a self-hosted one, else the service) is admitted through a
:class:`~pricewatch.host_gate.HostGate`: busy or failing, the message is deferred.

Nothing a service answers is kept: a failure is told by its status code and standard
phrase, or by what our own side saw (refused, unreachable, timed out).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import dataclasses
import functools
import http
import logging
import threading
import time
from typing import Any

import requests
import requests.adapters
from urllib3.connectionpool import HTTPConnectionPool

from alerts.channels.base import (
    Channel,
    Deferred,
    PermanentError,
    TransientError,
    http_status_error,
)
from alerts.notices import Notice
from alerts.rendering import apprise_message
from pricewatch.destinations import AppriseUrl, apprise_url
from pricewatch.egress import EgressError, EgressPolicy, EgressRefused, Vetted
from pricewatch.host_gate import HostBusy, HostGate, Outcome

log = logging.getLogger(__name__)


@dataclasses.dataclass(eq=False)
class _Guard:
    """The egress policy of one message being sent, and what its requests met."""

    policy: EgressPolicy
    loop: asyncio.AbstractEventLoop
    connect_timeout_s: float
    read_timeout_s: float
    # why the policy refused a request (nothing was sent to it)
    refused: str | None = None
    # the last status a service answered, and the last failure to reach one
    status: int | None = None
    failed: str | None = None
    requests: int = 0
    adapter: _PinnedAdapter = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        self.adapter = _PinnedAdapter(self)

    def vet(self, url: str) -> Vetted:
        """Check ``url`` against the policy, DNS included, on the event loop (the
        policy's resolver is asynchronous); raises EgressRefused or EgressError."""
        target = self.policy.target(url)
        future = asyncio.run_coroutine_threadsafe(self.policy.vet_target(target), self.loop)
        try:
            return future.result(timeout=self.connect_timeout_s)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise EgressError(f"cannot resolve {target.host} in time") from None


# the guard of the message the current context is sending (None: not sending one)
_GUARD: contextvars.ContextVar[_Guard | None] = contextvars.ContextVar(
    "pricewatch_apprise_guard", default=None
)


class RefusedByPolicy(requests.ConnectionError):
    """A request the egress policy refused: nothing was sent."""


class _PinnedAdapter(requests.adapters.HTTPAdapter):
    """Serves every request of a guarded send: vetted, pinned, no redirects."""

    def __init__(self, guard: _Guard) -> None:
        super().__init__(max_retries=0)
        self.guard = guard
        # the vetted target of the request under way, per thread
        self._pinned = threading.local()

    def send(  # type: ignore[override]
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: bool | str = True,
        cert: Any = None,
        proxies: Any = None,
    ) -> requests.Response:
        guard = self.guard
        guard.requests += 1
        try:
            vetted = guard.vet(str(request.url))
        except EgressRefused as exc:
            guard.refused = str(exc)
            raise RefusedByPolicy(str(exc), request=request) from None
        except EgressError as exc:
            guard.failed = str(exc)
            raise requests.ConnectionError(str(exc), request=request) from None
        self._pinned.vetted = vetted
        request.headers["Host"] = vetted.target.host_header
        try:
            response = super().send(
                request,
                stream=stream,
                timeout=(guard.connect_timeout_s, guard.read_timeout_s),
                verify=verify,
                cert=cert,
                proxies={},
            )
        except requests.RequestException as exc:
            guard.failed = f"cannot reach {vetted.target.host}: {type(exc).__name__}"
            raise
        finally:
            self._pinned.vetted = None
        guard.status = response.status_code
        if 300 <= response.status_code < 400:
            response.close()
            guard.refused = (
                f"{vetted.target.host} answered with a redirect (HTTP {response.status_code}); "
                "redirects are not followed"
            )
            raise RefusedByPolicy(guard.refused, request=request)
        return response

    def get_connection_with_tls_context(
        self,
        request: requests.PreparedRequest,
        verify: bool | str | None,
        proxies: Any = None,
        cert: Any = None,
    ) -> HTTPConnectionPool:
        vetted: Vetted | None = getattr(self._pinned, "vetted", None)
        if vetted is None:
            raise RefusedByPolicy("no checked address to connect to", request=request)
        host_params, pool_kwargs = self.build_connection_pool_key_attributes(
            request,
            verify,  # type: ignore[arg-type]
            cert,
        )
        # the vetted address, never the name: the name is not resolved again
        host_params["host"] = str(vetted.addresses[0])
        if host_params["scheme"] == "https":
            pool_kwargs = {
                **pool_kwargs,
                "server_hostname": vetted.target.host,
                "assert_hostname": vetted.target.host,
            }
        return self.poolmanager.connection_from_host(**host_params, pool_kwargs=pool_kwargs)

    def request_url(self, request: requests.PreparedRequest, proxies: Any) -> str:
        return request.path_url


_original_get_adapter = requests.Session.get_adapter


def _guarded_get_adapter(self: requests.Session, url: str) -> requests.adapters.BaseAdapter:
    guard = _GUARD.get()
    if guard is not None:
        return guard.adapter
    return _original_get_adapter(self, url)


# Installed once, for the process: a session outside a guarded send is left as it was.
if getattr(requests.Session.get_adapter, "__name__", "") != _guarded_get_adapter.__name__:
    requests.Session.get_adapter = _guarded_get_adapter  # type: ignore[method-assign]


def _notify(guard: _Guard, url: str, title: str, body: str) -> bool:
    """Send through Apprise under ``guard`` (in a thread of the channel's pool)."""
    import apprise

    token = _GUARD.set(guard)
    try:
        plugin = apprise.Apprise.instantiate(url, suppress_exceptions=True)
        if plugin is None:
            return False
        return bool(plugin.notify(body=body, title=title))
    finally:
        _GUARD.reset(token)
        guard.adapter.close()


class AppriseChannel(Channel):
    """Sends notices (and account messages) through Apprise, under the egress policy."""

    def __init__(
        self,
        policy: EgressPolicy,
        *,
        connect_timeout_s: float,
        read_timeout_s: float,
        host_concurrency: int,
        breaker_failures: int,
        breaker_cooldown_s: float,
        threads: int = 16,
    ) -> None:
        if connect_timeout_s <= 0 or read_timeout_s <= 0:
            raise ValueError("timeouts must be positive")
        self.policy = policy
        self.connect_timeout_s = connect_timeout_s
        self.read_timeout_s = read_timeout_s
        self.gate = HostGate(
            concurrency=host_concurrency, failures=breaker_failures, cooldown_s=breaker_cooldown_s
        )
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=threads, thread_name_prefix="apprise"
        )

    async def send(self, notice: Notice) -> None:
        title, body = apprise_message(notice)
        await self.send_text(notice.recipient, title, body)

    async def send_text(self, url: str, title: str, body: str) -> None:
        """Send ``title`` and ``body`` to the service ``url`` names, or raise a
        DeliveryError (refused: permanent; busy host: deferred)."""
        try:
            parsed = apprise_url(url, self.policy.check_url)
        except ValueError as exc:
            raise PermanentError(f"target refused: {exc}") from None
        host = _gate_key(parsed)
        try:
            self.gate.enter(host, time.monotonic())
        except HostBusy as exc:
            raise Deferred(str(exc), retry_after_s=exc.retry_after_s) from None
        loop = asyncio.get_running_loop()
        guard = _Guard(self.policy, loop, self.connect_timeout_s, self.read_timeout_s)
        outcome = Outcome.FAILED
        try:
            sent = await loop.run_in_executor(
                self._pool, functools.partial(_notify, guard, parsed.url, title, body)
            )
            outcome = _outcome(guard, sent)
        finally:
            self.gate.leave(host, time.monotonic(), outcome)
        if guard.refused is not None:
            raise PermanentError(f"target refused: {guard.refused}")
        if sent:
            return
        if guard.status is not None and not 200 <= guard.status < 300:
            raise http_status_error(guard.status, _phrase(guard.status))
        if guard.failed is not None:
            raise TransientError(guard.failed)
        if guard.requests == 0:
            raise PermanentError(f"Apprise could not send to this {parsed.service} URL")
        raise TransientError(f"{parsed.service} did not take the message")

    async def aclose(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _gate_key(parsed: AppriseUrl) -> str:
    if parsed.server is not None:
        return parsed.server
    return f"{parsed.scheme}:"


def _outcome(guard: _Guard, sent: bool) -> Outcome:
    if guard.refused is not None and guard.status is None:
        return Outcome.UNTRIED
    if sent or (guard.status is not None and guard.status < 500 and guard.status != 429):
        return Outcome.OK
    return Outcome.FAILED


def _phrase(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "unknown status"

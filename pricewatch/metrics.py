"""Prometheus metrics shared by the roles, and the endpoint a role process serves them on.

Every role counts into prometheus-client's process-wide registry (``REGISTRY``), the
one the API's ``/metrics`` serves: in ``pricewatch up`` the API, ingest, alerts and the
scheduler share a process, so that one endpoint shows them all. A role running as a
process of its own serves ``/metrics`` and ``/healthz`` on its own port
(:func:`role_endpoint`); the crawler, always a process of its own, does the same from a
Scrapy extension (``crawler.metrics``).

What lives in Redis (the frontier, the streams and their consumer groups) is read when
Prometheus scrapes, by collectors (:class:`FrontierCollector`, :class:`StreamCollector`)
that cost a couple of pipelined round trips of O(1) commands, never a scan.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

import redis
from prometheus_client import REGISTRY, make_wsgi_app
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import ThreadingWSGIServer
from prometheus_client.registry import Collector, CollectorRegistry

from pricewatch.keys import (
    ACCOUNT_MESSAGES_GROUP,
    OBSERVATIONS,
    PRICE_CHANGES,
    PRICE_CORRECTIONS,
    Keys,
)

log = logging.getLogger(__name__)

# Port of each role's endpoint: PRICEWATCH_METRICS_PORT_BASE plus this. "up" is a
# `pricewatch up` that runs no API (with one, the API's /metrics serves everything).
ROLE_PORT_OFFSETS = {"up": 0, "ingest": 1, "alerts": 2, "scheduler": 3}
# Crawler processes (several per machine) take the first free port of this range.
CRAWLER_PORT_OFFSET = 10
CRAWLER_PORTS = 20

# The label value of everything past a BoundedLabel's limit.
OTHER = "other"

# A health check: None when fine, else what is wrong (served as a 503).
HealthCheck = Callable[[], str | None]


class BoundedLabel:
    """Label values as given, up to ``limit`` distinct ones, then :data:`OTHER`: a
    label taken from configuration or the outside world (a proxy's address) must not
    grow the number of series without bound."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, value: str) -> str:
        if value in self._seen:
            return value
        with self._lock:
            if len(self._seen) < self.limit:
                self._seen.add(value)
                return value
        return OTHER


def entry_ms(entry_id: bytes | str) -> int:
    """The time (ms) a stream entry was added, from its id ("<ms>-<seq>")."""
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    return int(text.partition("-")[0])


def _answer(reply: Any) -> Any:
    """A pipelined reply, or the error Redis gave instead raised (a RedisError)."""
    if isinstance(reply, Exception):
        raise reply
    return reply


def _text(value: bytes | str) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else value


# -- collectors over Redis ---------------------------------------------------------------


class _RedisCollector(Collector):
    """A collector that reads Redis on scrape; when Redis does not answer, its
    ``pricewatch_<name>_collector_up`` is 0 and its other metrics are absent (never
    stale)."""

    name = ""

    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        self.client = client
        self.keys = keys

    def families(self) -> list[GaugeMetricFamily]:
        raise NotImplementedError

    def fill(self, families: list[GaugeMetricFamily]) -> None:
        raise NotImplementedError

    def describe(self) -> Iterable[Metric]:
        # names only, so that registering does not read Redis
        return [*self.families(), self._up()]

    def collect(self) -> Iterable[Metric]:
        families = self.families()
        try:
            self.fill(families)
        except redis.RedisError as exc:
            log.debug("metrics: %s collector cannot read Redis: %s", self.name, exc)
            up = self._up()
            up.add_metric([], 0)
            return [up]
        up = self._up()
        up.add_metric([], 1)
        return [*families, up]

    def _up(self) -> GaugeMetricFamily:
        return GaugeMetricFamily(
            f"pricewatch_{self.name}_collector_up",
            f"1 when the {self.name} collector could read Redis at this scrape, else 0",
        )


class FrontierCollector(_RedisCollector):
    """The crawl frontier (``pricewatch.frontier``) as gauges.

    Everything queued is due: the scheduler pushes a product only once it is due
    within its window, so the queued tasks are the due backlog crawlers have not
    taken yet. Leases past their deadline are tasks of workers presumed dead that no
    crawler has returned to the queue yet.
    """

    name = "frontier"

    def families(self) -> list[GaugeMetricFamily]:
        return [
            GaugeMetricFamily(
                "pricewatch_frontier_queued",
                "Crawl tasks queued and due, by lane (verify is popped first)",
                labels=["lane"],
            ),
            GaugeMetricFamily(
                "pricewatch_frontier_inflight", "Crawl tasks leased to a crawler right now"
            ),
            GaugeMetricFamily(
                "pricewatch_frontier_expired_leases",
                "Leased crawl tasks past their lease deadline, not yet requeued",
            ),
            GaugeMetricFamily(
                "pricewatch_frontier_deferred",
                "Crawl tasks pushed while the same product was in flight, held behind it",
            ),
        ]

    def __init__(self, client: redis.Redis, keys: Keys, partitions: int) -> None:
        super().__init__(client, keys)
        self.partitions = range(partitions)

    def fill(self, families: list[GaugeMetricFamily]) -> None:
        queued, inflight, expired, deferred = families
        k = self.keys
        # lease deadlines are Redis server time (ms); this machine's clock is close
        # enough for a gauge
        now_ms = int(time.time() * 1000)
        pipe = self.client.pipeline(transaction=False)
        for n in self.partitions:
            pipe.zcard(k.frontier_verify(n))
            pipe.zcard(k.frontier(n))
            pipe.zcard(k.frontier_inflight(n))
            pipe.zcount(k.frontier_inflight(n), "-inf", now_ms)
            pipe.hlen(k.frontier_deferred(n))
        replies = pipe.execute()
        # summed over the partitions: a gauge per partition would say nothing more
        verify, ordinary, held, late, behind = (sum(replies[i::5]) for i in range(5))
        queued.add_metric(["verify"], verify)
        queued.add_metric(["ordinary"], ordinary)
        inflight.add_metric([], held)
        expired.add_metric([], late)
        deferred.add_metric([], behind)


class StreamCollector(_RedisCollector):
    """Length, consumer groups' pending entries and lag of every stream a role
    consumes, per partition, and the dead-letter stream's length.

    A group's lag in seconds is the age of its oldest entry not acknowledged yet:
    the oldest pending (delivered, not acked) or, if older, the first not
    delivered at all; 0 when it has caught up. For ingest that is how far the
    price history is behind the crawlers.
    """

    name = "streams"

    def __init__(self, client: redis.Redis, keys: Keys, partitions: int) -> None:
        super().__init__(client, keys)
        self.streams: list[tuple[str, str, str]] = [
            (keys.stream(name, p), name, str(p))
            for name in (OBSERVATIONS, PRICE_CHANGES, PRICE_CORRECTIONS)
            for p in range(partitions)
        ]
        self.streams.append((keys.account_messages, ACCOUNT_MESSAGES_GROUP, "0"))

    def families(self) -> list[GaugeMetricFamily]:
        return [
            GaugeMetricFamily(
                "pricewatch_stream_length",
                "Entries in a stream partition (capped by MAXLEN ~)",
                labels=["stream", "partition"],
            ),
            GaugeMetricFamily(
                "pricewatch_stream_pending",
                "Entries delivered to a consumer group and not acknowledged yet",
                labels=["stream", "partition", "group"],
            ),
            GaugeMetricFamily(
                "pricewatch_stream_undelivered",
                "Entries a consumer group has not read yet",
                labels=["stream", "partition", "group"],
            ),
            GaugeMetricFamily(
                "pricewatch_stream_lag_seconds",
                "Age of a consumer group's oldest entry not acknowledged yet (0: caught up)",
                labels=["stream", "partition", "group"],
            ),
            GaugeMetricFamily("pricewatch_dead_letter_length", "Entries on the dead-letter stream"),
        ]

    def fill(self, families: list[GaugeMetricFamily]) -> None:
        length, pending, undelivered, lag, dead = families
        # Redis's clock, as the entry ids are (a Redis Cluster pipeline cannot hold
        # TIME: it names no key)
        seconds, micros = self.client.time()
        now_ms = int(seconds) * 1000 + int(micros) // 1000
        pipe = self.client.pipeline(transaction=False)
        pipe.xlen(self.keys.dead_letter)
        for key, _, _ in self.streams:
            pipe.xlen(key)
            # a stream nobody wrote to yet has no groups: an error reply, skipped
            pipe.xinfo_groups(key)
        replies = pipe.execute(raise_on_error=False)
        dead.add_metric([], _answer(replies[0]))
        groups: list[tuple[str, str, str, str, bytes]] = []
        for i, (key, name, partition) in enumerate(self.streams):
            size, infos = _answer(replies[1 + 2 * i]), replies[2 + 2 * i]
            length.add_metric([name, partition], size)
            if isinstance(infos, Exception):
                continue
            for info in infos:
                group = _text(info["name"])
                labels = [name, partition, group]
                pending.add_metric(labels, info["pending"])
                if info.get("lag") is not None:
                    # None: Redis cannot tell (entries were trimmed or deleted)
                    undelivered.add_metric(labels, info["lag"])
                groups.append((key, name, partition, group, info["last-delivered-id"]))
        if not groups:
            return
        # the oldest pending entry, and the first one after the last delivered
        pipe = self.client.pipeline(transaction=False)
        for key, _, _, group, last in groups:
            pipe.xpending(key, group)
            pipe.xrange(key, min=b"(" + last, max="+", count=1)
        replies = pipe.execute()
        for i, (_, name, partition, group, _) in enumerate(groups):
            summary, following = replies[2 * i], replies[2 * i + 1]
            oldest = [entry_ms(summary["min"])] if summary.get("min") else []
            if following:
                oldest.append(entry_ms(following[0][0]))
            age_s = max(0, now_ms - min(oldest)) / 1000 if oldest else 0.0
            lag.add_metric([name, partition, group], age_s)


_installed: set[str] = set()
_installed_lock = threading.Lock()


def install(collector: _RedisCollector, registry: CollectorRegistry = REGISTRY) -> bool:
    """Register ``collector`` unless one of its kind already is (in ``pricewatch up``
    several roles of one process would each ask). True when registered now."""
    with _installed_lock:
        mark = f"{id(registry)}:{collector.name}"
        if mark in _installed:
            return False
        registry.register(collector)
        _installed.add(mark)
        return True


def install_role_collectors(
    client: redis.Redis,
    keys: Keys,
    partitions: int,
    roles: Iterable[str],
    registry: CollectorRegistry = REGISTRY,
) -> None:
    """The collectors over Redis that the metrics of ``roles`` (one process) include:
    the frontier with the scheduler (which fills it), the streams with their consumers."""
    roles = set(roles)
    if "scheduler" in roles:
        install(FrontierCollector(client, keys, partitions), registry)
    if roles & {"ingest", "alerts"}:
        install(StreamCollector(client, keys, partitions), registry)


# -- the endpoint ------------------------------------------------------------------------


class _QuietHandler(WSGIRequestHandler):
    """No line on stderr per scrape."""

    def log_message(self, format: str, *args: Any) -> None:
        pass


def metrics_app(registry: CollectorRegistry, health: HealthCheck | None = None) -> Any:
    """A WSGI app: ``/metrics`` (Prometheus text), ``/healthz`` (200 ``{"status":
    "ok"}``, or 503 with the problem), anything else 404."""
    metrics = make_wsgi_app(registry)

    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/metrics":
            return metrics(environ, start_response)  # type: ignore[no-any-return]
        if path == "/healthz":
            problem = health() if health is not None else None
            body = json.dumps(
                {"status": "ok"} if problem is None else {"status": "error", "detail": problem}
            ).encode()
            status = "200 OK" if problem is None else "503 Service Unavailable"
            start_response(
                status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
            )
            return [body]
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found: /metrics and /healthz are served here\n"]

    return app


class MetricsEndpoint:
    """``/metrics`` and ``/healthz`` on a port of their own, served from a daemon
    thread (a scrape never waits for the role, nor the role for a scrape)."""

    def __init__(
        self,
        host: str,
        port: int,
        registry: CollectorRegistry = REGISTRY,
        health: HealthCheck | None = None,
    ) -> None:
        # bind now: a taken port is an OSError for the caller, not a dead thread
        self.server = make_server(
            host,
            port,
            metrics_app(registry, health),
            ThreadingWSGIServer,
            handler_class=_QuietHandler,
        )
        self.thread = threading.Thread(
            target=self.server.serve_forever, name="metrics", daemon=True
        )
        self.thread.start()

    @property
    def port(self) -> int:
        return int(self.server.server_port)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


def role_port(port_base: int, role: str) -> int:
    return port_base + ROLE_PORT_OFFSETS[role]


@contextlib.contextmanager
def role_endpoint(
    host: str, port_base: int, role: str, health: HealthCheck | None = None
) -> Iterator[MetricsEndpoint | None]:
    """The endpoint of a role's process while the block runs; None when metrics are
    not served (``port_base`` 0, or its port is taken: the role matters more than its
    metrics, and Prometheus shows the target down)."""
    if not port_base:
        yield None
        return
    port = role_port(port_base, role)
    try:
        endpoint = MetricsEndpoint(host, port, health=health)
    except OSError as exc:
        log.error("%s: metrics not served: cannot listen on %s:%d: %s", role, host, port, exc)
        yield None
        return
    log.info("%s: metrics on http://%s:%d/metrics", role, host, endpoint.port)
    try:
        yield endpoint
    finally:
        endpoint.close()


def first_free_endpoint(
    host: str, first_port: int, count: int, health: HealthCheck | None = None
) -> MetricsEndpoint:
    """An endpoint on the first port of ``first_port .. first_port + count - 1`` that
    is free: processes of one kind on one machine (crawlers) each find their own."""
    error: OSError | None = None
    for port in range(first_port, first_port + count):
        try:
            return MetricsEndpoint(host, port, health=health)
        except OSError as exc:
            error = exc
    raise OSError(f"no free metrics port in {first_port}-{first_port + count - 1}: {error}")


__all__ = [
    "CRAWLER_PORTS",
    "CRAWLER_PORT_OFFSET",
    "REGISTRY",
    "ROLE_PORT_OFFSETS",
    "BoundedLabel",
    "FrontierCollector",
    "MetricsEndpoint",
    "StreamCollector",
    "entry_ms",
    "first_free_endpoint",
    "install",
    "install_role_collectors",
    "metrics_app",
    "role_endpoint",
    "role_port",
]

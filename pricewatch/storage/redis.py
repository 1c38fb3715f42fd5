"""Redis clients, and the chart-cache invalidation ingest queues with a price change.

A Redis URL names one server (``redis://``, ``rediss://``, ``unix://``) or a Redis
Cluster: ``redis+cluster://host:port[,host:port...][/0]`` (``rediss+cluster://``
over TLS). The hosts are startup nodes: the client asks any of them for the slot
map and then talks to every master. Streams (publishing, consuming, dead letters)
live in :mod:`pricewatch.storage.streams`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import unquote, urlsplit

import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.cluster
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff
from redis.exceptions import RedisClusterException
from redis.retry import Retry

from pricewatch.keys import INVALIDATION_SEPARATOR, Keys

log = logging.getLogger(__name__)

# scheme -> over TLS
CLUSTER_SCHEMES = {"redis+cluster": False, "rediss+cluster": True}
CLUSTER_URL_FORM = "redis+cluster://[user:password@]host:port[,host:port...][/0]"
DEFAULT_PORT = 6379
# a sync client PINGs a connection idle this long before using it
HEALTH_CHECK_S = 30


@dataclass(frozen=True)
class ClusterUrl:
    """What a Redis Cluster URL says: its startup nodes and how to log in."""

    nodes: tuple[tuple[str, int], ...]
    tls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    def client_options(self) -> dict[str, Any]:
        return {"ssl": self.tls, "username": self.username, "password": self.password}


def is_cluster_url(url: str) -> bool:
    return url.partition("://")[0].lower() in CLUSTER_SCHEMES


def parse_cluster_url(url: str) -> ClusterUrl:
    """The parts of a ``redis+cluster://`` / ``rediss+cluster://`` URL; ValueError
    with the reason when it is not one. Messages never repeat the credentials."""
    scheme = url.partition("://")[0].lower()
    if scheme not in CLUSTER_SCHEMES:
        raise ValueError(f"not a Redis Cluster URL (expected {CLUSTER_URL_FORM})")
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise ValueError(f"bad Redis Cluster URL ({exc}); expected {CLUSTER_URL_FORM}") from None
    if parts.query or parts.fragment:
        raise ValueError("a Redis Cluster URL takes no ?options or #fragment")
    userinfo, _, hostlist = parts.netloc.rpartition("@")
    username, _, password = userinfo.partition(":")
    nodes = tuple(_host_port(item) for item in hostlist.split(",")) if hostlist else ()
    if not nodes:
        raise ValueError(f"a Redis Cluster URL names at least one host: {CLUSTER_URL_FORM}")
    database = parts.path.strip("/")
    if database not in ("", "0"):
        raise ValueError(
            f"a Redis Cluster has only database 0, the URL asks for /{database}"
            if database.isdigit()
            else f"bad database /{database} in a Redis Cluster URL (only /0)"
        )
    return ClusterUrl(
        nodes=nodes,
        tls=CLUSTER_SCHEMES[scheme],
        username=unquote(username) or None,
        password=unquote(password) if password else None,
    )


def _host_port(item: str) -> tuple[str, int]:
    if item.startswith("["):  # [IPv6]:port
        host, _, rest = item[1:].partition("]")
        if rest and not rest.startswith(":"):
            raise ValueError(f"bad host {item!r} in a Redis Cluster URL")
        port = rest[1:] if rest else None
    else:
        host, colon, port_text = item.partition(":")
        port = port_text if colon else None
    if not host:
        raise ValueError(f"empty host in a Redis Cluster URL ({item!r}): {CLUSTER_URL_FORM}")
    if port is None:
        return host, DEFAULT_PORT
    if not (port.isascii() and port.isdigit() and 0 < int(port) < 65536):
        raise ValueError(f"bad port {port!r} for host {host!r} in a Redis Cluster URL")
    return host, int(port)


def connect(url: str, **options: Any) -> redis.Redis:
    """A client of the Redis or Redis Cluster that ``url`` names; ``options`` go to
    redis-py (``socket_connect_timeout``, ``decode_responses``...).

    A cluster client is a :class:`redis.cluster.RedisCluster`, typed here as
    ``redis.Redis`` because it answers the same keyed commands, scripts and
    pipelines (keys that one script or MULTI touches must share a hash tag). Unlike
    a single-server client it connects at once, to read the slot map, and raises
    :class:`redis.exceptions.RedisClusterException` when no startup node answers.
    Neither kind retries a failed command: the workers' loops replay a failed
    round, which keeps a transaction from running twice when its reply was lost
    (the cluster client still follows MOVED/ASK redirections, and reads the slot
    map again after an error)."""
    if is_cluster_url(url):
        parsed = parse_cluster_url(url)
        cluster = redis.cluster.RedisCluster(
            startup_nodes=[redis.cluster.ClusterNode(h, p) for h, p in parsed.nodes],
            retry=Retry(NoBackoff(), 0),
            **{
                "socket_keepalive": True,
                # the sync cluster client does not hand ``health_check_interval``
                # to its nodes' connections (not among its node options): set it
                # on each connection as it is made
                "redis_connect_func": _health_checked,
                **parsed.client_options(),
                **options,
            },
        )
        return cast(redis.Redis, cluster)
    return redis.Redis.from_url(
        url, **{"socket_keepalive": True, "health_check_interval": HEALTH_CHECK_S, **options}
    )


def _health_checked(connection: Any) -> None:
    """PING a connection idle for longer than HEALTH_CHECK_S before using it."""
    connection.health_check_interval = HEALTH_CHECK_S


def connect_async(url: str, **options: Any) -> redis.asyncio.Redis:
    """An asyncio client for request handlers (of a cluster too, see :func:`connect`;
    the async cluster client connects on its first command).

    A pooled connection that Redis closed (it restarted) fails its next command;
    one immediate retry on a fresh connection spares that request, and still
    fails at once while Redis is down. (The workers' sync clients do not retry,
    see :func:`connect`.)"""
    retry = AsyncRetry(NoBackoff(), 1)
    if is_cluster_url(url):
        parsed = parse_cluster_url(url)
        cluster = redis.asyncio.cluster.RedisCluster(
            startup_nodes=[redis.asyncio.cluster.ClusterNode(h, p) for h, p in parsed.nodes],
            retry=retry,
            **{**parsed.client_options(), **options},
        )
        return cast(redis.asyncio.Redis, cluster)
    return redis.asyncio.Redis.from_url(url, retry=retry, **options)


async def open_async(url: str, **options: Any) -> redis.asyncio.Redis:
    """:func:`connect_async`, with a cluster's slot map read now, on the running loop.

    redis-py 8.1 queues each command of an async cluster MULTI through
    ``asyncio.run`` on a thread of its own; when such a command is the client's
    first, the client connects on that throwaway loop and its connections are dead
    once the command is queued. Reading the slot map first keeps them on the caller's
    loop. A cluster that does not answer yet is left to the first command, as a
    single-server client would be."""
    client = connect_async(url, **options)
    if isinstance(client, redis.asyncio.cluster.RedisCluster):
        try:
            await client.initialize()
        except (redis.RedisError, RedisClusterException) as exc:
            log.warning("Redis Cluster not reachable yet (%s): connecting on first use", exc)
    return client


def connect_pubsub_async(url: str, **options: Any) -> redis.asyncio.Redis:
    """An asyncio client to SUBSCRIBE with.

    On a cluster it is a plain client of the first startup node: Redis Cluster
    broadcasts every PUBLISH to all its nodes, so one node hears every channel,
    and a plain client keeps the pub/sub API the single-server case uses. (The
    feed depends on that node: when it is down the subscriber's reconnects fail
    until it is back.)"""
    if is_cluster_url(url):
        parsed = parse_cluster_url(url)
        host, port = parsed.nodes[0]
        return redis.asyncio.Redis(host=host, port=port, **{**parsed.client_options(), **options})
    return redis.asyncio.Redis.from_url(url, **options)


def drop_histories(pipe: Any, keys: Keys, products: Iterable[tuple[str, str]]) -> None:
    """Queue on ``pipe`` what makes the cached chart histories of ``products``
    stale everywhere: DEL of each product's hash in Redis, and a message on
    ``history_invalidations`` for the copies API processes hold in memory.

    On a Redis Cluster ``pipe`` must not be a transaction: a MULTI holds keys of
    one slot, and PUBLISH has none. (PUBLISH goes through ``execute_command``
    because redis-py refuses ``publish()`` on a cluster pipeline, although the
    cluster runs it like any command and broadcasts it to every node.)"""
    stale = [keys.history_cache(market, asin) for market, asin in set(products)]
    if not stale:
        return
    # One DEL and one message for all: a batch of ingest drops thousands, and two
    # commands a product (with an XADD a change) had made the transaction that commits
    # a batch a quarter of ingest's time. A cluster pipeline takes one key per DEL (the
    # keys live in different slots).
    if isinstance(pipe, redis.cluster.ClusterPipeline):
        for key in stale:
            pipe.delete(key)
    else:
        pipe.delete(*stale)
    pipe.execute_command("PUBLISH", keys.history_invalidations, INVALIDATION_SEPARATOR.join(stale))

"""Serving the API with uvicorn until told to stop.

``pricewatch up`` calls ``run`` in a thread of the process that owns the embedded chDB
engine (and passes that engine's client in); ``pricewatch api`` calls it in the
foreground. Either way the caller owns signals: uvicorn installs none here and stops
when ``stop`` is set.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
from typing import Any

import uvicorn

from api.app import create_app
from pricewatch.gc_tuning import freeze_heap
from pricewatch.settings import Settings
from pricewatch.storage.clickhouse import database_from_url, get_clickhouse, migrate
from pricewatch.storage.sql import migrate_sql

log = logging.getLogger(__name__)

_POLL_S = 0.2


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signal handling to whoever runs it."""

    @contextlib.contextmanager
    def capture_signals(self) -> Any:
        yield


def shared_socket(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` that other processes may bind too
    (SO_REUSEPORT): the kernel hands each new connection to one of them."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    return sock


async def _serve(
    server: _Server, stop: threading.Event, sockets: list[socket.socket] | None
) -> None:
    task = asyncio.create_task(server.serve(sockets=sockets))
    frozen = False
    while not stop.is_set() and not task.done():
        if not frozen and server.started:
            freeze_heap()
            frozen = True
        await asyncio.sleep(_POLL_S)
    server.should_exit = True
    await task


def serve(
    app: Any,
    host: str,
    port: int,
    stop: threading.Event,
    log_level: str = "info",
    *,
    shared_port: bool = False,
) -> None:
    """Serve an ASGI app with uvicorn on this thread until ``stop`` is set; with
    ``shared_port``, on a port other processes serve too (``shared_socket``)."""
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level.lower(),
        # the peer address as it is: api.forwarded reads X-Forwarded-For, and only
        # behind the proxies Settings.trusted_proxies names
        proxy_headers=False,
        access_log=False,
        lifespan="on",
        # uvicorn's own handlers and format would set the API's lines apart from every
        # other role's; without them its loggers propagate to the root logger `up` set up
        log_config=None,
    )
    # The default asyncio loop, not uvloop: in bench/api.py (1,000 req/s of cached
    # charts) uvloop doubled the median latency and did not lower the 99th percentile.
    sockets = [shared_socket(host, port)] if shared_port else None
    try:
        asyncio.run(_serve(_Server(config), stop, sockets))
    finally:
        for sock in sockets or ():
            sock.close()


def run(
    settings: Settings, redis_url: str, stop: threading.Event, clickhouse_client: Any = None
) -> None:
    """Migrate the stores (idempotent), then serve on ``settings.api_host:api_port``
    until ``stop`` is set."""
    cluster = settings.clickhouse_cluster
    client = clickhouse_client or get_clickhouse(settings.clickhouse_url, cluster=cluster)
    migrate(client, database_from_url(settings.clickhouse_url), cluster=cluster)
    migrate_sql(settings.database_url)
    app = create_app(settings, redis_url=redis_url, clickhouse_client=client)
    log.info("API on http://%s:%d", settings.api_host, settings.api_port)
    try:
        serve(
            app,
            settings.api_host,
            settings.api_port,
            stop,
            settings.log_level,
            shared_port=settings.api_processes > 1,
        )
    finally:
        if clickhouse_client is None:
            client.close()

"""Real services for tests: a Redis server, a Redis Cluster and a PostgreSQL cluster
in temp dirs.

Started once per session on free loopback ports, unless the environment names
existing ones (PRICEWATCH_TEST_REDIS_URL, PRICEWATCH_TEST_REDIS_CLUSTER_URL,
PRICEWATCH_TEST_POSTGRES_URL).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

# the server starters live with the dev tools, where the benchmarks reach them too
from pricewatch.devtools.services import (  # noqa: F401 (re-exported for the tests)
    database_url,
    free_port,
    postgres_admin,
    postgres_server,
    private_dir,
    redis_cluster,
    redis_server,
    wait_port,
)


@contextlib.contextmanager
def own_server(
    name: str, start: Callable[[Path], contextlib.AbstractContextManager[str]]
) -> Iterator[tuple[str, Callable[[], None]]]:
    """A server of the caller's own, started by ``start`` (:func:`redis_server`,
    :func:`postgres_server`) in a private dir, for a test that stops it half-way (the
    session's must stay up for the other tests): its URL, and what stops it."""
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(start(stack.enter_context(private_dir(name))))
        yield url, stack.close


def serve_app(app: object, name: str = "test-app", port: int | None = None) -> Iterator[str]:
    """Serve an ASGI app with uvicorn in a thread (on ``port``, else a free one);
    yields its base URL.

    A generator so fixtures can ``for url in serve_app(app): yield ...``.
    """
    import threading

    import uvicorn

    port = port or free_port()
    # no proxy headers, as api.server serves the API: the app reads X-Forwarded-For
    # itself, behind trusted proxies only
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,  # type: ignore[arg-type]
            log_level="warning",
            ws="none",
            lifespan="on",
            proxy_headers=False,
        )
    )
    thread = threading.Thread(target=server.run, name=name, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"{name}: the server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(20)


@contextlib.asynccontextmanager
async def postgres_database(
    server_url: str, *, prefix: str = "pw", template: str | None = None
) -> AsyncIterator[str]:
    """A database of the caller's own on the session's PostgreSQL (a copy of
    ``template`` if given), dropped afterwards; yields its URL."""
    import asyncio
    import uuid

    name = f"{prefix}_{uuid.uuid4().hex}"
    create = f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")
    await postgres_admin(server_url, create)
    try:
        yield database_url(server_url, name)
    finally:
        # The server may still be closing the test's sessions: retry a little,
        # then leave the database to the throwaway cluster.
        for _ in range(3):
            try:
                await postgres_admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                break
            except Exception:
                await asyncio.sleep(0.2)


async def eventually(
    check: Callable[[], Any], timeout: float = 10.0, interval: float = 0.02
) -> Any:
    """Wait until ``check()`` is truthy (awaiting it when it is a coroutine)."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(interval)

"""Several API processes on one port: each binds it with SO_REUSEPORT and the kernel
hands every new connection to one of them. Two servers of the real ``serve`` (here on
two threads: the kernel treats two sockets of one process as it treats two
processes' sockets), each answering with its own name."""

from __future__ import annotations

import contextlib
import http.client
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from api.server import serve, shared_socket
from pricewatch.supervision import listen_problem
from tests.services import free_port, wait_port


def _named(name: str) -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": name.encode()})

    return app


@contextlib.contextmanager
def serving(name: str, port: int, shared: bool) -> Iterator[threading.Thread]:
    stop = threading.Event()
    thread = threading.Thread(
        target=serve,
        args=(_named(name), "127.0.0.1", port, stop, "warning"),
        kwargs={"shared_port": shared},
        daemon=True,
    )
    thread.start()
    try:
        yield thread
    finally:
        stop.set()
        thread.join(15)


def _ask(port: int) -> str:
    # a new connection each time: the kernel picks a socket per connection
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/")
        return conn.getresponse().read().decode()
    finally:
        conn.close()


def test_processes_sharing_the_api_port_each_take_connections() -> None:
    port = free_port()
    with serving("one", port, shared=True), serving("two", port, shared=True):
        wait_port("127.0.0.1", port)
        # both listening: the port check of a further process finds no obstacle
        assert listen_problem("127.0.0.1", port, shared=True) is None
        assert "in use" in (listen_problem("127.0.0.1", port) or "")
        answers = {_ask(port) for _ in range(200)}
    assert answers == {"one", "two"}


def test_a_port_held_without_sharing_is_refused() -> None:
    with socket.socket() as plain:
        plain.bind(("127.0.0.1", 0))
        plain.listen()
        port = plain.getsockname()[1]
        with pytest.raises(OSError):
            shared_socket("127.0.0.1", port).close()
        assert "in use" in (listen_problem("127.0.0.1", port, shared=True) or "")

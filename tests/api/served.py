"""The app served the way production serves it (``api.server.serve``: uvicorn,
no proxy headers) on a free port, in a thread of the test process."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any

from api.server import serve
from tests.services import free_port, wait_port


@contextlib.contextmanager
def serving(app: Any) -> Iterator[str]:
    """Yields the base URL; the server stops when the block ends."""
    port = free_port()
    stop = threading.Event()
    thread = threading.Thread(
        target=serve,
        args=(app, "127.0.0.1", port, stop, "warning"),
        name=f"api-{port}",
        daemon=True,
    )
    thread.start()
    try:
        wait_port("127.0.0.1", port)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop.set()
        thread.join(15)


def plain_app(answer: Callable[[], bytes]) -> Any:
    """The smallest ASGI app a server can serve: its lifespan starts and stops at once,
    and every request gets 200 with ``answer()`` as its body."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        body = answer()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})

    return app

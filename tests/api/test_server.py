from __future__ import annotations

import dataclasses
import gc
import threading
import time
from typing import Any

import httpx
import pytest

from api.server import run, serve
from pricewatch.settings import Settings
from tests.api.served import plain_app
from tests.services import free_port, wait_port

pytestmark = [pytest.mark.clickhouse, pytest.mark.redis]


@pytest.mark.slow
def test_run_serves_until_stopped(
    api_settings: Settings,
    redis_url: str,
    clickhouse_client: Any,
    clickhouse_database: str,
    tmp_path: Any,
) -> None:
    port = free_port()
    settings = dataclasses.replace(
        api_settings,
        api_port=port,
        # the URL only names the database here: the engine is the one passed in
        clickhouse_url=f"http://127.0.0.1:9/{clickhouse_database}",
        database_url=f"sqlite+aiosqlite:///{tmp_path}/service.db",
        log_level="WARNING",
    )
    stop = threading.Event()
    errors: list[BaseException] = []

    def target() -> None:
        try:
            run(settings, redis_url, stop, clickhouse_client=clickhouse_client)
        except BaseException as exc:  # reported by the test below
            errors.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    try:
        wait_port("127.0.0.1", port)
        health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10)
        assert health.status_code == 200, health.text
        assert health.json()["checks"] == {"redis": "ok", "sql": "ok", "clickhouse": "ok"}
    finally:
        stop.set()
        thread.join(15)
    assert not thread.is_alive()
    assert errors == []


def test_serve_freezes_the_startup_heap() -> None:
    """Tail latency: what exists once the server is up is frozen out of the garbage
    collector, so full collections no longer stop the event loop for 100+ ms."""
    seen: dict[str, Any] = {}

    def answer() -> bytes:
        seen["frozen"] = gc.get_freeze_count()
        return b"ok"

    app = plain_app(answer)

    port = free_port()
    stop = threading.Event()
    thread = threading.Thread(
        target=serve, args=(app, "127.0.0.1", port, stop, "warning"), daemon=True
    )
    thread.start()
    try:
        wait_port("127.0.0.1", port)
        deadline = time.monotonic() + 10
        while True:  # the heap is frozen just after startup, within a poll interval
            assert httpx.get(f"http://127.0.0.1:{port}/", timeout=10).text == "ok"
            if seen["frozen"] > 0 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join(15)
        gc.unfreeze()
    assert not thread.is_alive()
    assert seen["frozen"] > 0

from __future__ import annotations

import dataclasses
import threading
from typing import Any

import httpx
import pytest

from api.service import run
from pricewatch.settings import Settings
from tests.services import free_port, wait_port


@pytest.mark.slow
def test_run_serves_until_stopped(
    api_settings: Settings, redis_url: str, clickhouse_client: Any, clickhouse_database: str,
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

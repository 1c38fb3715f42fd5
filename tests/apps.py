"""The real API app served for browser tests (website, extension): real Redis,
a chDB database of its own, SQLite, uvicorn on a free port."""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from pricewatch.settings import Settings, load_settings
from tests.services import free_port, serve_app


@dataclasses.dataclass(frozen=True)
class ServedApp:
    url: str
    database_url: str
    settings: Settings


def served_app(
    name: str,
    workdir: Path,
    redis_url: str,
    clickhouse_client: Any,
    load_history: Callable[[Any, int], None],
) -> Iterator[ServedApp]:
    """Migrate fresh stores, load history with ``load_history(store, now_ms)``,
    serve ``create_app`` on them; a generator for module fixtures."""
    from api.app import create_app
    from pricewatch.storage.clickhouse import PriceStore, migrate
    from pricewatch.storage.sql import migrate_sql

    database = f"test_{name}_{uuid.uuid4().hex}"
    migrate(clickhouse_client, database)
    load_history(PriceStore(clickhouse_client, database), int(time.time() * 1000))
    database_url = f"sqlite+aiosqlite:///{workdir}/pricewatch.db"
    migrate_sql(database_url)
    port = free_port()
    settings = dataclasses.replace(
        load_settings({"PRICEWATCH_DATA_DIR": str(workdir)}),
        # every test registers and signs in from 127.0.0.1
        api_auth_rate_per_min=10_000,
        api_register_rate_per_hour=10_000,
        key_prefix=f"test-{name}-{uuid.uuid4().hex[:8]}:",
        # the links in e-mails lead to this server
        public_url_override=f"http://127.0.0.1:{port}",
    )
    app = create_app(
        settings,
        redis_url=redis_url,
        clickhouse_client=clickhouse_client,
        clickhouse_database=database,
        database_url=database_url,
        view_flush_s=0,
    )
    try:
        for url in serve_app(app, f"{name}-test-api", port):
            yield ServedApp(url=url, database_url=database_url, settings=settings)
    finally:
        clickhouse_client.command(f"DROP DATABASE IF EXISTS {database} SYNC")

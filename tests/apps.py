"""The real API app served for browser tests (website, extension): real Redis,
a chDB database of its own, SQLite, uvicorn on a free port."""

from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from api.web.assets import STATIC_DIR, missing_bundles
from pricewatch.keys import Keys
from pricewatch.models import Availability, Product
from pricewatch.settings import Settings, load_settings
from tests.observations import changes_of, observation_of_row
from tests.services import free_port, serve_app
from tests.sql_store import engine_on

T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class ServedApp:
    url: str
    database_url: str
    settings: Settings

    @property
    def keys(self) -> Keys:
        return Keys(self.settings.key_prefix)

    def client(self) -> httpx.Client:
        """An HTTP client of the served app."""
        return httpx.Client(base_url=self.url, timeout=10)

    def on_database(self, work: Callable[[AsyncEngine], Awaitable[T]]) -> T:
        """``work(engine)`` on the app's database, run to its end in a thread of its own
        (Playwright's sync API keeps an event loop running in the test's thread)."""

        async def run() -> T:
            async with engine_on(self.database_url) as engine:
                return await work(engine)

        with ThreadPoolExecutor(1) as pool:
            return pool.submit(asyncio.run, run()).result()


def no_history(store: Any, now_ms: int) -> None:
    """Load nothing: a site whose products are all unknown."""


def store_price_rows(store: Any, title: str, rows: list[list[Any]]) -> None:
    """Store ``rows`` (prices_raw rows, oldest first, of one US product), the changes
    ingest would have published of them, and the product's catalogue row, in stock at
    the last price."""
    store.insert_prices(rows)
    store.insert_changes(changes_of([observation_of_row(row) for row in rows]))
    product = Product(
        market="us",
        asin=rows[-1][1],
        title=title,
        currency="USD",
        last_price=rows[-1][4],
        availability=Availability.IN_STOCK,
        first_seen=rows[0][3],
        last_seen=rows[-1][3],
    )
    store.upsert_products([product])


def site_fixture(name: str, load_history: Callable[[Any, int], None] = no_history) -> Any:
    """A module's ``site`` fixture: the website served as :func:`served_app` serves it,
    with the history ``load_history`` loads; its front-end bundles must be built."""

    @pytest.fixture(scope="module")
    def site(
        tmp_path_factory: pytest.TempPathFactory, redis_url: str, clickhouse_client: Any
    ) -> Iterator[ServedApp]:
        require_web_bundles()
        workdir = tmp_path_factory.mktemp(name)
        yield from served_app(name, workdir, redis_url, clickhouse_client, load_history)

    return site


def require_web_bundles() -> None:
    """Fail, naming the command that builds them, unless the front-end bundles are built."""
    missing = missing_bundles()
    if missing:
        pytest.fail(
            f"front-end bundles not built in {STATIC_DIR} ({', '.join(missing)}): run `make web`"
        )


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

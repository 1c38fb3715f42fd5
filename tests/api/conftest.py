"""An API over real stores: the session Redis, a fresh chDB database, SQLite per test."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis as redis_lib
from litestar import Litestar
from litestar.testing import AsyncTestClient

from api.app import create_app
from pricewatch.egress import EgressPolicy
from pricewatch.keys import Keys
from pricewatch.settings import Settings, load_settings
from pricewatch.storage.clickhouse import PriceStore
from tests.apps import ServedApp
from tests.browser import chromium, collect_errors
from tests.stand_in_dns import PUBLIC, StandInDns

HOUR = 3_600_000
DAY = 24 * HOUR


@pytest.fixture
def api_settings(tmp_path: Path) -> Settings:
    base = load_settings({"PRICEWATCH_DATA_DIR": str(tmp_path)})
    return dataclasses.replace(base, key_prefix="test:", stream_partitions=2)


@pytest.fixture
def make_app(
    api_settings: Settings,
    redis_url: str,
    redis_client: redis_lib.Redis,
    clickhouse_client: Any,
    clickhouse_database: str,
    price_store: PriceStore,
    sql_url: str,
    keys: Keys,
) -> Callable[..., Litestar]:
    """Build an app; keyword arguments override settings fields."""

    def build(
        database_url: str | None = None,
        clock: Callable[[], int] | None = None,
        redis: str | None = None,
        **overrides: Any,
    ) -> Litestar:
        settings = dataclasses.replace(api_settings, **overrides)
        return create_app(
            settings,
            redis_url=redis or redis_url,
            clickhouse_client=clickhouse_client,
            clickhouse_database=clickhouse_database,
            database_url=database_url or sql_url,
            keys=keys,
            clock=clock,
            view_flush_s=0,
        )

    return build


@pytest.fixture
async def client(make_app: Callable[..., Litestar]) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(app=make_app()) as test_client:
        use_dns(test_client.app)
        yield test_client


def use_dns(
    app: Litestar, table: dict[str, list[str]] | None = None, allow: tuple[str, ...] = ()
) -> None:
    """Let the running app's egress policy resolve names through a stand-in DNS
    (``hooks.example.org`` is a public address unless ``table`` says otherwise)."""
    names = {"hooks.example.org": [PUBLIC], **(table or {})}
    app.state.api.egress = EgressPolicy(allow, resolver=StandInDns(names))


# --- the browser tests (Debian's Chromium; each module serves its own site) ---------


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as found:
        yield found


def register_in_page(page: Any, email: str, password: str) -> None:
    """Register on the site's page, as a person does, and land on the alerts page."""
    page.goto("/register")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Register").click()
    page.wait_for_url("**/alerts")


def stored_subscriptions(site: ServedApp, email: str) -> list[Any]:
    """The live subscriptions of the account ``email``, as the served app's database
    holds them."""
    from pricewatch.storage.sql import get_user_by_email, list_subscriptions

    async def read(engine: Any) -> list[Any]:
        user = await get_user_by_email(engine, email)
        assert user is not None
        return await list_subscriptions(engine, user.id)

    return site.on_database(read)


@pytest.fixture
def page_errors(page: Any) -> list[str]:
    """Console errors and uncaught exceptions of the module's ``page``."""
    return collect_errors(page)

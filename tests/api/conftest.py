"""An API over real stores: the session Redis, a fresh chDB database, SQLite per test."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import redis as redis_lib
from litestar import Litestar
from litestar.testing import AsyncTestClient

from api.app import create_app
from pricewatch.keys import Keys
from pricewatch.models import Availability, Observation, Product, Source
from pricewatch.settings import Settings, load_settings
from pricewatch.storage.clickhouse import PriceStore
from pricewatch.storage.sql import migrate_sql_async

HOUR = 3_600_000
DAY = 24 * HOUR


@pytest.fixture
def api_settings(tmp_path: Path) -> Settings:
    base = load_settings({"PRICEWATCH_DATA_DIR": str(tmp_path)})
    return dataclasses.replace(base, key_prefix="test:", stream_partitions=2)


@pytest.fixture
async def sql_url(tmp_path: Path) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path}/api.db"
    await migrate_sql_async(url)
    return url


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

    def build(database_url: str | None = None, **overrides: Any) -> Litestar:
        settings = dataclasses.replace(api_settings, **overrides)
        return create_app(
            settings,
            redis_url=redis_url,
            clickhouse_client=clickhouse_client,
            clickhouse_database=clickhouse_database,
            database_url=database_url or sql_url,
            keys=keys,
            view_flush_s=0,
        )

    return build


@pytest.fixture
async def client(make_app: Callable[..., Litestar]) -> AsyncIterator[AsyncTestClient[Litestar]]:
    async with AsyncTestClient(app=make_app()) as test_client:
        yield test_client


def seed_product(
    store: PriceStore,
    *,
    asin: str,
    prices: list[tuple[int, int | None]],
    market: str = "us",
    title: str | None = "Widget",
    currency: str = "USD",
) -> None:
    """Store a price history [(observed_at_ms, minor|None)] and its catalogue row."""
    observations = [
        Observation(
            market=market,
            asin=asin,
            observed_at=at,
            availability=Availability.IN_STOCK if price is not None else Availability.OUT_OF_STOCK,
            source=Source.CRAWLER,
            price=price,
            currency=currency if price is not None else None,
        )
        for at, price in prices
    ]
    store.insert_observations(observations)
    last_at, last_price = prices[-1]
    store.upsert_products([
        Product(
            market=market,
            asin=asin,
            title=title,
            currency=currency,
            last_price=last_price,
            availability=(
                Availability.IN_STOCK if last_price is not None else Availability.OUT_OF_STOCK
            ),
            first_seen=prices[0][0],
            last_seen=last_at,
        )
    ])


async def sign_up(client: AsyncTestClient[Litestar], email: str,
                  password: str = "correct horse battery") -> dict[str, str]:
    """Register and sign in; the Authorization header of the new account."""
    created = await client.post("/accounts", json={"email": email, "password": password})
    assert created.status_code == 201, created.text
    signed = await client.post("/auth/token", json={"email": email, "password": password})
    assert signed.status_code == 200, signed.text
    return {"Authorization": f"Bearer {signed.json()['token']}"}

"""An API over real stores: the session Redis, a fresh chDB database, SQLite per test."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import redis as redis_lib
from litestar import Litestar
from litestar.testing import AsyncTestClient

from api.app import create_app
from pricewatch.account_messages import AccountMessage, MessageKind
from pricewatch.egress import EgressPolicy
from pricewatch.keys import Keys
from pricewatch.models import Availability, Observation, Product, Source, decode
from pricewatch.settings import Settings, load_settings
from pricewatch.storage.clickhouse import PriceStore
from pricewatch.storage.streams import FIELD
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
    store.upsert_products(
        [
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
        ]
    )


async def queued_messages(app: Litestar) -> list[AccountMessage]:
    """The messages the API queued for the alerts role to send, oldest first."""
    state = app.state.api
    # the app's own client belongs to the test client's event loop, not to this one
    where = state.redis.connection_pool.connection_kwargs
    with redis_lib.Redis(host=where["host"], port=where["port"], db=where.get("db", 0)) as r:
        entries = r.xrange(state.keys.account_messages)
    return [decode(fields[FIELD], AccountMessage) for _, fields in entries]


def link_token(link: str) -> str:
    return parse_qs(urlsplit(link).query)["token"][0]


async def verify_email(client: AsyncTestClient[Litestar], email: str) -> None:
    """Open the verification link the account was sent, as its owner would."""
    [message] = [
        m
        for m in await queued_messages(client.app)
        if m.kind == MessageKind.VERIFY_EMAIL and m.recipient == email.lower()
    ][-1:]
    assert message.link is not None
    done = await client.post("/accounts/verify-email", json={"token": link_token(message.link)})
    assert done.status_code == 200, done.text


async def sign_up(
    client: AsyncTestClient[Litestar],
    email: str,
    password: str = "correct horse battery",
    *,
    verify: bool = True,
) -> dict[str, str]:
    """Register and sign in; the Authorization header of the new account. With
    ``verify`` the account's e-mail is verified first, so alerts may go to it."""
    created = await client.post("/accounts", json={"email": email, "password": password})
    assert created.status_code == 201, created.text
    if verify:
        await verify_email(client, email)
    signed = await client.post("/auth/token", json={"email": email, "password": password})
    assert signed.status_code == 200, signed.text
    return {"Authorization": f"Bearer {signed.json()['token']}"}


# --- the browser tests (Debian's Chromium; each module serves its own site) ---------


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as found:
        yield found


@pytest.fixture
def page_errors(page: Any) -> list[str]:
    """Console errors and uncaught exceptions of the module's ``page``."""
    return collect_errors(page)

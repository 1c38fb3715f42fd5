"""Fixtures for the relational store: each test gets a database of its own on
each backend, so tests never see each other's rows.

SQLite gets a file under tmp_path. PostgreSQL gets a new database on the
session's server: an empty one for migration tests, otherwise a copy of a
template migrated once per session (copying is faster than migrating).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import uuid
from collections.abc import AsyncIterator, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from pricewatch.storage.sql import create_engine, migrate_sql, migrate_sql_async
from tests import services


def _run(coro: Coroutine[Any, Any, None]) -> None:
    # session fixtures may be set up from inside a test's running loop
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, coro).result()


@pytest.fixture(scope="session")
def postgres_template(postgres_url: str) -> Iterator[str]:
    """Name of a migrated database that per-test databases are copied from."""
    name = f"pw_template_{uuid.uuid4().hex}"
    _run(services.postgres_admin(postgres_url, f'CREATE DATABASE "{name}"'))
    migrate_sql(services.database_url(postgres_url, name))
    yield name
    _run(services.postgres_admin(postgres_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def sql_backend(request: pytest.FixtureRequest) -> str:
    return request.param


async def _postgres_database(
    request: pytest.FixtureRequest, *, migrated: bool
) -> AsyncIterator[str]:
    server_url: str = request.getfixturevalue("postgres_url")
    template = request.getfixturevalue("postgres_template") if migrated else None
    async with services.postgres_database(server_url, template=template) as url:
        yield url


@pytest.fixture
async def sql_url(
    sql_backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[str]:
    """URL of an empty database (no tables yet)."""
    if sql_backend == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path}/data/pricewatch.db"
        return
    async for url in _postgres_database(request, migrated=False):
        yield url


@pytest.fixture
async def sql_engine(
    sql_backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[AsyncEngine]:
    """An engine on a freshly migrated database of its own."""
    if sql_backend == "sqlite":
        engine = create_engine(f"sqlite+aiosqlite:///{tmp_path}/data/pricewatch.db")
        await migrate_sql_async(engine)
        yield engine
        await engine.dispose()
        return
    async for url in _postgres_database(request, migrated=True):
        engine = create_engine(url)
        yield engine
        await engine.dispose()

"""Fixtures for the relational store: each test gets a database of its own on
each backend, so tests never see each other's rows.

SQLite gets a file under tmp_path. PostgreSQL gets a new database on the
session's server: an empty one for migration tests, otherwise a copy of the
session's migrated template (tests/sql_store.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from pricewatch.storage.sql import create_engine
from tests.sql_store import database_on


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def sql_backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
async def sql_url(sql_backend: str, request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """URL of an empty database (no tables yet)."""
    async for url in database_on(sql_backend, request):
        yield url


@pytest.fixture
async def sql_engine(
    sql_backend: str, request: pytest.FixtureRequest
) -> AsyncIterator[AsyncEngine]:
    """An engine on a freshly migrated database of its own."""
    async for url in database_on(sql_backend, request, migrated=True):
        engine = create_engine(url)
        yield engine
        await engine.dispose()

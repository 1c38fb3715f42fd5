"""The relational store as the tests use it: a database of the test's own on either
backend, and accounts with their alerts written straight into it for the tests whose
subject comes after signing up."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from pricewatch.storage import sql
from tests.services import postgres_database


async def database_on(
    backend: str, request: pytest.FixtureRequest, *, migrated: bool = False
) -> AsyncIterator[str]:
    """URL of a database of the test's own on ``backend``, empty or ``migrated`` to head:
    a SQLite file under its tmp_path, or a database on the session's PostgreSQL (a copy
    of the migrated template: copying is faster than migrating), dropped afterwards."""
    if backend == "sqlite":
        tmp_path = request.getfixturevalue("tmp_path")
        url = f"sqlite+aiosqlite:///{tmp_path}/data/pricewatch.db"
        if migrated:
            await sql.migrate_sql_async(url)
        yield url
        return
    server_url: str = request.getfixturevalue("postgres_url")
    template = request.getfixturevalue("postgres_template") if migrated else None
    async with postgres_database(server_url, template=template) as url:
        yield url


@contextlib.asynccontextmanager
async def engine_on(url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on the database at ``url`` for the block, disposed of afterwards."""
    engine = sql.create_engine(url)
    try:
        yield engine
    finally:
        await engine.dispose()


async def subscribe(
    db: sql.Db, user: sql.User, asin: str, threshold: int | None, **fields: Any
) -> sql.Subscription:
    """``user``'s alert for ``asin`` at or below ``threshold`` (minor units): on the US
    market's buy box, by e-mail, unless ``fields`` (market, series, notification_type,
    target, status, ...) say otherwise; they go to ``sql.create_subscription`` as they
    are."""
    given = {"market": "us", "series": "buybox", "notification_type": "EMAIL", **fields}
    return await sql.create_subscription(
        db, user_id=user.id, asin=asin, threshold=threshold, **given
    )


async def subscribed(
    db: sql.Db, email: str, asin: str, threshold: int | None, **fields: Any
) -> sql.Subscription:
    """A new account for ``email`` holding one alert, as :func:`subscribe` makes it."""
    user = await sql.create_user(db, email, "h")
    return await subscribe(db, user, asin, threshold, **fields)

"""Alembic environment for the relational store.

Two ways in:

* programmatic (``pricewatch.storage.sql_engine.migrate_sql``): the caller puts
  an open connection in ``config.attributes["connection"]`` and we migrate on it;
* the ``alembic`` command line (``alembic -c pricewatch/schema/alembic.ini
  upgrade head``): we build an engine from ``sqlalchemy.url`` or, when that is
  empty, from the configured ``PRICEWATCH_DATABASE_URL``.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from pricewatch.storage.sql_schema import metadata
from pricewatch.storage.sql_search import managed_outside_metadata

config = context.config


def run_on(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite cannot ALTER most things; batch mode rebuilds the table instead
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        # the word index of title search is the migration's alone
        include_name=managed_outside_metadata,
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_with_own_engine(url: str) -> None:
    from pricewatch.storage.sql_engine import create_engine, schema_change

    engine = create_engine(url)
    try:
        async with schema_change(engine) as conn:
            await conn.run_sync(run_on)
    finally:
        await engine.dispose()


def configured_url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    if url:
        return url
    from pricewatch.settings import get_settings

    return get_settings().database_url


if context.is_offline_mode():
    context.configure(url=configured_url(), target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
elif (shared := config.attributes.get("connection")) is not None:
    run_on(shared)
else:
    asyncio.run(run_with_own_engine(configured_url()))

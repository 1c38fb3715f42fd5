import asyncio

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine


@pytest.mark.redis
def test_redis_is_real(redis_client):
    redis_client.set("k", "v")
    assert redis_client.get("k") == b"v"
    assert redis_client.info("server")["redis_version"]


@pytest.mark.postgres
def test_postgres_is_real(postgres_url):
    async def go():
        engine = create_async_engine(postgres_url)
        async with engine.connect() as conn:
            version = (await conn.execute(text("select version()"))).scalar_one()
        await engine.dispose()
        return version

    assert "PostgreSQL" in asyncio.run(go())

"""Operations: health of every store this process depends on."""

from __future__ import annotations

import asyncio

from litestar import Response, get
from litestar.di import NamedDependency
from sqlalchemy import text

from api.schemas import HealthOut
from api.state import ApiState

HEALTH_TIMEOUT_S = 3.0


async def _check(name: str, probe: object) -> tuple[str, str]:
    try:
        await asyncio.wait_for(probe, HEALTH_TIMEOUT_S)  # type: ignore[arg-type]
    except Exception as exc:  # any failure is what a health check reports
        return name, f"error: {type(exc).__name__}: {exc}"[:300]
    return name, "ok"


async def _sql_ping(api: NamedDependency[ApiState]) -> None:
    async with api.db.connect() as conn:
        await conn.execute(text("SELECT 1"))


@get("/healthz", tags=["operations"], summary="Redis, SQL and ClickHouse reachable?")
async def healthz(api: NamedDependency[ApiState]) -> Response[HealthOut]:
    results = await asyncio.gather(
        _check("redis", api.redis.ping()),
        _check("sql", _sql_ping(api)),
        _check("clickhouse", api.clickhouse(api.prices.client.command, "SELECT 1")),
    )
    checks = dict(results)
    healthy = all(v == "ok" for v in checks.values())
    return Response(
        HealthOut(status="ok" if healthy else "degraded", checks=checks),
        status_code=200 if healthy else 503,
    )

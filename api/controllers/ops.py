"""Operations: health of every store this process depends on, and of ingest.

Each store must answer. (Redis that cannot persist, a full disk, refuses PING
with MISCONF as it refuses writes.) Ingest fails on its own while the stores
answer: it records its health in Redis (``pricewatch.health``, which says how
an error or a silence is judged), and /healthz reports it.
"""

from __future__ import annotations

import asyncio

from litestar import Response, get
from litestar.di import NamedDependency
from sqlalchemy import text

from api.schemas import HealthOut
from api.state import ApiState
from pricewatch.health import REPORTING_ROLES, verdict

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


async def _role_health(api: ApiState, role: str) -> tuple[str, str | None]:
    try:
        record = await asyncio.wait_for(api.redis.hgetall(api.keys.health(role)), HEALTH_TIMEOUT_S)
    except Exception as exc:  # Redis down: its own check says so; this one is unknown
        return role, f"unknown: cannot read its health record ({type(exc).__name__})"
    return role, verdict(record, api.clock())


@get(
    "/healthz",
    tags=["operations"],
    summary="Redis, SQL and ClickHouse reachable, ingest not failing?",
)
async def healthz(api: NamedDependency[ApiState]) -> Response[HealthOut]:
    stores = asyncio.gather(
        _check("redis", api.redis.ping()),
        _check("sql", _sql_ping(api)),
        _check("clickhouse", api.clickhouse(api.prices.client.command, "SELECT 1")),
    )
    roles = asyncio.gather(*(_role_health(api, role) for role in REPORTING_ROLES))
    checks = dict(await stores)
    # a role that keeps no record is not running here: nothing to report
    checks.update((role, said) for role, said in await roles if said is not None)
    healthy = all(v == "ok" for v in checks.values())
    return Response(
        HealthOut(status="ok" if healthy else "degraded", checks=checks),
        status_code=200 if healthy else 503,
    )

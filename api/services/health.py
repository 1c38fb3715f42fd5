"""Health of every store this process depends on, and of ingest.

Each store must answer. (Redis that cannot persist, a full disk, refuses PING
with MISCONF as it refuses writes.) Ingest fails on its own while the stores
answer: it records its health in Redis (``pricewatch.health``, which says how
an error or a silence is judged), and the health check reports it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from api.schemas import HealthOut
from api.state import ApiState
from pricewatch.health import REPORTING_ROLES, verdict
from pricewatch.storage.sql import ping_sql

HEALTH_TIMEOUT_S = 3.0


async def _check(name: str, probe: Awaitable[object]) -> tuple[str, str]:
    try:
        await asyncio.wait_for(probe, HEALTH_TIMEOUT_S)
    except Exception as exc:  # any failure is what a health check reports
        return name, f"error: {type(exc).__name__}: {exc}"[:300]
    return name, "ok"


async def _role_health(state: ApiState, role: str) -> tuple[str, str | None]:
    try:
        record = await asyncio.wait_for(
            state.redis.hgetall(state.keys.health(role)), HEALTH_TIMEOUT_S
        )
    except Exception as exc:  # Redis down: its own check says so; this one is unknown
        return role, f"unknown: cannot read its health record ({type(exc).__name__})"
    return role, verdict(record, state.clock())


async def health(state: ApiState) -> HealthOut:
    """``ok`` when every store answers and no role that reports here is failing."""
    stores = asyncio.gather(
        _check("redis", state.redis.ping()),
        _check("sql", ping_sql(state.db)),
        _check("clickhouse", state.clickhouse(state.prices.ping)),
    )
    roles = asyncio.gather(*(_role_health(state, role) for role in REPORTING_ROLES))
    checks = dict(await stores)
    # a role that keeps no record is not running here: nothing to report
    checks.update((role, said) for role, said in await roles if said is not None)
    healthy = all(v == "ok" for v in checks.values())
    return HealthOut(status="ok" if healthy else "degraded", checks=checks)

"""Operations: health of every store this process depends on, and of ingest
(``api.services.health`` says what each check means)."""

from __future__ import annotations

from litestar import Response, get

from api.dependencies import Api
from api.schemas import HealthOut
from api.services.health import health


@get(
    "/healthz",
    tags=["operations"],
    summary="Redis, SQL and ClickHouse reachable, ingest not failing?",
)
async def healthz(api: Api) -> Response[HealthOut]:
    found = await health(api)
    return Response(found, status_code=200 if found.status == "ok" else 503)

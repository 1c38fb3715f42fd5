"""What the API answers when something goes wrong, and what it logs.

- A client error (400) is logged at info with its reason, never with the body.
- A store that is down or overloaded (Redis, the SQL database, a ClickHouse server)
  is a 503 with Retry-After, logged once as a warning: retrying later is the fix.
- Anything else unexpected is a 500 whose body says only "internal error" and the
  request id; the log has the traceback under the same id.

API clients get JSON; a browser asking for a page gets the same words as plain text.
"""

from __future__ import annotations

import logging
from typing import Any

import clickhouse_connect.driver.exceptions as clickhouse_errors
import redis.exceptions as redis_errors
import sqlalchemy.exc
from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException
from litestar.exceptions.responses import create_exception_response
from litestar.status_codes import (
    HTTP_400_BAD_REQUEST,
    HTTP_500_INTERNAL_SERVER_ERROR,
    HTTP_503_SERVICE_UNAVAILABLE,
)
from litestar.types import ExceptionHandlersMap

from api.request_id import mark_logged, request_id

log = logging.getLogger(__name__)

# Seconds a client should wait before retrying when a store is down: long enough not
# to hammer a store that is restarting or loading, short enough for a failover.
RETRY_AFTER_S = 5

# Failures of a store rather than of the request: the connection is refused, lost or
# timed out, the server is loading, failing over, read-only or out of memory.
REDIS_DOWN: tuple[type[Exception], ...] = (
    redis_errors.ConnectionError,  # BusyLoadingError, MaxConnectionsError, auth too
    redis_errors.TimeoutError,
    redis_errors.ClusterDownError,
    redis_errors.TryAgainError,
    redis_errors.ReadOnlyError,
    redis_errors.OutOfMemoryError,
)
# OperationalError: the database is unreachable, locked or refused the connection;
# InterfaceError: the connection broke; TimeoutError: no pooled connection came free.
SQL_DOWN: tuple[type[Exception], ...] = (
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    sqlalchemy.exc.TimeoutError,
)
CLICKHOUSE_DOWN: tuple[type[Exception], ...] = (clickhouse_errors.OperationalError,)
# Some drivers (asyncpg while connecting) let the socket's own error through.
NETWORK_DOWN: tuple[type[Exception], ...] = (ConnectionError, TimeoutError)

_STORES = (
    ("redis", REDIS_DOWN),
    ("sql", SQL_DOWN),
    ("clickhouse", CLICKHOUSE_DOWN),
    ("network", NETWORK_DOWN),
)


# drivers by top-level package, to name the store behind a bare socket error
_DRIVERS = {
    "asyncpg": "sql",
    "aiosqlite": "sql",
    "sqlalchemy": "sql",
    "redis": "redis",
    "clickhouse_connect": "clickhouse",
}


def _store_of(exc: Exception) -> str:
    name = next((name for name, kinds in _STORES if isinstance(exc, kinds)), "store")
    if name == "network":
        # the innermost driver the error passed through is the store that failed
        tb = exc.__traceback__
        while tb is not None:
            package = str(tb.tb_frame.f_globals.get("__name__", "")).partition(".")[0]
            name = _DRIVERS.get(package, name)
            tb = tb.tb_next
    return name


def _route(request: Request[Any, Any, Any]) -> str:
    return f"{request.method} {request.url.path}"


def error_response(
    request: Request[Any, Any, Any],
    status_code: int,
    detail: str,
    headers: dict[str, str] | None = None,
) -> Response[Any]:
    """``{"status_code", "detail", "request_id"}``, or its words as text for a browser."""
    rid = request_id(request.scope)
    if request.accept.best_match([MediaType.JSON, MediaType.HTML]) == MediaType.HTML:
        return Response(
            f"{detail} (request id {rid})\n",
            status_code=status_code,
            media_type=MediaType.TEXT,
            headers=headers,
        )
    return Response(
        {"status_code": status_code, "detail": detail, "request_id": rid},
        status_code=status_code,
        media_type=MediaType.JSON,
        headers=headers,
    )


def internal_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    rid = request_id(request.scope)
    log.error("%s failed (request id %s)", _route(request), rid, exc_info=exc)
    mark_logged(request.scope)
    return error_response(request, HTTP_500_INTERNAL_SERVER_ERROR, "internal error")


def store_unavailable(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    rid = request_id(request.scope)
    log.warning(
        "%s: %s unavailable: %s: %s (request id %s)",
        _route(request),
        _store_of(exc),
        type(exc).__name__,
        str(exc)[:300],
        rid,
    )
    mark_logged(request.scope)
    return error_response(
        request,
        HTTP_503_SERVICE_UNAVAILABLE,
        f"temporarily unavailable: a data store did not answer; retry in {RETRY_AFTER_S} s",
        headers={"Retry-After": str(RETRY_AFTER_S)},
    )


def bad_request(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    # the reason and where it was found; the body may hold a password
    problems = "; ".join(
        f"{item.get('key', '')}: {item.get('message', '')}"
        for item in (exc.extra if isinstance(exc.extra, list) else [])
        if isinstance(item, dict)
    )
    log.info(
        "%s: 400 %s%s (request id %s)",
        _route(request),
        exc.detail[:300],
        f" [{problems[:300]}]" if problems else "",
        request_id(request.scope),
    )
    return create_exception_response(request, exc)


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    HTTP_400_BAD_REQUEST: bad_request,  # type: ignore[dict-item]
    # 500 is what Litestar looks up for any exception that is not an HTTPException
    HTTP_500_INTERNAL_SERVER_ERROR: internal_error,
    **dict.fromkeys(REDIS_DOWN + SQL_DOWN + CLICKHOUSE_DOWN + NETWORK_DOWN, store_unavailable),
}

"""The Litestar application: ``create_app(...)`` builds it with its stores passed in.

Tests build it with real Redis, chDB and SQLite/PostgreSQL; ``api.server.run`` serves
it with uvicorn. Nothing here reads the environment: values come from ``Settings``.

The website (HTML pages, templates, static files) lives in ``api.web`` and plugs in
here: if ``api/web/routes.py`` exists, its ``ROUTE_HANDLERS`` (a list of controllers /
routers / handlers) are mounted, and its optional ``TEMPLATE_CONFIG`` is used. Web
handlers reach the stores through the ``api`` dependency (an ``ApiState``, see
``api.dependencies``), like the JSON controllers do.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import redis.asyncio
from clickhouse_connect.driver.client import Client
from litestar import Litestar
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme, Server
from litestar.plugins.prometheus import PrometheusConfig, PrometheusController

from api.controllers.accounts import AccountController, AuthController, MyAccountController
from api.controllers.feeds import AlertFeedController, MyAlertFeedController, ProductFeedController
from api.controllers.ops import healthz
from api.controllers.products import ProductController
from api.controllers.reports import ReportController
from api.controllers.subscriptions import SubscriptionController
from api.controllers.targets import TargetConfirmationController, TargetController
from api.dependencies import DEPENDENCIES
from api.docs import docs_router, render_plugins
from api.errors import EXCEPTION_HANDLERS
from api.json_body import CheckedJsonRequest
from api.metrics import SKIP_REQUEST_METRICS
from api.request_id import log_request_id, tag_response
from api.services.history_cache import HistoryCache
from api.services.near_cache import NearCache, follow_invalidations
from api.services.views import push_loop
from api.state import ApiState, wall_clock_ms
from pricewatch.frontier import AsyncFrontier
from pricewatch.keys import DEFAULT_KEYS, Keys
from pricewatch.settings import Settings, get_settings
from pricewatch.storage.clickhouse import (
    PriceStore,
    another_handle,
    database_from_url,
    flush_views,
    get_clickhouse,
)
from pricewatch.storage.redis import connect_pubsub_async, open_async
from pricewatch.storage.sql import activate_unconfirmed, create_engine

log = logging.getLogger(__name__)

API_VERSION = "1.0.0"


def _web_module() -> Any | None:
    """``api.web.routes`` when the website is installed, else None."""
    try:
        return importlib.import_module("api.web.routes")
    except ModuleNotFoundError as exc:
        if exc.name in ("api.web", "api.web.routes"):
            return None
        raise


async def _flush_loop(state: ApiState, every_s: float) -> None:
    while True:
        await asyncio.sleep(every_s)
        try:
            await _flush(state)
        except Exception:  # keep counting; the counts were given back to Redis
            log.exception("flushing view counts failed; retrying in %.0f s", every_s)


def create_app(
    settings: Settings | None = None,
    *,
    redis_url: str | None = None,
    clickhouse_client: Client | None = None,
    clickhouse_database: str | None = None,
    database_url: str | None = None,
    keys: Keys | None = None,
    clock: Callable[[], int] | None = None,
    view_flush_s: float | None = None,
    debug: bool = False,
) -> Litestar:
    """Build the API.

    Every store is optional and defaults to what ``settings`` names: ``redis_url``
    (required one way or the other), ``clickhouse_client`` (shared: chDB allows one
    engine per process) with ``clickhouse_database``, and ``database_url`` (SQL). The
    schemas must exist (``pricewatch migrate``; ``api.server.run`` migrates). ``clock``
    returns epoch ms (tests pin it); ``view_flush_s`` <= 0 disables the background
    flush of view counters.
    """
    settings = settings or get_settings()
    redis_url = redis_url or settings.redis_url
    if not redis_url:
        raise ValueError("the API needs a Redis URL (redis_url or PRICEWATCH_REDIS_URL)")
    keys = keys or (
        DEFAULT_KEYS if settings.key_prefix == DEFAULT_KEYS.prefix else Keys(settings.key_prefix)
    )
    database = clickhouse_database or database_from_url(settings.clickhouse_url)
    db_url = database_url or settings.database_url
    flush_every = settings.api_view_flush_s if view_flush_s is None else view_flush_s
    if not 1 <= settings.api_chart_queries <= settings.api_clickhouse_threads:
        raise ValueError(
            "PRICEWATCH_API_CHART_QUERIES must be between 1 and "
            f"PRICEWATCH_API_CLICKHOUSE_THREADS ({settings.api_clickhouse_threads}), "
            f"got {settings.api_chart_queries}"
        )

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        client = clickhouse_client or get_clickhouse(
            settings.clickhouse_url, cluster=settings.clickhouse_cluster
        )
        redis_client = await open_async(redis_url)
        engine = create_engine(db_url)
        if not settings.verify_targets:
            # every destination counts as confirmed: nothing may wait for a confirmation
            # (subscriptions from while verification was on, or from before it existed)
            woken = await activate_unconfirmed(engine)
            if woken:
                log.info("verification is off: %d waiting subscriptions now alert", woken)
        executor = ThreadPoolExecutor(
            settings.api_clickhouse_threads, thread_name_prefix="api-clickhouse"
        )
        # chart misses' queries, each on a handle of its own: they wait for no other
        # query's handle, and several may run side by side (api.services.chart_reads)
        chart_handles = [another_handle(client) for _ in range(settings.api_chart_queries)]
        near = (
            NearCache(settings.api_near_cache_mb << 20, settings.api_history_max_age_s)
            if settings.api_near_cache_mb > 0
            else None
        )
        state = ApiState(
            settings=settings,
            keys=keys,
            redis=redis_client,
            db=engine,
            prices=PriceStore(client, database),
            executor=executor,
            frontier=AsyncFrontier(redis_client, keys, partitions=settings.stream_partitions),
            history=HistoryCache(redis_client, settings.api_history_cache_ttl_s, near),
            clock=clock or wall_clock_ms,
            chart_stores=[PriceStore(handle, database) for handle in chart_handles],
        )
        # handlers reach it through the ``api`` dependency (api.dependencies)
        app.state.api = state
        background = [
            asyncio.create_task(
                push_loop(state.views, redis_client, keys, settings.api_view_push_ms / 1000),
                name="view-push",
            )
        ]
        feed_client: redis.asyncio.Redis | None = None
        if near is not None:
            # the invalidation feed has its own connection, pinged, so that a
            # silently dead one is noticed
            feed_client = connect_pubsub_async(
                redis_url, health_check_interval=10, socket_keepalive=True
            )
            background.append(
                asyncio.create_task(
                    follow_invalidations(feed_client, keys.history_invalidations, near),
                    name="near-cache-invalidations",
                )
            )
        if flush_every > 0:
            background.append(
                asyncio.create_task(_flush_loop(state, flush_every), name="view-flush")
            )
        try:
            yield
        finally:
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)
            with contextlib.suppress(Exception):
                await state.views.push(redis_client, keys)
            if flush_every > 0:
                with contextlib.suppress(Exception):
                    await _flush(state)
            if feed_client is not None:
                await feed_client.aclose()
            await redis_client.aclose()
            await engine.dispose()
            executor.shutdown(wait=True)
            for handle in chart_handles:
                if handle is not client:
                    handle.close()
            if clickhouse_client is None:
                client.close()

    web = _web_module()
    route_handlers: list[Any] = [
        ProductController,
        ProductFeedController,
        AlertFeedController,
        MyAlertFeedController,
        AccountController,
        MyAccountController,
        TargetController,
        TargetConfirmationController,
        AuthController,
        SubscriptionController,
        ReportController,
        healthz,
        PrometheusController,
    ]
    # ---- the website's routes (api/web/routes.py: ROUTE_HANDLERS, TEMPLATE_CONFIG) ----
    extra: dict[str, Any] = {}
    if web is not None:
        route_handlers += list(getattr(web, "ROUTE_HANDLERS", []))
        if getattr(web, "TEMPLATE_CONFIG", None) is not None:
            extra["template_config"] = web.TEMPLATE_CONFIG
    # -------------------------------------------------------------------------------

    # The chart route is left out of the per-request middleware (about a third of a
    # cache hit's cost); its volume and hit ratio are counted in api.metrics instead.
    prometheus = PrometheusConfig(
        app_name="pricewatch",
        prefix="pricewatch_api",
        group_path=True,
        exclude=["/metrics"],
        exclude_opt_key=SKIP_REQUEST_METRICS,
    )
    return Litestar(
        route_handlers=route_handlers,
        dependencies=DEPENDENCIES,
        lifespan=[lifespan],
        middleware=[log_request_id, prometheus.middleware],
        # the process's logging is pricewatch.logs' (text or JSON, every role alike):
        # Litestar's default config would replace the root logger's handler
        logging_config=None,
        request_max_body_size=settings.api_max_body_bytes,
        # bad bodies are a 400 with the reason, store outages a 503, anything else a
        # logged 500; every response carries its request id (api.errors)
        request_class=CheckedJsonRequest,
        exception_handlers=EXCEPTION_HANDLERS,
        before_send=[tag_response],
        openapi_config=OpenAPIConfig(
            title="Pricewatch API",
            version=API_VERSION,
            description=(
                "Amazon price history, price-drop subscriptions and price reports. "
                "Prices on the wire are numbers in major units of the stated currency."
            ),
            servers=[Server(url=settings.public_url)],
            # the UI from our own /static (the website's bundles), or none (api.docs)
            render_plugins=render_plugins(getattr(web, "ASSETS", None)),
            openapi_router=docs_router(),
            components=Components(
                security_schemes={
                    "BearerAuth": SecurityScheme(
                        type="http", scheme="bearer", description="token from POST /auth/token"
                    )
                }
            ),
        ),
        debug=debug,
        **extra,
    )


async def _flush(state: ApiState) -> None:
    """Move the Redis view counters into ClickHouse."""

    async def record(rows: Sequence[tuple[str, str, int, str]]) -> int:
        return await state.clickhouse(state.prices.record_views, list(rows))

    await flush_views(state.redis, state.keys, record, state.clock())

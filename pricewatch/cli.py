"""``pricewatch`` command line: one entry point for every role.

Single machine: ``pricewatch up`` starts Redis if none is configured and runs
the roles that touch ClickHouse in this one process (chDB allows one engine
per process). Cluster: run each role as its own process with the stores set
by environment.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import importlib.util
import inspect
import logging
import os
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pricewatch.keys import Keys
from pricewatch.models import CrawlTask, Series
from pricewatch.settings import Settings, child_environment, load_settings
from pricewatch.supervision import (
    CLICKHOUSE_ROLES,
    SUPERVISOR_CHECK_S,
    SUPERVISOR_PID_ENV,
    RedisKeeper,
    Respawner,
    RoleProcess,
    Supervisor,
    listen_problem,
    process_plan,
    supervisor_gone,
)

if TYPE_CHECKING:
    from pricewatch.devtools.browser import DemoBrowser, DemoSite
    from pricewatch.storage.local_redis import LocalRedis

log = logging.getLogger("pricewatch")


# Roles live in the apps; the shared core names them by dotted path and
# imports them only when asked to run one, so it never depends on an app.
ROLES = {
    "api": "api.server:run",
    "alerts": "alerts.service:run",
    "scheduler": "scheduler.service:run",
}


def _role(name: str) -> Callable[..., None]:
    module_name, _, attr = ROLES[name].partition(":")
    return getattr(importlib.import_module(module_name), attr)  # type: ignore[no-any-return]


def _run_role(
    name: str,
    settings: Settings,
    redis_url: str,
    stop: threading.Event,
    clickhouse_client: Any = None,
) -> None:
    run = _role(name)
    kwargs: dict[str, Any] = {}
    if "clickhouse_client" in inspect.signature(run).parameters:
        kwargs["clickhouse_client"] = clickhouse_client
    run(settings, redis_url, stop, **kwargs)


def _setup_logging(settings: Settings) -> None:
    from pricewatch.logs import setup_logging

    setup_logging(settings.log_level, settings.log_format)


def _role_metrics(
    settings: Settings, redis_url: str, roles: Sequence[str], serve_as: str | None
) -> AbstractContextManager[object]:
    """The metrics of ``roles`` (this process's), served on ``serve_as``'s port when
    PRICEWATCH_METRICS_PORT_BASE is set; None: shown by the API's /metrics instead."""
    from pricewatch.metrics import install_role_collectors, role_endpoint
    from pricewatch.storage.redis import connect

    partitions = settings.stream_partitions
    install_role_collectors(connect(redis_url), _keys(settings), partitions, roles)
    base = settings.metrics_port_base if serve_as is not None else 0
    return role_endpoint(settings.metrics_host, base, serve_as or "up")


def _url_file(settings: Settings) -> Path:
    return settings.redis_dir / "url"


def existing_redis(settings: Settings) -> str | None:
    """The configured Redis, or the one ``pricewatch up`` runs on this machine."""
    if settings.redis_url:
        return settings.redis_url
    url_file = _url_file(settings)
    if not url_file.exists():
        return None
    url = url_file.read_text().strip()
    import redis
    from redis.exceptions import RedisClusterException

    from pricewatch.storage.redis import connect

    try:
        connect(url, socket_connect_timeout=1).ping()
    except (redis.RedisError, RedisClusterException):
        return None
    return url


@contextmanager
def redis_for(settings: Settings, *, may_start: bool) -> Iterator[str]:
    """An existing Redis, or (``may_start``) a new one under the data dir."""
    if may_start:
        with owned_or_existing_redis(settings) as (started_or_found, _):
            yield started_or_found
        return
    found = existing_redis(settings)
    if found is None:
        raise SystemExit(
            "no Redis: set PRICEWATCH_REDIS_URL, or start `pricewatch up` on this machine first"
        )
    yield found


@contextmanager
def owned_or_existing_redis(settings: Settings) -> Iterator[tuple[str, LocalRedis | None]]:
    """An existing Redis (URL, None), or one started here under the data dir
    (URL, its server: ours to watch and to start again)."""
    url = existing_redis(settings)
    if url is not None:
        yield url, None
        return
    from pricewatch.storage.local_redis import local_redis_server

    with local_redis_server(settings.redis_dir) as server:
        _url_file(settings).write_text(server.url)
        log.info("started Redis at %s (data in %s)", server.url, settings.redis_dir)
        try:
            yield server.url, server
        finally:
            _url_file(settings).unlink(missing_ok=True)


def _keys(settings: Settings) -> Keys:
    return Keys(prefix=settings.key_prefix)


def _clickhouse(settings: Settings):  # type: ignore[no-untyped-def]
    from pricewatch.storage.clickhouse import get_clickhouse

    return get_clickhouse(settings.clickhouse_url, cluster=settings.clickhouse_cluster)


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    from pricewatch.schema import migrate as ch_migrate
    from pricewatch.storage.sql import migrate_sql

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    applied = ch_migrate(_clickhouse(settings), cluster=settings.clickhouse_cluster)
    print(f"clickhouse: {len(applied)} migration(s) applied")
    migrate_sql(settings.database_url)
    print("sql: at head")
    return 0


def _ingest_worker(settings: Settings, redis_url: str, client):  # type: ignore[no-untyped-def]
    from pricewatch.gc_tuning import freeze_heap
    from pricewatch.ingest.worker import IngestWorker, ingest_consumer_name
    from pricewatch.storage.clickhouse import PriceStore
    from pricewatch.storage.redis import connect
    from pricewatch.trust import build_trust_gate

    redis_client, keys, store = connect(redis_url), _keys(settings), PriceStore(client)
    worker = IngestWorker(
        redis_client,
        keys,
        store,
        gate=build_trust_gate(settings, redis_client, keys, store),
        partitions=settings.stream_partitions,
        owned=settings.ingest_partitions,
        consumer=ingest_consumer_name(socket.gethostname(), settings.ingest_partitions),
        batch_size=settings.ingest_batch_size,
        batch_ms=settings.ingest_batch_ms,
        claim_idle_ms=settings.claim_idle_ms,
        maxlen=settings.stream_maxlen,
        not_found_ttl_s=settings.not_found_ttl_s,
    )
    freeze_heap()  # what ingest runs with lives as long as the process
    return worker


# Seconds the roles get to finish once asked to stop (a second Ctrl-C: none).
ROLE_GRACE_S = 15.0


def _api_listen_problem(settings: Settings) -> str | None:
    """Checked before anything starts, so that a taken port fails the command at
    once and by name rather than as uvicorn's exit from a thread."""
    shared = settings.api_processes > 1
    problem = listen_problem(settings.api_host, settings.api_port, shared=shared)
    return f"api: {problem}" if problem else None


def _wait_for_stop(supervisor: Supervisor) -> None:
    """Until the roles are asked to stop: by a signal, a failed role, or the death of
    the ``up --processes`` that started this process (``supervisor_gone``)."""
    while not supervisor.stop.wait(SUPERVISOR_CHECK_S):
        if supervisor_gone():
            log.warning("the pricewatch up that started this process is gone: stopping")
            supervisor.stop.set()


def _serve_one(supervisor: Supervisor, name: str, fn: Callable[..., Any], *args: Any) -> int:
    """Run one role in the foreground (on a thread, so that a signal or its death
    ends the command the same way as in ``up``)."""
    supervisor.start(name, fn, *args)
    _wait_for_stop(supervisor)
    supervisor.join(ROLE_GRACE_S)
    return supervisor.finish()


def cmd_ingest(settings: Settings, args: argparse.Namespace) -> int:
    from pricewatch.schema import migrate as ch_migrate

    supervisor = Supervisor("pricewatch ingest")
    supervisor.handle_signals()
    with redis_for(settings, may_start=False) as url:
        client = _clickhouse(settings)
        ch_migrate(client, cluster=settings.clickhouse_cluster)
        worker = _ingest_worker(settings, url, client)
        with _role_metrics(settings, url, ["ingest"], "ingest"):
            return _serve_one(supervisor, "ingest", worker.run, supervisor.stop)


def cmd_role(settings: Settings, args: argparse.Namespace) -> int:
    """``pricewatch api|alerts|scheduler``: one role in the foreground."""
    supervisor = Supervisor(f"pricewatch {args.command}")
    supervisor.handle_signals()
    if args.command == "api" and (problem := _api_listen_problem(settings)):
        return supervisor.give_up(problem)
    with redis_for(settings, may_start=False) as url:
        client = None
        if args.command in ("api", "scheduler"):
            from pricewatch.schema import migrate as ch_migrate

            client = _clickhouse(settings)
            ch_migrate(client, cluster=settings.clickhouse_cluster)
        # the API serves its own /metrics
        serve_as = None if args.command == "api" else args.command
        with _role_metrics(settings, url, [args.command], serve_as):
            return _serve_one(
                supervisor,
                args.command,
                _run_role,
                args.command,
                settings,
                url,
                supervisor.stop,
                client,
            )


def cmd_roles(settings: Settings, args: argparse.Namespace) -> int:
    """``pricewatch roles api ingest scheduler``: several roles in one process, sharing
    one ClickHouse client (embedded chDB opens in one process only)."""
    names = list(dict.fromkeys(args.roles))
    supervisor = Supervisor(f"pricewatch roles {' '.join(names)}")
    supervisor.handle_signals()
    if "api" in names and (problem := _api_listen_problem(settings)):
        return supervisor.give_up(problem)
    with redis_for(settings, may_start=False) as url:
        client = None
        if set(names) & set(CLICKHOUSE_ROLES):
            from pricewatch.schema import migrate as ch_migrate

            client = _clickhouse(settings)
            ch_migrate(client, cluster=settings.clickhouse_cluster)
        serve_as = None if "api" in names else names[0]
        with _role_metrics(settings, url, names, serve_as):
            for name in names:
                if name == "ingest":
                    worker = _ingest_worker(settings, url, client)
                    supervisor.start(name, worker.run, supervisor.stop)
                else:
                    supervisor.start(name, _run_role, name, settings, url, supervisor.stop, client)
            _wait_for_stop(supervisor)
            supervisor.join(ROLE_GRACE_S)
    return supervisor.finish()


def _crawler_env(settings: Settings, redis_url: str, extra: dict[str, str]) -> dict[str, str]:
    return child_environment(
        {
            "PRICEWATCH_REDIS_URL": redis_url,
            "PRICEWATCH_KEY_PREFIX": settings.key_prefix,
            "SCRAPY_SETTINGS_MODULE": "crawler.settings",
            **extra,
        }
    )


def _start_crawler(env: dict[str, str]) -> subprocess.Popen[bytes]:
    """Crawler workers are processes of their own: Scrapy runs its own reactor.
    Their own process group too: a Ctrl-C at the terminal reaches only ``up``,
    which stops them once (Scrapy takes a second signal as "stop uncleanly")."""
    return subprocess.Popen(
        [sys.executable, "-m", "scrapy", "crawl", "product"], env=env, start_new_session=True
    )


def _demo_pages(settings: Settings, tasks: Sequence[CrawlTask], count: int = 3) -> list[str]:
    """Product pages of a few demo products, one market each, for a new user to open."""
    from pricewatch.alert_links import product_page_url

    first: dict[str, CrawlTask] = {}
    for task in tasks:
        if task.asin is not None:
            first.setdefault(task.market, task)
    shown = list(first.values())[:count]
    return [product_page_url(settings.public_url, t.market, t.asin or "") for t in shown]


def _installed_roles() -> list[str]:
    found = []
    for name in ROLES:
        if importlib.util.find_spec(ROLES[name].partition(":")[0]) is None:
            log.warning("role %s is not installed; running without it", name)
        else:
            found.append(name)
    return found


def _browser_preflight(args: argparse.Namespace) -> tuple[str, Path] | str:
    """(Chromium, the built extension) for ``up --demo --browser``, or why not: checked
    before anything starts."""
    from pricewatch.devtools.browser import BrowserError, find_chromium, unpacked_extension

    if not args.demo:
        return "--browser opens the demo marketplace: use it with --demo"
    try:
        return find_chromium(args.chrome), unpacked_extension()
    except BrowserError as exc:
        return f"browser: {exc}"


def _open_demo_browser(
    settings: Settings, site: DemoSite, found: tuple[str, Path], stop: threading.Event
) -> DemoBrowser | None:
    """The demo browser once the API answers, or None (said why): the demo runs on."""
    from pricewatch.devtools.browser import BrowserError, browser_api_url, launch, wait_for_port

    api_url = browser_api_url(settings.api_host, settings.api_port)
    if not wait_for_port(api_url, stop):
        if not stop.is_set():
            log.error("browser: the API at %s does not answer; no browser opened", api_url)
        return None
    try:
        browser = launch(*found, site, api_url, settings.data_dir / "demo-browser")
    except BrowserError as exc:
        print(f"pricewatch up: browser: {exc} (the demo runs on)", file=sys.stderr, flush=True)
        return None
    print(f"Browser: Chromium with the extension on {site.start_url}", flush=True)
    return browser


def _start_roles(process: RoleProcess, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """A process of ``up --processes``: the role's own command (``pricewatch api``...),
    or ``pricewatch roles`` for roles that share one. In a session of its own, like
    the crawlers: a Ctrl-C reaches only ``up``, which stops each child once."""
    command = list(process.roles) if len(process.roles) == 1 else ["roles", *process.roles]
    return subprocess.Popen(
        [sys.executable, "-m", "pricewatch.cli", *command], env=env, start_new_session=True
    )


def _role_env(settings: Settings, process: RoleProcess, env: dict[str, str]) -> dict[str, str]:
    """The environment of ``process``'s children. Several processes of one role (the API
    on its shared port) count into one directory of prometheus-client's multiprocess
    mode, emptied now, so that a scrape of any of them shows the sums of all."""
    if process.count == 1:
        return env
    shared = settings.data_dir / "metrics" / process.name
    shutil.rmtree(shared, ignore_errors=True)
    shared.mkdir(parents=True)
    return env | {"PROMETHEUS_MULTIPROC_DIR": str(shared)}


# A role whose process dies this many times in a row soon after starting cannot
# start: `up --processes` stops everything and says so.
CRASH_LOOP_DEATHS = 5


def cmd_up_processes(settings: Settings, args: argparse.Namespace) -> int:
    """``pricewatch up --processes``: each role a process of its own (with embedded
    chDB, the ClickHouse users one process together), started again when it dies."""
    from pricewatch.schema import migrate as ch_migrate
    from pricewatch.storage.clickhouse.client import embedded as embedded_clickhouse
    from pricewatch.storage.local_redis import RedisStartError
    from pricewatch.storage.sql import migrate_sql

    supervisor = Supervisor("pricewatch up")
    supervisor.handle_signals()
    if args.demo or args.browser:
        return supervisor.give_up("--processes does not run the demo: leave out --demo")
    roles = ["ingest", *_installed_roles()]
    if "api" in roles and (problem := _api_listen_problem(settings)):
        return supervisor.give_up(problem)
    embedded = embedded_clickhouse(settings.clickhouse_url)
    try:
        plan = process_plan(roles, embedded, settings.api_processes)
    except ValueError as exc:
        return supervisor.give_up(str(exc))
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        try:
            url, server = stack.enter_context(owned_or_existing_redis(settings))
        except RedisStartError as exc:
            return supervisor.give_up(f"redis: cannot start in {settings.redis_dir}: {exc}")
        keeper = RedisKeeper(server, supervisor) if server is not None else None
        # migrated here once, not by several children at once; chDB only by its process
        if not embedded:
            client = _clickhouse(settings)
            ch_migrate(client, cluster=settings.clickhouse_cluster)
            client.close()
        migrate_sql(settings.database_url)
        # children that outlive a killed `up` stop by themselves (supervisor_gone)
        owner = {SUPERVISOR_PID_ENV: str(os.getpid())}
        env = child_environment({"PRICEWATCH_REDIS_URL": url, **owner})
        crawler_env = _crawler_env(settings, url, owner)
        try:
            children = [
                Respawner(
                    p.name, functools.partial(_start_roles, p, _role_env(settings, p, env)), p.count
                )
                for p in plan
            ]
            crawlers = functools.partial(_start_crawler, crawler_env)
            children.append(Respawner("crawler", crawlers, args.crawlers))
        except OSError as exc:
            return supervisor.give_up(f"cannot start a role's process: {exc}")
        for child in children:
            stack.callback(child.stop, supervisor, ROLE_GRACE_S + 5)
        names = ", ".join(f"{c.name} ({len(c.procs)})" for c in children if c.procs)
        print(
            f"Pricewatch is up, one process per role: {names}; data in {settings.data_dir}, "
            f"Redis at {url}, website on http://{settings.api_host}:{settings.api_port}/. "
            "Ctrl-C stops it.",
            flush=True,
        )
        while not supervisor.stop.wait(0.5):
            if keeper is not None:
                keeper.check()
            for child in children:
                child.check()
                if child.young_deaths >= CRASH_LOOP_DEATHS:
                    supervisor.fail(
                        f"{child.name}: its process exited {child.young_deaths} times in a "
                        "row soon after starting; the log above says why"
                    )
        for child in children:
            child.terminate()
    return supervisor.finish()


def cmd_up(settings: Settings, args: argparse.Namespace) -> int:
    from pricewatch.schema import migrate as ch_migrate
    from pricewatch.storage.local_redis import RedisStartError
    from pricewatch.storage.sql import migrate_sql

    if args.processes:
        return cmd_up_processes(settings, args)
    supervisor = Supervisor("pricewatch up")
    supervisor.handle_signals()
    roles = _installed_roles()
    if "api" in roles and (problem := _api_listen_problem(settings)):
        return supervisor.give_up(problem)
    found_browser = _browser_preflight(args) if args.browser else None
    if isinstance(found_browser, str):
        return supervisor.give_up(found_browser)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        try:
            url, server = stack.enter_context(owned_or_existing_redis(settings))
        except RedisStartError as exc:
            return supervisor.give_up(f"redis: cannot start in {settings.redis_dir}: {exc}")
        # Redis given by configuration (or another `up`) is not ours to restart:
        # its roles wait and reconnect when it returns
        keeper = RedisKeeper(server, supervisor) if server is not None else None
        client = _clickhouse(settings)
        ch_migrate(client, cluster=settings.clickhouse_cluster)
        migrate_sql(settings.database_url)
        # one registry for every role of this process: the API's /metrics shows them all
        serve_as = None if "api" in roles else "up"
        stack.enter_context(_role_metrics(settings, url, ["ingest", *roles], serve_as))
        supervisor.start("ingest", _ingest_worker(settings, url, client).run, supervisor.stop)
        for name in roles:
            supervisor.start(name, _run_role, name, settings, url, supervisor.stop, client)
        crawler_env: dict[str, str] = {}
        if args.demo:
            from pricewatch.devtools.demo import demo_marketplace, keep_queued
            from pricewatch.frontier import Frontier
            from pricewatch.storage.redis import connect

            demo = stack.enter_context(
                demo_marketplace(
                    args.demo,
                    state_file=settings.data_dir / "demo-marketplace.json",
                    tls_dir=settings.data_dir / "demo-tls",
                )
            )
            # our own local server: no need for the gentle pace Amazon gets
            crawler_env = {
                "PRICEWATCH_MARKET_ORIGINS": demo.origins_setting,
                "PRICEWATCH_DIRECT_INTERVAL_S": "0.5",
                "PRICEWATCH_DIRECT_JITTER_S": "0.1",
            }
            frontier = Frontier(
                connect(url), _keys(settings), partitions=settings.stream_partitions
            )
            supervisor.start("demo", keep_queued, frontier, demo.tasks, supervisor.stop)
        env = _crawler_env(settings, url, crawler_env)
        crawlers = Respawner("crawler", lambda: _start_crawler(env), args.crawlers)
        print(
            f"Pricewatch is up: data in {settings.data_dir}, Redis at {url}, "
            f"website on http://{settings.api_host}:{settings.api_port}/. Ctrl-C stops it.",
            flush=True,
        )
        if args.demo:
            for url in _demo_pages(settings, demo.tasks):
                print(f"Try: {url}", flush=True)
        browser = None
        if found_browser is not None and demo.site is not None:
            browser = _open_demo_browser(settings, demo.site, found_browser, supervisor.stop)
            if browser is not None:
                stack.callback(browser.stop)
        while not supervisor.stop.wait(0.5):
            if keeper is not None:
                keeper.check()
            crawlers.check()
            if browser is not None and not browser.running():
                print("Browser closed; Pricewatch runs on. Ctrl-C stops it.", flush=True)
                browser = None
        crawlers.stop(supervisor)
        supervisor.join(ROLE_GRACE_S)
    return supervisor.finish()


def cmd_import_csv(settings: Settings, args: argparse.Namespace) -> int:
    from pricewatch.importer import import_csv
    from pricewatch.schema import migrate as ch_migrate

    client = _clickhouse(settings)
    ch_migrate(client, cluster=settings.clickhouse_cluster)
    # Ingest caches each series' last price in Redis; a backfill must not
    # leave it stale. With no Redis running there is no cache to correct.
    url = existing_redis(settings) if args.reset_state else None
    try:
        result = import_csv(
            Path(args.file),
            client,
            redis_url=url,
            keys=_keys(settings),
            partitions=settings.stream_partitions,
            default_market=args.market,
            progress=not args.quiet,
        )
    except (OSError, ValueError) as exc:
        print(f"pricewatch import-csv: {exc}", file=sys.stderr)
        return 2
    for error in result.errors:
        print(f"rejected {error}", file=sys.stderr)
    print(
        f"imported {result.rows} rows for {result.series} series ({result.rejected} rejected lines)"
    )
    return 0 if result.rows or not result.rejected else 1


def cmd_track(settings: Settings, args: argparse.Namespace) -> int:
    from pricewatch.frontier import Frontier
    from pricewatch.storage.redis import connect

    with redis_for(settings, may_start=False) as url:
        try:
            tasks = Frontier(
                connect(url), _keys(settings), partitions=settings.stream_partitions
            ).track(args.inputs, priority=args.priority, default_market=args.market)
        except ValueError as exc:
            print(f"pricewatch track: {exc}", file=sys.stderr)
            return 2
    for task in tasks:
        print(f"queued {task.market}:{task.asin}")
    return 0


def cmd_backup_or_restore(settings: Settings, args: argparse.Namespace) -> int:
    """``pricewatch backup DIR`` / ``pricewatch restore DIR [--force]``."""
    from pricewatch import backup
    from pricewatch.storage.clickhouse.client import database_from_url
    from pricewatch.storage.redis import connect

    name = f"pricewatch {args.command}"
    target = Path(args.directory).expanduser().resolve()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        if args.command == "restore":
            # before any store is opened: a damaged backup is refused at once
            backup.read_manifest(target)
        disk = settings.clickhouse_backup_disk
        if not settings.clickhouse_url.startswith("chdb:") and disk is None:
            raise backup.BackupError(
                "a ClickHouse server writes backups to a disk of its own: set "
                "PRICEWATCH_CLICKHOUSE_BACKUP_DISK to one of its <backups><allowed_disk>"
            )
        try:
            client = _clickhouse(settings)
        except Exception as exc:  # chDB refuses a data dir another process has open
            raise backup.BackupError(
                f"cannot open ClickHouse ({exc}); with embedded chDB, stop `pricewatch up` "
                "first: one process at a time opens its data"
            ) from exc
        with redis_for(settings, may_start=True) as url:
            stores = backup.Stores(
                clickhouse=client,
                database=database_from_url(settings.clickhouse_url),
                backup_disk=disk if not settings.clickhouse_url.startswith("chdb:") else None,
                cluster=settings.clickhouse_cluster,
                sql_url=settings.database_url,
                redis=connect(url),
                keys=_keys(settings),
            )
            if args.command == "backup":
                # as every role does at start: both stores exist and are at head
                from pricewatch.schema import migrate as ch_migrate
                from pricewatch.storage.sql import migrate_sql

                ch_migrate(client, stores.database, cluster=stores.cluster)
                migrate_sql(settings.database_url)
                manifest = backup.backup(stores, target)
                print(f"backed up to {target} ({manifest['bytes']} bytes)")
            else:
                backup.restore(stores, target, force=args.force)
                print(f"restored from {target}; schema migrated to the current version")
    except backup.BackupError as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        return 2
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pricewatch", description="Pricewatch: self-hosted Amazon price tracker"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="apply ClickHouse and SQL migrations").set_defaults(
        func=cmd_migrate
    )
    sub.add_parser("ingest", help="consume observations into the price history").set_defaults(
        func=cmd_ingest
    )
    for role, text in (
        ("api", "serve the API and website"),
        ("alerts", "send price-drop notifications"),
        ("scheduler", "score products and refill the crawl frontier"),
    ):
        sub.add_parser(role, help=text).set_defaults(func=cmd_role)
    together = sub.add_parser(
        "roles", help="run several roles in one process (as `up --processes` does with chDB)"
    )
    together.add_argument("roles", nargs="+", choices=["ingest", "api", "alerts", "scheduler"])
    together.set_defaults(func=cmd_roles)
    up = sub.add_parser("up", help="run everything on this machine")
    up.add_argument(
        "--crawlers",
        type=int,
        default=1,
        metavar="N",
        help="crawler processes to run (default 1; 0 for none)",
    )
    up.add_argument(
        "--demo",
        type=int,
        nargs="?",
        const=36,
        default=0,
        metavar="PRODUCTS",
        help="crawl a local demo marketplace instead of Amazon",
    )
    up.add_argument(
        "--browser",
        action="store_true",
        help="with --demo: open Chromium with the extension (extension/dist) on the demo "
        "marketplace, served as www.amazon.com and its other markets",
    )
    up.add_argument(
        "--chrome",
        metavar="PATH",
        default=None,
        help="the Chromium for --browser (default: chromium on PATH, else Playwright's)",
    )
    up.add_argument(
        "--processes",
        action="store_true",
        help="run each role as a process of its own, restarted when it dies (with embedded "
        "chDB, api, ingest and scheduler share one)",
    )
    up.set_defaults(func=cmd_up)
    imp = sub.add_parser(
        "import-csv",
        help="bulk-load price history from a CSV file",
        description="Columns: market, asin, observed_at, price, and optionally currency, "
        f"availability and series ({', '.join(Series)}; empty: buybox). A sales_rank "
        "row's price is the rank, with no currency.",
    )
    imp.add_argument("file")
    imp.add_argument("--market", default=None, help="market for rows that name none")
    imp.add_argument("--quiet", action="store_true", help="no progress bar")
    imp.add_argument(
        "--no-reset-state",
        dest="reset_state",
        action="store_false",
        help="do not invalidate ingest's cached last prices in Redis",
    )
    imp.set_defaults(func=cmd_import_csv)
    track = sub.add_parser("track", help="queue products for crawling by URL or ASIN")
    track.add_argument("inputs", nargs="+", metavar="URL_OR_ASIN")
    track.add_argument("--market", default="us", help="market for bare ASINs (default: us)")
    track.add_argument("--priority", type=float, default=100.0)
    track.set_defaults(func=cmd_track)
    save = sub.add_parser(
        "backup", help="save the price history, the SQL store and Redis's pending state into DIR"
    )
    save.add_argument("directory", metavar="DIR", help="a new or empty directory")
    save.set_defaults(func=cmd_backup_or_restore)
    load = sub.add_parser(
        "restore", help="check a backup made by `pricewatch backup`, restore it and migrate it"
    )
    load.add_argument("directory", metavar="DIR")
    load.add_argument("--force", action="store_true", help="replace stores that already hold data")
    load.set_defaults(func=cmd_backup_or_restore)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = load_settings()
    _setup_logging(settings)
    return int(args.func(settings, args) or 0)


if __name__ == "__main__":
    sys.exit(main())

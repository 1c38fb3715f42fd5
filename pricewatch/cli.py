"""``pricewatch`` command line: one entry point for every role.

Single machine: ``pricewatch up`` starts Redis if none is configured and runs
the roles that touch ClickHouse in this one process (chDB allows one engine
per process). Cluster: run each role as its own process with the stores set
by environment.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import inspect
import logging
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from pricewatch.keys import Keys
from pricewatch.settings import Settings, child_environment, load_settings

log = logging.getLogger("pricewatch")


# Roles live in the apps; the shared core names them by dotted path and
# imports them only when asked to run one, so it never depends on an app.
ROLES = {
    "api": "api.service:run",
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
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


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

    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except redis.RedisError:
        return None
    return url


@contextmanager
def redis_for(settings: Settings, *, may_start: bool) -> Iterator[str]:
    """An existing Redis, or (``may_start``) a new one under the data dir."""
    url = existing_redis(settings)
    if url is not None:
        yield url
        return
    if not may_start:
        raise SystemExit(
            "no Redis: set PRICEWATCH_REDIS_URL, or start `pricewatch up` on this machine first"
        )
    from pricewatch.storage.local_redis import local_redis

    with local_redis(settings.redis_dir) as url:
        _url_file(settings).write_text(url)
        log.info("started Redis at %s (data in %s)", url, settings.redis_dir)
        try:
            yield url
        finally:
            _url_file(settings).unlink(missing_ok=True)


def _keys(settings: Settings) -> Keys:
    return Keys(prefix=settings.key_prefix)


def _clickhouse(settings: Settings):  # type: ignore[no-untyped-def]
    from pricewatch.storage.clickhouse import get_clickhouse

    return get_clickhouse(settings.clickhouse_url)


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    from pricewatch.schema import migrate as ch_migrate
    from pricewatch.storage.sql import migrate_sql

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    applied = ch_migrate(_clickhouse(settings))
    print(f"clickhouse: {len(applied)} migration(s) applied")
    migrate_sql(settings.database_url)
    print("sql: at head")
    return 0


def _ingest_worker(settings: Settings, redis_url: str, client):  # type: ignore[no-untyped-def]
    from pricewatch.ingest.verify import build_trust_gate
    from pricewatch.ingest.worker import IngestWorker
    from pricewatch.storage.clickhouse import PriceStore
    from pricewatch.storage.redis import connect

    redis_client, keys, store = connect(redis_url), _keys(settings), PriceStore(client)
    return IngestWorker(
        redis_client,
        keys,
        store,
        gate=build_trust_gate(settings, redis_client, keys, store),
        partitions=settings.stream_partitions,
        consumer=f"ingest-{socket.gethostname()}",
        batch_size=settings.ingest_batch_size,
        batch_ms=settings.ingest_batch_ms,
        claim_idle_ms=settings.claim_idle_ms,
        maxlen=settings.stream_maxlen,
    )


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()

    def handler(signum: int, frame: object) -> None:
        log.info("signal %d: stopping", signum)
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    return stop


def cmd_ingest(settings: Settings, args: argparse.Namespace) -> int:
    from pricewatch.schema import migrate as ch_migrate

    with redis_for(settings, may_start=False) as url:
        client = _clickhouse(settings)
        ch_migrate(client)
        worker = _ingest_worker(settings, url, client)
        worker.run(_stop_on_signals())
    return 0


def _guarded(name: str, stop: threading.Event, fn: Callable[..., None], *args: Any) -> None:
    """Run one role of ``up``; if it dies, everything stops rather than limp on."""
    try:
        fn(*args)
    except Exception:
        log.exception("role %s crashed; stopping", name)
        stop.set()


def cmd_role(settings: Settings, args: argparse.Namespace) -> int:
    """``pricewatch api|alerts|scheduler``: one role in the foreground."""
    with redis_for(settings, may_start=False) as url:
        client = None
        if args.command in ("api", "scheduler"):
            from pricewatch.schema import migrate as ch_migrate

            client = _clickhouse(settings)
            ch_migrate(client)
        _run_role(args.command, settings, url, _stop_on_signals(), client)
    return 0


def _crawler_env(settings: Settings, redis_url: str, extra: dict[str, str]) -> dict[str, str]:
    return child_environment(
        {
            "PRICEWATCH_REDIS_URL": redis_url,
            "PRICEWATCH_KEY_PREFIX": settings.key_prefix,
            "SCRAPY_SETTINGS_MODULE": "crawler.settings",
            **extra,
        }
    )


def _start_crawlers(count: int, env: dict[str, str]) -> list[subprocess.Popen[bytes]]:
    """Crawler workers are processes of their own: Scrapy runs its own reactor."""
    return [
        subprocess.Popen([sys.executable, "-m", "scrapy", "crawl", "product"], env=env)
        for _ in range(count)
    ]


def cmd_up(settings: Settings, args: argparse.Namespace) -> int:
    from pricewatch.schema import migrate as ch_migrate
    from pricewatch.storage.sql import migrate_sql

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    stop = _stop_on_signals()
    with ExitStack() as stack:
        url = stack.enter_context(redis_for(settings, may_start=True))
        client = _clickhouse(settings)
        ch_migrate(client)
        migrate_sql(settings.database_url)
        threads = [
            threading.Thread(
                target=_guarded,
                args=("ingest", stop, _ingest_worker(settings, url, client).run, stop),
                name="ingest",
                daemon=True,
            )
        ]
        for name in ROLES:
            if importlib.util.find_spec(ROLES[name].partition(":")[0]) is None:
                log.warning("role %s is not installed; running without it", name)
                continue
            threads.append(
                threading.Thread(
                    target=_guarded,
                    args=(name, stop, _run_role, name, settings, url, stop, client),
                    name=name,
                    daemon=True,
                )
            )
        crawler_env: dict[str, str] = {}
        if args.demo:
            from pricewatch.demo import demo_marketplace, keep_queued
            from pricewatch.frontier import Frontier
            from pricewatch.storage.redis import connect

            demo = stack.enter_context(demo_marketplace(args.demo))
            # our own local server: no need for the gentle pace Amazon gets
            crawler_env = {
                "PRICEWATCH_MARKET_ORIGINS": demo.origins_setting,
                "PRICEWATCH_DIRECT_INTERVAL_S": "0.5",
                "PRICEWATCH_DIRECT_JITTER_S": "0.1",
            }
            frontier = Frontier(connect(url), _keys(settings))
            threads.append(
                threading.Thread(
                    target=_guarded,
                    args=("demo", stop, keep_queued, frontier, demo.tasks, stop),
                    name="demo",
                    daemon=True,
                )
            )
        for t in threads:
            t.start()
        crawlers = _start_crawlers(args.crawlers, _crawler_env(settings, url, crawler_env))
        print(
            f"Pricewatch is up: data in {settings.data_dir}, Redis at {url}, "
            f"website on http://{settings.api_host}:{settings.api_port}/. Ctrl-C stops it.",
            flush=True,
        )
        while not stop.wait(1.0):
            for i, proc in enumerate(crawlers):
                if proc.poll() is not None:
                    log.warning("crawler exited with %s; starting another", proc.returncode)
                    crawlers[i] = _start_crawlers(1, _crawler_env(settings, url, crawler_env))[0]
        for proc in crawlers:
            proc.terminate()
        for proc in crawlers:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
        for t in threads:
            t.join(timeout=10)
    return 0


def cmd_import_csv(settings: Settings, args: argparse.Namespace) -> int:
    from pricewatch.importer import import_csv
    from pricewatch.schema import migrate as ch_migrate

    client = _clickhouse(settings)
    ch_migrate(client)
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
            tasks = Frontier(connect(url), _keys(settings)).track(
                args.inputs, priority=args.priority, default_market=args.market
            )
        except ValueError as exc:
            print(f"pricewatch track: {exc}", file=sys.stderr)
            return 2
    for task in tasks:
        print(f"queued {task.market}:{task.asin}")
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
    up.set_defaults(func=cmd_up)
    imp = sub.add_parser("import-csv", help="bulk-load price history from a CSV file")
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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = load_settings()
    _setup_logging(settings)
    return int(args.func(settings, args) or 0)


if __name__ == "__main__":
    sys.exit(main())

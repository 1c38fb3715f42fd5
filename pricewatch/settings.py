"""The one place that reads the environment.

Every knob is a ``PRICEWATCH_*`` variable with an embedded default, so that
``pricewatch up`` runs with nothing configured. Everything else in the project
takes plain values; tests build objects directly instead of patching the
environment.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Mapping
from pathlib import Path

PREFIX = "PRICEWATCH_"


@dataclasses.dataclass(frozen=True, kw_only=True)
class Settings:
    data_dir: Path
    clickhouse_url: str
    database_url: str
    # None means "start a Redis of our own under data_dir" (single-machine mode).
    redis_url: str | None
    # Streams are split by a hash of (market, asin) so a cluster can run one
    # consumer per partition while keeping per-product order.
    stream_partitions: int = 4
    # Approximate cap (XADD MAXLEN ~) per partition: a bounded backlog, not an archive.
    stream_maxlen: int = 1_000_000
    ingest_batch_size: int = 20_000
    ingest_batch_ms: int = 200
    # A pending message idle this long belongs to a consumer presumed dead.
    claim_idle_ms: int = 30_000
    # Crawling. Proxy URLs ("http://host:port"); none means going out directly.
    proxies: tuple[str, ...] = ()
    # Seconds between two requests through one proxy IP, fleet-wide.
    proxy_interval_s: float = 1.0
    # Without proxies the one home IP goes gentler, with jitter.
    direct_interval_s: float = 5.0
    direct_jitter_s: float = 2.0
    # Where a market's pages are fetched from instead of its Amazon origin, as
    # (market, origin) pairs: a local marketplace in tests and demos.
    # PRICEWATCH_MARKET_ORIGINS="us=http://127.0.0.1:8080,de=http://www.amazon.de"
    market_origins: tuple[tuple[str, str], ...] = ()
    # A popped crawl task is leased this long; the worker's heartbeats extend it, so
    # it runs out only when the worker is gone and its tasks go back to the queue.
    crawl_lease_ms: int = 120_000
    # Requests (and so leased tasks) one crawler process keeps in flight.
    crawl_concurrency: int = 8
    # A crawler process stops after the frontier has been empty this long; 0 = never.
    crawl_idle_close_s: int = 0
    # Prefix of every Redis key (pricewatch.keys.Keys): several deployments, one Redis.
    key_prefix: str = "pw:"
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    log_level: str = "INFO"

    @property
    def redis_dir(self) -> Path:
        return self.data_dir / "redis"


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(PREFIX + name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"{PREFIX}{name} must be an integer, got {raw!r}") from exc


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(PREFIX + name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise ValueError(f"{PREFIX}{name} must be a number, got {raw!r}") from exc
    if not value > 0:
        raise ValueError(f"{PREFIX}{name} must be positive, got {raw!r}")
    return value


def _proxies(env: Mapping[str, str]) -> tuple[str, ...]:
    """PRICEWATCH_PROXIES (comma/space separated) plus PRICEWATCH_PROXY_FILE (one per line)."""
    found: list[str] = []
    found += (env.get(PREFIX + "PROXIES") or "").replace(",", " ").split()
    path = env.get(PREFIX + "PROXY_FILE")
    if path:
        try:
            lines = Path(path).expanduser().read_text().splitlines()
        except OSError as exc:
            raise ValueError(f"{PREFIX}PROXY_FILE: cannot read {path}: {exc}") from exc
        found += [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
    proxies: list[str] = []
    for proxy in found:
        if "://" not in proxy:
            proxy = "http://" + proxy
        if proxy not in proxies:
            proxies.append(proxy)
    return tuple(proxies)


def _market_origins(env: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """PRICEWATCH_MARKET_ORIGINS: "market=origin" pairs, comma/space separated."""
    from urllib.parse import urlsplit

    from pricewatch.markets import get_market

    name = PREFIX + "MARKET_ORIGINS"
    pairs: dict[str, str] = {}
    for item in (env.get(name) or "").replace(",", " ").split():
        market, sep, origin = item.partition("=")
        parts = urlsplit(origin)
        if not sep or parts.scheme not in ("http", "https") or not parts.netloc or (
            parts.path not in ("", "/") or parts.query
        ):
            raise ValueError(f"{name}: expected market=http(s)://host[:port], got {item!r}")
        try:
            code = get_market(market.strip().lower()).code
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from None
        pairs[code] = origin.rstrip("/")
    return tuple(pairs.items())


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Build settings from ``env`` (default: the process environment)."""
    env = os.environ if env is None else env
    data_dir = Path(
        env.get(PREFIX + "DATA_DIR") or Path.home() / ".local" / "share" / "pricewatch"
    ).expanduser().resolve()
    return Settings(
        data_dir=data_dir,
        clickhouse_url=env.get(PREFIX + "CLICKHOUSE_URL") or f"chdb://{data_dir}/clickhouse",
        database_url=env.get(PREFIX + "DATABASE_URL")
        or f"sqlite+aiosqlite:///{data_dir}/pricewatch.db",
        redis_url=env.get(PREFIX + "REDIS_URL") or None,
        stream_partitions=_int(env, "STREAM_PARTITIONS", 4),
        stream_maxlen=_int(env, "STREAM_MAXLEN", 1_000_000),
        ingest_batch_size=_int(env, "INGEST_BATCH_SIZE", 20_000),
        ingest_batch_ms=_int(env, "INGEST_BATCH_MS", 200),
        claim_idle_ms=_int(env, "CLAIM_IDLE_MS", 30_000),
        proxies=_proxies(env),
        proxy_interval_s=_float(env, "PROXY_INTERVAL_S", 1.0),
        direct_interval_s=_float(env, "DIRECT_INTERVAL_S", 5.0),
        direct_jitter_s=_float(env, "DIRECT_JITTER_S", 2.0),
        market_origins=_market_origins(env),
        crawl_lease_ms=_int(env, "CRAWL_LEASE_MS", 120_000),
        crawl_concurrency=_int(env, "CRAWL_CONCURRENCY", 8),
        crawl_idle_close_s=_int(env, "CRAWL_IDLE_CLOSE_S", 0),
        key_prefix=env.get(PREFIX + "KEY_PREFIX") or "pw:",
        api_host=env.get(PREFIX + "API_HOST") or "127.0.0.1",
        api_port=_int(env, "API_PORT", 8000),
        log_level=env.get(PREFIX + "LOG_LEVEL") or "INFO",
    )


@functools.cache
def get_settings() -> Settings:
    """Process-wide settings, read once."""
    return load_settings()

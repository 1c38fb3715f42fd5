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
        api_host=env.get(PREFIX + "API_HOST") or "127.0.0.1",
        api_port=_int(env, "API_PORT", 8000),
        log_level=env.get(PREFIX + "LOG_LEVEL") or "INFO",
    )


@functools.cache
def get_settings() -> Settings:
    """Process-wide settings, read once."""
    return load_settings()

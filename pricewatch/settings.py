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
    # Where browsers and the extension reach the API (links in e-mails, OpenAPI servers);
    # None means http://api_host:api_port.
    api_public_url: str | None = None
    # Computed chart histories live in Redis this long at most; a price change drops
    # them sooner. Bounds how stale a sliding window ("last 30 days") can get.
    api_history_cache_ttl_s: int = 600
    # Cache-Control max-age of chart histories (browsers, CDNs).
    api_history_max_age_s: int = 60
    # Memory per API process for copies of recently served chart histories, in front
    # of Redis (0: none). Price changes evict them at once; they expire after
    # api_history_max_age_s in any case.
    api_near_cache_mb: int = 64
    # Bearer tokens (website sign-in, extension) are valid this long.
    api_token_ttl_s: int = 30 * 24 * 3600
    # Price reports (POST /reports) accepted per minute per reporter and per client IP.
    api_report_rate_per_min: int = 30
    api_report_ip_rate_per_min: int = 120
    # Sign-in and registration attempts per minute per client IP (password guessing).
    api_auth_rate_per_min: int = 20
    # Request bodies larger than this are refused with 413 (reports are ~1 KB).
    api_max_body_bytes: int = 16_384
    # Seconds between flushes of the Redis view counters into ClickHouse.
    api_view_flush_s: float = 10.0
    # Chart views are tallied in memory and added to the Redis counters this often.
    api_view_push_ms: int = 250
    # Key of the keyed hash that turns client IPs into reporter ids: set it per
    # deployment so that ids cannot be reversed by hashing every IPv4 address.
    api_ip_hash_key: str = "pricewatch-reporter"
    # Frontier priority of a product nobody has crawled yet (asked for by a user).
    api_first_crawl_priority: float = 1000.0
    # Worker threads for blocking ClickHouse calls (chDB serialises queries anyway).
    api_clickhouse_threads: int = 4
    log_level: str = "INFO"
    # --- alerts ---------------------------------------------------------------
    # Without an SMTP host, e-mails are written as .eml files to outbox_dir.
    smtp_host: str | None = None
    smtp_port: int = 587
    # "starttls" (upgrade after connecting), "tls" (implicit, port 465) or "none"
    smtp_tls: str = "starttls"
    smtp_user: str | None = None
    smtp_password: str | None = None
    # CA bundle (PEM) that signed the relay's certificate, for a private relay
    smtp_ca_file: str | None = None
    # Open SMTP sessions; each carries one message at a time (pipelined when
    # the server offers it).
    smtp_connections: int = 8
    mail_from: str = "Pricewatch <alerts@localhost>"
    # Base of the links in messages (product page, stop link).
    public_url: str = "http://127.0.0.1:8000"
    # Signs stop links; None means a random secret kept in data_dir/alert-secret.
    alert_secret: str | None = None
    # Signs webhook bodies (X-Pricewatch-Signature); None means alert_secret.
    webhook_secret: str | None = None
    # "log" (write SMS to the log) or "twilio" (Twilio-shaped Messages API).
    sms_provider: str = "log"
    sms_api_base: str = "https://api.twilio.com"
    sms_account_sid: str | None = None
    sms_auth_token: str | None = None
    sms_from: str | None = None
    # None means data_dir/outbox.
    outbox_dir_override: Path | None = None
    # Delivery attempts before a notification is given up as failed.
    alert_max_attempts: int = 5
    # First retry delay; doubled on each further failure.
    alert_retry_base_ms: int = 30_000
    # A claimed notification belongs to its sender this long; after that any
    # alerts worker's sweep may send it (the sender is presumed dead).
    alert_lease_ms: int = 60_000
    # Seconds one delivery (SMTP, webhook, SMS request) may take.
    alert_send_timeout_s: float = 15.0
    # How often due retries and orphaned notifications are swept.
    alert_sweep_ms: int = 1_000
    # Deliveries in flight at once.
    alert_concurrency: int = 64
    # Stream consumer name; None means "<hostname>-<pid>".
    alerts_consumer: str | None = None
    # --- scheduler ------------------------------------------------------------
    # Share of the crawl budget kept free for verification crawls (they jump the queue).
    scheduler_verify_share: float = 0.1
    # Every product is crawled at most every min and at least every max interval.
    scheduler_min_interval_s: float = 3600.0
    scheduler_max_interval_s: float = 30 * 86400.0
    # The frontier holds what is due within this window, at most frontier_max tasks.
    scheduler_window_s: float = 3600.0
    scheduler_frontier_max: int = 100_000
    # Seconds between frontier refills, incremental and full re-scorings, discovery.
    scheduler_refill_s: float = 10.0
    scheduler_rescore_s: float = 60.0
    scheduler_full_rescore_s: float = 6 * 3600.0
    scheduler_discovery_s: float = 6 * 3600.0
    # Markets whose best-seller and new-release listings are crawled for new products.
    scheduler_discovery_markets: tuple[str, ...] = ("us",)
    # Markets with a crawl budget of their own (crawls/s) as (market, budget) pairs; the
    # others share the rest. PRICEWATCH_SCHEDULER_MARKET_BUDGETS="de=2.5,uk=1"
    scheduler_market_budgets: tuple[tuple[str, float], ...] = ()
    # --- trust-but-verify (crowdsourced reports; pricewatch.trust) -------------
    # A report this share under the last accepted price is held for verification.
    trust_drop_share: float = 0.25
    # Independent trusted reporters whose agreement accepts a report without a crawl.
    trust_quorum: int = 3
    # Reports this close in time agree with (or contradict) each other.
    trust_window_s: int = 600
    # A verification crawl confirms a report within this share of its price.
    trust_verify_tolerance_share: float = 0.02
    # A held report nobody verified within this time is rejected.
    trust_pending_ttl_s: int = 1800
    # Share of reports accepted at once that still get a verification crawl (0 = none).
    trust_spot_check_share: float = 0.05

    @property
    def redis_dir(self) -> Path:
        return self.data_dir / "redis"

    @property
    def outbox_dir(self) -> Path:
        return self.outbox_dir_override or self.data_dir / "outbox"


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(PREFIX + name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"{PREFIX}{name} must be an integer, got {raw!r}") from exc


def _number(env: Mapping[str, str], name: str) -> float | None:
    raw = env.get(PREFIX + name)
    if raw is None or raw == "":
        return None
    try:
        return float(raw)
    except ValueError as exc:
        raise ValueError(f"{PREFIX}{name} must be a number, got {raw!r}") from exc


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    value = _number(env, name)
    if value is None:
        return default
    if not value > 0:
        raise ValueError(f"{PREFIX}{name} must be positive, got {env[PREFIX + name]!r}")
    return value


def _share(env: Mapping[str, str], name: str, default: float) -> float:
    """A fraction in [0, 1], e.g. 0.25 for 25 %."""
    value = _number(env, name)
    if value is None:
        return default
    if not 0 <= value <= 1:
        raise ValueError(
            f"{PREFIX}{name} must be a share between 0 and 1, got {env[PREFIX + name]!r}")
    return value


def _choice(env: Mapping[str, str], name: str, allowed: tuple[str, ...], default: str) -> str:
    raw = (env.get(PREFIX + name) or default).strip().lower()
    if raw not in allowed:
        raise ValueError(f"{PREFIX}{name} must be one of {', '.join(allowed)}, got {raw!r}")
    return raw


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


def _market_list(env: Mapping[str, str], name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    """Market codes, comma/space separated; an empty value means none."""
    from pricewatch.markets import get_market

    raw = env.get(PREFIX + name)
    if raw is None:
        return default
    try:
        codes = [get_market(c.lower()).code for c in raw.replace(",", " ").split()]
        return tuple(dict.fromkeys(codes))
    except ValueError as exc:
        raise ValueError(f"{PREFIX}{name}: {exc}") from None


def _market_budgets(env: Mapping[str, str]) -> tuple[tuple[str, float], ...]:
    """PRICEWATCH_SCHEDULER_MARKET_BUDGETS: "market=crawls_per_s" pairs."""
    from pricewatch.markets import get_market

    name = PREFIX + "SCHEDULER_MARKET_BUDGETS"
    pairs: dict[str, float] = {}
    for item in (env.get(name) or "").replace(",", " ").split():
        market, sep, value = item.partition("=")
        try:
            budget = float(value)
            code = get_market(market.strip().lower()).code
        except ValueError as exc:
            raise ValueError(f"{name}: expected market=crawls_per_s, got {item!r}: {exc}") from None
        if not sep or not budget >= 0 or budget == float("inf"):
            raise ValueError(f"{name}: expected market=crawls_per_s, got {item!r}")
        pairs[code] = budget
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
        api_public_url=env.get(PREFIX + "API_PUBLIC_URL") or None,
        api_history_cache_ttl_s=_int(env, "API_HISTORY_CACHE_TTL_S", 600),
        api_history_max_age_s=_int(env, "API_HISTORY_MAX_AGE_S", 60),
        api_near_cache_mb=_int(env, "API_NEAR_CACHE_MB", 64),
        api_token_ttl_s=_int(env, "API_TOKEN_TTL_S", 30 * 24 * 3600),
        api_report_rate_per_min=_int(env, "API_REPORT_RATE_PER_MIN", 30),
        api_report_ip_rate_per_min=_int(env, "API_REPORT_IP_RATE_PER_MIN", 120),
        api_auth_rate_per_min=_int(env, "API_AUTH_RATE_PER_MIN", 20),
        api_max_body_bytes=_int(env, "API_MAX_BODY_BYTES", 16_384),
        api_view_flush_s=_float(env, "API_VIEW_FLUSH_S", 10.0),
        api_view_push_ms=_int(env, "API_VIEW_PUSH_MS", 250),
        api_ip_hash_key=env.get(PREFIX + "API_IP_HASH_KEY") or "pricewatch-reporter",
        api_first_crawl_priority=_float(env, "API_FIRST_CRAWL_PRIORITY", 1000.0),
        api_clickhouse_threads=_int(env, "API_CLICKHOUSE_THREADS", 4),
        log_level=env.get(PREFIX + "LOG_LEVEL") or "INFO",
        smtp_host=env.get(PREFIX + "SMTP_HOST") or None,
        smtp_port=_int(env, "SMTP_PORT", 587),
        smtp_tls=_choice(env, "SMTP_TLS", ("starttls", "tls", "none"), "starttls"),
        smtp_user=env.get(PREFIX + "SMTP_USER") or None,
        smtp_password=env.get(PREFIX + "SMTP_PASSWORD") or None,
        smtp_ca_file=env.get(PREFIX + "SMTP_CA_FILE") or None,
        smtp_connections=_int(env, "SMTP_CONNECTIONS", 8),
        mail_from=env.get(PREFIX + "MAIL_FROM") or "Pricewatch <alerts@localhost>",
        public_url=(env.get(PREFIX + "PUBLIC_URL") or "http://127.0.0.1:8000").rstrip("/"),
        alert_secret=env.get(PREFIX + "ALERT_SECRET") or None,
        webhook_secret=env.get(PREFIX + "WEBHOOK_SECRET") or None,
        sms_provider=_choice(env, "SMS_PROVIDER", ("log", "twilio"), "log"),
        sms_api_base=(env.get(PREFIX + "SMS_API_BASE") or "https://api.twilio.com").rstrip("/"),
        sms_account_sid=env.get(PREFIX + "SMS_ACCOUNT_SID") or None,
        sms_auth_token=env.get(PREFIX + "SMS_AUTH_TOKEN") or None,
        sms_from=env.get(PREFIX + "SMS_FROM") or None,
        outbox_dir_override=(
            Path(env[PREFIX + "OUTBOX_DIR"]).expanduser().resolve()
            if env.get(PREFIX + "OUTBOX_DIR")
            else None
        ),
        alert_max_attempts=_int(env, "ALERT_MAX_ATTEMPTS", 5),
        alert_retry_base_ms=_int(env, "ALERT_RETRY_BASE_MS", 30_000),
        alert_lease_ms=_int(env, "ALERT_LEASE_MS", 60_000),
        alert_send_timeout_s=_float(env, "ALERT_SEND_TIMEOUT_S", 15.0),
        alert_sweep_ms=_int(env, "ALERT_SWEEP_MS", 1_000),
        alert_concurrency=_int(env, "ALERT_CONCURRENCY", 64),
        alerts_consumer=env.get(PREFIX + "ALERTS_CONSUMER") or None,
        scheduler_verify_share=_float(env, "SCHEDULER_VERIFY_SHARE", 0.1),
        scheduler_min_interval_s=_float(env, "SCHEDULER_MIN_INTERVAL_S", 3600.0),
        scheduler_max_interval_s=_float(env, "SCHEDULER_MAX_INTERVAL_S", 30 * 86400.0),
        scheduler_window_s=_float(env, "SCHEDULER_WINDOW_S", 3600.0),
        scheduler_frontier_max=_int(env, "SCHEDULER_FRONTIER_MAX", 100_000),
        scheduler_refill_s=_float(env, "SCHEDULER_REFILL_S", 10.0),
        scheduler_rescore_s=_float(env, "SCHEDULER_RESCORE_S", 60.0),
        scheduler_full_rescore_s=_float(env, "SCHEDULER_FULL_RESCORE_S", 6 * 3600.0),
        scheduler_discovery_s=_float(env, "SCHEDULER_DISCOVERY_S", 6 * 3600.0),
        scheduler_discovery_markets=_market_list(env, "SCHEDULER_DISCOVERY_MARKETS", ("us",)),
        scheduler_market_budgets=_market_budgets(env),
        trust_drop_share=_share(env, "TRUST_DROP_SHARE", 0.25),
        trust_quorum=_int(env, "TRUST_QUORUM", 3),
        trust_window_s=_int(env, "TRUST_WINDOW_S", 600),
        trust_verify_tolerance_share=_share(env, "TRUST_VERIFY_TOLERANCE_SHARE", 0.02),
        trust_pending_ttl_s=_int(env, "TRUST_PENDING_TTL_S", 1800),
        trust_spot_check_share=_share(env, "TRUST_SPOT_CHECK_SHARE", 0.05),
    )


def child_environment(extra: Mapping[str, str]) -> dict[str, str]:
    """The environment for a child process (a crawler worker): ours plus ``extra``."""
    env = dict(os.environ)
    env.update(extra)
    return env


@functools.cache
def get_settings() -> Settings:
    """Process-wide settings, read once."""
    return load_settings()

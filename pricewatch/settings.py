"""The one place that reads the environment.

Every knob is a ``PRICEWATCH_*`` variable with an embedded default, so that
``pricewatch up`` runs with nothing configured. Each field of :class:`Settings`
says once what it means, its default, and how its variable is read (the field's
name in capitals unless it says otherwise; the reader follows the field's type
unless it names one). Everything else in the project takes plain values; tests
build objects directly instead of patching the environment.
"""

from __future__ import annotations

import dataclasses
import functools
import ipaddress
import os
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pricewatch.keys import DEFAULT_PREFIX
from pricewatch.leader import DEFAULT_TTL_S

PREFIX = "PRICEWATCH_"

# A reader turns the raw text of one variable (never empty) into the field's value;
# ``name`` is the variable's full name, for error messages.
Reader = Callable[[str, str], Any]


def _int(raw: str, name: str) -> int:
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from exc


def _number(raw: str, name: str) -> float:
    try:
        return float(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be a number, got {raw!r}") from exc


def _positive(raw: str, name: str) -> float:
    value = _number(raw, name)
    if not value > 0:
        raise ValueError(f"{name} must be positive, got {raw!r}")
    return value


def _share(raw: str, name: str) -> float:
    """A fraction in [0, 1], e.g. 0.25 for 25 %."""
    value = _number(raw, name)
    if not 0 <= value <= 1:
        raise ValueError(f"{name} must be a share between 0 and 1, got {raw!r}")
    return value


def _text(raw: str, name: str) -> str:
    return raw


def _flag(raw: str, name: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{name} must be true or false (1/0, yes/no, on/off), got {raw!r}")


def _choice(*allowed: str) -> Reader:
    def read(raw: str, name: str) -> str:
        value = raw.strip().lower()
        if value not in allowed:
            raise ValueError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
        return value

    return read


def _identifier(raw: str, name: str) -> str:
    """A plain SQL identifier (letters, digits, _), as names spliced into DDL must be."""
    value = raw.strip()
    if not value.isidentifier() or not value.isascii():
        raise ValueError(f"{name} must be a name of letters, digits and _, got {raw!r}")
    return value


def _port_base(raw: str, name: str) -> int:
    """0 (off), or a port with room above it for every role's offset (up to +29)."""
    value = _int(raw, name)
    if value != 0 and not 1 <= value <= 65535 - 29:
        raise ValueError(f"{name} must be 0 (off) or a port from 1 to 65506, got {raw!r}")
    return value


def _url(raw: str, name: str) -> str:
    """An http(s) base URL, without its trailing slash."""
    parts = urlsplit(raw.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{name} must be an http(s) URL, got {raw!r}")
    return raw.strip().rstrip("/")


def _path(raw: str, name: str) -> Path:
    return Path(raw).expanduser().resolve()


def _words(raw: str) -> list[str]:
    return raw.replace(",", " ").split()


def _networks(raw: str, name: str) -> tuple[str, ...]:
    """IP addresses or CIDR ranges, comma/space separated (kept as text, checked here)."""
    found: list[str] = []
    for item in _words(raw):
        try:
            found.append(str(ipaddress.ip_network(item, strict=False)))
        except ValueError as exc:
            raise ValueError(f"{name}: {item!r} is not an IP address or range: {exc}") from None
    return tuple(dict.fromkeys(found))


def _hosts_or_networks(raw: str, name: str) -> tuple[str, ...]:
    """Host names or IP addresses / CIDR ranges, comma/space separated."""
    found: list[str] = []
    for item in _words(raw):
        try:
            found.append(str(ipaddress.ip_network(item, strict=False)))
        except ValueError:
            host = item.strip().lower().rstrip(".")
            if not host or "/" in host or ":" in host:
                raise ValueError(f"{name}: {item!r} is not a host name or IP range") from None
            found.append(host)
    return tuple(dict.fromkeys(found))


def _market_origins(raw: str, name: str) -> tuple[tuple[str, str], ...]:
    """ "market=origin" pairs, comma/space separated."""
    from pricewatch.markets import get_market

    pairs: dict[str, str] = {}
    for item in _words(raw):
        market, sep, origin = item.partition("=")
        parts = urlsplit(origin)
        if (
            not sep
            or parts.scheme not in ("http", "https")
            or not parts.netloc
            or (parts.path not in ("", "/") or parts.query)
        ):
            raise ValueError(f"{name}: expected market=http(s)://host[:port], got {item!r}")
        try:
            code = get_market(market.strip().lower()).code
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from None
        pairs[code] = origin.rstrip("/")
    return tuple(pairs.items())


def _market_list(raw: str, name: str) -> tuple[str, ...]:
    """Market codes, comma/space separated."""
    from pricewatch.markets import get_market

    try:
        return tuple(dict.fromkeys(get_market(c.lower()).code for c in _words(raw)))
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from None


def _partition_set(raw: str, name: str) -> tuple[int, ...]:
    """Partition numbers and ranges, comma/space separated: "0-3, 6" (empty: all)."""
    found: set[int] = set()
    for item in _words(raw):
        low, dash, high = item.partition("-")
        try:
            first, last = int(low), int(high) if dash else int(low)
        except ValueError:
            raise ValueError(
                f"{name}: {item!r} is neither a partition number nor a range like 0-3"
            ) from None
        if first < 0 or last < first:
            raise ValueError(f"{name}: {item!r} is not a range of partition numbers")
        found.update(range(first, last + 1))
    return tuple(sorted(found))


def _market_budgets(raw: str, name: str) -> tuple[tuple[str, float], ...]:
    """ "market=crawls_per_s" pairs."""
    from pricewatch.markets import get_market

    pairs: dict[str, float] = {}
    for item in _words(raw):
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


def _proxy_list(items: list[str]) -> tuple[str, ...]:
    proxies: list[str] = []
    for proxy in items:
        if "://" not in proxy:
            proxy = "http://" + proxy
        if proxy not in proxies:
            proxies.append(proxy)
    return tuple(proxies)


def _proxies(env: Mapping[str, str]) -> tuple[str, ...] | None:
    """PRICEWATCH_PROXIES (comma/space separated) plus PRICEWATCH_PROXY_FILE (one per line)."""
    found = _words(env.get(PREFIX + "PROXIES") or "")
    path = env.get(PREFIX + "PROXY_FILE")
    if path:
        try:
            lines = Path(path).expanduser().read_text().splitlines()
        except OSError as exc:
            raise ValueError(f"{PREFIX}PROXY_FILE: cannot read {path}: {exc}") from exc
        found += [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
    return _proxy_list(found) if found else None


def setting(
    default: Any,
    *,
    read: Reader | None = None,
    env: str | None = None,
    from_env: Callable[[Mapping[str, str]], Any] | None = None,
) -> Any:
    """A field of :class:`Settings` read from ``PRICEWATCH_<env or NAME>``.

    ``read`` parses the variable's text (default: by the field's type);
    ``from_env`` reads several variables at once and returns None when none is set.
    """
    metadata = {"read": read, "env": env, "from_env": from_env}
    if isinstance(default, (list, dict, set)):
        raise TypeError("mutable defaults are not settings; use a tuple")
    return dataclasses.field(default=default, metadata=metadata)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Settings:
    # Where the embedded stores keep their files (~/.local/share/pricewatch).
    data_dir: Path
    # Default: chDB under data_dir.
    clickhouse_url: str
    # Default: SQLite under data_dir.
    database_url: str
    # The ClickHouse cluster (its name under <remote_servers>) the schema is spread over:
    # replicated tables per shard behind Distributed ones, created ON CLUSTER. None: one
    # node (chDB or a single server). Set it for `pricewatch migrate` and every role.
    clickhouse_cluster: str | None = setting(None, read=_identifier)
    # `pricewatch backup` on a ClickHouse server: the server's disk (one of its
    # <backups><allowed_disk>) that BACKUP writes to; the copy stays on the server.
    clickhouse_backup_disk: str | None = setting(None)
    # None means "start a Redis of our own under data_dir" (single-machine mode).
    redis_url: str | None = setting(None)
    # Streams are split by a hash of (market, asin) so a cluster can run one
    # consumer per partition while keeping per-product order.
    stream_partitions: int = setting(4)
    # Approximate cap (XADD MAXLEN ~) per partition: a bounded backlog, not an archive.
    stream_maxlen: int = setting(1_000_000)
    # The stream partitions this process's ingest reads ("0-1", "2-3"...; empty: all).
    # Several ingest processes split the partitions between them, each partition to
    # one of them: per-product order holds only with one consumer per partition.
    ingest_partitions: tuple[int, ...] = setting((), read=_partition_set)
    ingest_batch_size: int = setting(20_000)
    ingest_batch_ms: int = setting(200)
    # A pending message idle this long belongs to a consumer presumed dead.
    claim_idle_ms: int = setting(30_000)
    # Crawling. Proxy URLs ("http://host:port"); none means going out directly.
    proxies: tuple[str, ...] = setting((), from_env=_proxies)
    # Seconds between two requests through one proxy IP, fleet-wide.
    proxy_interval_s: float = setting(1.0)
    # Without proxies the one home IP goes gentler, with jitter.
    direct_interval_s: float = setting(5.0)
    direct_jitter_s: float = setting(2.0)
    # Where a market's pages are fetched from instead of its Amazon origin, as
    # (market, origin) pairs: a local marketplace in tests and demos.
    # PRICEWATCH_MARKET_ORIGINS="us=http://127.0.0.1:8080,de=http://www.amazon.de"
    market_origins: tuple[tuple[str, str], ...] = setting((), read=_market_origins)
    # A popped crawl task is leased this long; the worker's heartbeats extend it, so
    # it runs out only when the worker is gone and its tasks go back to the queue.
    crawl_lease_ms: int = setting(120_000)
    # Requests (and so leased tasks) one crawler process keeps in flight.
    crawl_concurrency: int = setting(8)
    # A crawler process stops after the frontier has been empty this long; 0 = never.
    crawl_idle_close_s: int = setting(0)
    # Prefix of every Redis key (pricewatch.keys.Keys): several deployments, one Redis.
    key_prefix: str = setting(DEFAULT_PREFIX)
    api_host: str = setting("127.0.0.1")
    api_port: int = setting(8000)
    # API processes on api_port, each binding it with SO_REUSEPORT (the kernel spreads
    # the connections): `up --processes` starts this many, or run `pricewatch api` this
    # many times. More than one needs a ClickHouse server: chDB opens in one process.
    api_processes: int = setting(1)
    # Where people reach the website and the API: the base of every link in e-mails
    # and of the OpenAPI servers. None means http://api_host:api_port (``public_url``).
    public_url_override: str | None = setting(None, read=_url, env="PUBLIC_URL")
    # Computed chart histories live in Redis this long at most; a price change drops
    # them sooner. Bounds how stale a sliding window ("last 30 days") can get.
    api_history_cache_ttl_s: int = setting(600)
    # Cache-Control max-age of chart histories (browsers, CDNs).
    api_history_max_age_s: int = setting(60)
    # Memory per API process for copies of recently served chart histories, in front
    # of Redis (0: none). Price changes evict them at once; they expire after
    # api_history_max_age_s in any case.
    api_near_cache_mb: int = setting(64)
    # Bearer tokens (website sign-in, extension) are valid this long.
    api_token_ttl_s: int = setting(30 * 24 * 3600)
    # Price reports (POST /reports) accepted per minute per reporter and per client IP.
    api_report_rate_per_min: int = setting(30)
    api_report_ip_rate_per_min: int = setting(120)
    # Sign-in and registration attempts per minute per client IP (password guessing).
    api_auth_rate_per_min: int = setting(20)
    # Request bodies larger than this are refused with 413 (reports are ~1 KB).
    api_max_body_bytes: int = setting(16_384)
    # Seconds between flushes of the Redis view counters into ClickHouse.
    api_view_flush_s: float = setting(10.0)
    # Chart views are tallied in memory and added to the Redis counters this often.
    api_view_push_ms: int = setting(250)
    # Key of the keyed hash that turns client IPs into reporter ids: set it per
    # deployment so that ids cannot be reversed by hashing every IPv4 address.
    api_ip_hash_key: str = setting("pricewatch-reporter")
    # Frontier priority of a product nobody has crawled yet that someone subscribed to.
    api_first_crawl_priority: float = setting(1000.0)
    # Worker threads for blocking ClickHouse calls.
    api_clickhouse_threads: int = setting(4)
    # Chart misses' queries that run at once (api.services.chart_reads), at most
    # api_clickhouse_threads. With chDB each takes a core of the API's machine for most
    # of its time, and one at a time gathers the most misses per query: raise it when
    # cores sit idle. Against a server, which plans them on its own cores, 4.
    api_chart_queries: int = setting(1)
    log_level: str = setting("INFO")
    # "text" lines for people, or "json": one object per line (time, level, logger,
    # message, request_id in the API) for a log collector. Every role, the crawler too.
    log_format: str = setting("text", read=_choice("text", "json"))
    # Roles other than the API (whose /metrics is on api_port) serve /metrics and /healthz
    # on metrics_host, port metrics_port_base + the role's offset (pricewatch.metrics:
    # up 0, ingest 1, alerts 2, scheduler 3, crawler processes the first free of 10-29).
    # 0: not served. `pricewatch up` with the API shows every in-process role on the
    # API's /metrics instead.
    metrics_host: str = setting("127.0.0.1")
    metrics_port_base: int = setting(0, read=_port_base)
    # --- the public edge -------------------------------------------------------
    # Client addresses come from X-Forwarded-For only when the connection comes from one
    # of these addresses or ranges (this deployment's reverse proxies); empty: the peer
    # address is the client, whatever the headers say.
    trusted_proxies: tuple[str, ...] = setting((), read=_networks)
    # Host names or IP ranges that webhooks (and any other request a user can aim) may
    # reach although they are not public addresses: a self-hosted receiver on the LAN.
    egress_allow: tuple[str, ...] = setting((), read=_hosts_or_networks)
    # Seconds to connect to a user's target, and to wait for its answer.
    egress_connect_timeout_s: float = setting(3.0)
    egress_read_timeout_s: float = setting(5.0)
    # Requests in flight to one target host at most; the rest wait without holding a
    # sender that other users' messages need.
    egress_host_concurrency: int = setting(4)
    # After this many failures in a row a target host is left alone this long.
    egress_breaker_failures: int = setting(5)
    egress_breaker_cooldown_s: float = setting(60.0)
    # Alerts go only to the account's verified e-mail and to targets their receiver
    # confirmed. A private instance whose users are all trusted may switch this off.
    verify_targets: bool = setting(True)
    # Links that confirm an e-mail address or a target, and password reset links, are
    # valid this long.
    confirm_link_ttl_s: int = setting(7 * 86400)
    password_reset_ttl_s: int = setting(3600)
    # Subscriptions one account may hold (active or paused), and create per hour.
    api_subscriptions_per_account: int = setting(500)
    api_subscribe_rate_per_hour: int = setting(120)
    # Accounts one client IP may register per hour; sign-in attempts per account per hour
    # (on top of api_auth_rate_per_min per client IP).
    api_register_rate_per_hour: int = setting(10)
    api_signin_account_rate_per_hour: int = setting(30)
    # Products looked up that nobody has crawled yet: first crawls queued per client IP
    # per hour, and the share of the fleet's crawl budget they may take all together.
    api_lookup_crawls_per_ip_per_hour: int = setting(20)
    api_lookup_crawl_budget_share: float = setting(0.2, read=_share)
    # Frontier priority of those first crawls: below every scheduled product (whose
    # priorities are positive), so lookups never push out products people subscribed to.
    api_lookup_crawl_priority: float = setting(0.0, read=_number)
    # An ASIN whose page turned out not to exist is not queued again for this long.
    not_found_ttl_s: int = setting(7 * 86400)
    # --- alerts ---------------------------------------------------------------
    # Without an SMTP host, e-mails are written as .eml files to outbox_dir.
    smtp_host: str | None = setting(None)
    smtp_port: int = setting(587)
    # "starttls" (upgrade after connecting), "tls" (implicit, port 465) or "none"
    smtp_tls: str = setting("starttls", read=_choice("starttls", "tls", "none"))
    smtp_user: str | None = setting(None)
    smtp_password: str | None = setting(None)
    # CA bundle (PEM) that signed the relay's certificate, for a private relay
    smtp_ca_file: str | None = setting(None)
    # Open SMTP sessions; each carries one message at a time (pipelined when
    # the server offers it).
    smtp_connections: int = setting(8)
    mail_from: str = setting("Pricewatch <alerts@localhost>")
    # Signs stop links; None means a random secret kept in data_dir/alert-secret.
    alert_secret: str | None = setting(None)
    # Signs webhook bodies (X-Pricewatch-Signature); None means alert_secret.
    webhook_secret: str | None = setting(None)
    # "log" (write SMS to the log) or "twilio" (Twilio-shaped Messages API).
    sms_provider: str = setting("log", read=_choice("log", "twilio"))
    sms_api_base: str = setting("https://api.twilio.com", read=_url)
    sms_account_sid: str | None = setting(None)
    sms_auth_token: str | None = setting(None)
    sms_from: str | None = setting(None)
    # None means data_dir/outbox.
    outbox_dir_override: Path | None = setting(None, read=_path, env="OUTBOX_DIR")
    # Delivery attempts before a notification is given up as failed.
    alert_max_attempts: int = setting(5)
    # First retry delay; doubled on each further failure.
    alert_retry_base_ms: int = setting(30_000)
    # A claimed notification belongs to its sender this long; after that any
    # alerts worker's sweep may send it (the sender is presumed dead).
    alert_lease_ms: int = setting(60_000)
    # Seconds one delivery (SMTP, webhook, SMS request) may take.
    alert_send_timeout_s: float = setting(15.0)
    # How often due retries and orphaned notifications are swept.
    alert_sweep_ms: int = setting(1_000)
    # Deliveries in flight at once per notification type: e-mail, SMS and webhooks each
    # have this many senders of their own.
    alert_concurrency: int = setting(64)
    # Stream consumer name; None means "<hostname>-<pid>".
    alerts_consumer: str | None = setting(None)
    # --- scheduler ------------------------------------------------------------
    # Share of the crawl budget kept free for verification crawls (they jump the queue).
    scheduler_verify_share: float = setting(0.1)
    # Every product is crawled at most every min and at least every max interval.
    scheduler_min_interval_s: float = setting(3600.0)
    scheduler_max_interval_s: float = setting(30 * 86400.0)
    # The frontier holds what is due within this window, at most frontier_max tasks.
    scheduler_window_s: float = setting(3600.0)
    scheduler_frontier_max: int = setting(100_000)
    # The schedulers' lease (pricewatch.leader): renewed every third of it, so a standby
    # takes over within about 1.33 x this of the leader dying. The same in every scheduler.
    scheduler_lease_ttl_s: float = setting(DEFAULT_TTL_S)
    # Seconds between frontier refills, incremental and full re-scorings, discovery.
    scheduler_refill_s: float = setting(10.0)
    scheduler_rescore_s: float = setting(60.0)
    scheduler_full_rescore_s: float = setting(6 * 3600.0)
    scheduler_discovery_s: float = setting(6 * 3600.0)
    # Markets whose best-seller and new-release listings are crawled for new products.
    scheduler_discovery_markets: tuple[str, ...] = setting(("us",), read=_market_list)
    # Markets with a crawl budget of their own (crawls/s) as (market, budget) pairs; the
    # others share the rest. PRICEWATCH_SCHEDULER_MARKET_BUDGETS="de=2.5,uk=1"
    scheduler_market_budgets: tuple[tuple[str, float], ...] = setting((), read=_market_budgets)
    # --- trust-but-verify (crowdsourced reports; pricewatch.trust) -------------
    # A report this share under the last accepted price is held for verification.
    trust_drop_share: float = setting(0.25, read=_share)
    # Independent trusted reporters whose agreement accepts a report without a crawl.
    trust_quorum: int = setting(3)
    # Reports this close in time agree with (or contradict) each other.
    trust_window_s: int = setting(600)
    # A report this share above the last accepted price is held for verification too.
    trust_rise_share: float = setting(0.5)
    # A verification crawl confirms a report within this share of its price.
    trust_verify_tolerance_share: float = setting(0.02, read=_share)
    # A held report nobody verified within this time is rejected.
    trust_pending_ttl_s: int = setting(1800)
    # Share of reports accepted at once that still get a verification crawl (0 = none).
    trust_spot_check_share: float = setting(0.05, read=_share)

    @property
    def redis_dir(self) -> Path:
        return self.data_dir / "redis"

    @property
    def outbox_dir(self) -> Path:
        return self.outbox_dir_override or self.data_dir / "outbox"

    @property
    def public_url(self) -> str:
        """Base URL of the website as people reach it (links in messages)."""
        return self.public_url_override or f"http://{self.api_host}:{self.api_port}"


# How a field's variable is read when the field names no reader, by its type.
_READERS_BY_TYPE: dict[str, Reader] = {
    "int": _int,
    "float": _positive,
    "bool": _flag,
    "str": _text,
    "str | None": _text,
    "tuple[str, ...]": lambda raw, name: tuple(_words(raw)),
}


def _fields_to_read() -> list[tuple[dataclasses.Field[Any], str, Reader | None]]:
    hints = typing.get_type_hints(Settings)
    found = []
    for field in dataclasses.fields(Settings):
        if field.default is dataclasses.MISSING:
            continue  # data_dir and the store URLs: derived in load_settings
        meta = field.metadata
        reader = meta.get("read")
        if reader is None and meta.get("from_env") is None:
            type_name = str(field.type)
            reader = _READERS_BY_TYPE.get(type_name)
            if reader is None:
                raise TypeError(f"setting {field.name}: no reader for type {hints[field.name]}")
        found.append((field, PREFIX + (meta.get("env") or field.name.upper()), reader))
    return found


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Build settings from ``env`` (default: the process environment)."""
    env = os.environ if env is None else env
    data_dir = (
        Path(env.get(PREFIX + "DATA_DIR") or Path.home() / ".local" / "share" / "pricewatch")
        .expanduser()
        .resolve()
    )
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "clickhouse_url": env.get(PREFIX + "CLICKHOUSE_URL") or f"chdb://{data_dir}/clickhouse",
        "database_url": env.get(PREFIX + "DATABASE_URL")
        or f"sqlite+aiosqlite:///{data_dir}/pricewatch.db",
    }
    for field, name, reader in _fields_to_read():
        from_env = field.metadata.get("from_env")
        if from_env is not None:
            value = from_env(env)
            if value is not None:
                values[field.name] = value
            continue
        raw = env.get(name)
        if raw is None or raw == "":
            continue
        assert reader is not None
        values[field.name] = reader(raw, name)
    return Settings(**values)


def child_environment(extra: Mapping[str, str]) -> dict[str, str]:
    """The environment for a child process (a crawler worker): ours plus ``extra``."""
    env = dict(os.environ)
    env.update(extra)
    return env


@functools.cache
def get_settings() -> Settings:
    """Process-wide settings, read once."""
    return load_settings()

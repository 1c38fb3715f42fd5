"""One client function for both ClickHouse variants, chosen by URL.

``get_clickhouse(url)`` returns a clickhouse-connect client for either
``chdb:///abs/path`` (an embedded engine in this process, the single-machine default)
or ``http(s)://user:password@host:port/database`` (a server or cluster). The SQL is the
same for both. chDB runs one engine per process; clickhouse-connect serialises the
queries of one client (one handle of the engine), and ``another_handle`` gives queries
that should run side by side a handle of their own. chDB has no async client, so async
callers use ``asyncio.to_thread``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from urllib.parse import unquote, urlsplit

import clickhouse_connect
from clickhouse_connect.driver.client import Client

from pricewatch.schema.clickhouse_migrations import DEFAULT_DATABASE, check_database_name


@dataclasses.dataclass(frozen=True, kw_only=True)
class ClickHouseTarget:
    """Where a ClickHouse URL points: an embedded data directory or a server."""

    kind: str  # "chdb" or "http"
    path: Path | None = None
    host: str | None = None
    port: int | None = None
    username: str = "default"
    password: str = ""
    database: str | None = None
    secure: bool = False


def parse_clickhouse_url(url: str) -> ClickHouseTarget:
    """``chdb:///abs/path`` or ``http(s)://user:pass@host:port/database`` -> target."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "chdb":
        if parts.netloc or not parts.path.startswith("/"):
            raise ValueError(f"chDB URL must be chdb:///absolute/path, got {url!r}")
        return ClickHouseTarget(kind="chdb", path=Path(unquote(parts.path)))
    if scheme in ("http", "https"):
        if not parts.hostname:
            raise ValueError(f"ClickHouse URL has no host: {url!r}")
        secure = scheme == "https"
        try:
            port = parts.port
        except ValueError as exc:
            raise ValueError(f"ClickHouse URL has an invalid port: {url!r}") from exc
        database = unquote(parts.path.strip("/")) or None
        if database is not None:
            check_database_name(database)
        return ClickHouseTarget(
            kind="http",
            host=parts.hostname,
            port=port or (8443 if secure else 8123),
            username=unquote(parts.username) if parts.username else "default",
            password=unquote(parts.password) if parts.password else "",
            database=database,
            secure=secure,
        )
    raise ValueError(f"unsupported ClickHouse URL scheme {parts.scheme!r} in {url!r}")


def embedded(url: str) -> bool:
    """Whether ``url`` names an embedded chDB (one engine per process, whose clients
    each run one query at a time)."""
    return parse_clickhouse_url(url).kind == "chdb"


def database_from_url(url: str) -> str:
    """The database a URL names, or the default one (chDB URLs name a directory only)."""
    return parse_clickhouse_url(url).database or DEFAULT_DATABASE


# On a cluster the application inserts into Distributed tables. By default such an insert
# returns once the rows are queued on the receiving node's disk and are sent to their
# shards later. Ingest acknowledges its stream entries when the insert returns and then
# announces the price changes that readers re-read, so the insert must return only when
# every shard has stored its rows: a shard that is down then fails the insert (and the
# batch is retried, deduplicated by its token on the shards) instead of leaving acked rows
# in a spool that dies with its node. distributed_foreground_insert is the current name
# (ClickHouse 23.10+) of insert_distributed_sync, which stays an alias.
CLUSTER_SETTINGS = {"distributed_foreground_insert": 1}

# The one directory (under a chDB data directory) where the embedded engine may write
# and read BACKUPs: ``pricewatch backup`` moves them out of it.
CHDB_BACKUPS_DIR = "backups"


def get_clickhouse(url: str, *, cluster: str | None = None) -> Client:
    """A clickhouse-connect client for ``url`` (see ``parse_clickhouse_url``).

    For chDB the data directory is created. The client is not bound to the URL's
    database: the database may not exist before ``migrate`` runs, and all our SQL
    qualifies table names anyway. With ``cluster`` (the schema was migrated ON CLUSTER)
    the client's inserts wait for the shards (``CLUSTER_SETTINGS``).
    """
    target = parse_clickhouse_url(url)
    if target.kind == "chdb":
        if cluster is not None:
            raise ValueError(
                f"ClickHouse cluster {cluster!r} needs a server URL (http://...), not {url!r}"
            )
        assert target.path is not None
        target.path.mkdir(parents=True, exist_ok=True)
        # BACKUP/RESTORE need a directory the engine may write backups to, and the
        # option only counts when the process's engine starts (pricewatch.backup)
        return clickhouse_connect.get_client(
            dsn=f"chdb://{target.path}",
            chdb_options={"backups.allowed_path": str(target.path / CHDB_BACKUPS_DIR)},
        )
    return clickhouse_connect.get_client(
        host=target.host,
        port=target.port,
        username=target.username,
        password=target.password,
        secure=target.secure,
        settings=dict(CLUSTER_SETTINGS) if cluster is not None else None,
        # Without a session: a server refuses a second query of a session while one
        # runs, and the API's threads query through one client at once. Nothing here
        # keeps state in a session (no SET, no temporary table).
        autogenerate_session_id=False,
    )


def another_handle(client: Client) -> Client:
    """A client for queries that should run beside ``client``'s, reaching the same data.

    A chDB client runs one query at a time (clickhouse-connect locks its handle) while
    the engine runs the queries of several handles at once: a chDB client gets a new
    handle onto the process's one engine, which the caller closes. An HTTP client
    already runs queries side by side and is returned as it is.
    """
    if embedded(client.uri):
        return get_clickhouse(client.uri)
    return client

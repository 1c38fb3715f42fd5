"""Numbered ClickHouse migrations, applied in order and recorded.

Each migration is one ``NNNN_name.sql`` file under ``clickhouse/``: commented DDL whose
statements end with ``;`` at the end of a line and name tables as ``{database}.table``,
so the same files build the production database and a throw-away one per test.

The files are templates of one schema for two deployments (``render``): a single node
(the embedded chDB or one server) and a cluster (``PRICEWATCH_CLICKHOUSE_CLUSTER``).
Their placeholders:

- ``{local:T}``: the table that stores T's rows. Single node: ``T``; cluster: ``T_local``,
  the shard's replicated copy.
- ``{on_cluster}``: nothing, or `` ON CLUSTER name``.
- ``{engine:E}``: a MergeTree-family engine E, e.g. ``{engine:ReplacingMergeTree(ts)}``.
  Single node: ``E`` as written; cluster: ``ReplicatedE(<Keeper path>, '{replica}', ...)``.
- ``{distributed:T}``: T's ``Distributed`` table, which exists on a cluster only, so
  a statement naming it is left out on a single node. As a whole statement it creates
  that table over ``T_local``, sharded by product; inside one (an ``ALTER``) it is
  ``T``, for the change the local table gets in the statement before.

So the application reads and writes the same names in both modes, and a single node
gets exactly the statements it always got (tests/pricewatch/schema checks both).

Every statement is ``IF NOT EXISTS``: a migration interrupted half-way is simply run
again, and it is recorded in ``schema_migrations`` only once all of it succeeded.
"""

from __future__ import annotations

import dataclasses
import re
import time
from importlib import resources

from clickhouse_connect.driver.client import Client

DEFAULT_DATABASE = "pricewatch"

_FILE_NAME = re.compile(r"^(\d{4})_(\w+)\.sql$")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_STATEMENT_END = re.compile(r";[ \t]*$", re.MULTILINE)
_PLACEHOLDER = re.compile(r"\{(local|engine|distributed):([^{}]+)\}")
_MERGE_TREE = re.compile(r"^(\w*MergeTree)(?:\((.*)\))?$", re.DOTALL)
_CREATED_TABLE = re.compile(r"^CREATE TABLE IF NOT EXISTS \S+?\.\{local:(\w+)\}")

# Where a replicated table keeps its state in Keeper. {shard} and {replica} are the
# per-node macros of the server config (deploy/clickhouse/macros/<node>.xml); {database} and
# {table} are ClickHouse's own, unfolded when the table is created. One path per shard:
# the replicas of a shard share it, the shards hold different products.
SHARDED_PATH = "/clickhouse/tables/{shard}/{database}/{table}"
# The migration history is not sharded: every node of the cluster is a replica of it, so
# whichever node a client reaches knows what has been applied. (Replica names must then be
# unique across the cluster, which the deploy/ macros give: one per host.)
UNSHARDED_PATH = "/clickhouse/tables/all/{database}/{table}"

# A product's whole history sits on one shard: the rollups and the latest state are
# computed by views on each shard's local tables, and ReplacingMergeTree collapses rows
# (FINAL, merges) only within one table, so every row of a (market, asin) must land
# where the product's other rows are. Every table here has these two columns.
SHARDING_KEY = "cityHash64(market, asin)"

# Not a numbered migration: it must exist before we can ask what has been applied.
# ReplacingMergeTree because two processes migrating at once may both record a version.
_SCHEMA_MIGRATIONS = """
CREATE TABLE IF NOT EXISTS {database}.schema_migrations{on_cluster}
(
    version    UInt32,
    name       String,
    applied_at DateTime64(3, 'UTC')
)
ENGINE = {engine}
ORDER BY version
"""


def check_database_name(database: str) -> str:
    """Database names are spliced into DDL, so only plain identifiers are accepted."""
    if not _IDENTIFIER.match(database):
        raise ValueError(f"invalid ClickHouse database name {database!r}")
    return database


def check_cluster_name(cluster: str) -> str:
    """Cluster names are spliced into DDL too (``ON CLUSTER name``)."""
    if not _IDENTIFIER.match(cluster):
        raise ValueError(
            f"invalid ClickHouse cluster name {cluster!r}: use letters, digits and _ "
            "(the name under <remote_servers> in the server config)"
        )
    return cluster


def replicated_engine(engine: str, path: str = SHARDED_PATH) -> str:
    """``ReplacingMergeTree(v)`` -> ``ReplicatedReplacingMergeTree('<path>', '{replica}', v)``."""
    match = _MERGE_TREE.match(engine.strip())
    if match is None:
        raise ValueError(f"not a MergeTree-family engine: {engine!r}")
    family, arguments = match.groups()
    if family.startswith("Replicated"):
        raise ValueError(f"engine already replicated: {engine!r}")
    replication = f"'{path}', '{{replica}}'"
    return f"Replicated{family}({replication}{', ' + arguments if arguments else ''})"


def distributed_table(database: str, table: str, cluster: str) -> str:
    """The table the application reads and writes on a cluster: no data of its own, it
    sends each inserted row to the shard that ``SHARDING_KEY`` picks and fans reads out
    to one replica of every shard. ``AS`` copies the local table's columns."""
    return (
        f"CREATE TABLE IF NOT EXISTS {database}.{table} ON CLUSTER {cluster}"
        f" AS {database}.{table}_local"
        f"\nENGINE = Distributed({cluster}, {database}, {table}_local, {SHARDING_KEY})"
    )


def render(statement: str, database: str, cluster: str | None = None) -> str:
    """One template statement as DDL for a single node (``cluster`` None) or a cluster.

    Returns an empty string for a statement that does not exist in that mode.
    """
    check_database_name(database)
    if cluster is not None:
        check_cluster_name(cluster)
    sql = statement.replace("{database}", database)
    if "{distributed:" in sql and cluster is None:
        return ""
    whole = _PLACEHOLDER.fullmatch(sql)
    if whole is not None and whole.group(1) == "distributed" and cluster is not None:
        return distributed_table(database, whole.group(2), cluster)

    created = _CREATED_TABLE.match(statement.strip())

    def fill(match: re.Match[str]) -> str:
        kind, value = match.groups()
        if cluster is None:
            return value
        if kind == "local":
            return f"{value}_local"
        if kind == "distributed":
            return value
        if created is None:
            raise ValueError(f"{{engine:...}} outside a CREATE TABLE of a {{local:}} table: {sql}")
        return replicated_engine(value)

    sql = _PLACEHOLDER.sub(fill, sql)
    return sql.replace("{on_cluster}", "" if cluster is None else f" ON CLUSTER {cluster}")


@dataclasses.dataclass(frozen=True)
class Migration:
    version: int
    name: str
    # Templates (see the module docstring); ``for_database`` renders them.
    statements: tuple[str, ...]

    def for_database(self, database: str, cluster: str | None = None) -> list[str]:
        rendered = (render(s, database, cluster) for s in self.statements)
        return [s for s in rendered if s]


def split_statements(sql: str) -> tuple[str, ...]:
    """Drop full-line ``--`` comments, then split on ``;`` ending a line."""
    code = "\n".join(line for line in sql.splitlines() if not line.lstrip().startswith("--"))
    return tuple(part.strip() for part in _STATEMENT_END.split(code) if part.strip())


def load_migrations() -> list[Migration]:
    """All migrations shipped with the package, in version order."""
    found: list[Migration] = []
    for entry in resources.files(__package__).joinpath("clickhouse").iterdir():
        match = _FILE_NAME.match(entry.name)
        if match is None:
            continue
        statements = split_statements(entry.read_text(encoding="utf-8"))
        found.append(Migration(int(match.group(1)), match.group(2), statements))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"duplicate ClickHouse migration versions: {versions}")
    return found


def schema_statements(database: str, cluster: str | None = None) -> list[str]:
    """What ``migrate`` runs before any migration: the database and its history table."""
    check_database_name(database)
    if cluster is None:
        on_cluster, engine = "", "ReplacingMergeTree(applied_at)"
    else:
        check_cluster_name(cluster)
        on_cluster = f" ON CLUSTER {cluster}"
        engine = replicated_engine("ReplacingMergeTree(applied_at)", UNSHARDED_PATH)
    history = (
        _SCHEMA_MIGRATIONS.replace("{database}", database)
        .replace("{on_cluster}", on_cluster)
        .replace("{engine}", engine)
    )
    return [f"CREATE DATABASE IF NOT EXISTS {database}{on_cluster}", history]


def applied_versions(client: Client, database: str = DEFAULT_DATABASE) -> list[int]:
    check_database_name(database)
    result = client.query(f"SELECT DISTINCT version FROM {database}.schema_migrations")
    return sorted(row[0] for row in result.result_rows)


def _history_engine(client: Client, database: str) -> str | None:
    """The engine of ``database.schema_migrations``, None before the first migration."""
    rows = client.query(
        "SELECT engine FROM system.tables"
        " WHERE database = {db:String} AND name = 'schema_migrations'",
        parameters={"db": database},
    ).result_rows
    return str(rows[0][0]) if rows else None


def migrate(
    client: Client, database: str = DEFAULT_DATABASE, *, cluster: str | None = None
) -> list[Migration]:
    """Create ``database`` if needed and apply the missing migrations in order.

    With ``cluster`` (a name under ``<remote_servers>``) every statement runs
    ``ON CLUSTER`` and builds replicated local tables behind Distributed ones. A database
    keeps the mode it was created in: asking for the other one is an error, except that
    a caller unaware of the cluster may find nothing to do (a role starting after
    ``pricewatch migrate`` ran with the setting).

    Returns the migrations applied by this call (empty when already up to date).
    """
    check_database_name(database)
    engine = _history_engine(client, database)
    replicated = engine is not None and engine.startswith("Replicated")
    if cluster is not None and engine is not None and not replicated:
        raise RuntimeError(
            f"ClickHouse database {database} was created for a single node; it cannot be "
            f"migrated ON CLUSTER {cluster} (unset PRICEWATCH_CLICKHOUSE_CLUSTER, or use a "
            "new database)"
        )
    # on a cluster's database without the cluster name these find everything in place
    for statement in schema_statements(database, cluster):
        client.command(statement)
    done = set(applied_versions(client, database))
    pending = [m for m in load_migrations() if m.version not in done]
    if pending and cluster is None and replicated:
        raise RuntimeError(
            f"ClickHouse database {database} lives on a cluster: run the migrations with "
            "PRICEWATCH_CLICKHOUSE_CLUSTER set (pricewatch migrate)"
        )
    for migration in pending:
        for statement in migration.for_database(database, cluster):
            client.command(statement)
        client.insert(
            f"{database}.schema_migrations",
            [[migration.version, migration.name, int(time.time() * 1000)]],
            column_names=["version", "name", "applied_at"],
        )
    return pending

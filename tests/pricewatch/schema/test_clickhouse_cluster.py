"""One migration source, two deployments: a single node and a sharded, replicated cluster.

The statements of both modes are parsed by ClickHouse itself (``formatQuery`` on chDB, or
on the server ``PRICEWATCH_TEST_CLICKHOUSE_URL`` names) and checked in their normalised
form. Applying the cluster DDL needs a real cluster (Keeper, ``remote_servers``): those
tests run when ``PRICEWATCH_TEST_CLICKHOUSE_CLUSTER`` names one, and skip otherwise.
"""

from __future__ import annotations

import dataclasses
import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from pricewatch.models import Availability, Observation, Series, Source
from pricewatch.schema.clickhouse_migrations import (
    SHARDING_KEY,
    load_migrations,
    migrate,
    render,
    replicated_engine,
    schema_statements,
    split_statements,
)
from pricewatch.settings import load_settings
from pricewatch.storage.clickhouse import PriceStore, get_clickhouse

pytestmark = pytest.mark.clickhouse

SINGLE_NODE = Path(__file__).parent / "single_node"
DB = "pw_test"
CLUSTER = "pricewatch"

# What the application queries by name: on a cluster each must be a Distributed table.
APPLICATION_TABLES = {
    "prices_raw",
    "prices_hourly",
    "prices_daily",
    "prices_latest",
    "products",
    "views",
    "views_daily",
    "crawl_schedule",
    "price_changes",
}


# ------------------------------------------------------------ a single node, unchanged


def test_single_node_statements_are_exactly_the_old_ones() -> None:
    """Byte for byte: the templates give a single node the statements that built every
    existing database, so their recorded versions still mean the same tables."""
    migrations = load_migrations()
    frozen = sorted(SINGLE_NODE.glob("[0-9][0-9][0-9][0-9]_*.sql"))
    assert [p.name for p in frozen] == [f"{m.version:04d}_{m.name}.sql" for m in migrations][
        : len(frozen)
    ]
    for path, migration in zip(frozen, migrations, strict=False):
        old = [s.replace("{database}", DB) for s in split_statements(path.read_text())]
        assert migration.for_database(DB) == old, path.name
        assert migration.for_database(DB, None) == old


def test_single_node_history_table_is_unchanged() -> None:
    old = "\n" + (SINGLE_NODE / "schema_migrations.sql").read_text().replace("{database}", DB)
    assert schema_statements(DB) == [f"CREATE DATABASE IF NOT EXISTS {DB}", old]


def test_single_node_engines_as_the_server_stores_them(
    clickhouse_client, clickhouse_database: str
) -> None:
    """Migrated for a single node, the database holds plain MergeTree-family tables under
    the application's names and no Distributed or *_local table."""
    migrate(clickhouse_client, clickhouse_database)
    engines = dict(
        clickhouse_client.query(
            "SELECT name, engine FROM system.tables WHERE database = {db:String}",
            parameters={"db": clickhouse_database},
        ).result_rows
    )
    assert set(engines) >= APPLICATION_TABLES
    assert not [n for n in engines if n.endswith("_local")]
    for table in APPLICATION_TABLES:
        assert engines[table].endswith("MergeTree"), (table, engines[table])
        assert not engines[table].startswith("Replicated")


# ---------------------------------------------------------------- parsed by ClickHouse


@dataclasses.dataclass(frozen=True)
class Parsed:
    """What the checks need from one statement as ClickHouse formats it."""

    text: str
    kind: str  # "database", "table", "view", "alter"
    name: str  # database.name
    on_cluster: str | None
    engine: str | None = None  # "ReplicatedReplacingMergeTree"
    engine_args: str | None = None  # the text inside its parentheses
    as_table: str | None = None
    to_table: str | None = None
    from_tables: tuple[str, ...] = ()
    columns: tuple[str, ...] = ()


_HEAD = re.compile(
    r"^(?:CREATE (?P<kind>DATABASE|TABLE|MATERIALIZED VIEW) IF NOT EXISTS|ALTER TABLE)"
    r" (?P<name>\w+(?:\.\w+)?)(?: ON CLUSTER (?P<cluster>\w+))?"
    r"(?: AS (?P<as>\w+\.\w+))?(?: TO (?P<to>\w+\.\w+))?"
)
_ENGINE = re.compile(r"^ENGINE = (\w+)(?:\((.*)\))?$", re.MULTILINE)
_FROM = re.compile(r"\bFROM (\w+\.\w+)")
_COLUMN = re.compile(r"^    `(\w+)` ", re.MULTILINE)


def parse(client, statement: str) -> Parsed:
    """Format ``statement`` with ClickHouse's own parser (a syntax error raises)."""
    text = client.query("SELECT formatQuery({q:String})", parameters={"q": statement}).result_rows[
        0
    ][0]
    head = _HEAD.match(text)
    assert head is not None, text
    kinds = {"DATABASE": "database", "TABLE": "table", "MATERIALIZED VIEW": "view", None: "alter"}
    engine = _ENGINE.search(text)
    return Parsed(
        text=text,
        kind=kinds[head["kind"]],
        name=head["name"],
        on_cluster=head["cluster"],
        engine=engine.group(1) if engine else None,
        engine_args=engine.group(2) if engine else None,
        as_table=head["as"],
        to_table=head["to"],
        from_tables=tuple(_FROM.findall(text)),
        columns=tuple(_COLUMN.findall(text)),
    )


def statements(cluster: str | None) -> list[str]:
    found = schema_statements(DB, cluster)
    for migration in load_migrations():
        found += migration.for_database(DB, cluster)
    return found


@pytest.fixture(scope="module")
def single(clickhouse_client) -> list[Parsed]:
    return [parse(clickhouse_client, s) for s in statements(None)]


@pytest.fixture(scope="module")
def clustered(clickhouse_client) -> list[Parsed]:
    return [parse(clickhouse_client, s) for s in statements(CLUSTER)]


def _by_name(parsed: list[Parsed], kind: str) -> dict[str, Parsed]:
    return {p.name.removeprefix(f"{DB}."): p for p in parsed if p.kind == kind}


def test_every_statement_parses_in_both_modes(
    single: list[Parsed], clustered: list[Parsed]
) -> None:
    assert len(single) == len(statements(None)) > 10
    assert len(clustered) > len(single)


def test_on_cluster_everywhere_on_a_cluster_and_nowhere_on_one_node(
    single: list[Parsed], clustered: list[Parsed]
) -> None:
    assert [p.text for p in single if p.on_cluster is not None] == []
    assert [p.text for p in clustered if p.on_cluster != CLUSTER] == []


def test_local_tables_are_replicated_with_the_macros(
    single: list[Parsed], clustered: list[Parsed]
) -> None:
    one_node = _by_name(single, "table")
    tables = _by_name(clustered, "table")
    local = {name: p for name, p in tables.items() if name.endswith("_local")}
    assert {name.removesuffix("_local") for name in local} == APPLICATION_TABLES
    for name, parsed in local.items():
        plain = one_node[name.removesuffix("_local")]
        assert parsed.engine == f"Replicated{plain.engine}", parsed.text
        path, replica, *rest = [a.strip() for a in (parsed.engine_args or "").split(",")]
        assert path == "'/clickhouse/tables/{shard}/{database}/{table}'", parsed.text
        assert replica == "'{replica}'"
        # the engine's own arguments (a version column) follow the replication ones
        assert rest == ([plain.engine_args] if plain.engine_args else [])
        # the same columns, codecs, ORDER BY, TTL and SETTINGS as on a single node
        assert _body(parsed) == _body(plain), name


def _body(parsed: Parsed) -> list[str]:
    """A CREATE TABLE's lines after its name, without the ENGINE line."""
    return [line for line in parsed.text.splitlines()[1:] if not line.startswith("ENGINE = ")]


def test_application_names_are_distributed_tables_sharded_by_product(
    clustered: list[Parsed],
) -> None:
    tables = _by_name(clustered, "table")
    for name in APPLICATION_TABLES:
        parsed = tables[name]
        assert parsed.engine == "Distributed", parsed.text
        assert parsed.as_table == f"{DB}.{name}_local"
        assert parsed.engine_args == f"{CLUSTER}, {DB}, {name}_local, {SHARDING_KEY}"
        # the sharding key's columns exist in the table it shards
        assert {"market", "asin"} <= set(tables[f"{name}_local"].columns)
    assert SHARDING_KEY == "cityHash64(market, asin)"


def test_views_read_and_write_local_tables_on_a_cluster(
    single: list[Parsed], clustered: list[Parsed]
) -> None:
    one_node = _by_name(single, "view")
    views = _by_name(clustered, "view")
    assert (
        set(views)
        == set(one_node)
        == {"prices_hourly_mv", "prices_daily_mv", "prices_latest_mv", "views_daily_mv"}
    )
    tables = _by_name(clustered, "table")
    for name, parsed in views.items():
        plain = one_node[name]
        assert parsed.to_table == f"{plain.to_table}_local", parsed.text
        assert parsed.from_tables == tuple(f"{t}_local" for t in plain.from_tables), parsed.text
        for table in (parsed.to_table, *parsed.from_tables):
            assert table is not None
            engine = tables[table.removeprefix(f"{DB}.")].engine
            assert engine is not None and engine.startswith("Replicated"), (name, table)


def test_column_changes_reach_both_the_local_and_the_distributed_table(
    single: list[Parsed], clustered: list[Parsed]
) -> None:
    one_node = [p.text.split("\n", 1)[1] for p in single if p.kind == "alter"]
    alters = [p for p in clustered if p.kind == "alter"]
    assert len(alters) == 2 * len(one_node)
    local = [p for p in alters if p.name == f"{DB}.products_local"]
    distributed = [p for p in alters if p.name == f"{DB}.products"]
    assert [p.text.split("\n", 1)[1] for p in local] == one_node
    assert [p.text.split("\n", 1)[1] for p in distributed] == one_node
    # the stored table first: the Distributed table never shows a column its shards lack
    assert alters.index(local[-1]) < alters.index(distributed[0])


def test_history_table_is_one_replicated_table_across_the_cluster(clustered: list[Parsed]) -> None:
    history = _by_name(clustered, "table")["schema_migrations"]
    assert history.engine == "ReplicatedReplacingMergeTree"
    assert history.engine_args == (
        "'/clickhouse/tables/all/{database}/{table}', '{replica}', applied_at"
    )
    assert _by_name(clustered, "database")[DB].on_cluster == CLUSTER


# ------------------------------------------------------------------ rules and refusals


def test_templates_refuse_what_they_cannot_render() -> None:
    with pytest.raises(ValueError, match="cluster name"):
        render("CREATE TABLE IF NOT EXISTS {database}.{local:t}{on_cluster}", DB, "a-b")
    with pytest.raises(ValueError, match="database name"):
        render("SELECT 1", "x; DROP DATABASE y", None)
    with pytest.raises(ValueError, match="outside a CREATE TABLE"):
        render("ALTER TABLE {database}.t MODIFY SETTING x = {engine:MergeTree}", DB, CLUSTER)
    with pytest.raises(ValueError, match="not a MergeTree"):
        replicated_engine("Log")
    with pytest.raises(ValueError, match="already replicated"):
        replicated_engine("ReplicatedMergeTree('/p', '{replica}')")
    assert render("{distributed:products}", DB, None) == ""


def test_cluster_setting_is_read_and_checked() -> None:
    assert load_settings({}).clickhouse_cluster is None
    env = {"PRICEWATCH_CLICKHOUSE_CLUSTER": "pricewatch"}
    assert load_settings(env).clickhouse_cluster == "pricewatch"
    with pytest.raises(ValueError, match="PRICEWATCH_CLICKHOUSE_CLUSTER"):
        load_settings({"PRICEWATCH_CLICKHOUSE_CLUSTER": "x' ON CLUSTER y"})


def test_a_cluster_needs_a_server_url(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="needs a server URL"):
        get_clickhouse(f"chdb://{tmp_path}", cluster=CLUSTER)


def test_a_single_node_database_is_not_migrated_on_cluster(
    clickhouse_client, clickhouse_database: str
) -> None:
    """Its tables are not replicated; ON CLUSTER statements that find them there would
    do nothing and leave a half-clustered schema behind. Refused before any is sent."""
    migrate(clickhouse_client, clickhouse_database)
    with pytest.raises(RuntimeError, match="was created for a single node"):
        migrate(clickhouse_client, clickhouse_database, cluster=CLUSTER)
    assert migrate(clickhouse_client, clickhouse_database) == []


# ------------------------------------------------------------------- on a real cluster


@pytest.fixture
def cluster_database() -> Iterator[tuple[object, str, str]]:
    url = os.environ.get("PRICEWATCH_TEST_CLICKHOUSE_URL")
    cluster = os.environ.get("PRICEWATCH_TEST_CLICKHOUSE_CLUSTER")
    if not url or not cluster:
        pytest.skip(
            "needs a ClickHouse cluster: set PRICEWATCH_TEST_CLICKHOUSE_URL to one of its "
            "nodes and PRICEWATCH_TEST_CLICKHOUSE_CLUSTER to its name (deploy/ runs one); "
            "the DDL of both modes is checked with formatQuery above in any case"
        )
    client = get_clickhouse(url, cluster=cluster)
    name = f"test_{uuid.uuid4().hex}"
    try:
        yield client, name, cluster
    finally:
        client.command(f"DROP DATABASE IF EXISTS {name} ON CLUSTER {cluster} SYNC")
        client.close()


def test_cluster_migration_builds_what_the_statements_say(cluster_database) -> None:
    client, database, cluster = cluster_database
    applied = migrate(client, database, cluster=cluster)
    assert [m.version for m in applied] == [m.version for m in load_migrations()]
    assert migrate(client, database, cluster=cluster) == []
    # a role started without the setting finds nothing to do, and is not let loose
    assert migrate(client, database) == []
    engines = dict(
        client.query(
            "SELECT name, engine FROM clusterAllReplicas({c:String}, system.tables) "
            "WHERE database = {db:String}",
            parameters={"c": cluster, "db": database},
        ).result_rows
    )
    for table in APPLICATION_TABLES:
        assert engines[table] == "Distributed"
        assert engines[f"{table}_local"].startswith("Replicated")
    assert engines["schema_migrations"] == "ReplicatedReplacingMergeTree"


def test_prices_written_through_the_cluster_read_back_whole(cluster_database) -> None:
    client, database, cluster = cluster_database
    migrate(client, database, cluster=cluster)
    store = PriceStore(client, database)
    t0 = 1_704_067_200_000
    observations = [
        Observation(
            market="us",
            asin=f"B0{n:08d}",
            series=Series.AMAZON,
            observed_at=t0 + k * 3_600_000,
            price=1000 + k,
            currency="USD",
            availability=Availability.IN_STOCK,
            source=Source.CRAWLER,
        )
        for n in range(40)
        for k in range(3)
    ]
    # a batch replayed after a crash is stored once: each shard deduplicates its part
    store.insert_observations(observations, dedup_token="batch-1")
    store.insert_observations(observations, dedup_token="batch-1")
    stored = client.query(f"SELECT count() FROM {database}.prices_raw").result_rows[0][0]
    assert stored == len(observations)
    shards = client.query(
        f"SELECT count(DISTINCT _shard_num) FROM {database}.prices_raw"
    ).result_rows[0][0]
    per_product_shards = client.query(
        f"SELECT max(c) FROM (SELECT uniqExact(_shard_num) AS c FROM {database}.prices_raw "
        "GROUP BY market, asin)"
    ).result_rows[0][0]
    assert per_product_shards == 1
    # 40 products spread over every shard (all on one: a chance of 2^-39 with two)
    cluster_shards = client.query(
        "SELECT max(shard_num) FROM system.clusters WHERE cluster = {c:String}",
        parameters={"c": cluster},
    ).result_rows[0][0]
    assert shards == cluster_shards
    samples = client.query(f"SELECT sum(samples) FROM {database}.prices_hourly").result_rows
    assert samples[0][0] == len(observations)

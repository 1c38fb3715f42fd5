"""``pricewatch backup``/``restore`` on real stores: chDB, SQLite or PostgreSQL, Redis."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis as redis_lib

from pricewatch import backup_redis
from pricewatch.backup import BackupError, Stores, backup, read_manifest, restore
from pricewatch.keys import INGEST_GROUP, Keys, _Spelled
from pricewatch.schema import migrate as ch_migrate
from pricewatch.storage import sql
from pricewatch.storage.clickhouse import PriceStore
from tests import services, up
from tests.observations import observation, seed_product
from tests.sql_store import subscribed

pytestmark = [pytest.mark.redis, pytest.mark.clickhouse]

TABLES = ("prices_raw", "products", "schema_migrations")


def _sql_database(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A new, empty SQL database URL on ``backend`` (dropped afterwards)."""
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path}/sql-{uuid.uuid4().hex}/pricewatch.db"
        return
    server: str = request.getfixturevalue("postgres_url")
    name = f"pw_backup_{uuid.uuid4().hex}"
    asyncio.run(services.postgres_admin(server, f'CREATE DATABASE "{name}"'))
    try:
        yield services.database_url(server, name)
    finally:
        asyncio.run(
            services.postgres_admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        )


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def sql_urls(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[list[str]]:
    """Two new SQL databases: the instance backed up and the one restored into."""
    first = _sql_database(backend, request, tmp_path)
    second = _sql_database(backend, request, tmp_path)
    yield [next(first), next(second)]
    for gen in (first, second):
        next(gen, None)


@pytest.fixture
def databases(clickhouse_client: Any) -> Iterator[list[str]]:
    names = [f"test_{uuid.uuid4().hex}" for _ in range(2)]
    yield names
    for name in names:
        clickhouse_client.command(f"DROP DATABASE IF EXISTS {name} SYNC")


def _stores(client: Any, database: str, sql_url: str, redis_client: Any, prefix: str) -> Stores:
    return Stores(
        clickhouse=client,
        database=database,
        sql_url=sql_url,
        redis=redis_client,
        keys=Keys(prefix=prefix),
    )


def _fill(stores: Stores) -> dict[str, Any]:
    """An instance in use: price history, an account with an alert, an observation
    read by ingest but not yet acknowledged, one not yet read, a decided report
    waiting for SQL, an alert event; and caches and a frontier that are not saved."""
    client, keys = stores.clickhouse, stores.keys
    ch_migrate(client, stores.database)
    store = PriceStore(client, stores.database)
    for n in range(5):
        seed_product(
            store,
            asin=f"B0000000{n:02d}",
            prices=[(1_700_000_000_000 + i * 3_600_000, 1000 + 10 * i + n) for i in range(40)],
        )
    sql.migrate_sql(stores.sql_url)

    async def accounts() -> None:
        engine = sql.create_engine(stores.sql_url)
        try:
            await subscribed(engine, "ann@example.com", "B000000001", 990)
            await subscribed(engine, "bob@example.com", "B000000002", 800, market="us")
        finally:
            await engine.dispose()

    asyncio.run(accounts())
    stream_key = keys.observations(0)
    stores.redis.xgroup_create(stream_key, INGEST_GROUP, id="0", mkstream=True)
    first = stores.redis.xadd(stream_key, {"data": b"first"})
    stores.redis.xadd(stream_key, {"data": b"second"})
    # ingest read the first entry and died before acknowledging it
    stores.redis.xreadgroup(INGEST_GROUP, "ingest-a", {stream_key: ">"}, count=1)
    stores.redis.hset(keys.trust_outbox(0), "r1", b'{"decided":"accepted"}')
    stores.redis.set(keys.alert_event("change", "ev-1"), b"{}", px=3_600_000)
    stores.redis.hset(keys.last_price(0), "us:B000000001:buybox", b"cached")
    stores.redis.zadd(keys.frontier(0), {"us:B000000001": 5})
    return {"pending_id": first}


def _table_sums(client: Any, database: str) -> dict[str, tuple[int, int]]:
    return {
        table: tuple(  # type: ignore[misc]
            client.query(f"SELECT count(), sum(cityHash64(*)) FROM {database}.{table}").result_rows[
                0
            ]
        )
        for table in TABLES
    }


def _accounts(url: str) -> list[tuple[str, str, int | None, str]]:
    async def read() -> list[tuple[str, str, int | None, str]]:
        engine = sql.create_engine(url)
        try:
            found = []
            for email in ("ann@example.com", "bob@example.com"):
                user = await sql.get_user_by_email(engine, email)
                assert user is not None
                for sub in await sql.subscriptions_of_user(engine, user.id):
                    found.append((user.email, sub.asin, sub.threshold, sub.market))
            return found
        finally:
            await engine.dispose()

    return asyncio.run(read())


def _revision(url: str) -> str | None:
    async def read() -> str | None:
        engine = sql.create_engine(url)
        try:
            async with engine.connect() as conn:
                result = await conn.exec_driver_sql("SELECT version_num FROM alembic_version")
                return result.scalar()  # type: ignore[no-any-return]
        finally:
            await engine.dispose()

    return asyncio.run(read())


def test_round_trip_restores_history_accounts_and_pending_entries(
    clickhouse_client: Any,
    databases: list[str],
    sql_urls: list[str],
    redis_client: redis_lib.Redis,
    tmp_path: Path,
) -> None:
    source = _stores(clickhouse_client, databases[0], sql_urls[0], redis_client, "src:")
    target = _stores(clickhouse_client, databases[1], sql_urls[1], redis_client, "dst:")
    filled = _fill(source)
    # the target's Redis holds a stale cache of another history: dropped on restore
    redis_client.hset(target.keys.last_price(0), "us:B000000001:buybox", b"stale")

    manifest = backup(source, tmp_path / "backup")

    assert manifest["redis"]["keys"]["observations"] == 1
    assert manifest["redis"]["keys"]["trust-outbox"] == 1
    assert manifest["clickhouse"]["tables"]["prices_raw"] == 200
    restore(target, tmp_path / "backup")

    assert _table_sums(clickhouse_client, databases[1]) == _table_sums(
        clickhouse_client, databases[0]
    )
    assert _table_sums(clickhouse_client, databases[1])["prices_raw"][0] == 200
    assert _accounts(sql_urls[1]) == _accounts(sql_urls[0])
    assert len(_accounts(sql_urls[1])) == 2
    keys, src_keys = target.keys, source.keys
    assert redis_client.xrange(keys.observations(0)) == redis_client.xrange(
        src_keys.observations(0)
    )
    pending = redis_client.xpending_range(keys.observations(0), INGEST_GROUP, "-", "+", 10)
    assert [(p["message_id"], p["consumer"]) for p in pending] == [
        (filled["pending_id"], b"ingest-a")
    ]
    # the group resumes after the first entry: the second is still to be delivered
    unread = redis_client.xreadgroup(INGEST_GROUP, "ingest-b", {keys.observations(0): ">"})
    assert [data for _, entries in unread for _, data in entries] == [{b"data": b"second"}]
    assert redis_client.hgetall(keys.trust_outbox(0)) == {b"r1": b'{"decided":"accepted"}'}
    assert 0 < redis_client.pttl(keys.alert_event("change", "ev-1")) <= 3_600_000
    assert not redis_client.exists(keys.frontier(0))  # rebuilt by the scheduler
    assert not redis_client.exists(keys.last_price(0))  # re-read from ClickHouse


def test_restore_refuses_a_store_holding_data_unless_forced(
    clickhouse_client: Any,
    databases: list[str],
    sql_urls: list[str],
    redis_client: redis_lib.Redis,
    tmp_path: Path,
) -> None:
    source = _stores(clickhouse_client, databases[0], sql_urls[0], redis_client, "src:")
    _fill(source)
    backup(source, tmp_path / "backup")
    before = _table_sums(clickhouse_client, databases[0])

    with pytest.raises(BackupError, match="refusing to overwrite ClickHouse database") as refused:
        restore(source, tmp_path / "backup")
    assert "the SQL store" in str(refused.value) and "Redis" in str(refused.value)

    # the instance goes on and gets more data; --force puts the backup's back
    PriceStore(clickhouse_client, databases[0]).insert_observations(
        [observation(1_800_000_000_000, 5, asin="B000000001")]
    )
    restore(source, tmp_path / "backup", force=True)
    assert _table_sums(clickhouse_client, databases[0]) == before


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("sql", "sql/pricewatch.db does not match its checksum"),
        ("redis", "redis/keys.jsonl does not match its checksum"),
        ("clickhouse", "does not match its checksum"),
        ("missing", "is missing"),
        ("extra", "files its manifest does not list"),
        ("manifest", "is not the manifest of a Pricewatch backup"),
        ("no-manifest", "is not a Pricewatch backup"),
        ("outside", "names files outside the backup"),
    ],
)
def test_a_damaged_or_foreign_backup_is_refused_before_anything_changes(
    clickhouse_client: Any,
    databases: list[str],
    redis_client: redis_lib.Redis,
    tmp_path: Path,
    damage: str,
    message: str,
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/src/pricewatch.db"
    source = _stores(clickhouse_client, databases[0], url, redis_client, "src:")
    _fill(source)
    directory = tmp_path / "backup"
    backup(source, directory)
    if damage in ("sql", "redis", "clickhouse"):
        # the largest of the store's files: for ClickHouse a data part's column
        name = max(
            (n for n in read_manifest(directory)["files"] if n.startswith(damage)),
            key=lambda n: (directory / n).stat().st_size,
        )
        data = bytearray((directory / name).read_bytes())
        data[len(data) // 2] ^= 0xFF
        (directory / name).write_bytes(bytes(data))
    elif damage == "missing":
        (directory / "redis" / "keys.jsonl").unlink()
    elif damage == "extra":
        (directory / "clickhouse" / "planted.sql").write_text("DROP DATABASE x")
    elif damage == "manifest":
        (directory / "manifest.json").write_text(json.dumps({"format": "other", "version": 1}))
    elif damage == "outside":
        manifest = json.loads((directory / "manifest.json").read_text())
        manifest["sql"]["file"] = "../../elsewhere.db"
        manifest["files"]["sql/../../elsewhere.db"] = manifest["files"].pop("sql/pricewatch.db")
        (directory / "manifest.json").write_text(json.dumps(manifest))
    else:
        (directory / "manifest.json").unlink()
    target_url = f"sqlite+aiosqlite:///{tmp_path}/dst/pricewatch.db"
    target = _stores(clickhouse_client, databases[1], target_url, redis_client, "dst:")

    with pytest.raises(BackupError, match=message):
        restore(target, directory)
    assert not clickhouse_client.command(f"EXISTS DATABASE {databases[1]}")
    assert not Path(tmp_path / "dst").exists()
    assert not list(redis_client.scan_iter(match="dst:*"))


def test_a_failed_backup_leaves_nothing_that_looks_like_one(
    clickhouse_client: Any, databases: list[str], redis_client: redis_lib.Redis, tmp_path: Path
) -> None:
    ch_migrate(clickhouse_client, databases[0])
    missing = f"sqlite+aiosqlite:///{tmp_path}/nowhere/pricewatch.db"
    source = _stores(clickhouse_client, databases[0], missing, redis_client, "src:")
    directory = tmp_path / "backup"
    directory.mkdir()

    with pytest.raises(BackupError, match="no SQLite database at"):
        backup(source, directory)
    assert list(directory.iterdir()) == []
    (directory / "something").write_text("kept")
    with pytest.raises(BackupError, match="is not an empty directory"):
        backup(source, directory)
    assert (directory / "something").read_text() == "kept"


def test_an_older_backup_comes_up_to_the_current_schema(
    clickhouse_client: Any, databases: list[str], redis_client: redis_lib.Redis, tmp_path: Path
) -> None:
    old = f"sqlite+aiosqlite:///{tmp_path}/old/pricewatch.db"
    sql.migrate_sql(old, "0005")
    # ClickHouse as it was before migration 7 (the product attributes)
    ch_migrate(clickhouse_client, databases[0])
    for column in ("sold_by", "rating", "review_count"):
        clickhouse_client.command(f"ALTER TABLE {databases[0]}.products DROP COLUMN {column}")
    clickhouse_client.command(
        f"ALTER TABLE {databases[0]}.schema_migrations DELETE WHERE version = 7"
        " SETTINGS mutations_sync = 1"
    )
    PriceStore(clickhouse_client, databases[0]).insert_observations([observation(1, 100)])
    source = _stores(clickhouse_client, databases[0], old, redis_client, "src:")
    backup(source, tmp_path / "backup")
    assert read_manifest(tmp_path / "backup")["sql"]["revision"] == "0005"

    new = f"sqlite+aiosqlite:///{tmp_path}/new/pricewatch.db"
    target = _stores(clickhouse_client, databases[1], new, redis_client, "dst:")
    restore(target, tmp_path / "backup")

    assert _revision(new) == _revision_head()
    columns = clickhouse_client.query(
        "SELECT name FROM system.columns WHERE database = {db:String} AND table = 'products'",
        parameters={"db": databases[1]},
    ).result_rows
    assert {"sold_by", "rating", "review_count"} <= {name for (name,) in columns}
    assert _table_sums(clickhouse_client, databases[1])["prices_raw"][0] == 1


def _revision_head() -> str:
    from alembic.script import ScriptDirectory

    from pricewatch.storage.sql_engine import alembic_config

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def test_every_redis_key_family_is_saved_derived_or_rebuilt() -> None:
    """A new key must say whether a backup keeps it (pricewatch/backup_redis.py)."""
    keys = Keys(prefix="p:")
    classified = {
        spell(keys)
        for group in (backup_redis.SAVED, backup_redis.DERIVED, backup_redis.REBUILT)
        for spell in group.values()
    }
    attributes = [
        name
        for name, value in vars(Keys).items()
        # a prefix the frontier's scripts complete, and a pub/sub channel: no keys
        if isinstance(value, _Spelled)
        and name not in ("frontier_worker_prefix", "history_invalidations")
    ]
    unclassified = []
    for name in attributes:
        value = getattr(keys, name)
        spelled = value if isinstance(value, str) else None
        if spelled is None:
            arity = value.__self__.count("{}")  # a bound str.format
            spelled = value(*[backup_redis._PART] * arity)
        if spelled not in classified:
            unclassified.append(name)
    assert unclassified == []


def _cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pricewatch.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


PRICES_PROBE = (
    "from pricewatch.settings import load_settings;"
    "from pricewatch.storage.clickhouse import get_clickhouse;"
    "c=get_clickhouse(load_settings().clickhouse_url);"
    "print(c.query('SELECT count(), sum(price) FROM pricewatch.prices_raw').result_rows)"
)


@pytest.mark.slow
def test_the_commands_move_an_instance_to_another_data_dir(tmp_path: Path) -> None:
    """As a user runs them: the embedded stores and a Redis the commands start."""
    old, new = up.environment(tmp_path / "old"), up.environment(tmp_path / "new")
    csv_file = tmp_path / "history.csv"
    csv_file.write_text(
        "market,asin,observed_at,price\n"
        + "".join(f"us,B07CLN88MV,{1_767_225_600 + 3600 * i},{10 + i}.00\n" for i in range(50))
    )
    assert _cli(["import-csv", str(csv_file), "--quiet"], old).returncode == 0
    directory = tmp_path / "backup"

    saved = _cli(["backup", str(directory)], old)
    assert saved.returncode == 0, saved.stderr
    assert "backed up to" in saved.stdout
    restored = _cli(["restore", str(directory)], new)
    assert restored.returncode == 0, restored.stderr
    probe = [sys.executable, "-c", PRICES_PROBE]
    expected = f"[(50, {sum(1000 + 100 * i for i in range(50))})]"
    for env in (old, new):
        out = subprocess.run(probe, env=env, capture_output=True, text=True, timeout=120)
        assert out.stdout.strip() == expected, out.stderr

    again = _cli(["restore", str(directory)], new)
    assert again.returncode == 2
    assert "refusing to overwrite ClickHouse database pricewatch" in again.stderr
    assert "--force" in again.stderr
    sql_file = directory / "sql" / "pricewatch.db"
    data = bytearray(sql_file.read_bytes())
    data[-1] ^= 0xFF
    sql_file.write_bytes(bytes(data))
    damaged = _cli(["restore", "--force", str(directory)], new)
    assert damaged.returncode == 2
    assert "sql/pricewatch.db does not match its checksum" in damaged.stderr
    assert "Traceback" not in damaged.stderr

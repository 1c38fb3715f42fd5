from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import uuid
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis as redis_lib

from pricewatch.keys import Keys
from pricewatch.storage.redis import connect, is_cluster_url
from tests import services, sql_write_order

CORPUS_DIR = Path(
    os.environ.get("PRICEWATCH_CORPUS")
    or Path(__file__).resolve().parent.parent.parent / "shared" / "corpus" / "amazon"
)


# Which marker a test must carry when it uses a fixture that reaches a real service:
# `-m "not postgres"` and the like must mean what they say, so a test that reaches a
# service without saying so is a collection error, not a silent dependency.
SERVICE_FIXTURES = {
    "redis_url": "redis",
    "redis_cluster_url": "redis",
    "clickhouse_client": "clickhouse",
    "postgres_url": "postgres",
    "corpus_dir": "corpus",
    "browser": "browser",
    "chromium_path": "browser",
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    unmarked = []
    for item in items:
        used = getattr(item, "fixturenames", ())
        needed = {marker for fixture, marker in SERVICE_FIXTURES.items() if fixture in used}
        missing = sorted(m for m in needed if item.get_closest_marker(m) is None)
        if missing:
            unmarked.append(f"{item.nodeid}: mark it {', '.join(missing)}")
    if unmarked:
        raise pytest.UsageError(
            "tests that reach a service must carry its marker (pytestmark):\n  "
            + "\n  ".join(unmarked)
        )


def _session_server(
    variable: str, name: str, start: Callable[[Path], contextlib.AbstractContextManager[str]]
) -> Iterator[str]:
    """The URL of the server the environment names in ``variable``, else of one
    ``start`` runs for the session in a private dir."""
    given = os.environ.get(variable)
    if given:
        yield given
        return
    with services.private_dir(name) as workdir, start(workdir) as url:
        yield url


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--redis-cluster",
        action="store_true",
        help="run the Redis-backed tests against a local Redis Cluster (3 masters) "
        "instead of a single server",
    )


@pytest.fixture(scope="session")
def redis_url(request: pytest.FixtureRequest) -> Iterator[str]:
    if request.config.getoption("--redis-cluster"):
        yield request.getfixturevalue("redis_cluster_url")
        return
    yield from _session_server("PRICEWATCH_TEST_REDIS_URL", "redis", services.redis_server)


@pytest.fixture(scope="session")
def redis_cluster_url() -> Iterator[str]:
    """A Redis Cluster (3 masters) for the tests that need a real one, whatever
    PRICEWATCH_TEST_REDIS_URL names (the same one when that names a cluster)."""
    given = os.environ.get("PRICEWATCH_TEST_REDIS_URL", "")
    if not os.environ.get("PRICEWATCH_TEST_REDIS_CLUSTER_URL") and is_cluster_url(given):
        yield given
        return
    yield from _session_server(
        "PRICEWATCH_TEST_REDIS_CLUSTER_URL", "redis-cluster", services.redis_cluster
    )


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis_lib.Redis]:
    """A client of the session's Redis, emptied first. PRICEWATCH_TEST_REDIS_URL may
    name a Redis Cluster (``redis+cluster://``): FLUSHDB then goes to every master."""
    client = connect(redis_url)
    client.flushdb()
    yield client
    client.close()


@pytest.fixture
def keys() -> Keys:
    return Keys(prefix="test:")


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    yield from _session_server("PRICEWATCH_TEST_POSTGRES_URL", "postgres", services.postgres_server)


def _run(coro: Coroutine[Any, Any, None]) -> None:
    # session fixtures may be set up from inside a test's running loop
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, coro).result()


@pytest.fixture(scope="session")
def postgres_template(postgres_url: str) -> Iterator[str]:
    """Name of a migrated database that per-test databases are copied from."""
    from pricewatch.storage.sql import migrate_sql

    name = f"pw_template_{uuid.uuid4().hex}"
    _run(services.postgres_admin(postgres_url, f'CREATE DATABASE "{name}"'))
    migrate_sql(services.database_url(postgres_url, name))
    yield name
    _run(services.postgres_admin(postgres_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def sql_url(tmp_path: Path) -> str:
    """A migrated SQLite database of the test's own (tests/pricewatch/storage has its
    own: empty, on SQLite and PostgreSQL)."""
    from pricewatch.storage.sql import migrate_sql

    url = f"sqlite+aiosqlite:///{tmp_path}/sql/pricewatch.db"
    migrate_sql(url)
    return url


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    if not (CORPUS_DIR / "truth.json").exists():
        pytest.skip(
            f"Amazon page corpus not found at {CORPUS_DIR} "
            "(set PRICEWATCH_CORPUS to a directory holding truth.json)"
        )
    return CORPUS_DIR


# --- clickhouse ---------------------------------------------------------------------
# chDB runs one engine per process, so the whole session shares one client (and one
# data directory); tests isolate themselves with a fresh database each.


@pytest.fixture(scope="session")
def clickhouse_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    from pricewatch.storage.clickhouse import get_clickhouse

    url = os.environ.get("PRICEWATCH_TEST_CLICKHOUSE_URL") or (
        f"chdb://{tmp_path_factory.mktemp('chdb')}"
    )
    client = get_clickhouse(url)
    yield client
    client.close()


@pytest.fixture
def clickhouse_database(clickhouse_client: object) -> Iterator[str]:
    """A fresh, empty database name (not yet migrated), dropped afterwards."""
    import uuid

    name = f"test_{uuid.uuid4().hex}"
    yield name
    clickhouse_client.command(f"DROP DATABASE IF EXISTS {name} SYNC")


@pytest.fixture
def price_store(clickhouse_client: object, clickhouse_database: str) -> object:
    """A PriceStore over a freshly migrated database."""
    from pricewatch.storage.clickhouse import PriceStore, migrate

    migrate(clickhouse_client, clickhouse_database)
    return PriceStore(clickhouse_client, clickhouse_database)


sql_write_order.install()


@pytest.fixture(autouse=True)
def _sqlite_writes_after_reads_begin_immediate() -> Iterator[None]:
    """Every SQLite transaction the test ran that read and then wrote began with
    ``sql.writing``; see tests/sql_write_order.py."""
    yield
    found = sql_write_order.take()
    if found:
        pytest.fail(
            "SQLite transactions that read and then wrote without sql.writing "
            "(BEGIN IMMEDIATE):\n  " + "\n  ".join(found)
        )

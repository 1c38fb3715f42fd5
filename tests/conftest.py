from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis as redis_lib

from pricewatch.keys import Keys
from tests import services

CORPUS_DIR = Path(
    os.environ.get("PRICEWATCH_CORPUS")
    or Path(__file__).resolve().parent.parent.parent / "shared" / "corpus" / "amazon"
)


# Which marker a test must carry when it uses a fixture that reaches a real service:
# `-m "not postgres"` and the like must mean what they say, so a test that reaches a
# service without saying so is a collection error, not a silent dependency.
SERVICE_FIXTURES = {
    "redis_url": "redis",
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


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    given = os.environ.get("PRICEWATCH_TEST_REDIS_URL")
    if given:
        yield given
        return
    with services.private_dir("redis") as workdir, services.redis_server(workdir) as url:
        yield url


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis_lib.Redis]:
    client = redis_lib.Redis.from_url(redis_url)
    client.flushdb()
    yield client
    client.close()


@pytest.fixture
def keys() -> Keys:
    return Keys(prefix="test:")


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    given = os.environ.get("PRICEWATCH_TEST_POSTGRES_URL")
    if given:
        yield given
        return
    with services.private_dir("postgres") as workdir, services.postgres_server(workdir) as url:
        yield url


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

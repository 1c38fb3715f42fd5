"""Numbered ClickHouse migrations, applied in order and recorded.

Each migration is one ``NNNN_name.sql`` file under ``clickhouse/``: commented DDL whose
statements end with ``;`` at the end of a line and name tables as ``{database}.table``,
so the same files build the production database and a throw-away one per test.

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

# Not a numbered migration: it must exist before we can ask what has been applied.
# ReplacingMergeTree because two processes migrating at once may both record a version.
_SCHEMA_MIGRATIONS = """
CREATE TABLE IF NOT EXISTS {database}.schema_migrations
(
    version    UInt32,
    name       String,
    applied_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(applied_at)
ORDER BY version
"""


@dataclasses.dataclass(frozen=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]

    def for_database(self, database: str) -> list[str]:
        return [s.replace("{database}", database) for s in self.statements]


def check_database_name(database: str) -> str:
    """Database names are spliced into DDL, so only plain identifiers are accepted."""
    if not _IDENTIFIER.match(database):
        raise ValueError(f"invalid ClickHouse database name {database!r}")
    return database


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


def applied_versions(client: Client, database: str = DEFAULT_DATABASE) -> list[int]:
    check_database_name(database)
    result = client.query(f"SELECT DISTINCT version FROM {database}.schema_migrations")
    return sorted(row[0] for row in result.result_rows)


def migrate(client: Client, database: str = DEFAULT_DATABASE) -> list[Migration]:
    """Create ``database`` if needed and apply the missing migrations in order.

    Returns the migrations applied by this call (empty when already up to date).
    """
    check_database_name(database)
    client.command(f"CREATE DATABASE IF NOT EXISTS {database}")
    client.command(_SCHEMA_MIGRATIONS.replace("{database}", database))
    done = set(applied_versions(client, database))
    applied: list[Migration] = []
    for migration in load_migrations():
        if migration.version in done:
            continue
        for statement in migration.for_database(database):
            client.command(statement)
        client.insert(
            f"{database}.schema_migrations",
            [[migration.version, migration.name, int(time.time() * 1000)]],
            column_names=["version", "name", "applied_at"],
        )
        applied.append(migration)
    return applied

"""Saving and restoring ClickHouse and the SQL store, one function per direction.

ClickHouse: ``BACKUP DATABASE``/``RESTORE DATABASE``. Embedded chDB may only write
backups under ``<data dir>/backups`` (``backups.allowed_path``, set when the engine
starts: ``pricewatch.storage.clickhouse.client``), so a backup is made there and
moved into the backup directory, and a restore copies it back there first. A
ClickHouse server writes to a disk of its own (``PRICEWATCH_CLICKHOUSE_BACKUP_DISK``):
that copy stays on the server, the backup directory names it.

SQL: SQLite through the online backup API (a consistent copy while the instance
writes); PostgreSQL with ``pg_dump --format=custom`` and ``pg_restore``.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import subprocess
import uuid
from contextlib import closing
from pathlib import Path
from typing import Any

from clickhouse_connect.driver.client import Client
from sqlalchemy import text
from sqlalchemy.engine import make_url

from pricewatch.schema.clickhouse_migrations import check_database_name
from pricewatch.storage.clickhouse.client import CHDB_BACKUPS_DIR
from pricewatch.storage.sql_engine import create_engine


class BackupError(Exception):
    """A backup or restore that cannot go on; the message says why, for a person."""


def _quoted(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


# --- ClickHouse -------------------------------------------------------------------


def _chdb_backups(client: Client) -> Path:
    """Where the embedded engine may write backups: under its data directory."""
    path = client.query("SELECT path FROM system.disks WHERE name = 'default'").result_rows[0][0]
    return Path(path) / CHDB_BACKUPS_DIR


def _on_cluster(cluster: str | None) -> str:
    return f" ON CLUSTER {cluster}" if cluster else ""


def clickhouse_tables(client: Client, database: str) -> dict[str, int]:
    """Rows per table of ``database`` (MergeTree tables, not the views' inner ones)."""
    names = client.query(
        "SELECT name FROM system.tables WHERE database = {db:String}"
        " AND engine LIKE '%MergeTree' AND NOT startsWith(name, '.inner')"
        " ORDER BY name",
        parameters={"db": database},
    ).result_rows
    return {
        name: int(client.query(f"SELECT count() FROM {database}.`{name}`").result_rows[0][0])
        for (name,) in names
    }


def clickhouse_rows(client: Client, database: str) -> int:
    """Rows ``database`` holds outside its migration record (0: none, or no database)."""
    rows = client.query(
        "SELECT sum(ifNull(total_rows, 0)) FROM system.tables WHERE database = {db:String}"
        " AND name != 'schema_migrations'",
        parameters={"db": database},
    ).result_rows
    return int(rows[0][0] or 0)


def backup_clickhouse(
    client: Client, database: str, dest: Path, *, disk: str | None, cluster: str | None
) -> dict[str, Any]:
    """BACKUP ``database`` into ``dest`` (chDB) or onto the server's ``disk``."""
    check_database_name(database)
    tables = clickhouse_tables(client, database)
    if not tables:
        raise BackupError(f"ClickHouse database {database} holds no tables: nothing to back up")
    if disk is None:
        staging = _chdb_backups(client) / f"pricewatch-{uuid.uuid4().hex}"
        staging.parent.mkdir(parents=True, exist_ok=True)
        try:
            client.command(f"BACKUP DATABASE {database} TO File({_quoted(str(staging))})")
            shutil.move(staging, dest)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return {"kind": "chdb", "database": database, "dir": dest.name, "tables": tables}
    name = f"pricewatch-{uuid.uuid4().hex}"
    where = f"Disk({_quoted(disk)}, {_quoted(name)})"
    client.command(f"BACKUP DATABASE {database}{_on_cluster(cluster)} TO {where}")
    return {"kind": "server", "database": database, "disk": disk, "name": name, "tables": tables}


def restore_clickhouse(
    client: Client,
    database: str,
    saved: dict[str, Any],
    source: Path,
    *,
    disk: str | None,
    cluster: str | None,
) -> None:
    """RESTORE what :func:`backup_clickhouse` saved as ``database`` (dropped first:
    the caller has checked that it may be), then check every table's row count."""
    check_database_name(database)
    original = check_database_name(str(saved["database"]))
    renamed = "" if original == database else f" AS {database}"
    client.command(f"DROP DATABASE IF EXISTS {database}{_on_cluster(cluster)} SYNC")
    if saved["kind"] == "chdb":
        staging = _chdb_backups(client) / f"pricewatch-{uuid.uuid4().hex}"
        try:
            shutil.copytree(source / str(saved["dir"]), staging)
            client.command(
                f"RESTORE DATABASE {original}{renamed} FROM File({_quoted(str(staging))})"
            )
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    else:
        where = f"Disk({_quoted(str(saved['disk']))}, {_quoted(str(saved['name']))})"
        client.command(f"RESTORE DATABASE {original}{renamed}{_on_cluster(cluster)} FROM {where}")
    found = clickhouse_tables(client, database)
    wrong = {t: (n, found.get(t)) for t, n in saved["tables"].items() if found.get(t) != n}
    if wrong:
        raise BackupError(f"ClickHouse restore is incomplete (table: saved, restored): {wrong}")


def check_clickhouse_kind(saved: dict[str, Any], disk: str | None) -> None:
    if saved["kind"] == "chdb" and disk is not None:
        raise BackupError(
            "this backup holds an embedded chDB database; this instance uses a ClickHouse server"
        )
    if saved["kind"] == "server" and disk is None:
        raise BackupError(
            f"this backup's ClickHouse data stays on a server's disk {saved['disk']!r} "
            f"(backup {saved['name']}); this instance uses embedded chDB"
        )


# --- SQL --------------------------------------------------------------------------


def sql_backend(url: str) -> str:
    backend = make_url(url).get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise BackupError(f"no backup for SQL databases of kind {backend!r}")
    return backend


def _sqlite_path(url: str) -> Path:
    database = make_url(url).database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        raise BackupError(f"SQLite database {url!r} is not a file")
    return Path(database).expanduser()


def _sqlite_tables(conn: sqlite3.Connection) -> list[str]:
    rows = conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    ).fetchall()
    return [name for (name,) in rows]


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _sqlite_revision(conn: sqlite3.Connection) -> str | None:
    if "alembic_version" not in _sqlite_tables(conn):
        return None
    row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    return str(row[0]) if row else None


def postgres_program(name: str) -> str | None:
    """A PostgreSQL program: on PATH, else the newest of Debian's versioned dirs
    (where initdb and postgres live); None if neither has it."""
    found = shutil.which(name)
    if found:
        return found
    for base in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (base / name).exists():
            return str(base / name)
    return None


def _pg_bin(name: str) -> str:
    found = postgres_program(name)
    if found is None:
        raise BackupError(f"{name} not found: install PostgreSQL's client programs")
    return found


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """A libpq URL for ``url`` without its password, and the environment holding it
    (a password on a command line is visible to every user of the machine)."""
    parsed = make_url(url)
    env = dict(os.environ)
    if parsed.password:
        env["PGPASSWORD"] = str(parsed.password)
    bare = parsed.set(drivername="postgresql", password=None)
    return bare.render_as_string(hide_password=False), env


def _run(args: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BackupError(f"{Path(args[0]).name} failed: {done.stderr.strip()[-2000:]}")


async def _pg_state(url: str) -> tuple[dict[str, bool], str | None]:
    """Whether each table of the current schema holds rows, and the Alembic revision."""
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            names = (
                await conn.execute(
                    text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
                )
            ).scalars()
            filled: dict[str, bool] = {}
            for name in list(names):
                query = f"SELECT EXISTS (SELECT 1 FROM {_quote_ident(name)})"
                filled[name] = bool((await conn.execute(text(query))).scalar())
            revision = None
            if "alembic_version" in filled:
                revision = (
                    await conn.execute(text("SELECT version_num FROM alembic_version"))
                ).scalar()
            return filled, revision
    finally:
        await engine.dispose()


async def _pg_clear(url: str) -> None:
    """Drop every table and type of the current schema (for pg_restore to recreate)."""
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            tables = (
                await conn.execute(
                    text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
                )
            ).scalars()
            for name in list(tables):
                await conn.execute(text(f"DROP TABLE IF EXISTS {_quote_ident(name)} CASCADE"))
            types = (
                await conn.execute(
                    text(
                        "SELECT t.typname FROM pg_type t JOIN pg_namespace n"
                        " ON n.oid = t.typnamespace WHERE n.nspname = current_schema()"
                        " AND t.typtype = 'e'"
                    )
                )
            ).scalars()
            for name in list(types):
                await conn.execute(text(f"DROP TYPE IF EXISTS {_quote_ident(name)} CASCADE"))
    finally:
        await engine.dispose()


def sql_filled_tables(url: str) -> list[str]:
    """Tables of the SQL store holding rows (the migration record aside)."""
    if sql_backend(url) == "sqlite":
        path = _sqlite_path(url)
        if not path.exists():
            return []
        with closing(sqlite3.connect(path)) as conn:
            return [
                name
                for name in _sqlite_tables(conn)
                if name != "alembic_version"
                and conn.execute(f"SELECT EXISTS (SELECT 1 FROM {_quote_ident(name)})").fetchone()[
                    0
                ]
            ]
    filled, _ = asyncio.run(_pg_state(url))
    return sorted(name for name, rows in filled.items() if rows and name != "alembic_version")


def backup_sql(url: str, dest_dir: Path) -> dict[str, Any]:
    """Copy the SQL store into ``dest_dir``; returns what the manifest says of it."""
    if sql_backend(url) == "sqlite":
        path = _sqlite_path(url)
        if not path.exists():
            raise BackupError(f"no SQLite database at {path}")
        dest = dest_dir / "pricewatch.db"
        # the online backup API copies a consistent snapshot while others write
        with closing(sqlite3.connect(path)) as src, closing(sqlite3.connect(dest)) as dst:
            src.backup(dst)
            revision = _sqlite_revision(dst)
        return {"backend": "sqlite", "file": dest.name, "revision": revision}
    _, revision = asyncio.run(_pg_state(url))
    dest = dest_dir / "pricewatch.pgdump"
    libpq, env = _libpq(url)
    _run(
        [_pg_bin("pg_dump"), "--format=custom", "--no-owner", "--no-privileges", "-f", str(dest)]
        + ["--dbname", libpq],
        env,
    )
    return {"backend": "postgresql", "file": dest.name, "revision": revision}


def restore_sql(url: str, saved: dict[str, Any], source_dir: Path) -> None:
    """Replace the SQL store's content with the saved copy (the caller has checked
    that it may)."""
    backend = sql_backend(url)
    if saved["backend"] != backend:
        raise BackupError(
            f"this backup holds a {saved['backend']} database; this instance uses {backend}"
        )
    source = source_dir / str(saved["file"])
    if backend == "sqlite":
        path = _sqlite_path(url)
        path.parent.mkdir(parents=True, exist_ok=True)
        with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(path)) as dst:
            src.backup(dst)
        return
    asyncio.run(_pg_clear(url))
    libpq, env = _libpq(url)
    _run(
        [_pg_bin("pg_restore"), "--no-owner", "--no-privileges", "--single-transaction"]
        + ["--exit-on-error", "--dbname", libpq, str(source)],
        env,
    )


def check_sql_kind(url: str, saved: dict[str, Any]) -> None:
    backend = sql_backend(url)
    if saved["backend"] != backend:
        raise BackupError(
            f"this backup holds a {saved['backend']} database; this instance uses {backend}"
        )

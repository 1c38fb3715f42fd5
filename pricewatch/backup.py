"""``pricewatch backup DIR`` and ``pricewatch restore DIR``.

A backup directory holds the ClickHouse database (``clickhouse/``, a chDB BACKUP;
on a ClickHouse server the BACKUP stays on the server's backup disk and the
manifest names it), the SQL store (``sql/``), the Redis state nothing can rebuild
(``redis/keys.jsonl``, see :mod:`pricewatch.backup_redis`) and ``manifest.json``:
format and version, time, what was saved, and the size and sha256 of every file.

Redis is saved first, then ClickHouse, then SQL: an observation ingested while the
backup runs is then in the saved stream and maybe also in the saved history, and
comes back at least once (ingest takes a replayed entry like any redelivery); the
other order could lose it.

Restore checks the manifest and every checksum before it touches anything, refuses
a store that holds data unless forced, restores the three stores and migrates them
to the current schema.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path, PurePosixPath
from typing import Any

import redis
from clickhouse_connect.driver.client import Client

from pricewatch import backup_redis
from pricewatch.backup_stores import (
    BackupError,
    backup_clickhouse,
    backup_sql,
    check_clickhouse_kind,
    check_sql_kind,
    clickhouse_rows,
    restore_clickhouse,
    restore_sql,
    sql_filled_tables,
)
from pricewatch.keys import Keys

__all__ = ["BackupError", "Stores", "backup", "read_manifest", "restore"]

FORMAT = "pricewatch-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
CLICKHOUSE_DIR = "clickhouse"
SQL_DIR = "sql"
REDIS_FILE = "redis/keys.jsonl"


@dataclasses.dataclass(frozen=True, kw_only=True)
class Stores:
    """The stores of one instance, as a backup reads them and a restore writes them."""

    clickhouse: Client
    database: str
    # a ClickHouse server's backup disk; None: embedded chDB
    backup_disk: str | None = None
    cluster: str | None = None
    sql_url: str
    redis: redis.Redis
    keys: Keys


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _files(directory: Path) -> Iterator[Path]:
    for root, _, names in os.walk(directory):
        for name in names:
            yield Path(root, name)


def _version() -> str:
    try:
        return metadata.version("pricewatch")
    except metadata.PackageNotFoundError:
        return "unknown"


def backup(stores: Stores, directory: Path) -> dict[str, Any]:
    """Save the stores into ``directory`` (new, or empty); returns the manifest."""
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise BackupError(f"{directory} exists and is not an empty directory")
    directory.mkdir(parents=True, exist_ok=True)
    try:
        return _backup(stores, directory)
    except BaseException:
        # no half backup is left to be mistaken for one (it has no manifest anyway)
        for child in directory.iterdir():
            shutil.rmtree(child) if child.is_dir() else child.unlink()
        raise


def _backup(stores: Stores, directory: Path) -> dict[str, Any]:
    started = time.time()
    redis_path = directory / REDIS_FILE
    redis_path.parent.mkdir()
    with redis_path.open("w", encoding="utf-8") as out:
        families = backup_redis.dump_state(stores.redis, stores.keys, out)
    info = stores.redis.info("server")
    clickhouse = backup_clickhouse(
        stores.clickhouse,
        stores.database,
        directory / CLICKHOUSE_DIR,
        disk=stores.backup_disk,
        cluster=stores.cluster,
    )
    (directory / SQL_DIR).mkdir()
    sql = backup_sql(stores.sql_url, directory / SQL_DIR)
    files: dict[str, dict[str, Any]] = {
        path.relative_to(directory).as_posix(): {
            "size": path.stat().st_size,
            "sha256": _sha256(path),
        }
        for path in sorted(_files(directory))
    }
    manifest = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "pricewatch": _version(),
        "created_at": datetime.fromtimestamp(started, UTC).isoformat(timespec="seconds"),
        "seconds": round(time.time() - started, 3),
        "clickhouse": clickhouse,
        "sql": sql,
        "redis": {
            "file": REDIS_FILE,
            "server_version": str(info.get("redis_version", "")),
            "keys": families,
            "saved": sorted(backup_redis.SAVED),
            "dropped_on_restore": sorted(backup_redis.DERIVED),
            "rebuilt": sorted(backup_redis.REBUILT),
        },
        "files": files,
        "bytes": sum(f["size"] for f in files.values()),
    }
    partial = directory / (MANIFEST + ".part")
    partial.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    partial.rename(directory / MANIFEST)
    return manifest


def read_manifest(directory: Path) -> dict[str, Any]:
    """The manifest of the backup in ``directory`` once every file checks out."""
    path = directory / MANIFEST
    if not path.is_file():
        raise BackupError(f"{directory} is not a Pricewatch backup: it has no {MANIFEST}")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BackupError(f"{path} is damaged: {exc}") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(f"{path} is not the manifest of a Pricewatch backup")
    version = manifest.get("version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise BackupError(
            f"{path} has format version {version!r}; this Pricewatch reads up to {FORMAT_VERSION}"
        )
    files = manifest.get("files")
    if not isinstance(files, dict) or not all(
        isinstance(k, str) and isinstance(v, dict) for k, v in files.items()
    ):
        raise BackupError(f"{path} lists no files")
    _check_layout(manifest, set(files), path)
    found = {p.relative_to(directory).as_posix() for p in _files(directory)} - {MANIFEST}
    if extra := sorted(found - set(files)):
        raise BackupError(f"the backup holds files its manifest does not list: {extra[:5]}")
    for name, expected in files.items():
        file = directory / name
        if not file.is_file():
            raise BackupError(f"the backup is incomplete: {name} is missing")
        if file.stat().st_size != expected.get("size") or _sha256(file) != expected.get("sha256"):
            raise BackupError(f"the backup is damaged: {name} does not match its checksum")
    return manifest


def _outside(name: str) -> bool:
    parts = PurePosixPath(name)
    return parts.is_absolute() or ".." in parts.parts


def _check_layout(manifest: dict[str, Any], files: set[str], path: Path) -> None:
    """The stores' entries are what this version writes and name files the manifest
    lists inside the backup: a restore reads nothing else."""
    if bad := sorted(n for n in files if _outside(n)):
        raise BackupError(f"{path} names files outside the backup: {bad[:5]}")
    clickhouse, sql, saved_redis = (manifest.get(k) for k in ("clickhouse", "sql", "redis"))
    if not (
        isinstance(clickhouse, dict) and isinstance(sql, dict) and isinstance(saved_redis, dict)
    ):
        raise BackupError(f"{path} does not say what each store saved")
    kind = clickhouse.get("kind")
    if kind == "chdb":
        if clickhouse.get("dir") != CLICKHOUSE_DIR or not any(
            n.startswith(CLICKHOUSE_DIR + "/") for n in files
        ):
            raise BackupError(f"{path} lists no ClickHouse files where it says they are")
    elif kind != "server":
        raise BackupError(f"{path} names an unknown kind of ClickHouse backup: {kind!r}")
    for store, name in (
        ("SQL", f"{SQL_DIR}/{sql.get('file')}"),
        ("Redis", saved_redis.get("file")),
    ):
        if name not in files:
            raise BackupError(f"{path} lists no {store} file where it says it is ({name})")


def holding_data(stores: Stores) -> list[str]:
    """The stores that hold data (a restore replaces them only when forced)."""
    held = []
    if rows := clickhouse_rows(stores.clickhouse, stores.database):
        held.append(f"ClickHouse database {stores.database} ({rows} rows)")
    if tables := sql_filled_tables(stores.sql_url):
        held.append(f"the SQL store (tables {', '.join(tables)})")
    if families := backup_redis.present(stores.redis, stores.keys):
        held.append(f"Redis under prefix {stores.keys.prefix!r} ({', '.join(families)})")
    return held


def restore(stores: Stores, directory: Path, *, force: bool = False) -> dict[str, Any]:
    """Restore the backup in ``directory`` into ``stores`` and migrate them to the
    current schema; returns the manifest. Stores holding data are replaced only with
    ``force``."""
    from pricewatch.schema import migrate as ch_migrate
    from pricewatch.storage.sql import migrate_sql

    manifest = read_manifest(directory)
    check_clickhouse_kind(manifest["clickhouse"], stores.backup_disk)
    check_sql_kind(stores.sql_url, manifest["sql"])
    if not force and (held := holding_data(stores)):
        raise BackupError(
            "refusing to overwrite "
            + "; ".join(held)
            + " (restore into empty stores, or pass --force to replace them)"
        )
    restore_clickhouse(
        stores.clickhouse,
        stores.database,
        manifest["clickhouse"],
        directory,
        disk=stores.backup_disk,
        cluster=stores.cluster,
    )
    restore_sql(stores.sql_url, manifest["sql"], directory / SQL_DIR)
    backup_redis.restore_state(stores.redis, stores.keys, directory / manifest["redis"]["file"])
    ch_migrate(stores.clickhouse, stores.database, cluster=stores.cluster)
    migrate_sql(stores.sql_url)
    return manifest

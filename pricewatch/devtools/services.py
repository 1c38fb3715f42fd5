"""Real services started for tests and benchmarks: a Redis server, a Redis Cluster and
a PostgreSQL cluster in temp dirs, on free loopback ports, with the binaries Debian
installs (``make install`` puts them there)."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from pricewatch.backup_stores import postgres_program


@contextlib.contextmanager
def private_dir(name: str) -> Iterator[Path]:
    """A temp dir of our own for a server's files, outside pytest's basetemp:
    pytest prunes old basetemp dirs, which must not pull the data directory
    out from under a server another session is still running."""
    with tempfile.TemporaryDirectory(prefix=f"pricewatch-{name}-") as path:
        yield Path(path)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_port(host: str, port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listening on {host}:{port} after {timeout}s")


def _redis_command(exe: str, port: int, workdir: Path) -> list[str]:
    """A loopback redis-server on ``port`` that keeps nothing on disk."""
    return [
        exe,
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--dir",
        str(workdir),
        "--save",
        "",
        "--appendonly",
        "no",
        "--protected-mode",
        "yes",
    ]


@contextlib.contextmanager
def redis_server(workdir: Path) -> Iterator[str]:
    exe = shutil.which("redis-server")
    if exe is None:
        raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        _redis_command(exe, port, workdir), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_port("127.0.0.1", port)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(10)


@contextlib.contextmanager
def redis_cluster(workdir: Path, masters: int = 3, timeout: float = 60.0) -> Iterator[str]:
    """A Redis Cluster of ``masters`` masters (no replicas) on free loopback ports,
    each node in its own subdir of ``workdir``; yields its ``redis+cluster://`` URL
    once every node reports ``cluster_state:ok``."""
    exe, cli = shutil.which("redis-server"), shutil.which("redis-cli")
    if exe is None or cli is None:
        raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
    ports: list[int] = []
    while len(ports) < masters:  # free_port may hand out a port twice
        port = free_port()
        # a node also listens on its cluster bus, port + 10000, which must exist and be free
        if port not in ports and port + 10_000 <= 65_535 and _port_free(port + 10_000):
            ports.append(port)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for port in ports:
            node_dir = workdir / str(port)
            node_dir.mkdir(parents=True, exist_ok=True)
            with (node_dir / "redis.log").open("wb") as log:
                procs.append(
                    subprocess.Popen(
                        [
                            *_redis_command(exe, port, node_dir),
                            "--cluster-enabled",
                            "yes",
                            "--cluster-config-file",
                            str(node_dir / f"nodes-{port}.conf"),
                            "--cluster-node-timeout",
                            "2000",
                        ],
                        stdout=log,
                        stderr=subprocess.STDOUT,
                    )
                )
        for port in ports:
            wait_port("127.0.0.1", port)
        addresses = [f"127.0.0.1:{port}" for port in ports]
        created = subprocess.run(
            [cli, "--cluster", "create", *addresses, "--cluster-replicas", "0", "--cluster-yes"],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if created.returncode != 0:
            raise RuntimeError(
                f"redis-cli --cluster create failed:\n{created.stdout}{created.stderr}"
                + _node_logs(workdir, ports)
            )
        deadline = time.monotonic() + timeout
        while not all(_cluster_ok(cli, port) for port in ports):
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"the Redis Cluster on {addresses} did not reach cluster_state:ok "
                    f"within {timeout} s" + _node_logs(workdir, ports)
                )
            time.sleep(0.1)
        yield "redis+cluster://" + ",".join(addresses) + "/0"
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _cluster_ok(cli: str, port: int) -> bool:
    info = subprocess.run(
        [cli, "-h", "127.0.0.1", "-p", str(port), "cluster", "info"],
        capture_output=True,
        text=True,
        timeout=10,
    )
    return "cluster_state:ok" in info.stdout


def _node_logs(workdir: Path, ports: list[int]) -> str:
    logs = []
    for port in ports:
        path = workdir / str(port) / "redis.log"
        text = path.read_text(errors="replace") if path.exists() else "(no log)"
        logs.append(f"\n--- node {port} ---\n{text[-4000:]}")
    return "".join(logs)


def _pg_bin(name: str) -> str:
    found = postgres_program(name)
    if found is None:
        raise RuntimeError(f"{name} not found: apt-get install postgresql")
    return found


@contextlib.contextmanager
def postgres_server(workdir: Path) -> Iterator[str]:
    """initdb + postgres on a free port; as root, the cluster runs as user postgres
    (PostgreSQL refuses to run as root)."""
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    datadir = workdir / "pgdata"
    run_as: list[str] = []
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        for p in (workdir, *workdir.parents):
            # the postgres user must be able to traverse to its data dir
            if p == Path("/"):
                break
            with contextlib.suppress(PermissionError):
                os.chmod(p, os.stat(p).st_mode | 0o011)
        os.chown(workdir, user.pw_uid, user.pw_gid)
        run_as = ["runuser", "-u", "postgres", "--"]
    subprocess.run(
        [
            *run_as,
            _pg_bin("initdb"),
            "-D",
            str(datadir),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    proc = subprocess.Popen(
        [
            *run_as,
            _pg_bin("postgres"),
            "-D",
            str(datadir),
            "-p",
            str(port),
            "-h",
            "127.0.0.1",
            "-k",
            str(workdir),
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_port("127.0.0.1", port, timeout=30)
        # accepting TCP is not yet accepting queries; pg_isready knows
        deadline = time.monotonic() + 30
        while (
            subprocess.run(
                [_pg_bin("pg_isready"), "-h", "127.0.0.1", "-p", str(port)],
                stdout=subprocess.DEVNULL,
            ).returncode
            != 0
        ):
            if time.monotonic() > deadline:
                raise TimeoutError("postgres did not become ready")
            time.sleep(0.1)
        yield f"postgresql+asyncpg://postgres@127.0.0.1:{port}/postgres"
    finally:
        proc.terminate()
        proc.wait(20)


async def postgres_admin(server_url: str, statement: str) -> None:
    """Run one statement outside any transaction (CREATE DATABASE, DROP DATABASE)."""
    from sqlalchemy.ext.asyncio import create_async_engine

    admin = create_async_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.exec_driver_sql(statement)
    finally:
        await admin.dispose()


def database_url(server_url: str, name: str) -> str:
    """The URL of database ``name`` on the server of ``server_url``."""
    from sqlalchemy.engine import make_url

    return make_url(server_url).set(database=name).render_as_string(hide_password=False)

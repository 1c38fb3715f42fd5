"""Keeping the roles of one process honest: heal what we own, or stop loudly.

``pricewatch up`` (and each single-role command) runs its roles on threads under
a :class:`Supervisor`. A role that raises (anything: uvicorn ends with
``SystemExit`` when it cannot bind) or returns while nobody asked it to stop
stops every role, and the command exits non-zero with one message naming the
role and the cause. Ctrl-C or SIGTERM asks the roles to stop and exits 0; a
second one stops waiting for them (SIGHUP too: a closed terminal).

What the command started itself it heals: :class:`RedisKeeper` starts the Redis
server again on the same port and files, a few times with a growing pause,
then gives up through the supervisor; :class:`Respawner` keeps the crawler
processes at their count, pausing longer each time one dies young.

``pricewatch up --processes`` runs each role as a process of its own instead
(:func:`process_plan` says which roles share one), each kept by a
:class:`Respawner`; a role that keeps dying young stops everything. Its children
stop by themselves when it dies without stopping them (``supervisor_gone``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pricewatch.storage.local_redis import LocalRedis, RedisStartError, describe_exit

log = logging.getLogger(__name__)

# what stops a supervised command (a second one: without waiting)
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
# Set by ``up --processes`` in its children's environment: the pid of that ``up``.
SUPERVISOR_PID_ENV = "PRICEWATCH_SUPERVISOR_PID"
# how often each child looks for that ``up`` (``supervisor_gone``)
SUPERVISOR_CHECK_S = 1.0


def supervisor_gone(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether this process belongs to an ``up --processes`` that is gone.

    Killed with SIGKILL (or the OOM killer), ``up`` cannot stop its children, and each
    runs its own session, so no signal of the terminal reaches them either. A child
    whose parent dies is adopted by init (or a subreaper), so a parent other than the
    ``up`` named in the environment means that ``up`` is gone: the child stops, as if
    asked, instead of crawling and alerting on with nobody to stop it. Set by nothing
    else, the variable is absent and nothing is ever gone.
    """
    named = environ.get(SUPERVISOR_PID_ENV, "")
    return named.isdigit() and os.getppid() != int(named)


class Supervisor:
    def __init__(self, command: str) -> None:
        self.command = command
        # the roles' shared stop signal: set by a signal or by the first failure
        self.stop = threading.Event()
        # set by a second signal: stop waiting for anyone
        self.hurry = threading.Event()
        self.failure: str | None = None
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def handle_signals(self) -> None:
        """SIGINT, SIGTERM and SIGHUP stop the roles; a second one stops the waiting.

        Never a KeyboardInterrupt: it would land anywhere in the main thread's
        shutdown and print a traceback instead of finishing it. SIGHUP too, since
        the child processes run in sessions of their own: a closed terminal must
        not leave them behind."""

        def handler(signum: int, frame: object) -> None:
            name = signal.Signals(signum).name
            if self.stop.is_set():
                log.warning("%s again: stopping without waiting any longer", name)
                self.hurry.set()
            else:
                log.info("%s: stopping (once more to stop without waiting)", name)
                self.stop.set()

        for signum in STOP_SIGNALS:
            signal.signal(signum, handler)

    def fail(self, message: str) -> None:
        """Stop everything; the first failure is the one the command reports."""
        with self._lock:
            first = self.failure is None
            if first:
                self.failure = message
        log.error("%s%s", message, "; stopping everything" if first else "")
        self.stop.set()

    def start(self, name: str, fn: Callable[..., Any], *args: Any) -> threading.Thread:
        thread = threading.Thread(target=self._run, args=(name, fn, args), name=name, daemon=True)
        self._threads.append(thread)
        thread.start()
        return thread

    def _run(self, name: str, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        try:
            fn(*args)
        except SystemExit as exc:
            # uvicorn logs its reason and exits; the exit code is all it leaves here
            self.fail(f"{name}: exited (SystemExit {exc.code!r}); the log above says why")
        except BaseException as exc:
            log.error("role %s died", name, exc_info=exc)
            self.fail(f"{name}: {type(exc).__name__}: {exc}")
        else:
            if not self.stop.is_set():
                self.fail(f"{name}: returned while nothing asked it to stop")

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``, less if hurried; True if hurried."""
        return self.hurry.wait(seconds)

    def join(self, timeout_s: float) -> None:
        """Wait for the role threads to finish, up to ``timeout_s`` or a hurry."""
        deadline = time.monotonic() + timeout_s
        for thread in self._threads:
            while thread.is_alive() and not self.hurry.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                thread.join(min(left, 0.1))
        late = [t.name for t in self._threads if t.is_alive()]
        if late:
            log.warning("not waiting any longer for %s", ", ".join(late))

    def finish(self) -> int:
        """The command's exit code, once its roles are stopped. From here on the stop
        signals are ignored: what is left is Python's own exit, during which it hands
        its signal handlers back to the system's defaults, and a Ctrl-C pressed again
        as the command finishes would kill it (status -2) halfway through its exit
        instead of being the "stop without waiting" it asks for."""
        for signum in STOP_SIGNALS:
            signal.signal(signum, signal.SIG_IGN)
        return self.exit_code()

    def exit_code(self) -> int:
        """0 after a requested stop; else 1, with the failure on stderr."""
        if self.failure is None:
            return 0
        print(f"{self.command}: {self.failure}", file=sys.stderr, flush=True)
        return 1

    def give_up(self, message: str) -> int:
        """Fail before any role started."""
        self.fail(message)
        return self.exit_code()


def listen_problem(host: str, port: int, *, shared: bool = False) -> str | None:
    """Why a server could not listen on ``host:port`` now, or None.

    Binds like uvicorn does (SO_REUSEADDR, every address the name resolves to),
    so a port kept in TIME_WAIT is no obstacle and one in use is; ``shared`` (the
    API in several processes) binds as they do, so their port is no obstacle."""
    where = f"{host}:{port}"
    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        return f"cannot listen on {where}: {exc.strerror}"
    for family, kind, proto, _, address in addresses:
        with socket.socket(family, kind, proto) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if shared:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            try:
                sock.bind(address)
            except OSError as exc:
                return f"cannot listen on {where}: {(exc.strerror or str(exc)).lower()}"
    return None


@dataclasses.dataclass(eq=False)
class RedisKeeper:
    """Starts the Redis server this command owns again when it dies.

    Same port and directory: clients reconnect to the URL they hold, and the
    append-only file brings back the streams, consumer groups and frontier."""

    server: LocalRedis
    supervisor: Supervisor
    _: dataclasses.KW_ONLY
    attempts: int = 5
    first_pause_s: float = 0.5

    def check(self) -> None:
        """Call often from the supervising thread; returns at once while Redis lives."""
        if self.server.running() or self.supervisor.stop.is_set():
            return
        death = self.server.exit_description()
        log.error("Redis at %s %s; starting it again", self.server.url, death)
        pause, why = self.first_pause_s, ""
        for attempt in range(1, self.attempts + 1):
            if self.supervisor.stop.wait(pause):
                return
            try:
                self.server.start()
            except RedisStartError as exc:
                why = str(exc)
                log.warning("Redis restart %d of %d failed: %s", attempt, self.attempts, why)
                pause *= 2
                continue
            log.info("Redis is back at %s", self.server.url)
            return
        self.supervisor.fail(
            f"redis: the server at {self.server.url} {death} and could not be started "
            f"again ({self.attempts} attempts): {why}"
        )


class Respawner:
    """Child processes kept at a count: one that exits is started again, after a
    pause that doubles each time one dies young (a crash loop is not a busy loop)."""

    YOUNG_S = 60.0
    FIRST_PAUSE_S = 1.0
    MAX_PAUSE_S = 60.0

    def __init__(self, name: str, spawn: Callable[[], subprocess.Popen[bytes]], count: int):
        self.name = name
        self.spawn = spawn
        self.procs = [spawn() for _ in range(count)]
        self._born = [time.monotonic()] * count
        self._due: list[float | None] = [None] * count
        self._pause = self.FIRST_PAUSE_S
        # deaths in a row of processes that died young: a role that cannot start
        self.young_deaths = 0
        # processes already asked to stop: a second SIGTERM means "stop without
        # waiting" to a role, so each is asked once
        self._asked: set[int] = set()

    def check(self) -> None:
        now = time.monotonic()
        for i, proc in enumerate(self.procs):
            if proc.poll() is None:
                continue
            due = self._due[i]
            if due is None:
                young = now - self._born[i] < self.YOUNG_S
                self.young_deaths = self.young_deaths + 1 if young else 0
                pause = self._pause if young else self.FIRST_PAUSE_S
                self._pause = min(self.MAX_PAUSE_S, pause * 2) if young else self.FIRST_PAUSE_S
                self._due[i] = now + pause
                log.warning(
                    "%s %s; starting another in %.0f s",
                    self.name,
                    describe_exit(proc.returncode),
                    pause,
                )
            elif now >= due:
                self.procs[i], self._born[i], self._due[i] = self.spawn(), now, None

    def terminate(self) -> None:
        """Ask each to stop (SIGTERM, once) without waiting: :meth:`stop` waits."""
        for proc in self.procs:
            if proc.poll() is None and proc.pid not in self._asked:
                self._asked.add(proc.pid)
                proc.terminate()

    def stop(self, supervisor: Supervisor, grace_s: float = 20.0) -> None:
        """Ask each to stop, wait up to ``grace_s`` (less if hurried), then kill."""
        self.terminate()
        deadline = time.monotonic() + grace_s
        for proc in self.procs:
            while proc.poll() is None and time.monotonic() < deadline:
                if supervisor.wait(0.1):
                    break
            if proc.poll() is None:
                proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(5)


# The roles that open ClickHouse. Embedded chDB lets one process per data directory
# open it, so with chDB these share a process.
CLICKHOUSE_ROLES = ("api", "ingest", "scheduler")


@dataclasses.dataclass(frozen=True)
class RoleProcess:
    """One process of ``up --processes``: the roles it runs (the crawler alone)."""

    roles: tuple[str, ...]
    # how many such processes run side by side (API processes share their port)
    count: int = 1

    @property
    def name(self) -> str:
        return "+".join(self.roles)


def process_plan(
    roles: Sequence[str], embedded_clickhouse: bool, api_processes: int = 1
) -> list[RoleProcess]:
    """Which roles run in which process: each alone, except that with embedded chDB
    the ClickHouse users share one (in the order of ``roles``); with a ClickHouse
    server the API runs in ``api_processes`` processes on one port. ValueError for
    several API processes on embedded chDB, which opens in one process only."""
    if api_processes < 1:
        raise ValueError(f"at least one API process, got {api_processes}")
    if embedded_clickhouse and api_processes > 1 and "api" in roles:
        raise ValueError(
            f"{api_processes} API processes need a ClickHouse server "
            "(PRICEWATCH_CLICKHOUSE_URL=http://...): embedded chDB opens in one process only"
        )
    shared = [r for r in roles if embedded_clickhouse and r in CLICKHOUSE_ROLES]
    plan = [RoleProcess(tuple(shared))] if shared else []
    return plan + [
        RoleProcess((r,), api_processes if r == "api" else 1) for r in roles if r not in shared
    ]

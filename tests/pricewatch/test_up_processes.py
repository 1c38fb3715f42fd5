"""``pricewatch up --processes`` as a user runs it: one OS process per role (with chDB,
the ClickHouse users share one), a killed role started again, every child stopped
with the command. Subprocesses on a temp data dir, real Redis, chDB and SQLite."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from pricewatch.supervision import (
    SUPERVISOR_PID_ENV,
    Respawner,
    RoleProcess,
    Supervisor,
    process_plan,
    supervisor_gone,
)
from tests import up

ROLES = ["ingest", "api", "alerts", "scheduler", "crawler"]


def test_with_chdb_the_clickhouse_users_share_a_process() -> None:
    assert process_plan(ROLES, embedded_clickhouse=True) == [
        RoleProcess(("ingest", "api", "scheduler")),
        RoleProcess(("alerts",)),
        RoleProcess(("crawler",)),
    ]
    assert process_plan(ROLES, embedded_clickhouse=True)[0].name == "ingest+api+scheduler"


def test_with_a_clickhouse_server_every_role_runs_alone() -> None:
    assert process_plan(ROLES, embedded_clickhouse=False) == [RoleProcess((r,)) for r in ROLES]


def test_with_a_clickhouse_server_the_api_may_run_in_several_processes() -> None:
    plan = process_plan(ROLES, embedded_clickhouse=False, api_processes=3)
    assert [(p.name, p.count) for p in plan] == [
        ("ingest", 1),
        ("api", 3),
        ("alerts", 1),
        ("scheduler", 1),
        ("crawler", 1),
    ]
    with pytest.raises(ValueError, match="3 API processes need a ClickHouse server"):
        process_plan(ROLES, embedded_clickhouse=True, api_processes=3)
    with pytest.raises(ValueError, match="at least one API process"):
        process_plan(ROLES, embedded_clickhouse=False, api_processes=0)
    # no API among the roles: nothing to share
    assert process_plan(["alerts"], embedded_clickhouse=True, api_processes=3) == [
        RoleProcess(("alerts",))
    ]


def test_up_processes_refuses_several_api_processes_on_chdb(env: dict[str, str]) -> None:
    proc = up.start(env | {"PRICEWATCH_API_PROCESSES": "2"}, "--processes", "--crawlers", "0")
    output, _ = proc.communicate(timeout=up.STARTUP_S)
    assert proc.returncode == 1, output
    assert "2 API processes need a ClickHouse server" in output, output


def test_a_role_that_keeps_dying_young_is_counted_until_one_lives() -> None:
    class Quick(Respawner):
        FIRST_PAUSE_S = 0.01
        MAX_PAUSE_S = 0.02

    def spawn() -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])

    dying = Quick("dying", spawn, 1)

    def counted() -> bool:
        dying.check()
        return dying.young_deaths >= 3

    up.wait_until(counted, up.SETTLE_S, "three deaths in a row")
    dying.stop(Supervisor("test"), grace_s=5)

    class Old(Respawner):
        # every death counts as one of a process that lived long: never a crash loop
        YOUNG_S = 0.0

    living = Old("living", spawn, 1)
    up.wait_until(lambda: living.procs[0].poll() is not None, up.SETTLE_S, "an exit")
    living.check()
    assert living.young_deaths == 0
    living.stop(Supervisor("test"), grace_s=5)


def children(pid: int) -> dict[int, list[str]]:
    """The live child processes of ``pid``: pid -> command line (from /proc)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:  # gone meanwhile
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses
        state, ppid = stat[stat.rindex(")") + 2 :].split()[:2]
        if int(ppid) == pid and state != "Z":
            found[int(entry.name)] = [part.decode() for part in cmdline if part]
    return found


def role_children(pid: int) -> dict[str, int]:
    """The role processes of ``up`` (pid): "api+ingest+scheduler" / "alerts" -> pid."""
    roles = {}
    for child, cmdline in children(pid).items():
        if "pricewatch.cli" in cmdline:
            args = cmdline[cmdline.index("pricewatch.cli") + 1 :]
            names = args[1:] if args[:1] == ["roles"] else args
            roles["+".join(names)] = child
    return roles


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return state[state.rindex(")") + 2] != "Z"


@pytest.mark.slow
def test_up_processes_runs_supervises_and_stops_every_role(
    env: dict[str, str], tmp_path: Path
) -> None:
    log_path = tmp_path / "up.log"
    with log_path.open("w") as log:
        proc = up.start(env, "--processes", "--crawlers", "0", stdout=log)
    seen: set[int] = set()
    try:
        expected = {"ingest+api+scheduler", "alerts"}
        roles = up.wait_until(
            lambda: (found := role_children(proc.pid)).keys() == expected and found,
            up.STARTUP_S,
            "a process per role group",
            proc,
        )
        seen |= set(roles.values())
        # different processes, none of them `up` itself
        assert len(set(roles.values()) | {proc.pid}) == 3
        up.wait_until(lambda: up.healthy(env), up.STARTUP_S, "a healthy API", proc)

        os.kill(roles["alerts"], signal.SIGKILL)
        restarted = up.wait_until(
            lambda: (
                role_children(proc.pid).get("alerts") not in (None, roles["alerts"])
                and role_children(proc.pid)
            ),
            up.SETTLE_S,
            "alerts started again",
            proc,
        )
        seen |= set(restarted.values()) | set(children(proc.pid))
        assert restarted["ingest+api+scheduler"] == roles["ingest+api+scheduler"]

        proc.send_signal(signal.SIGTERM)
        proc.wait(up.STARTUP_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(up.STARTUP_S)
    output = log_path.read_text()
    assert proc.returncode == 0, output
    assert [pid for pid in seen if alive(pid)] == [], output
    assert "alerts killed by SIGKILL; starting another" in output, output
    assert "Traceback" not in output, output
    # the Redis it started is gone too: no URL left for other commands to find
    assert not up.redis_url_file(env).exists()


def test_a_child_knows_when_the_up_that_started_it_is_gone() -> None:
    assert not supervisor_gone({})  # not started by `up --processes`
    assert not supervisor_gone({SUPERVISOR_PID_ENV: str(os.getppid())})
    assert supervisor_gone({SUPERVISOR_PID_ENV: str(os.getppid() + 1)})
    assert not supervisor_gone({SUPERVISOR_PID_ENV: "not a pid"})


@pytest.mark.slow
def test_children_stop_by_themselves_when_up_is_killed(env: dict[str, str], tmp_path: Path) -> None:
    # a crawler too; were it ever to reach for a page, a closed local port answers
    env = env | {"PRICEWATCH_MARKET_ORIGINS": "us=http://127.0.0.1:9"}
    with (tmp_path / "up.log").open("w") as log:
        proc = up.start(env, "--processes", "--crawlers", "1", stdout=log)
    left: dict[int, list[str]] = {}
    try:
        expected = {"ingest+api+scheduler", "alerts"}
        up.wait_until(
            lambda: role_children(proc.pid).keys() == expected,
            up.STARTUP_S,
            "a process per role group",
            proc,
        )
        up.wait_until(lambda: up.healthy(env), up.STARTUP_S, "a healthy API", proc)
        left = children(proc.pid)
        workers = {
            pid: cmdline
            for pid, cmdline in left.items()
            if "pricewatch.cli" in cmdline or "scrapy" in cmdline
        }
        assert len(workers) == 3, left  # two role groups and the crawler
        proc.kill()  # no chance to stop anything
        proc.wait(up.STARTUP_S)
        up.wait_until(
            lambda: not any(alive(pid) for pid in workers),
            up.SETTLE_S,
            "every role and crawler process stopped",
        )
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(up.STARTUP_S)
        # what does not watch for it, as the Redis server `up` started, is ended here
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@pytest.mark.slow
def test_up_processes_with_the_api_port_taken_exits_non_zero(env: dict[str, str]) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", int(env["PRICEWATCH_API_PORT"])))
        taken.listen()
        proc = up.start(env, "--processes", "--crawlers", "0")
        output, _ = proc.communicate(timeout=up.STARTUP_S)
    assert proc.returncode == 1, output
    assert "pricewatch up: api: cannot listen on" in output, output


def test_roles_command_refuses_an_unknown_role() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pricewatch.cli", "roles", "api", "nonsense"],
        capture_output=True,
        text=True,
        timeout=120,
        env={k: v for k, v in os.environ.items() if not k.startswith("PRICEWATCH_")},
    )
    assert result.returncode == 2
    assert "invalid choice: 'nonsense'" in result.stderr


def test_processes_of_one_role_share_a_fresh_metrics_directory(tmp_path: Path) -> None:
    from pricewatch.cli import _role_env
    from pricewatch.settings import load_settings

    settings = load_settings({"PRICEWATCH_DATA_DIR": str(tmp_path)})
    env = {"PRICEWATCH_REDIS_URL": "redis://127.0.0.1:1/0"}
    assert _role_env(settings, RoleProcess(("alerts",)), env) == env
    stale = tmp_path / "metrics" / "api" / "counter_99999.db"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"from a run before")
    shared = _role_env(settings, RoleProcess(("api",), 3), env)
    assert shared == env | {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics" / "api")}
    # counts of processes that are gone would be summed with the new ones'
    assert list(stale.parent.iterdir()) == []

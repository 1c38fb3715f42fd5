"""The supervisor with real threads, and the Redis keeper with real Redis servers."""

import os
import signal
import socket
import subprocess
import sys
import time

import pytest
import redis

from pricewatch.storage.local_redis import LocalRedis, server_binary
from pricewatch.supervision import RedisKeeper, Respawner, Supervisor, listen_problem
from tests.services import free_port


def steady(supervisor):
    """A role that runs until asked to stop, as every real role does."""

    def run():
        supervisor.stop.wait()

    return run


def run_roles(supervisor, **roles):
    threads = [supervisor.start(name, fn) for name, fn in roles.items()]
    # generous: the failing role ends at once, the others as soon as stop is set
    assert supervisor.stop.wait(30), "nothing stopped the roles"
    supervisor.join(30)
    return threads


def test_a_role_that_raises_stops_every_role_and_names_itself(capsys):
    supervisor = Supervisor("pricewatch up")

    def broken():
        raise ValueError("no such table: prices")

    threads = run_roles(supervisor, ingest=steady(supervisor), alerts=broken)
    assert not any(t.is_alive() for t in threads)
    assert supervisor.failure == "alerts: ValueError: no such table: prices"
    assert supervisor.exit_code() == 1
    assert "pricewatch up: alerts: ValueError: no such table: prices" in capsys.readouterr().err


def test_a_role_that_exits_as_uvicorn_does_stops_everything():
    supervisor = Supervisor("pricewatch up")

    def uvicorn_that_cannot_bind():
        sys.exit(1)  # what uvicorn does after logging "address already in use"

    run_roles(supervisor, scheduler=steady(supervisor), api=uvicorn_that_cannot_bind)
    assert supervisor.failure is not None
    assert supervisor.failure.startswith("api: exited (SystemExit 1)")
    assert supervisor.exit_code() == 1


def test_a_role_that_returns_unasked_stops_everything():
    supervisor = Supervisor("pricewatch up")
    run_roles(supervisor, ingest=steady(supervisor), scheduler=lambda: None)
    assert supervisor.failure == "scheduler: returned while nothing asked it to stop"
    assert supervisor.exit_code() == 1


def test_roles_stopped_on_request_exit_zero():
    supervisor = Supervisor("pricewatch up")
    threads = [supervisor.start(name, steady(supervisor)) for name in ("ingest", "api")]
    supervisor.stop.set()  # what Ctrl-C does
    supervisor.join(30)
    assert not any(t.is_alive() for t in threads)
    assert supervisor.failure is None
    assert supervisor.exit_code() == 0


def test_the_first_failure_is_the_one_reported():
    supervisor = Supervisor("pricewatch up")
    supervisor.fail("api: cannot listen on 127.0.0.1:8000: address already in use")
    supervisor.fail("alerts: ConnectionError: closed")
    assert supervisor.failure == "api: cannot listen on 127.0.0.1:8000: address already in use"


def test_listen_problem_names_a_taken_address():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert listen_problem("127.0.0.1", port) == (
            f"cannot listen on 127.0.0.1:{port}: address already in use"
        )
    assert listen_problem("127.0.0.1", free_port()) is None


# --- the Redis keeper ---------------------------------------------------------------


@pytest.fixture
def server(tmp_path):
    # a symlink of our own to the binary, so that a test can take it away
    binary = tmp_path / "bin" / "redis-server"
    binary.parent.mkdir()
    binary.symlink_to(server_binary())
    server = LocalRedis(tmp_path / "redis", binary=str(binary))
    server.start()
    yield server
    server.stop()


def kill_hard(client):
    """SIGKILL the server behind ``client`` and wait until its port is free."""
    pid = client.info("server")["process_id"]
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while True:
        try:
            client.ping()
        except redis.ConnectionError:
            return pid
        assert time.monotonic() < deadline, "the killed Redis still answers"
        time.sleep(0.05)


def wait_dead(server):
    deadline = time.monotonic() + 30
    while server.running():
        assert time.monotonic() < deadline, "the killed Redis process is still there"
        time.sleep(0.05)


def test_a_killed_redis_comes_back_on_its_port_with_its_data(server):
    client = redis.Redis.from_url(server.url)
    client.xadd("observations:0", {"d": b"1"})
    client.xgroup_create("observations:0", "ingest", id="0")
    old_pid = kill_hard(client)
    wait_dead(server)
    supervisor = Supervisor("pricewatch up")
    RedisKeeper(server, supervisor, first_pause_s=0.05).check()
    assert supervisor.failure is None
    # the same URL answers again, from a new process, with the stream and its group
    assert client.info("server")["process_id"] != old_pid
    assert client.xlen("observations:0") == 1
    assert client.xinfo_groups("observations:0")[0]["name"] == b"ingest"
    client.close()


def test_a_redis_that_cannot_be_started_again_fails_the_supervisor(server, tmp_path):
    client = redis.Redis.from_url(server.url)
    (tmp_path / "bin" / "redis-server").unlink()  # e.g. uninstalled meanwhile
    kill_hard(client)
    wait_dead(server)
    supervisor = Supervisor("pricewatch up")
    RedisKeeper(server, supervisor, attempts=2, first_pause_s=0.05).check()
    assert supervisor.stop.is_set()
    assert supervisor.failure is not None
    assert supervisor.failure.startswith(
        f"redis: the server at {server.url} killed by SIGKILL and could not be started "
        "again (2 attempts): cannot run "
    )
    assert "No such file or directory" in supervisor.failure
    client.close()


def test_a_redis_whose_port_was_taken_fails_with_its_own_words(server):
    client = redis.Redis.from_url(server.url)
    kill_hard(client)
    wait_dead(server)
    with socket.socket() as taken:
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        taken.bind(("127.0.0.1", server.port))
        taken.listen()
        supervisor = Supervisor("pricewatch up")
        RedisKeeper(server, supervisor, attempts=2, first_pause_s=0.05).check()
    assert supervisor.failure is not None
    # the reason comes from the server's own log
    assert "Address already in use" in supervisor.failure, supervisor.failure
    client.close()


def test_a_keeper_leaves_a_stopping_command_alone(server):
    client = redis.Redis.from_url(server.url)
    kill_hard(client)
    wait_dead(server)
    supervisor = Supervisor("pricewatch up")
    supervisor.stop.set()  # Ctrl-C: Redis going away is part of stopping
    RedisKeeper(server, supervisor).check()
    assert not server.running()
    assert supervisor.failure is None
    client.close()


# --- crawler processes ----------------------------------------------------------------


def test_a_child_that_exits_is_started_again_and_all_stop_on_request():
    started = []

    def spawn():
        # the first child exits at once, the next ones run until stopped
        code = f"import time; time.sleep({0 if not started else 600})"
        started.append(subprocess.Popen([sys.executable, "-c", code]))
        return started[-1]

    children = Respawner("crawler", spawn, 1)
    deadline = time.monotonic() + 60
    while len(started) < 2:
        assert time.monotonic() < deadline, "the dead child was not replaced"
        children.check()
        time.sleep(0.05)
    supervisor = Supervisor("pricewatch up")
    children.stop(supervisor)
    assert all(p.poll() is not None for p in started)

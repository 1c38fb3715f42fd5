"""Several API processes on one port: each binds it with SO_REUSEPORT and the kernel
hands every new connection to one of them. Two servers of the real ``serve`` (here on
two threads: the kernel treats two sockets of one process as it treats two
processes' sockets), each answering with its own name."""

from __future__ import annotations

import contextlib
import http.client
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from api.server import serve, shared_socket
from pricewatch.supervision import listen_problem
from tests import up
from tests.api.served import plain_app
from tests.services import free_port, wait_port


def _named(name: str) -> Any:
    return plain_app(name.encode)


@contextlib.contextmanager
def serving(name: str, port: int, shared: bool) -> Iterator[threading.Thread]:
    stop = threading.Event()
    thread = threading.Thread(
        target=serve,
        args=(_named(name), "127.0.0.1", port, stop, "warning"),
        kwargs={"shared_port": shared},
        daemon=True,
    )
    thread.start()
    try:
        yield thread
    finally:
        stop.set()
        thread.join(15)


def _ask(port: int) -> str:
    # a new connection each time: the kernel picks a socket per connection
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/")
        return conn.getresponse().read().decode()
    finally:
        conn.close()


def test_processes_sharing_the_api_port_each_take_connections() -> None:
    port = free_port()
    with serving("one", port, shared=True), serving("two", port, shared=True):
        wait_port("127.0.0.1", port)
        # both listening: the port check of a further process finds no obstacle
        assert listen_problem("127.0.0.1", port, shared=True) is None
        assert "in use" in (listen_problem("127.0.0.1", port) or "")
        answers = {_ask(port) for _ in range(200)}
    assert answers == {"one", "two"}


def test_a_port_held_without_sharing_is_refused() -> None:
    with socket.socket() as plain:
        plain.bind(("127.0.0.1", 0))
        plain.listen()
        port = plain.getsockname()[1]
        with pytest.raises(OSError):
            shared_socket("127.0.0.1", port).close()
        assert "in use" in (listen_problem("127.0.0.1", port, shared=True) or "")


def _requests_to(metrics: str, path: str) -> float:
    """The requests to ``path`` a /metrics text counts, over every status."""
    total = 0.0
    for line in metrics.splitlines():
        if line.startswith("pricewatch_api_requests_total{") and f'path="{path}"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


@pytest.mark.slow
@pytest.mark.redis
@pytest.mark.clickhouse
def test_api_processes_on_one_port_count_into_one_set_of_metrics(
    redis_url: str, tmp_path: Path
) -> None:
    port = free_port()
    shared = tmp_path / "metrics"
    shared.mkdir()
    procs = []
    try:
        for name in ("a", "b"):
            env = up.environment(
                tmp_path / name,
                REDIS_URL=redis_url,
                KEY_PREFIX=f"shared-port-{port}:",
                API_PORT=str(port),
                API_PROCESSES="2",
            )
            # what `up --processes` gives the API processes it starts
            env["PROMETHEUS_MULTIPROC_DIR"] = str(shared)
            log = (tmp_path / f"{name}.log").open("w")
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "pricewatch.cli", "api"],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
            log.close()
        # both up: each has written its files into the shared directory
        up.wait_until(
            lambda: (
                len({p.name.rsplit("_", 1)[-1] for p in shared.glob("*.db")}) >= 2
                and _get(port, "/healthz")[0] == 200
            ),
            up.STARTUP_S,
            "two API processes serving",
        )
        before = _requests_to(_get(port, "/metrics")[1], "/healthz")
        for _ in range(60):
            assert _get(port, "/healthz")[0] == 200
        # whichever process answers a scrape, it counts the requests of both
        for _ in range(6):
            assert _requests_to(_get(port, "/metrics")[1], "/healthz") - before >= 60
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(up.STARTUP_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    logs = "".join((tmp_path / f"{n}.log").read_text() for n in ("a", "b"))
    assert "Traceback" not in logs, logs


def _get(port: int, path: str) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read().decode()
    except OSError:
        return 0, ""
    finally:
        conn.close()

"""``pricewatch up`` as a user runs it: a process of its own on a temp data dir, and
what the tests read from it (the Redis it started, its API)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis

from pricewatch.keys import DEFAULT_KEYS, OBSERVATIONS
from pricewatch.models import encode
from pricewatch.storage.streams import PartitionedStream
from tests.observations import observation
from tests.services import free_port

# generous: two cores shared with other work; no assertion is about time
STARTUP_S = 120
SETTLE_S = 60
PARTITIONS = 4  # pricewatch up's default


def environment(data_dir: Path, **settings: str) -> dict[str, str]:
    """The environment of a user with no PRICEWATCH_ settings but a data dir of
    ``data_dir``, an API port of its own, and ``settings`` (names without the
    PRICEWATCH_ prefix)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRICEWATCH_")}
    env["PRICEWATCH_DATA_DIR"] = str(data_dir)
    env["PRICEWATCH_API_PORT"] = str(free_port())
    env.update({f"PRICEWATCH_{name}": value for name, value in settings.items()})
    return env


def start(env: dict[str, str], *args: str, **popen: Any) -> subprocess.Popen[str]:
    """``pricewatch up`` with ``args`` (no crawler unless they say so: tests never reach
    Amazon); its output is read from ``stdout`` unless ``popen`` sends it elsewhere."""
    options: dict[str, Any] = {"stdout": subprocess.PIPE, "stderr": subprocess.STDOUT, **popen}
    return subprocess.Popen(
        [sys.executable, "-m", "pricewatch.cli", "up", *(args or ("--crawlers", "0"))],
        env=env,
        text=True,
        **options,
    )


def wait_until(
    check: Callable[[], Any], timeout: float, what: str, proc: subprocess.Popen[str] | None = None
) -> Any:
    """Poll ``check`` until it is truthy; fail after ``timeout`` s, or at once (with
    its output) if ``proc`` ends meanwhile."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if proc is not None and proc.poll() is not None:
            output = proc.stdout.read() if proc.stdout else ""
            raise AssertionError(f"pricewatch up ended while waiting for {what}:\n{output}")
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.2)


def redis_url_file(env: dict[str, str]) -> Path:
    """Where ``up`` writes the URL of the Redis it runs, for other commands to find."""
    return Path(env["PRICEWATCH_DATA_DIR"]) / "redis" / "url"


def redis_client(proc: subprocess.Popen[str], env: dict[str, str]) -> redis.Redis:
    """Wait for ``up`` to start its Redis; a client of it."""
    url_file = redis_url_file(env)
    wait_until(url_file.exists, STARTUP_S, "Redis started", proc)
    return redis.Redis.from_url(url_file.read_text().strip())


def healthz(env: dict[str, str]) -> tuple[int, Any] | None:
    """(status code, body) of /healthz, or None while the API is not listening."""
    url = f"http://127.0.0.1:{env['PRICEWATCH_API_PORT']}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)
    except OSError:
        return None


def healthy(env: dict[str, str]) -> bool:
    """The API answers /healthz with 200 and finds ingest running."""
    answer = healthz(env)
    return answer is not None and answer[0] == 200 and answer[1]["checks"].get("ingest") == "ok"


def ready(proc: subprocess.Popen[str], env: dict[str, str]) -> redis.Redis:
    """Wait for ``up`` to serve a healthy API; a client of its Redis."""
    client = redis_client(proc, env)
    wait_until(lambda: healthy(env), STARTUP_S, "a healthy API", proc)
    return client


def get_json(env: dict[str, str], path: str) -> Any:
    """The API's JSON at ``path``, or None (not there yet, or the API is starting)."""
    url = f"http://127.0.0.1:{env['PRICEWATCH_API_PORT']}{path}"
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return json.load(response)
    except OSError:
        return None


def chart_price(env: dict[str, str], asin: str) -> float | None:
    """The last price of the US chart the API serves for ``asin``, if any."""
    body = get_json(env, f"/products/{asin}/price")
    return body["history"][-1]["price"] if body and body["history"] else None


def publish_price(client: redis.Redis, asin: str, price: int) -> None:
    """Put the crawler's sighting of ``asin`` at ``price`` cents, now, on the stream
    ``up``'s ingest reads."""
    seen = observation(int(time.time() * 1000), price, asin=asin)
    PartitionedStream(DEFAULT_KEYS, OBSERVATIONS, PARTITIONS).publish(
        client, [("us", asin, encode(seen))]
    )


def stop(proc: subprocess.Popen[str]) -> str:
    """Stop ``up`` as a service manager does (SIGTERM); its output."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    output, _ = proc.communicate(timeout=STARTUP_S)
    return output

"""``pricewatch up`` as a user runs it, when something it depends on fails:
subprocesses on a temp data dir, real Redis, chDB and SQLite."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
import redis

from pricewatch.keys import ALERTS_GROUP, DEFAULT_KEYS, OBSERVATIONS, PRICE_CHANGES, partition_of
from pricewatch.models import Observation, encode
from pricewatch.storage.local_redis import server_binary
from pricewatch.storage.streams import PartitionedStream
from tests.services import free_port

pytestmark = pytest.mark.slow

# generous: two cores shared with other work; no assertion is about time
STARTUP_S = 120
SETTLE_S = 60


@pytest.fixture
def env(tmp_path):
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PRICEWATCH_")}
    clean["PRICEWATCH_DATA_DIR"] = str(tmp_path / "data")
    clean["PRICEWATCH_API_PORT"] = str(free_port())
    return clean


def start_up(env, **popen):
    return subprocess.Popen(
        # no crawler: tests never reach Amazon
        [sys.executable, "-m", "pricewatch.cli", "up", "--crawlers", "0"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        **popen,
    )


def wait_until(check, timeout, what, proc=None):
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if proc is not None and proc.poll() is not None:
            raise AssertionError(
                f"pricewatch up ended while waiting for {what}:\n{proc.stdout.read()}"
            )
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.2)


def healthz(env):
    """(status code, body) of /healthz, or None while the API is not listening."""
    url = f"http://127.0.0.1:{env['PRICEWATCH_API_PORT']}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)
    except OSError:
        return None


def healthy(env):
    answer = healthz(env)
    return answer is not None and answer[0] == 200 and answer[1]["checks"].get("ingest") == "ok"


def get_json(env, path):
    url = f"http://127.0.0.1:{env['PRICEWATCH_API_PORT']}{path}"
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return json.load(response)
    except OSError:  # 404 until ingest stored it, or the API is starting
        return None


def ready(proc, env, tmp_path):
    """Wait for `up` to serve a healthy API; its Redis client."""
    url_file = tmp_path / "data" / "redis" / "url"
    wait_until(url_file.exists, STARTUP_S, "Redis started", proc)
    wait_until(lambda: healthy(env), STARTUP_S, "a healthy API", proc)
    return redis.Redis.from_url(url_file.read_text().strip())


def publish(client, asin, price):
    observation = Observation(
        market="us",
        asin=asin,
        observed_at=int(time.time() * 1000),
        availability="in_stock",
        source="crawler",
        price=price,
        currency="USD",
    )
    PartitionedStream(DEFAULT_KEYS, OBSERVATIONS, 4).publish(
        client, [("us", asin, encode(observation))]
    )


def chart_price(env, asin):
    body = get_json(env, f"/products/{asin}/price")
    return body["history"][-1]["price"] if body and body["history"] else None


def redis_pid(client):
    try:
        return client.info("server")["process_id"]
    except redis.ConnectionError:
        return None


def kill_redis(client):
    pid = redis_pid(client)
    os.kill(pid, signal.SIGKILL)
    return pid


def stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    output, _ = proc.communicate(timeout=STARTUP_S)
    return output


def ensure_stopped(proc):
    """After a failed test: nothing left running."""
    if proc.poll() is None:
        proc.kill()
        proc.communicate(timeout=STARTUP_S)


def test_up_starts_a_killed_redis_again_and_every_role_recovers(env, tmp_path):
    # the scheduler re-scores every second: its use of Redis shows soon after the restart
    env["PRICEWATCH_SCHEDULER_RESCORE_S"] = "1"
    proc = start_up(env)
    try:
        client = ready(proc, env, tmp_path)
        publish(client, "B07CLN88MV", 1234)
        wait_until(lambda: chart_price(env, "B07CLN88MV") == 12.34, SETTLE_S, "the first price")
        port = client.connection_pool.connection_kwargs["port"]

        old_pid = kill_redis(client)
        # the same port answers again, from a new server holding the same data
        wait_until(
            lambda: redis_pid(client) not in (None, old_pid), SETTLE_S, "Redis started again", proc
        )
        assert (tmp_path / "data" / "redis" / "url").read_text().endswith(f":{port}/0")
        assert PartitionedStream(DEFAULT_KEYS, PRICE_CHANGES, 4).length(client) == 1

        wait_until(lambda: healthy(env), SETTLE_S, "a healthy API after the restart", proc)
        # the API subscribed again to the invalidations its near cache depends on
        channel = DEFAULT_KEYS.history_invalidations
        wait_until(
            lambda: dict(client.pubsub_numsub(channel)).get(channel.encode(), 0) >= 1,
            SETTLE_S,
            "the API's invalidation feed back",
            proc,
        )
        # ingest, ClickHouse and the API: a new price and a new product come through
        publish(client, "B07CLN88MV", 999)
        publish(client, "B000000001", 500)
        wait_until(lambda: chart_price(env, "B07CLN88MV") == 9.99, SETTLE_S, "the new price")
        wait_until(
            lambda: get_json(env, "/products/B000000001?market=us"),
            SETTLE_S,
            "the new product served",
        )
        # alerts consumed the price change ingest published after the restart
        changes = DEFAULT_KEYS.price_changes(partition_of("us", "B07CLN88MV", 4))

        def alerts_caught_up():
            last = client.xinfo_stream(changes)["last-generated-id"]
            groups = {g["name"]: g for g in client.xinfo_groups(changes)}
            group = groups.get(ALERTS_GROUP.encode())
            return group is not None and group["last-delivered-id"] == last

        wait_until(alerts_caught_up, SETTLE_S, "alerts reading the change stream again", proc)
        # the scheduler writes its state again once it is gone
        client.delete(DEFAULT_KEYS.scheduler_state)
        wait_until(
            lambda: client.exists(DEFAULT_KEYS.scheduler_state),
            SETTLE_S,
            "the scheduler writing to Redis again",
            proc,
        )
    finally:
        output = stop(proc)
    assert proc.returncode == 0, output
    assert "killed by SIGKILL; starting it again" in output
    assert "Traceback" not in output, output


def test_up_stops_loudly_when_its_redis_cannot_be_started_again(env, tmp_path):
    # `up` runs the Redis binary it finds first on PATH: ours, so that we can take it away
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "redis-server").symlink_to(server_binary())
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    proc = start_up(env)
    try:
        client = ready(proc, env, tmp_path)
        port = client.connection_pool.connection_kwargs["port"]
        (bin_dir / "redis-server").unlink()
        kill_redis(client)
        output, _ = proc.communicate(timeout=STARTUP_S)
    finally:
        ensure_stopped(proc)
    assert proc.returncode not in (0, None), output
    assert (
        f"pricewatch up: redis: the server at redis://127.0.0.1:{port}/0 killed by SIGKILL "
        "and could not be started again" in output
    ), output
    assert "No such file or directory" in output
    # stopped everything on the way out: no URL left for other commands to find
    assert not (tmp_path / "data" / "redis" / "url").exists()


def test_up_with_the_api_port_taken_exits_at_once_naming_the_address(env, tmp_path):
    port = int(env["PRICEWATCH_API_PORT"])
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        for command in ("up", "api"):
            result = subprocess.run(
                [sys.executable, "-m", "pricewatch.cli", command],
                env=env,
                capture_output=True,
                text=True,
                timeout=STARTUP_S,
            )
            assert result.returncode != 0, result
            assert (
                f"pricewatch {command}: api: cannot listen on 127.0.0.1:{port}: "
                "address already in use" in result.stderr
            ), result.stderr
    # nothing was started before the check
    assert not (tmp_path / "data" / "redis" / "url").exists()


def test_up_stops_on_ctrl_c_and_a_second_one_without_a_traceback(env, tmp_path):
    # a session of its own: Ctrl-C at a terminal signals the whole foreground group
    proc = start_up(env, start_new_session=True)
    try:
        ready(proc, env, tmp_path)
        os.killpg(proc.pid, signal.SIGINT)
        time.sleep(0.5)  # a person's second press, not one signal delivered twice
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
        output, _ = proc.communicate(timeout=STARTUP_S)
    finally:
        ensure_stopped(proc)
    assert proc.returncode == 0, output
    assert "SIGINT: stopping" in output
    assert "Traceback" not in output, output
    assert not (tmp_path / "data" / "redis" / "url").exists()

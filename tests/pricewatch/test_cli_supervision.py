"""``pricewatch up`` as a user runs it, when something it depends on fails:
subprocesses on a temp data dir, real Redis, chDB and SQLite."""

import os
import signal
import socket
import subprocess
import sys
import time

import pytest
import redis

from pricewatch.keys import ALERTS_GROUP, DEFAULT_KEYS, PRICE_CHANGES, partition_of
from pricewatch.storage.local_redis import server_binary
from pricewatch.storage.streams import PartitionedStream
from tests import up

pytestmark = pytest.mark.slow


def redis_pid(client):
    try:
        return client.info("server")["process_id"]
    except redis.ConnectionError:
        return None


def kill_redis(client):
    pid = redis_pid(client)
    os.kill(pid, signal.SIGKILL)
    return pid


def ensure_stopped(proc):
    """After a failed test: nothing left running."""
    if proc.poll() is None:
        proc.kill()
        proc.communicate(timeout=up.STARTUP_S)


def test_up_starts_a_killed_redis_again_and_every_role_recovers(env):
    # the scheduler re-scores every second: its use of Redis shows soon after the restart
    env["PRICEWATCH_SCHEDULER_RESCORE_S"] = "1"
    proc = up.start(env)
    try:
        client = up.ready(proc, env)
        up.publish_price(client, "B07CLN88MV", 1234)
        up.wait_until(
            lambda: up.chart_price(env, "B07CLN88MV") == 12.34, up.SETTLE_S, "the first price"
        )
        port = client.connection_pool.connection_kwargs["port"]
        # With appendfsync everysec, Redis holds writes back while an fsync is slow (up
        # to 2 s, as it documents), and a SIGKILL then loses them: the test kills it
        # once what it checks afterwards is in the file (the OS keeps it from there).
        up.wait_until(
            lambda: client.info("persistence")["aof_buffer_length"] == 0,
            up.SETTLE_S,
            "the append-only file written",
            proc,
        )

        old_pid = kill_redis(client)
        # the same port answers again, from a new server holding the same data
        up.wait_until(
            lambda: redis_pid(client) not in (None, old_pid),
            up.SETTLE_S,
            "Redis started again",
            proc,
        )
        assert up.redis_url_file(env).read_text().endswith(f":{port}/0")
        assert PartitionedStream(DEFAULT_KEYS, PRICE_CHANGES, up.PARTITIONS).length(client) == 1

        up.wait_until(lambda: up.healthy(env), up.SETTLE_S, "a healthy API after the restart", proc)
        # the API subscribed again to the invalidations its near cache depends on
        channel = DEFAULT_KEYS.history_invalidations
        up.wait_until(
            lambda: dict(client.pubsub_numsub(channel)).get(channel.encode(), 0) >= 1,
            up.SETTLE_S,
            "the API's invalidation feed back",
            proc,
        )
        # ingest, ClickHouse and the API: a new price and a new product come through
        up.publish_price(client, "B07CLN88MV", 999)
        up.publish_price(client, "B000000001", 500)
        up.wait_until(
            lambda: up.chart_price(env, "B07CLN88MV") == 9.99, up.SETTLE_S, "the new price"
        )
        up.wait_until(
            lambda: up.get_json(env, "/products/B000000001?market=us"),
            up.SETTLE_S,
            "the new product served",
        )
        # alerts consumed the price change ingest published after the restart
        changes = DEFAULT_KEYS.price_changes(partition_of("us", "B07CLN88MV", up.PARTITIONS))

        def alerts_caught_up():
            last = client.xinfo_stream(changes)["last-generated-id"]
            groups = {g["name"]: g for g in client.xinfo_groups(changes)}
            group = groups.get(ALERTS_GROUP.encode())
            return group is not None and group["last-delivered-id"] == last

        up.wait_until(alerts_caught_up, up.SETTLE_S, "alerts reading the change stream again", proc)
        # the scheduler writes its state again once it is gone
        client.delete(DEFAULT_KEYS.scheduler_state)
        up.wait_until(
            lambda: client.exists(DEFAULT_KEYS.scheduler_state),
            up.SETTLE_S,
            "the scheduler writing to Redis again",
            proc,
        )
    finally:
        output = up.stop(proc)
    assert proc.returncode == 0, output
    assert "killed by SIGKILL; starting it again" in output
    assert "Traceback" not in output, output


def test_up_stops_loudly_when_its_redis_cannot_be_started_again(env, tmp_path):
    # `up` runs the Redis binary it finds first on PATH: ours, so that we can take it away
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "redis-server").symlink_to(server_binary())
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    proc = up.start(env)
    try:
        client = up.ready(proc, env)
        port = client.connection_pool.connection_kwargs["port"]
        (bin_dir / "redis-server").unlink()
        kill_redis(client)
        output, _ = proc.communicate(timeout=up.STARTUP_S)
    finally:
        ensure_stopped(proc)
    assert proc.returncode not in (0, None), output
    assert (
        f"pricewatch up: redis: the server at redis://127.0.0.1:{port}/0 killed by SIGKILL "
        "and could not be started again" in output
    ), output
    assert "No such file or directory" in output
    # stopped everything on the way out: no URL left for other commands to find
    assert not up.redis_url_file(env).exists()


def test_up_with_the_api_port_taken_exits_at_once_naming_the_address(env):
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
                timeout=up.STARTUP_S,
            )
            assert result.returncode != 0, result
            assert (
                f"pricewatch {command}: api: cannot listen on 127.0.0.1:{port}: "
                "address already in use" in result.stderr
            ), result.stderr
    # nothing was started before the check
    assert not up.redis_url_file(env).exists()


def test_up_stops_on_ctrl_c_and_a_second_one_without_a_traceback(env):
    # a session of its own: Ctrl-C at a terminal signals the whole foreground group
    proc = up.start(env, start_new_session=True)
    try:
        up.ready(proc, env)
        os.killpg(proc.pid, signal.SIGINT)
        time.sleep(0.5)  # a person's second press, not one signal delivered twice
        # and more, until it is gone: one of them lands as it finishes its exit
        deadline = time.monotonic() + up.STARTUP_S
        while proc.poll() is None and time.monotonic() < deadline:
            os.killpg(proc.pid, signal.SIGINT)
            time.sleep(0.02)
        output, _ = proc.communicate(timeout=up.STARTUP_S)
    finally:
        ensure_stopped(proc)
    assert proc.returncode == 0, output
    assert "SIGINT: stopping" in output
    assert "Traceback" not in output, output
    assert not up.redis_url_file(env).exists()

"""Metrics and JSON logs of the ``pricewatch`` command as a user runs it: one role in a
process of its own on its own port, and ``pricewatch up`` with every role on the API's
/metrics."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis as redis_lib

from pricewatch.keys import OBSERVATIONS, Keys
from pricewatch.metrics import ROLE_PORT_OFFSETS
from pricewatch.models import encode
from pricewatch.storage.streams import PartitionedStream
from tests import up
from tests.observations import observation
from tests.scrape import Samples, get, scrape, total, value, wait_for
from tests.services import free_port

pytestmark = pytest.mark.slow


def listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def accepted(samples: Samples) -> float:
    return value(samples, "pricewatch_ingest_observations_total", outcome="accepted")


def publish(client: redis_lib.Redis, keys: Keys, partitions: int, asin: str) -> None:
    seen = observation(int(time.time() * 1000), 1234, asin=asin)
    PartitionedStream(keys, OBSERVATIONS, partitions).publish(client, [("us", asin, encode(seen))])


@pytest.mark.redis
@pytest.mark.clickhouse
def test_ingest_serves_its_metrics_and_health_on_its_port(
    redis_url: str, redis_client: redis_lib.Redis, keys: Keys, tmp_path: Path
) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRICEWATCH_")}
    env.update(
        PRICEWATCH_DATA_DIR=str(tmp_path),
        PRICEWATCH_REDIS_URL=redis_url,
        PRICEWATCH_KEY_PREFIX=keys.prefix,
        PRICEWATCH_STREAM_PARTITIONS="2",
        PRICEWATCH_METRICS_PORT_BASE=str(port - ROLE_PORT_OFFSETS["ingest"]),
        PRICEWATCH_LOG_FORMAT="json",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "pricewatch.cli", "ingest"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        up.wait_until(lambda: listening(port), up.STARTUP_S, "the metrics port", proc)
        # the ingest group exists once the worker runs: its lag is then on /metrics
        before = wait_for(
            base,
            lambda s: (
                total(s, "pricewatch_stream_pending", group="ingest") == 0
                and bool([k for k in s if k[0] == "pricewatch_stream_lag_seconds"])
            ),
            timeout=up.STARTUP_S,
        )
        assert value(before, "pricewatch_streams_collector_up") == 1
        assert get(base + "/healthz") == (200, '{"status": "ok"}')
        publish(redis_client, keys, 2, "B0CLIMETR1")
        wait_for(base, lambda s: accepted(s) == accepted(before) + 1, timeout=up.SETTLE_S)
    finally:
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=up.STARTUP_S)
    assert proc.returncode == 0, output
    entries = [json.loads(line) for line in output.splitlines()]
    assert any(f"metrics on http://127.0.0.1:{port}/metrics" in e["message"] for e in entries)
    assert not listening(port)


def test_up_shows_every_role_on_the_api_metrics_and_logs_json(tmp_path: Path) -> None:
    port_base = free_port()
    env = up.environment(tmp_path / "data", LOG_FORMAT="json", METRICS_PORT_BASE=str(port_base))
    proc = up.start(env)
    api = f"http://127.0.0.1:{env['PRICEWATCH_API_PORT']}"
    try:
        client = up.ready(proc, env)
        before = scrape(api)
        up.publish_price(client, "B0UPMETRIC", 4321)
        after = wait_for(api, lambda s: accepted(s) == accepted(before) + 1, timeout=up.SETTLE_S)
        # one registry: the API's own metrics beside those of ingest, the scheduler's
        # frontier and the streams alerts and ingest consume
        assert any(name.startswith("pricewatch_api_") for name, _ in after)
        assert value(after, "pricewatch_frontier_collector_up") == 1
        assert value(after, "pricewatch_streams_collector_up") == 1
        assert "pricewatch_frontier_queued" in {name for name, _ in after}
        lag = {name for name, labels in after if name == "pricewatch_stream_lag_seconds"}
        assert lag
        groups = {
            dict(labels).get("group")
            for name, labels in after
            if name == "pricewatch_stream_pending"
        }
        assert {"ingest", "alerts"} <= groups
        # and no second endpoint: the API's serves them all
        assert not listening(port_base)
    finally:
        output = up.stop(proc)
    assert proc.returncode == 0, output
    logged = [line for line in output.splitlines() if line.startswith("{")]
    assert logged, output
    for line in logged:
        entry = json.loads(line)
        assert {"time", "level", "logger", "message"} <= set(entry), line
    # what is not a log line is the command's own word to its user
    said = [line for line in output.splitlines() if not line.startswith("{")]
    assert all(line.startswith("Pricewatch is up") for line in said), "\n".join(said)

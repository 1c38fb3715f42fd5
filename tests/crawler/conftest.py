"""Crawler workers as real processes (`scrapy crawl product`), for integration tests."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
import redis as redis_lib

from pricewatch.keys import OBSERVATIONS, Keys
from pricewatch.models import Observation, Series
from pricewatch.storage.streams import FIELD, PartitionedStream
from tests.streams import observations_in

REPO = Path(__file__).resolve().parents[2]
# a warning as Python prints it, or as Scrapy logs it (py.warnings): "<file>.py:<line>: XWarning: "
WARNING_LINE = re.compile(r"\S+\.py:\d+: \w*Warning: ")


class Worker:
    def __init__(self, proc: subprocess.Popen[bytes], log: Path) -> None:
        self.proc = proc
        self.log = log

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL: no shutdown handler runs, leased tasks stay leased."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)


class Workers:
    """Starts `scrapy crawl product` processes with a PRICEWATCH_* environment of the
    test's own (nothing inherited from the caller's PRICEWATCH_* variables)."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.started: list[Worker] = []

    def start(self, env: Mapping[str, str]) -> Worker:
        clean = {k: v for k, v in os.environ.items() if not k.startswith("PRICEWATCH_")}
        clean.update(PRICEWATCH_DATA_DIR=str(self.tmp_path / "data"), **env)
        log = self.tmp_path / f"worker-{len(self.started)}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "scrapy", "crawl", "product"],
                cwd=REPO,
                env=clean,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        worker = Worker(proc, log)
        self.started.append(worker)
        return worker

    def wait(self, timeout: float) -> None:
        for worker in self.started:
            if worker.proc.poll() is None:
                worker.proc.wait(timeout)

    def stop(self) -> None:
        for worker in self.started:
            if worker.proc.poll() is None:
                worker.proc.terminate()
        for worker in self.started:
            try:
                worker.proc.wait(15)
            except subprocess.TimeoutExpired:
                worker.kill()


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Workers]:
    pool = Workers(tmp_path)
    yield pool
    pool.stop()


def read_observations(
    client: redis_lib.Redis, keys: Keys, partitions: int, series: Series | None = Series.BUYBOX
) -> list[Observation]:
    """Every observation on the stream of one series (all with ``None``), decoded
    (and so validated). A crawled page is one entry: an array, a series each."""
    stream = PartitionedStream(keys, OBSERVATIONS, partitions)
    found = []
    for key in stream.stream_keys():
        for _id, fields in client.xrange(key):
            found.extend(observations_in(fields[FIELD]))
    return [obs for obs in found if series is None or obs.series is series]

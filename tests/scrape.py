"""Reading a Prometheus endpoint the way Prometheus does: over HTTP, in its text format."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping

from prometheus_client.parser import text_string_to_metric_families

# (sample name, sorted label pairs) -> value
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def get(url: str, timeout: float = 10.0) -> tuple[int, str]:
    """Status and body of a GET (an error status too)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def scrape(base_url: str) -> Samples:
    status, body = get(base_url.rstrip("/") + "/metrics")
    assert status == 200, body
    found: Samples = {}
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(samples: Samples, name: str, **labels: str) -> float:
    """One sample's value; 0 when absent (a labelled series not used yet)."""
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def total(samples: Samples, name: str, **labels: str) -> float:
    """Sum of the samples of ``name`` whose labels include ``labels``."""
    return sum(
        v
        for (n, pairs), v in samples.items()
        if n == name and all((k, w) in pairs for k, w in labels.items())
    )


def labels_of(samples: Samples, name: str) -> list[Mapping[str, str]]:
    return [dict(pairs) for (n, pairs) in samples if n == name]


def wait_for(base_url: str, check: Callable[[Samples], bool], timeout: float = 60.0) -> Samples:
    """Scrape until ``check`` holds (generous: the machine is shared)."""
    deadline = time.monotonic() + timeout
    while True:
        samples = scrape(base_url)
        if check(samples):
            return samples
        assert time.monotonic() < deadline, "metrics did not move in time"
        time.sleep(0.1)

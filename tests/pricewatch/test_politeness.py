import itertools
import multiprocessing
import time

import pytest

from pricewatch.keys import Keys
from pricewatch.politeness import Politeness
from pricewatch.storage.redis import connect

pytestmark = pytest.mark.redis


def test_first_free_ip_is_granted_then_others(redis_client, keys):
    p = Politeness(redis_client, keys, interval_s=0.5, margin_s=0)
    assert p.try_acquire(["a", "b"]).ip == "a"
    assert p.try_acquire(["a", "b"]).ip == "b"
    grant = p.try_acquire(["a", "b"])
    assert grant.ip is None and 0.3 < grant.wait_s <= 0.5


def _hammer(url, prefix, ips, n, out):
    client = connect(url)
    p = Politeness(client, Keys(prefix=prefix), interval_s=0.2, margin_s=0.01)
    for _ in range(n):
        ip = p.acquire(ips)
        out.put((ip, time.time()))


def test_spacing_holds_across_processes(redis_url, redis_client, keys):
    ips = ["10.0.0.1", "10.0.0.2"]
    q = multiprocessing.get_context("spawn").Queue()
    procs = [
        multiprocessing.get_context("spawn").Process(
            target=_hammer, args=(redis_url, keys.prefix, ips, 5, q)
        )
        for _ in range(3)
    ]
    for proc in procs:
        proc.start()
    grants = [q.get(timeout=30) for _ in range(15)]
    for proc in procs:
        proc.join(10)
    for ip in ips:
        times = sorted(t for g_ip, t in grants if g_ip == ip)
        gaps = [b - a for a, b in itertools.pairwise(times)]
        assert gaps and min(gaps) >= 0.2 - 0.005, (ip, gaps)
    # both IPs were used: work spreads instead of queuing behind one
    assert {g for g, _ in grants} == set(ips)

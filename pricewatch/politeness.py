"""Fleet-wide politeness: at most one request per interval per outgoing IP.

Every crawler process on every machine asks Redis before sending through an
IP (a proxy, or this machine's own address when there are none). The grant is
"send now", never "send at t": a reservation for later could be honoured late
and bunch up with the next one, while a grant to send immediately keeps the
gap between two sends at least ``interval`` minus network jitter. ``margin``
covers that jitter, so the remote side never sees a shorter gap than the
configured rate. Time is Redis server time, so machine clocks need not agree.
"""

from __future__ import annotations

import dataclasses
import random
import time
from collections.abc import Sequence

import redis

from pricewatch.keys import Keys

# KEYS: next-slot key per candidate IP. ARGV: interval_us.
# Grants the first candidate whose slot is free (setting its next slot) and
# returns its index (1-based); otherwise returns -wait_us for the soonest one.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local best_wait = nil
for i, key in ipairs(KEYS) do
  local nxt = tonumber(redis.call('GET', key) or '0')
  if nxt <= now then
    redis.call('SET', key, now + interval, 'PX', math.ceil(interval / 1000) + 1000)
    return i
  end
  local wait = nxt - now
  if best_wait == nil or wait < best_wait then best_wait = wait end
end
return -best_wait
"""


def fleet_rate(proxies: int, proxy_interval_s: float, direct_interval_s: float) -> float:
    """Requests per second the whole fleet may send: one per interval per proxy IP,
    or, without proxies, the one home IP at its gentler pace."""
    if proxies < 0 or proxy_interval_s <= 0 or direct_interval_s <= 0:
        raise ValueError("proxies must be >= 0 and intervals positive")
    return proxies / proxy_interval_s if proxies else 1.0 / direct_interval_s


@dataclasses.dataclass
class Grant:
    ip: str | None
    wait_s: float


@dataclasses.dataclass(eq=False)
class Politeness:
    client: redis.Redis
    keys: Keys
    interval_s: float = 1.0
    margin_s: float = 0.05
    # jitter makes a single home IP look less robotic; spacing stays >= interval
    jitter_s: float = 0.0

    def __post_init__(self) -> None:
        self._script = self.client.register_script(_ACQUIRE)

    def try_acquire(self, ips: Sequence[str]) -> Grant:
        """Grant the first IP free to send now, else say how long until one is."""
        if not ips:
            raise ValueError("no IP to send from")
        gap = self.interval_s + self.margin_s + random.uniform(0, self.jitter_s)
        result = int(
            self._script(
                keys=[self.keys.proxy_next_slot(ip) for ip in ips], args=[int(gap * 1_000_000)]
            )
        )
        if result > 0:
            return Grant(ips[result - 1], 0.0)
        return Grant(None, -result / 1_000_000)

    def acquire(self, ips: Sequence[str], timeout_s: float = 60.0) -> str:
        """Block until one of ``ips`` may send; returns it."""
        deadline = time.monotonic() + timeout_s
        while True:
            grant = self.try_acquire(ips)
            if grant.ip is not None:
                return grant.ip
            if time.monotonic() + grant.wait_s > deadline:
                raise TimeoutError(f"no IP free within {timeout_s}s")
            time.sleep(grant.wait_s)

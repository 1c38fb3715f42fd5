"""Per-IP send slots held until the response is back, fleet-wide in Redis.

:class:`pricewatch.politeness.Politeness` grants "send now" and spaces grants
by the interval. Measured at the site, that is not enough: a worker process
that stalls between the grant and the moment its bytes leave (a loaded CPU,
a garbage collection, a slow proxy) delivers its request late, and the next
grant, on time, lands less than an interval after it (0.73 s gaps for 1 s
grants on a busy 2-core machine). The site only ever sees arrivals, and the
one thing a crawler knows about an arrival is that it happened before the
response came back.

So an IP is *held* from the grant until the response (or the failure) is
back, and the next grant comes one interval after that. Whatever the delays,
two requests through one IP then arrive at least an interval apart. The cost
is one round trip per request on top of the interval; lower the interval to
compensate. A hold whose worker died expires after ``hold_s``, which must
exceed the download timeout.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Sequence

import redis

from pricewatch.keys import Keys
from pricewatch.politeness import Politeness

# KEYS: the IP's slot key. ARGV: the holder's token (the value it set), gap in us.
# Only the holder ends a hold: after an expiry another worker may hold the IP.
_RELEASE = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
local t = redis.call('TIME')
local gap = tonumber(ARGV[2])
local nxt = tonumber(t[1]) * 1000000 + tonumber(t[2]) + gap
redis.call('SET', KEYS[1], string.format('%.0f', nxt), 'PX', math.ceil(gap / 1000) + 1000)
return 1
"""

# KEYS: the IP's slot key. ARGV: seconds in us. Pushes the next slot out to at least
# now + seconds (a ban), keeping a later one.
_BLOCK = """
local t = redis.call('TIME')
local span = tonumber(ARGV[1])
local until_ = tonumber(t[1]) * 1000000 + tonumber(t[2]) + span
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
if cur >= until_ then return 0 end
redis.call('SET', KEYS[1], string.format('%.0f', until_), 'PX', math.ceil(span / 1000) + 1000)
return 1
"""


@dataclasses.dataclass(frozen=True)
class Hold:
    ip: str
    # the slot key's value while held: proof of ownership when releasing
    token: bytes


@dataclasses.dataclass(frozen=True)
class Attempt:
    hold: Hold | None
    # when nothing is free: seconds until the soonest IP might be
    wait_s: float


@dataclasses.dataclass(eq=False)
class IpSlots:
    client: redis.Redis
    keys: Keys
    interval_s: float
    margin_s: float = 0.05
    jitter_s: float = 0.0
    hold_s: float = 60.0

    def __post_init__(self) -> None:
        if self.interval_s <= 0 or self.hold_s <= self.interval_s:
            raise ValueError(f"need 0 < interval_s < hold_s, got {self.interval_s}, {self.hold_s}")
        # a grant of Politeness sets the IP's next slot one "interval" ahead: here,
        # the hold, ended early by release()
        self._grants = Politeness(self.client, self.keys, interval_s=self.hold_s, margin_s=0.0)
        self._release = self.client.register_script(_RELEASE)
        self._block = self.client.register_script(_BLOCK)

    def try_acquire(self, ips: Sequence[str]) -> Attempt:
        """Hold the first of ``ips`` that is free now, else say how long to wait."""
        grant = self._grants.try_acquire(ips)
        if grant.ip is None:
            return Attempt(None, grant.wait_s)
        # nobody else can change the key while it is held, so this reads our own value
        token = self.client.get(self.keys.proxy_next_slot(grant.ip))
        if isinstance(token, str):  # a client made with decode_responses
            token = token.encode()
        return Attempt(Hold(grant.ip, token or b""), 0.0)

    def release(self, hold: Hold) -> bool:
        """The response is back: the IP is free again one interval from now."""
        gap = self.interval_s + self.margin_s + random.uniform(0, self.jitter_s)
        key = self.keys.proxy_next_slot(hold.ip)
        return bool(self._release(keys=[key], args=[hold.token, int(gap * 1_000_000)]))

    def block(self, ip: str, seconds: float) -> bool:
        """No request through ``ip`` for ``seconds``, fleet-wide (a ban's back-off): one
        worker meeting a robot check spares the others theirs."""
        if seconds <= 0:
            return False
        key = self.keys.proxy_next_slot(ip)
        return bool(self._block(keys=[key], args=[int(seconds * 1_000_000)]))

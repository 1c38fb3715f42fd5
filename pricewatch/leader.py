"""One leader among several processes: a Redis lease with a fencing token.

The lease is a key with a TTL naming its holder (``SET NX PX``); the holder renews it
well before it expires (compare-and-extend, so a holder that lost it cannot extend
someone else's) and deletes it on the way out (compare-and-delete). Every acquisition
increments a fencing counter, and the lease value carries that token.

A lease alone does not stop a leader that paused (a long GC, a stopped VM, a
partition) and wakes up believing it still leads: its writes would race the new
leader's. So the writes that matter carry the token, and a Lua check refuses them
once a newer token exists (:data:`FENCE_CHECK`, raising :class:`FencedOut`). The
counter shares the hash tag of the keys it guards, so the check and the write are one
script in one Redis Cluster slot.

:class:`Term` is the pure part (how long a process may act on what it last heard);
:class:`Lease` is the Redis adapter; :class:`Elector` is the small loop's one step.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from typing import Any

import redis

from pricewatch.keys import Keys

log = logging.getLogger(__name__)

# Lease TTL: a dead leader is replaced within about TTL + one poll of the standby.
DEFAULT_TTL_S = 12.0
# The leader stops acting on a term this long before the lease would expire in Redis:
# room for the renewal's round trip and for clocks that run at slightly different rates.
SAFETY_S_SHARE = 0.2

# The check every fenced script starts with. The script must define FENCE_KEY (the
# counter) and FENCE_TOKEN (ARGV, '' for an unfenced write).
_REFUSAL = "FENCED: stale token "
FENCE_CHECK = """
local fence_token = tonumber(FENCE_TOKEN)
if fence_token then
  local newest = tonumber(redis.call('GET', FENCE_KEY) or '0')
  if fence_token < newest then
    return redis.error_reply('FENCED: stale token ' .. fence_token .. ' < ' .. newest)
  end
end
"""

# KEYS[1]: a copy of the fencing counter in another slot (a frontier partition's
# fence). ARGV[1]: a token. Raises the copy to the token, or refuses an older token.
RAISE_FENCE = (
    "local FENCE_KEY, FENCE_TOKEN = KEYS[1], ARGV[1]\n"
    + FENCE_CHECK
    + "redis.call('SET', FENCE_KEY, FENCE_TOKEN)\nreturn 1\n"
)


class NotLeader(Exception):
    """This process does not hold the lease (any more): it must not write."""


class FencedOut(NotLeader):
    """A write carried a fencing token older than the newest one: refused."""


def fenced_call(call: Callable[[], Any]) -> Any:
    """Run a fenced script call; its refusal becomes :class:`FencedOut`."""
    try:
        return call()
    except redis.ResponseError as exc:
        raise fenced_error(exc) from None


def fenced_error(exc: redis.ResponseError) -> Exception:
    """:class:`FencedOut` for a fenced script's refusal, else ``exc`` itself (a
    pipeline puts the failing command's number in front of the script's words)."""
    text = str(exc)
    return FencedOut(text[text.find(_REFUSAL) :]) if _REFUSAL in text else exc


def token_arg(token: int | None) -> str:
    """A fencing token as a script argument ('' for an unfenced write)."""
    return "" if token is None else str(int(token))


@dataclasses.dataclass(frozen=True)
class Term:
    """A token and the time (this process's monotonic clock) until which its holder
    may act: the start of the acquisition or renewal that granted it, plus the TTL
    less a safety margin. Measured from the start, so a slow reply only shortens it."""

    token: int
    until: float

    @classmethod
    def granted(cls, token: int, asked_at: float, ttl_s: float) -> Term:
        return cls(token, asked_at + ttl_s * (1 - SAFETY_S_SHARE))

    def valid(self, now: float) -> bool:
        return now < self.until


def default_owner() -> str:
    """A name unique to this process (host, pid, and a random part: pids are reused)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


# KEYS: lease, fence. ARGV: owner, ttl_ms. Returns the new token, or nil if taken.
_ACQUIRE = """
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return false end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. '\\t' .. token, 'PX', ARGV[2])
return token
"""

# KEYS: lease. ARGV: value, ttl_ms. 1 if still ours (and extended).
_RENEW = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"""

# KEYS: lease. ARGV: value. 1 if it was ours (and is gone).
_RELEASE = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
return 1
"""


class Lease:
    """The scheduler's lease in Redis, held under the name ``owner``."""

    def __init__(
        self, redis_client: redis.Redis, keys: Keys, owner: str, ttl_s: float, *, partitions: int
    ) -> None:
        if ttl_s <= 0:
            raise ValueError(f"ttl_s must be positive, got {ttl_s}")
        if not owner or "\t" in owner:
            raise ValueError(f"owner must be non-empty and tab-free, got {owner!r}")
        self.redis = redis_client
        self.keys = keys
        self.owner = owner
        self.ttl_s = ttl_s
        self._ttl_ms = max(1, int(ttl_s * 1000))
        self._acquire: Any = redis_client.register_script(_ACQUIRE)
        self._renew: Any = redis_client.register_script(_RENEW)
        self._release: Any = redis_client.register_script(_RELEASE)
        self._raise_fence: Any = redis_client.register_script(RAISE_FENCE)
        # the frontier partitions' copies of the counter (see acquire)
        self._fences = [keys.frontier_fence(n) for n in range(partitions)]

    def _value(self, token: int) -> str:
        return f"{self.owner}\t{token}"

    def acquire(self) -> int | None:
        """The lease with a new fencing token, or None while someone holds it."""
        keys = [self.keys.scheduler_leader, self.keys.scheduler_fence]
        token = self._acquire(keys, [self.owner, self._ttl_ms])
        if token is None:
            return None
        # The frontier's partitions live in other slots than the counter, so each keeps
        # a copy that its pushes are checked against. Raised here, before the new
        # leader acts: from now on a deposed leader's pushes are refused everywhere.
        # (A copy newer than this token cannot exist: the counter only grows.)
        for fence in self._fences:
            fenced_call(functools.partial(self._raise_fence, [fence], [token]))
        return int(token)

    def renew(self, token: int) -> bool:
        """Extend the lease by the TTL if it is still ours under ``token``."""
        args = [self._value(token), self._ttl_ms]
        return bool(self._renew([self.keys.scheduler_leader], args))

    def release(self, token: int) -> bool:
        """Give the lease up at once (if still ours), so a standby need not wait."""
        return bool(self._release([self.keys.scheduler_leader], [self._value(token)]))

    def holder(self) -> str | None:
        """Who holds the lease now (its owner name), for logs."""
        value = self.redis.get(self.keys.scheduler_leader)
        if value is None:
            return None
        text = value.decode() if isinstance(value, bytes) else str(value)
        return text.partition("\t")[0]


class Elector:
    """Acquire or renew, one step at a time; the caller's loop waits :attr:`poll_s`
    between steps (a third of the TTL: two renewals may fail before the lease lapses,
    and a standby notices a vacancy within a third of the TTL).

    Redis being away is not a loss of leadership by itself: the leader acts on its
    term until the term runs out by its own clock, then stops writing."""

    def __init__(self, lease: Lease, clock: Callable[[], float] = time.monotonic) -> None:
        self.lease = lease
        self.clock = clock
        self.poll_s = lease.ttl_s / 3
        self.term: Term | None = None
        self._said_standby = False

    def step(self) -> bool:
        """One acquisition or renewal; True if this process leads afterwards."""
        asked_at = self.clock()
        term = self.term
        try:
            if term is None:
                token = self.lease.acquire()
                if token is not None:
                    self.term = Term.granted(token, asked_at, self.lease.ttl_s)
                    self._said_standby = False
                    log.info("%s leads the scheduler (token %d)", self.lease.owner, token)
                elif not self._said_standby:
                    self._said_standby = True
                    log.info("standing by: %s leads the scheduler", self.lease.holder())
            elif self.lease.renew(term.token):
                self.term = Term.granted(term.token, asked_at, self.lease.ttl_s)
            else:
                self.term = None
                log.warning("lost the scheduler lease (token %d)", term.token)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            log.warning("scheduler lease: Redis unavailable (%s)", exc)
        return self.leading()

    def leading(self) -> bool:
        term = self.term
        return term is not None and term.valid(self.clock())

    def token(self) -> int:
        """The token for a fenced write; :class:`NotLeader` unless leading now."""
        term = self.term
        if term is None or not term.valid(self.clock()):
            raise NotLeader("this scheduler does not hold the lease")
        return term.token

    def resign(self) -> None:
        """Release the lease (if held) so that a standby takes over at once."""
        term, self.term = self.term, None
        if term is None:
            return
        try:
            self.lease.release(term.token)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            log.warning("scheduler lease not released (it expires by itself): %s", exc)

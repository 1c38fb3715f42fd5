"""Per-host admission for requests we send on users' behalf: a concurrency cap
and a circuit breaker, decided without waiting.

A caller that finds a host full, or its breaker open, is told so at once
(:class:`HostBusy`, with a hint of when to come back) instead of queueing:
whoever holds a scarce slot (an alerts sender) must never spend it waiting
for a host that is slow or down. The state is plain data and time is passed
in, so the rules are tested without a clock or a network.

Breaker: ``failures`` failures in a row open it for ``cooldown_s``; after
that one trial request is let through (half-open). Its success closes the
breaker, its failure opens it for another cooldown.
"""

from __future__ import annotations

import dataclasses
import enum

# A full host frees a slot within one request's timeouts; this is when to look again.
FULL_RETRY_S = 2.0
# Above this many remembered hosts, healthy idle ones are forgotten.
MAX_REMEMBERED_HOSTS = 10_000


class EgressError(Exception):
    """A request did not get through this time (timeout, refused connection,
    reset, busy host); trying again later may succeed."""


class HostBusy(EgressError):
    """Not sent, not the target's fault: the host has its share of requests in
    flight, or its breaker is open. Try again after ``retry_after_s``."""

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class Outcome(enum.Enum):
    OK = "ok"  # the host answered
    FAILED = "failed"  # timeout, connection refused or reset, 5xx
    UNTRIED = "untried"  # nothing reached the host (refused by the policy)


@dataclasses.dataclass(slots=True)
class _Host:
    in_flight: int = 0
    failures: int = 0
    open_until: float = 0.0
    trial: bool = False


class HostGate:
    def __init__(self, *, concurrency: int, failures: int, cooldown_s: float) -> None:
        if concurrency < 1 or failures < 1 or cooldown_s < 0:
            raise ValueError(
                "host concurrency and breaker failures must be at least 1, the cooldown >= 0"
            )
        self.concurrency = concurrency
        self.failures = failures
        self.cooldown_s = cooldown_s
        self._hosts: dict[str, _Host] = {}

    def enter(self, host: str, now: float) -> None:
        """Take a slot for one request to ``host`` or raise :class:`HostBusy`."""
        state = self._hosts.get(host)
        if state is None:
            if len(self._hosts) >= MAX_REMEMBERED_HOSTS:
                self._forget_idle(now)
            state = self._hosts[host] = _Host()
        if state.failures >= self.failures:
            if now < state.open_until:
                raise HostBusy(
                    f"{host} failed {state.failures} times in a row; left alone for now",
                    state.open_until - now,
                )
            if state.trial:
                raise HostBusy(f"{host} is being tried again after failures", FULL_RETRY_S)
            state.trial = True
        elif state.in_flight >= self.concurrency:
            raise HostBusy(f"{host} already has {state.in_flight} requests in flight", FULL_RETRY_S)
        state.in_flight += 1

    def leave(self, host: str, now: float, outcome: Outcome) -> None:
        """Give the slot back and record how the request went."""
        state = self._hosts[host]
        state.in_flight -= 1
        # A trial that never reached the host (UNTRIED) leaves the next request to try.
        state.trial = False
        if outcome is Outcome.OK:
            state.failures = 0
        elif outcome is Outcome.FAILED:
            state.failures += 1
            if state.failures >= self.failures:
                state.open_until = max(state.open_until, now + self.cooldown_s)
        if state.in_flight == 0 and state.failures == 0:
            del self._hosts[host]

    def is_open(self, host: str, now: float) -> bool:
        state = self._hosts.get(host)
        return state is not None and state.failures >= self.failures and now < state.open_until

    def _forget_idle(self, now: float) -> None:
        for host, state in list(self._hosts.items()):
            if state.in_flight == 0 and now >= state.open_until:
                del self._hosts[host]

"""How a consumer loop waits after a failed round (a store down, a full disk).

Its messages stay pending and are replayed, so nothing is lost by waiting; waiting
longer after each failure in a row keeps a lasting fault from spinning the loop and
flooding the log, while the cap keeps recovery within seconds once it heals.
"""

from __future__ import annotations

import logging

import redis

FIRST_S = 0.5
MAX_S = 15.0


def retry_delay(failures: int, first_s: float = FIRST_S, max_s: float = MAX_S) -> float:
    """Seconds to wait after ``failures`` failed rounds in a row (1, 2, ...)."""
    return min(max_s, first_s * 2 ** max(failures - 1, 0))


def log_failed_round(
    log: logging.Logger, what: str, exc: BaseException, failures: int, delay: float
) -> None:
    """One line per failed round, the traceback only for the first of a run: a store
    that is down says so once, loudly, then briefly while it stays down."""
    if isinstance(exc, (redis.ConnectionError, redis.TimeoutError)):
        log.warning("%s: redis unavailable (%s); retrying in %.1f s", what, exc, delay)
    elif failures == 1:
        log.error("%s failed; retrying in %.1f s", what, delay, exc_info=exc)
    else:
        log.warning(
            "%s failed again (%d in a row: %s: %s); retrying in %.1f s",
            what,
            failures,
            type(exc).__name__,
            exc,
            delay,
        )


class FailedRounds:
    """Failed rounds in a row of one loop: the wait before the next round, one log line
    for each (:func:`log_failed_round`), and one when the loop goes on again."""

    def __init__(self, log: logging.Logger, what: str) -> None:
        self.log = log
        self.what = what
        self.count = 0

    def failed(self, exc: BaseException) -> float:
        """Count a failed round; returns the seconds to wait before the next one."""
        self.count += 1
        delay = retry_delay(self.count)
        log_failed_round(self.log, self.what, exc, self.count, delay)
        return delay

    def ok(self) -> None:
        if self.count:
            self.log.info("%s goes on after %d failed attempts", self.what, self.count)
            self.count = 0

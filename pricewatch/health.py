"""A role's own word on its health, kept where ``/healthz`` can read it.

A role that can fail on its own while every store still answers pings (ingest
on a full disk: ClickHouse refuses the insert, Redis the commit) writes its
health to Redis, the one store every deployment shape shares: in
``pricewatch up`` the API runs in the same process, in a cluster on another
machine. The record (``Keys.health(role)``) is a hash of ``status`` ("ok" or
"error"), ``detail`` (the cause) and ``at`` (ms since the epoch).

How the API judges it (:func:`verdict`):

- no record: the role is not running (not deployed here, or stopped cleanly,
  which withdraws the record): nothing to report;
- "error": degraded, with the role's own detail, until it says "ok" again;
- a record older than ``STALE_AFTER_S``: degraded too. A running role rewrites
  it at least every ``HEARTBEAT_S``, so silence means it died without saying
  so or is stuck.

Several processes of one role share the record: the latest word wins. The
age is measured against the reader's clock, hence the wide margin between
the heartbeat and the staleness limit.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import redis

log = logging.getLogger(__name__)

INGEST = "ingest"
# Roles that write a record; /healthz reads each.
REPORTING_ROLES = (INGEST,)

HEARTBEAT_S = 10.0
STALE_AFTER_S = 60.0
# the detail is for people reading /healthz, not an archive of tracebacks
DETAIL_MAX = 300

OK = "ok"
ERROR = "error"


@dataclasses.dataclass(eq=False)
class HealthReporter:
    """Writes one role's record: at once when its status or detail changes, else
    at most every ``heartbeat_s``. Best effort: when Redis itself is down or
    refusing writes, ``/healthz``'s own Redis check says so."""

    client: redis.Redis
    key: str
    _: dataclasses.KW_ONLY
    heartbeat_s: float = HEARTBEAT_S
    clock: Callable[[], float] = time.time
    # what was last written, and when
    _said: tuple[str, str] | None = dataclasses.field(default=None, init=False)
    _said_at: float = dataclasses.field(default=0.0, init=False)

    def ok(self) -> None:
        self._say(OK, "")

    def error(self, detail: str) -> None:
        self._say(ERROR, detail[:DETAIL_MAX])

    def withdraw(self) -> None:
        """The role stops cleanly: no record, rather than one that goes stale."""
        try:
            self.client.delete(self.key)
        except redis.RedisError as exc:
            log.debug("cannot withdraw %s: %s", self.key, exc)
        self._said = None

    def _say(self, status: str, detail: str) -> None:
        now = self.clock()
        if self._said == (status, detail) and now - self._said_at < self.heartbeat_s:
            return
        try:
            self.client.hset(
                self.key, mapping={"status": status, "detail": detail, "at": int(now * 1000)}
            )
        except redis.RedisError as exc:
            log.debug("cannot write %s: %s", self.key, exc)
            return
        self._said, self._said_at = (status, detail), now


def _text(value: bytes | str | None) -> str:
    if value is None:
        return ""
    return value.decode(errors="replace") if isinstance(value, bytes) else value


def verdict(
    record: Mapping[Any, Any], now_ms: int, stale_after_s: float = STALE_AFTER_S
) -> str | None:
    """ "ok", "error: <why>", or None when the role keeps no record (a hash as
    redis-py returns it: bytes or str)."""
    if not record:
        return None
    fields = {_text(k): _text(v) for k, v in record.items()}
    status, detail = fields.get("status", ""), fields.get("detail", "")
    try:
        age_s = (now_ms - int(fields.get("at", ""))) / 1000
    except ValueError:
        return f"error: unreadable health record {fields!r}"[:DETAIL_MAX]
    if status == ERROR:
        return f"error: {detail}"
    if age_s > stale_after_s:
        return f"error: no word for {age_s:.0f} s (stopped without saying so, or stuck)"
    if status != OK:
        return f"error: unknown status {status!r}"
    return OK

"""One worker's leases on the shared frontier: what it popped and has not settled yet.

Shared by the spider (callbacks ack or nack) and the scheduler's queue (pops and
follow-up requests), so a task's life is kept in one place. A popped task is
leased to this worker in Redis; the lease is extended by :meth:`WorkerLeases.tick`
and ends with an ack (observed or given up) or a nack (back to the frontier with
its rank). A worker that dies settles nothing: its leases expire and any live
worker's tick returns them to the queue.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import time

import redis
from scrapy.statscollectors import StatsCollector

from pricewatch.frontier import Frontier, task_key
from pricewatch.models import CrawlTask

logger = logging.getLogger(__name__)


def worker_name() -> str:
    """Unique per process: leases, heartbeats and acks are per worker."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


class WorkerLeases:
    def __init__(
        self, frontier: Frontier, worker: str, stats: StatsCollector | None = None
    ) -> None:
        self.frontier = frontier
        self.worker = worker
        self.stats = stats
        self._held: dict[str, CrawlTask] = {}
        # finished tasks the frontier has not acknowledged yet: (key, done)
        self._unsettled: list[tuple[str, bool]] = []
        # wall clock of the last pop that found a task, or of the last settled task
        self.last_activity = time.time()

    @property
    def held(self) -> int:
        return len(self._held)

    def holds(self, key: str) -> bool:
        return key in self._held

    def pop(self) -> CrawlTask | None:
        """One task leased to this worker (verification lane first), or None when the
        frontier is empty. Raises redis.RedisError when Redis cannot be reached."""
        tasks = self.frontier.pop(self.worker, 1)
        if not tasks:
            return None
        task = tasks[0]
        self._held[task_key(task)] = task
        self.last_activity = time.time()
        return task

    def give_up(self, task: CrawlTask, why: str, stat: str) -> None:
        """A popped task no fetch can ever serve: acked so that it does not block its
        key (or come back) forever."""
        key = task_key(task)
        logger.error("giving up task %s: %s", key, why)
        self.finish(key, done=True, stat=stat)

    def finish(self, key: str, *, done: bool, stat: str) -> bool:
        """Ack (done: observed or given up) or nack (retry later) a held task, once.
        False if this worker did not hold it (already finished)."""
        if self._held.pop(key, None) is None:
            return False
        self._stat(stat)
        self._unsettled.append((key, done))
        self.settle()
        return True

    def settle(self) -> None:
        """Tell the frontier. Heartbeats extend every lease this worker holds in Redis,
        so a task must not be forgotten locally before the frontier has heard of it:
        when Redis cannot be reached, the next tick tries again."""
        while self._unsettled:
            key, done = self._unsettled[0]
            try:
                if done:
                    self.frontier.ack(self.worker, [key])
                else:
                    self.frontier.nack(self.worker, [key])
            except redis.RedisError as exc:
                logger.warning("cannot settle %d tasks yet: %s", len(self._unsettled), exc)
                return
            self._unsettled.pop(0)
            self.last_activity = time.time()

    def tick(self) -> None:
        """Settle what is pending, extend this worker's leases and return the expired
        leases of dead workers (cheap and safe from every worker at once)."""
        self.settle()
        try:
            self.frontier.heartbeat(self.worker)
            requeued = self.frontier.requeue_expired()
        except redis.RedisError as exc:
            # the next tick tries again; leases are several ticks long
            logger.warning("frontier heartbeat failed: %s", exc)
            return
        if requeued:
            logger.info("returned %d expired tasks to the frontier", requeued)

    def release_all(self) -> int:
        """Give every unfinished task back now rather than when its lease runs out."""
        unfinished = list(self._held)
        self._held.clear()
        self._unsettled += [(key, False) for key in unfinished]
        self.settle()
        return len(unfinished)

    def fleet_pending(self) -> int:
        """Tasks anywhere in the fleet's frontier, leased ones included (a dead worker's
        leases come back when they expire), plus what this worker has not settled.
        Unknown counts as pending: an unreachable Redis is no reason to stop."""
        local = len(self._held) + len(self._unsettled)
        try:
            return local + self.frontier.size() + self.frontier.inflight_size()
        except redis.RedisError:
            return local + 1

    def _stat(self, name: str) -> None:
        if self.stats is not None:
            self.stats.inc_value(f"pricewatch/{name}")

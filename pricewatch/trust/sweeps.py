"""What trust-but-verify does besides judging batches: rejecting held reports nobody
verified in time, and writing decisions to the SQL audit log and reputations.

Each ingest worker's gate runs the sweeps every ``sweep_interval_ms`` as batches come
(``TrustGate.prepare``). They are safe to run from any number of processes at once:
each overdue report is taken out by exactly one of them (the store's take script),
and the audit table's key makes a decision written twice count once.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from pricewatch.storage.sql_blocking import BlockingSql
from pricewatch.storage.sql_trust import AuditVerdict, record_decisions
from pricewatch.trust.store import TrustStore, audit_of


class Sweeps:
    def __init__(
        self, store: TrustStore, sql: BlockingSql, clock: Callable[[], float] = time.time
    ) -> None:
        self.store = store
        self.sql = sql
        self.clock = clock

    def maintain(self, now: int | None = None) -> tuple[int, int]:
        """Expire overdue held reports, then write decisions to SQL: (expired, written)."""
        expired = self.expire_pending(now)
        return expired, self.flush_decisions()

    def expire_pending(self, now: int | None = None, batch: int = 500) -> int:
        """Reject held reports whose deadline passed (by ``now``, ms; the clock's time
        by default); returns how many this call decided."""
        now = int(self.clock() * 1000) if now is None else now
        store = self.store
        total = 0
        while True:
            overdue = store.overdue(now, batch)
            if not overdue:
                return total
            wanted: dict[str, list[str]] = {}
            for skey, rid in overdue:
                wanted.setdefault(skey, []).append(rid)
            write = store.client.pipeline(transaction=False)
            takes: list[int] = []
            for skey, records in store.held(wanted).items():
                for rid, record in records.items():
                    if record is None:  # decided meanwhile; only its deadline was left
                        store.forget_deadline(write, skey, rid)
                        continue
                    takes.append(len(write))
                    audit = audit_of(
                        record.observation, rid, AuditVerdict.EXPIRED, now, reasons=record.reasons
                    )
                    store.take(write, skey, record, audit)
            results = write.execute()
            total += sum(int(results[i]) for i in takes)
            if len(overdue) < batch:
                return total

    def flush_decisions(self, limit: int = 1_000) -> int:
        """Write outbox decisions to the SQL audit log and reputations; returns rows written.

        SQL first, then the outbox entries go: a crash in between writes them
        again next time, and the audit table's key makes that a no-op.
        """
        fields, records = self.store.outbox(limit)
        if not fields:
            return 0
        written = self.sql.run(lambda db: record_decisions(db, records))
        self.store.drop_from_outbox(fields)
        return written


__all__ = ["Sweeps"]

"""Trust-but-verify's records in Redis, and the script that decides a held report.

Per series (keys by its ``series_text``, all named in :class:`pricewatch.keys.Keys`, in
the stream partition of its product: the ingest batch's transaction for that
partition writes them, which on a Redis Cluster must stay in one slot):

- ``trust_held``: reports kept out of history until verified (:class:`HeldReport`),
  and ``trust_deadlines`` ("series<TAB>report id" by deadline) across the series of
  a partition;
- ``trust_recent``: the reports of the last windows, as their peers see them
  (:class:`RecentReport`), for agreement and conflicts;
- ``trust_accepted``: reports accepted at once that announced a price and that a
  verification crawl may still contradict (:class:`AcceptedReport`).

Besides: ``trust_confirmed`` markers on reports re-published after confirmation (only
this module writes them, so no client can mark its own report), and ``trust_outbox``
(one per partition), decisions waiting for the SQL audit log
(:class:`~pricewatch.storage.sql_trust.AuditRecord`).

Writes are queued on the caller's pipeline, the ingest batch's transaction, so that
they commit with the batch or not at all.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import msgspec
import redis

from pricewatch.keys import OBSERVATIONS, PRICE_CORRECTIONS, Keys, partition_of
from pricewatch.models import Observation, PriceCorrection, encode, series_text
from pricewatch.storage.scripts import queue_script
from pricewatch.storage.sql_trust import AuditRecord, AuditVerdict
from pricewatch.storage.streams import FIELD, PartitionedStream

log = logging.getLogger(__name__)

# A confirmed report's marker outlives any plausible stream backlog.
CONFIRMED_MARKER_TTL_MS = 7 * 24 * 3600 * 1000


class HeldReport(msgspec.Struct, frozen=True, kw_only=True):
    """A report kept out of history until verified (the ``trust_held`` hash values)."""

    report_id: str
    observation: Observation
    reasons: list[str]
    deadline: int


class AcceptedReport(msgspec.Struct, frozen=True, kw_only=True):
    """A report accepted at once that announced a price (``trust_accepted`` values)."""

    report_id: str
    observation: Observation
    event_id: str
    reasons: list[str] = []


class RecentReport(msgspec.Struct, frozen=True, array_like=True):
    """A report as its peers see it (``trust_recent`` members)."""

    report_id: str
    reporter: str | None
    price: int | None
    observed_at: int


_held_decoder = msgspec.json.Decoder(HeldReport)
_accepted_decoder = msgspec.json.Decoder(AcceptedReport)
_recent_decoder = msgspec.json.Decoder(RecentReport)
_audit_decoder = msgspec.json.Decoder(AuditRecord)

# Takes a held report out with its verdict, only if it is still there: two deciders
# (a verification and the expiry sweep) can never both decide it. A confirmed report
# is re-published to ``observations`` with its marker in the same step: this is the
# one stream write outside ``pricewatch.storage.streams``, as it must happen exactly
# when the report is taken. The entry has the shape ``streams.add`` writes.
# KEYS: held hash, deadlines, outbox[, observations stream, confirmed marker]
# ARGV: report id, deadline member, audit record[, observation, maxlen, marker ttl ms,
#       stream field]
# Returns 1 when this call decided the report, 0 when someone else already had.
_TAKE = """
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then
  redis.call('ZREM', KEYS[2], ARGV[2])
  return 0
end
redis.call('ZREM', KEYS[2], ARGV[2])
redis.call('HSET', KEYS[3], ARGV[1], ARGV[3])
if #KEYS >= 5 then
  redis.call('SET', KEYS[5], '1', 'PX', ARGV[6])
  redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[5], '*', ARGV[7], ARGV[4])
end
return 1
"""


def audit_of(
    obs: Observation,
    rid: str,
    verdict: AuditVerdict,
    now: int,
    *,
    reasons: Sequence[str] = (),
    verified_price: int | None = None,
    refuted_event_id: str | None = None,
) -> AuditRecord:
    """The audit record of a decided report."""
    return AuditRecord(
        report_id=rid,
        market=obs.market,
        asin=obs.asin,
        series=obs.series.value,
        reporter=obs.reporter,
        observed_at=obs.observed_at,
        price=obs.price,
        verdict=verdict,
        reasons=",".join(str(r) for r in reasons),
        verified_price=verified_price,
        refuted_event_id=refuted_event_id,
        decided_at=now,
    )


def _deadline_member(skey: str, rid: str) -> str:
    return f"{skey}\t{rid}"


# an outbox entry: its partition and its field (the report id)
OutboxField = tuple[int, bytes]


@dataclasses.dataclass
class Loaded:
    """What one batch reads (in one round trip), by series text."""

    # report ids re-published with a ``trust_confirmed`` marker
    confirmed: set[str]
    held: dict[str, dict[str, HeldReport]]
    recent: dict[str, list[RecentReport]]
    accepted: dict[str, dict[str, AcceptedReport]]


class TrustStore:
    def __init__(self, client: redis.Redis, keys: Keys, *, partitions: int, maxlen: int) -> None:
        self.client = client
        self.keys = keys
        self.partitions = partitions
        self.observations = PartitionedStream(keys, OBSERVATIONS, partitions, maxlen)
        self.corrections = PartitionedStream(keys, PRICE_CORRECTIONS, partitions, maxlen)
        self._take = client.register_script(_TAKE)

    def partition(self, skey: str) -> int:
        """The partition of a series' product (``series_text`` starts "market:asin:")."""
        market, asin, _ = skey.split(":", 2)
        return partition_of(market, asin, self.partitions)

    def _held_key(self, skey: str) -> str:
        return self.keys.trust_held(self.partition(skey), skey)

    def _recent_key(self, skey: str) -> str:
        return self.keys.trust_recent(self.partition(skey), skey)

    def _accepted_key(self, skey: str) -> str:
        return self.keys.trust_accepted(self.partition(skey), skey)

    def _confirmed_key(self, skey: str, rid: str) -> str:
        return self.keys.trust_confirmed(self.partition(skey), rid)

    def _deadlines_key(self, skey: str) -> str:
        return self.keys.trust_deadlines(self.partition(skey))

    # -- reads ------------------------------------------------------------------------
    def load(
        self,
        marked: Sequence[tuple[str, str]],
        held: Sequence[str],
        recent: Mapping[str, tuple[int, int]],
        accepted: Sequence[str],
    ) -> Loaded:
        """The markers of reports ``marked`` (series, report id: the ids that have one
        come back), the held reports of series ``held``,
        the recent reports in a (from, to) time range per series, and the accepted
        reports of series ``accepted``."""
        pipe = self.client.pipeline(transaction=False)
        for skey, rid in marked:
            pipe.exists(self._confirmed_key(skey, rid))
        for s in held:
            pipe.hgetall(self._held_key(s))
        for s, (lo, hi) in recent.items():
            pipe.zrangebyscore(self._recent_key(s), lo, hi)
        for s in accepted:
            pipe.hgetall(self._accepted_key(s))
        replies = iter(pipe.execute())
        return Loaded(
            confirmed={rid for _, rid in marked if next(replies)},
            held={s: _by_id(next(replies), _held_decoder) for s in held},
            recent={s: [_recent_decoder.decode(m) for m in next(replies)] for s in recent},
            accepted={s: _by_id(next(replies), _accepted_decoder) for s in accepted},
        )

    def overdue(self, now: int, limit: int) -> list[tuple[str, str]]:
        """(series, report id) of up to ``limit`` held reports whose deadline passed,
        from every partition."""
        pipe = self.client.pipeline(transaction=False)
        for n in range(self.partitions):
            pipe.zrangebyscore(self.keys.trust_deadlines(n), "-inf", now, start=0, num=limit)
        out = []
        for members in pipe.execute():
            for member in members:
                skey, _, rid = member.decode().partition("\t")
                out.append((skey, rid))
        return out[:limit]

    def held(self, wanted: Mapping[str, Sequence[str]]) -> dict[str, dict[str, HeldReport | None]]:
        """The held reports by series and report id; None for those decided meanwhile."""
        pipe = self.client.pipeline(transaction=False)
        for skey, rids in wanted.items():
            pipe.hmget(self._held_key(skey), rids)
        return {
            skey: {
                rid: None if raw is None else _held_decoder.decode(raw)
                for rid, raw in zip(rids, values, strict=True)
            }
            for (skey, rids), values in zip(wanted.items(), pipe.execute(), strict=True)
        }

    def outbox(self, limit: int) -> tuple[list[OutboxField], list[AuditRecord]]:
        """Up to ``limit`` decisions waiting for SQL, from every partition's outbox:
        their fields, and the readable ones."""
        fields: list[OutboxField] = []
        records: list[AuditRecord] = []
        for n in range(self.partitions):
            for field, raw in self.client.hscan_iter(self.keys.trust_outbox(n), count=limit):
                fields.append((n, field))
                try:
                    records.append(_audit_decoder.decode(raw))
                except msgspec.ValidationError as exc:
                    log.error("dropping unreadable trust decision %r: %s", field, exc)
                if len(fields) >= limit:
                    return fields, records
        return fields, records

    def drop_from_outbox(self, fields: Sequence[OutboxField]) -> None:
        by_partition: dict[int, list[bytes]] = {}
        for n, field in fields:
            by_partition.setdefault(n, []).append(field)
        pipe = self.client.pipeline(transaction=False)
        for n, some in by_partition.items():
            pipe.hdel(self.keys.trust_outbox(n), *some)
        pipe.execute()

    # -- writes, queued on the caller's pipeline ----------------------------------------
    def hold(self, pipe: redis.client.Pipeline, skey: str, record: HeldReport) -> None:
        pipe.hset(self._held_key(skey), record.report_id, encode(record))
        pipe.zadd(
            self._deadlines_key(skey), {_deadline_member(skey, record.report_id): record.deadline}
        )

    def forget_deadline(self, pipe: redis.client.Pipeline, skey: str, rid: str) -> None:
        pipe.zrem(self._deadlines_key(skey), _deadline_member(skey, rid))

    def remember_recent(
        self,
        pipe: redis.client.Pipeline,
        skey: str,
        reports: Sequence[RecentReport],
        window_ms: int,
    ) -> None:
        """Add ``reports``; what is two windows older than the newest goes."""
        key = self._recent_key(skey)
        pipe.zadd(key, {encode(r): r.observed_at for r in reports})
        newest = max(r.observed_at for r in reports)
        pipe.zremrangebyscore(key, "-inf", newest - 2 * window_ms)
        pipe.pexpire(key, 3 * window_ms)

    def remember_accepted(
        self, pipe: redis.client.Pipeline, skey: str, record: AcceptedReport, ttl_ms: int
    ) -> None:
        key = self._accepted_key(skey)
        pipe.hset(key, record.report_id, encode(record))
        pipe.pexpire(key, ttl_ms)

    def forget_accepted(self, pipe: redis.client.Pipeline, skey: str, rid: str) -> None:
        pipe.hdel(self._accepted_key(skey), rid)

    def forget_confirmed(self, pipe: redis.client.Pipeline, skey: str, rid: str) -> None:
        pipe.delete(self._confirmed_key(skey, rid))

    def republish_confirmed(self, pipe: redis.client.Pipeline, rid: str, obs: Observation) -> None:
        """Publish ``obs`` again, marked so that the gate accepts it on sight."""
        skey = series_text(obs.market, obs.asin, obs.series.value)
        pipe.set(self._confirmed_key(skey, rid), b"1", px=CONFIRMED_MARKER_TTL_MS)
        self.observations.add(pipe, obs.market, obs.asin, obs)

    def publish_correction(self, pipe: redis.client.Pipeline, correction: PriceCorrection) -> None:
        self.corrections.add(pipe, correction.market, correction.asin, correction)

    def to_outbox(self, pipe: redis.client.Pipeline, audit: AuditRecord) -> None:
        partition = partition_of(audit.market, audit.asin, self.partitions)
        pipe.hset(self.keys.trust_outbox(partition), audit.report_id, encode(audit))

    def take(
        self, pipe: redis.client.Pipeline, skey: str, record: HeldReport, audit: AuditRecord
    ) -> None:
        """Queue taking a held report out with its decision, if it is still held; a
        confirmed one is re-published, marked. The script's reply (1 when this call
        decided it) comes with the pipeline's."""
        rid = record.report_id
        keys = [
            self._held_key(skey),
            self._deadlines_key(skey),
            self.keys.trust_outbox(self.partition(skey)),
        ]
        args: list[Any] = [rid, _deadline_member(skey, rid), encode(audit)]
        if audit.verdict is AuditVerdict.CONFIRMED:
            obs = record.observation
            keys += [
                self.observations.key_for(obs.market, obs.asin),
                self._confirmed_key(skey, rid),
            ]
            args += [encode(obs), self.observations.maxlen, CONFIRMED_MARKER_TTL_MS, FIELD]
        queue_script(self._take, pipe, keys, args)


def _by_id(raw: Mapping[bytes, bytes], decoder: msgspec.json.Decoder[Any]) -> dict[str, Any]:
    return {k.decode(): decoder.decode(v) for k, v in raw.items()}


__all__ = [
    "CONFIRMED_MARKER_TTL_MS",
    "OutboxField",
    "AcceptedReport",
    "HeldReport",
    "Loaded",
    "RecentReport",
    "TrustStore",
    "audit_of",
]

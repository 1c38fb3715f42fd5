"""Trust-but-verify at ingest: the gate that holds suspicious extension reports.

``TrustGate`` implements :class:`pricewatch.ingest.checks.Gate`. Crawler,
import and verification observations always pass; an extension report is
judged by the pure rules in :mod:`pricewatch.trust`.

Life of a held report (all Redis keys in :class:`pricewatch.keys.Keys`):

1. ``settle`` records it in its series' ``trust_held`` hash and in
   ``trust_deadlines``, and pushes a VERIFY task onto the frontier's
   verification lane, all in the ingest batch's transaction: a crash either
   holds it once with its crawl queued, or not at all (the batch replays).
2. It is decided by the first of:

   * a verification observation of the same product (the crawler turns the
     VERIFY task into one) at or after the report's time: within tolerance the
     report is confirmed, otherwise refuted;
   * a quorum of independent trusted reporters agreeing with its price
     (``pricewatch.trust.assess`` accepts the report that completes the quorum;
     the agreeing held ones are confirmed with it);
   * its deadline: ``expire_pending`` rejects it.

   Taking a report out of ``trust_held`` is one Lua script that removes it only
   if it is still there, so two deciders (a verification and the expiry sweep)
   can never both decide it.
3. A confirmed report is re-published, unchanged, to the ``observations``
   stream together with a ``trust_confirmed`` marker. The gate accepts any
   report carrying that marker, so it enters history with its own time. The
   marker lives in Redis and only this module writes it: nothing a client sends
   to the API can make a report pass unverified.
4. Decisions go to ``trust_outbox`` inside the same transaction and reach SQL
   (the ``report_audit`` table and the reporter's reputation) in
   ``flush_decisions``, idempotently by report id.

Reports accepted at once that changed the price are remembered for a window
(``trust_accepted``); a sample of them (and every report accepted by quorum)
gets a verification crawl too. A verification that contradicts one publishes
a :class:`pricewatch.models.PriceCorrection` for its PriceChange: the alerts
role sends a correction to whoever was told.

The ingest worker is synchronous; SQL is async. ``BlockingSql`` runs the
store functions on an event loop private to the gate. ``prepare`` does all the
batch's reads in three round trips (Redis, SQL, ClickHouse), and none at all
for a batch without extension or verification observations.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, TypeVar

import msgspec
import redis

from pricewatch.frontier import Frontier, _push_args
from pricewatch.ingest.checks import LastState, Verdict
from pricewatch.keys import OBSERVATIONS, PRICE_CORRECTIONS, Keys, partition_of
from pricewatch.models import (
    CrawlTask,
    Observation,
    PriceCorrection,
    Source,
    TaskKind,
    change_event_id,
    encode,
)
from pricewatch.storage.redis import FIELD, PartitionedStream
from pricewatch.storage.sql_engine import create_engine
from pricewatch.storage.sql_trust import (
    AuditRecord,
    AuditVerdict,
    armed_counts,
    record_decisions,
    reporter_counts,
)
from pricewatch.trust import (
    Assessment,
    PeerReport,
    ReportContext,
    TrustPolicy,
    assess,
    judge,
    report_id,
    reputation,
    spot_checked,
)

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from pricewatch.ingest.core import Outcome
    from pricewatch.settings import Settings
    from pricewatch.storage.clickhouse import PriceStore

log = logging.getLogger(__name__)

T = TypeVar("T")
SeriesKey = tuple[str, str, str]
LowsSource = Callable[[Sequence[SeriesKey]], Mapping[SeriesKey, int]]

# A confirmed report's marker outlives any plausible stream backlog.
CONFIRMED_MARKER_TTL_MS = 7 * 24 * 3600 * 1000


class HeldReport(msgspec.Struct, frozen=True, kw_only=True):
    """A report kept out of history until verified (the ``trust_held`` hash values)."""

    report_id: str
    observation: Observation
    reasons: list[str]
    held_at: int
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


class BlockingSql:
    """Runs the async relational store from the synchronous ingest thread.

    The engine's connections belong to the event loop that opened them, so the
    gate keeps one loop of its own and every call runs on it.
    """

    def __init__(self, url: str) -> None:
        self._loop = asyncio.new_event_loop()
        self.engine: AsyncEngine = create_engine(url)

    def run(self, work: Callable[[AsyncEngine], Awaitable[T]]) -> T:
        return self._loop.run_until_complete(work(self.engine))

    def close(self) -> None:
        if self._loop.is_closed():
            return
        try:
            self._loop.run_until_complete(self.engine.dispose())
        finally:
            self._loop.close()


def _series_key(obs: Observation) -> str:
    return f"{obs.market}:{obs.asin}:{obs.series.value}"


def _triple(obs: Observation) -> SeriesKey:
    return (obs.market, obs.asin, obs.series.value)


@dataclasses.dataclass
class _Decision:
    report_id: str
    assessment: Assessment
    armed: int


@dataclasses.dataclass
class _Batch:
    """What ``prepare`` loaded and ``check`` decided, for ``settle``."""

    now: int
    active: bool = False
    confirmed: set[str] = dataclasses.field(default_factory=set)
    accepted_confirmed: set[str] = dataclasses.field(default_factory=set)
    reputations: dict[str, float] = dataclasses.field(default_factory=dict)
    counts: dict[tuple[str, str, str, int], int] = dataclasses.field(default_factory=dict)
    lows: dict[SeriesKey, int] = dataclasses.field(default_factory=dict)
    peers: dict[str, list[PeerReport]] = dataclasses.field(default_factory=dict)
    held: dict[str, dict[str, HeldReport]] = dataclasses.field(default_factory=dict)
    accepted: dict[str, dict[str, AcceptedReport]] = dataclasses.field(default_factory=dict)
    verifications: list[Observation] = dataclasses.field(default_factory=list)
    decisions: dict[Observation, _Decision] = dataclasses.field(default_factory=dict)
    # verifications re-published behind the reports they confirm, by their id
    deferred: dict[Observation, str] = dataclasses.field(default_factory=dict)
    recent: dict[str, list[RecentReport]] = dataclasses.field(default_factory=dict)


class TrustGate:
    """The ingest :class:`~pricewatch.ingest.checks.Gate` for crowdsourced reports.

    ``lows`` returns the all-time low per series (see
    ``pricewatch.storage.clickhouse_trust.all_time_lows``); it is cached for
    ``lows_ttl_s``, which errs on the safe side: a low only ever goes down, so
    a stale one makes the rule stricter, never looser.
    """

    def __init__(
        self,
        client: redis.Redis,
        keys: Keys,
        *,
        partitions: int,
        sql: BlockingSql,
        lows: LowsSource,
        frontier: Frontier,
        policy: TrustPolicy | None = None,
        clock: Callable[[], float] = time.time,
        maxlen: int = 1_000_000,
        sweep_interval_ms: int = 2_000,
        lows_ttl_s: float = 60.0,
    ) -> None:
        self.client = client
        self.keys = keys
        self.partitions = partitions
        self.sql = sql
        self.lows = lows
        self.frontier = frontier
        self.policy = policy or TrustPolicy()
        self.clock = clock
        self.maxlen = maxlen
        self.sweep_interval_ms = sweep_interval_ms
        self.lows_ttl_s = lows_ttl_s
        self.corrections = PartitionedStream(client, keys, PRICE_CORRECTIONS, partitions, maxlen)
        self._take = client.register_script(_TAKE)
        self._lows_cache: dict[SeriesKey, tuple[int | None, float]] = {}
        self._last_sweep: int | None = None
        self._batch = _Batch(now=0)

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

    # -- Gate: prepare ------------------------------------------------------------------
    def prepare(self, observations: Sequence[Observation], state: Mapping[str, LastState]) -> None:
        now = self._now_ms()
        self._batch = batch = _Batch(now=now)
        self._maybe_maintain(now)
        reports = [o for o in observations if o.source is Source.EXTENSION]
        verifications = [o for o in observations if o.source is Source.VERIFICATION]
        if not reports and not verifications:
            return
        batch.active = True
        batch.verifications = verifications
        report_ids = [report_id(o) for o in reports]
        verification_ids = {report_id(o) for o in verifications}
        report_series = sorted({_series_key(o) for o in reports})
        verified_series = sorted({_series_key(o) for o in verifications})
        touched = sorted({*report_series, *verified_series})
        window = self.policy.window_ms
        span = {s: (min(times), max(times)) for s, times in _times_by_series(reports).items()}

        pipe = self.client.pipeline(transaction=False)
        marked = [*report_ids, *verification_ids]
        for rid in marked:
            pipe.exists(self.keys.trust_confirmed(rid))
        for s in touched:
            pipe.hgetall(self.keys.trust_held(s))
        for s in report_series:
            lo, hi = span[s]
            pipe.zrangebyscore(self.keys.trust_recent(s), lo - window, hi + window)
        for s in verified_series:
            pipe.hgetall(self.keys.trust_accepted(s))
        replies = iter(pipe.execute())

        for rid in marked:
            if next(replies):
                batch.confirmed.add(rid)
        for s in touched:
            batch.held[s] = {k.decode(): _held_decoder.decode(v) for k, v in next(replies).items()}
        recent: dict[str, list[RecentReport]] = {
            s: [_recent_decoder.decode(m) for m in next(replies)] for s in report_series
        }
        for s in verified_series:
            batch.accepted[s] = {
                k.decode(): _accepted_decoder.decode(v) for k, v in next(replies).items()
            }

        to_assess = [
            o for o, rid in zip(reports, report_ids, strict=True) if rid not in batch.confirmed
        ]
        if not to_assess:
            return
        own_ids = set(report_ids)
        reporters = {o.reporter for o in to_assess if o.reporter}
        reporters |= {r.reporter for rs in recent.values() for r in rs if r.reporter}
        priced = [(*_triple(o), o.price) for o in to_assess if o.price is not None]
        cap = self.policy.trusted_fire_limit + 1

        async def load(db: AsyncEngine) -> tuple[dict[str, tuple[int, int]], dict]:
            return await reporter_counts(db, reporters), await armed_counts(db, priced, cap)

        counts, batch.counts = self.sql.run(load)
        policy = self.policy
        batch.reputations = {r: reputation(*counts.get(r, (0, 0)), policy) for r in reporters}
        batch.lows = self._all_time_lows({_triple(o) for o in to_assess})
        for s, rs in recent.items():
            batch.peers[s] = [
                PeerReport(r.reporter, r.price, r.observed_at, self._reputation(r.reporter))
                for r in rs
                # a replayed batch finds its own reports here: they are not their own peers
                if r.report_id not in own_ids
            ]

    def _reputation(self, reporter: str | None) -> float:
        found = self._batch.reputations.get(reporter) if reporter else None
        if found is None:
            return reputation(0, 0, self.policy)
        return found

    def _all_time_lows(self, keys: set[SeriesKey]) -> dict[SeriesKey, int]:
        now = time.monotonic()
        missing = [k for k in keys if self._lows_cache.get(k, (None, 0.0))[1] <= now]
        if missing:
            fetched = self.lows(sorted(missing))
            expires = now + self.lows_ttl_s
            for k in missing:
                self._lows_cache[k] = (fetched.get(k), expires)
            if len(self._lows_cache) > 100_000:
                self._lows_cache = {k: v for k, v in self._lows_cache.items() if v[1] > now}
        out: dict[SeriesKey, int] = {}
        for k in keys:
            low = self._lows_cache[k][0]
            if low is not None:
                out[k] = low
        return out

    # -- Gate: check --------------------------------------------------------------------
    def check(self, observation: Observation, last: LastState | None) -> Verdict:
        if observation.source is Source.VERIFICATION:
            return self._check_verification(observation)
        if observation.source is not Source.EXTENSION:
            return Verdict.ACCEPT
        batch = self._batch
        rid = report_id(observation)
        if rid in batch.confirmed:
            batch.accepted_confirmed.add(rid)
            return Verdict.ACCEPT
        skey = _series_key(observation)
        peers = batch.peers.setdefault(skey, [])
        price = observation.price
        ctx = ReportContext(
            price=price,
            observed_at=observation.observed_at,
            reporter=observation.reporter,
            reputation=self._reputation(observation.reporter),
            last_price=None if last is None else last.price,
            last_observed_at=None if last is None else last.observed_at,
            all_time_low=batch.lows.get(_triple(observation)),
            armed_subscriptions=0
            if price is None
            else batch.counts.get((*_triple(observation), price), 0),
            peers=tuple(peers),
        )
        assessment = assess(ctx, self.policy)
        batch.decisions[observation] = _Decision(rid, assessment, ctx.armed_subscriptions)
        peers.append(
            PeerReport(observation.reporter, price, observation.observed_at, ctx.reputation)
        )
        batch.recent.setdefault(skey, []).append(
            RecentReport(rid, observation.reporter, price, observation.observed_at)
        )
        return assessment.verdict

    def _check_verification(self, observation: Observation) -> Verdict:
        """Never suspicious; but one that confirms held reports lets them in first.

        Ingest drops a sample older than the series' state when it says the same
        price, so a confirmed report re-published after its verification was
        accepted would never reach history with its own time. Such a
        verification is re-published right behind the reports it confirms
        (marked, so it passes next time) and lands a moment later, after them.
        """
        batch = self._batch
        rid = report_id(observation)
        if rid in batch.confirmed:
            batch.accepted_confirmed.add(rid)
            return Verdict.ACCEPT
        for record in batch.held.get(_series_key(observation), {}).values():
            reported = record.observation
            if reported.observed_at <= observation.observed_at and judge(
                reported.price, observation.price, self.policy
            ):
                batch.deferred[observation] = rid
                return Verdict.HOLD
        return Verdict.ACCEPT

    # -- Gate: settle -------------------------------------------------------------------
    def settle(self, outcome: Outcome, pipe: redis.client.Pipeline) -> None:
        batch = self._batch
        if not batch.active:
            return
        held = [self._hold(obs, pipe) for obs in outcome.held if obs not in batch.deferred]
        for obs in outcome.rejected:
            decision = batch.decisions[obs]
            self._to_outbox(
                pipe,
                _audit(
                    obs,
                    decision.report_id,
                    AuditVerdict.REJECTED,
                    batch.now,
                    reasons=decision.assessment.reasons,
                ),
            )
        self._remember_recent(pipe)
        for rid in batch.accepted_confirmed:
            pipe.delete(self.keys.trust_confirmed(rid))
        tasks = self._remember_accepted(outcome, pipe)
        self._verify(pipe)
        for obs, rid in batch.deferred.items():
            # behind the confirmed reports' XADDs: same product, same stream, in order
            pipe.set(self.keys.trust_confirmed(rid), b"1", px=CONFIRMED_MARKER_TTL_MS)
            self._republish(pipe, obs)
        # a report held and decided in this same batch needs no crawl
        tasks += [t for skey, t in held if t.report_id in batch.held.get(skey, {})]
        if tasks:
            _push_on(pipe, self.frontier, tasks)

    def _hold(self, obs: Observation, pipe: redis.client.Pipeline) -> tuple[str, CrawlTask]:
        batch = self._batch
        decision = batch.decisions[obs]
        rid = decision.report_id
        skey = _series_key(obs)
        record = HeldReport(
            report_id=rid,
            observation=obs,
            reasons=[r.value for r in decision.assessment.reasons],
            held_at=batch.now,
            deadline=batch.now + self.policy.pending_ttl_ms,
        )
        pipe.hset(self.keys.trust_held(skey), rid, encode(record))
        pipe.zadd(self.keys.trust_deadlines, {f"{skey}\t{rid}": record.deadline})
        batch.held.setdefault(skey, {})[rid] = record
        # more subscribers waiting on the answer, sooner crawled
        return skey, CrawlTask(
            market=obs.market,
            asin=obs.asin,
            kind=TaskKind.VERIFY,
            priority=float(1 + decision.armed),
            report_id=rid,
        )

    def _remember_recent(self, pipe: redis.client.Pipeline) -> None:
        window = self.policy.window_ms
        for skey, reports in self._batch.recent.items():
            key = self.keys.trust_recent(skey)
            pipe.zadd(key, {encode(r): r.observed_at for r in reports})
            newest = max(r.observed_at for r in reports)
            pipe.zremrangebyscore(key, "-inf", newest - 2 * window)
            pipe.pexpire(key, 3 * window)

    def _remember_accepted(self, outcome: Outcome, pipe: redis.client.Pipeline) -> list[CrawlTask]:
        """Keep reports accepted at once that moved the price, and spot-check some."""
        batch = self._batch
        announced = {c.event_id for c in outcome.changes if c.source is Source.EXTENSION}
        if not announced:
            return []
        tasks: list[CrawlTask] = []
        for obs, decision in batch.decisions.items():
            if decision.assessment.verdict is not Verdict.ACCEPT:
                continue
            event_id = change_event_id(
                obs.market, obs.asin, obs.series.value, obs.observed_at, obs.price
            )
            if event_id not in announced:
                continue
            skey = _series_key(obs)
            record = AcceptedReport(
                report_id=decision.report_id,
                observation=obs,
                event_id=event_id,
                reasons=[r.value for r in decision.assessment.reasons],
            )
            key = self.keys.trust_accepted(skey)
            pipe.hset(key, decision.report_id, encode(record))
            pipe.pexpire(key, 3 * self.policy.window_ms)
            vouched = bool(decision.assessment.vouched_by)
            if vouched:
                self._confirm_agreeing(pipe, skey, obs)
            if vouched or spot_checked(decision.report_id, self.policy.spot_check_share):
                tasks.append(
                    CrawlTask(
                        market=obs.market,
                        asin=obs.asin,
                        kind=TaskKind.VERIFY,
                        priority=0.0,
                        report_id=decision.report_id,
                    )
                )
        return tasks

    def _confirm_agreeing(
        self, pipe: redis.client.Pipeline, skey: str, accepted: Observation
    ) -> None:
        """A quorum accepted a price: the held reports that said the same are confirmed."""
        held = self._batch.held.get(skey, {})
        for record in list(held.values()):
            obs = record.observation
            if obs.observed_at <= accepted.observed_at and judge(
                obs.price, accepted.price, self.policy
            ):
                self._decide_held(pipe, skey, record, AuditVerdict.CONFIRMED, accepted.price)

    def _verify(self, pipe: redis.client.Pipeline) -> None:
        """Judge held and recently accepted reports against this batch's verifications."""
        batch = self._batch
        window = self.policy.window_ms
        for v in sorted(batch.verifications, key=lambda o: o.observed_at):
            skey = _series_key(v)
            for record in list(batch.held.get(skey, {}).values()):
                if record.observation.observed_at > v.observed_at:
                    continue  # reported after this crawl: the next crawl decides it
                confirmed = judge(record.observation.price, v.price, self.policy)
                verdict = AuditVerdict.CONFIRMED if confirmed else AuditVerdict.REFUTED
                self._decide_held(pipe, skey, record, verdict, v.price)
            accepted = batch.accepted.get(skey, {})
            for rid, acc in list(accepted.items()):
                at = acc.observation.observed_at
                if not v.observed_at - window <= at <= v.observed_at:
                    continue
                del accepted[rid]
                pipe.hdel(self.keys.trust_accepted(skey), rid)
                if judge(acc.observation.price, v.price, self.policy):
                    verdict = AuditVerdict.CONFIRMED
                else:
                    verdict = AuditVerdict.CORRECTED
                    self._correct(pipe, acc, v)
                self._to_outbox(
                    pipe,
                    _audit(
                        acc.observation,
                        rid,
                        verdict,
                        batch.now,
                        verified_price=v.price,
                        refuted_event_id=acc.event_id
                        if verdict is AuditVerdict.CORRECTED
                        else None,
                        reasons=acc.reasons,
                    ),
                )

    def _correct(
        self, pipe: redis.client.Pipeline, acc: AcceptedReport, verification: Observation
    ) -> None:
        obs = acc.observation
        correction = PriceCorrection(
            refuted_event_id=acc.event_id,
            market=obs.market,
            asin=obs.asin,
            series=obs.series,
            refuted_price=obs.price,
            actual_price=verification.price,
            currency=obs.currency or verification.currency,
        )
        self.corrections.publish([(obs.market, obs.asin, encode(correction))], pipe=pipe)

    def _decide_held(
        self,
        pipe: redis.client.Pipeline | redis.Redis,
        skey: str,
        record: HeldReport,
        verdict: AuditVerdict,
        verified_price: int | None,
        now: int | None = None,
    ) -> None:
        """Take a held report out (if still there) with its verdict, atomically."""
        self._batch.held.get(skey, {}).pop(record.report_id, None)
        obs = record.observation
        audit = _audit(
            obs,
            record.report_id,
            verdict,
            self._batch.now if now is None else now,
            reasons=record.reasons,
            verified_price=verified_price,
        )
        keys = [self.keys.trust_held(skey), self.keys.trust_deadlines, self.keys.trust_outbox]
        args: list[str | bytes | int] = [
            record.report_id,
            f"{skey}\t{record.report_id}",
            encode(audit),
        ]
        if verdict is AuditVerdict.CONFIRMED:
            keys += [
                self.keys.stream(OBSERVATIONS, partition_of(obs.market, obs.asin, self.partitions)),
                self.keys.trust_confirmed(record.report_id),
            ]
            args += [encode(obs), self.maxlen, CONFIRMED_MARKER_TTL_MS, FIELD]
        self._take(keys, args, client=pipe)

    def _republish(self, pipe: redis.client.Pipeline, obs: Observation) -> None:
        stream = self.keys.stream(OBSERVATIONS, partition_of(obs.market, obs.asin, self.partitions))
        pipe.xadd(stream, {FIELD: encode(obs)}, maxlen=self.maxlen, approximate=True)

    def _to_outbox(self, pipe: redis.client.Pipeline, audit: AuditRecord) -> None:
        pipe.hset(self.keys.trust_outbox, audit.report_id, encode(audit))

    # -- sweeps -------------------------------------------------------------------------
    def _maybe_maintain(self, now: int) -> None:
        if self._last_sweep is not None and now - self._last_sweep < self.sweep_interval_ms:
            return
        self._last_sweep = now
        try:
            self.maintain(now)
        except Exception:
            # Crawler observations must keep flowing while SQL is down; the sweep
            # loses nothing by waiting (held reports and the outbox stay in Redis).
            log.exception("trust-but-verify sweep failed; will retry")

    def maintain(self, now: int | None = None) -> tuple[int, int]:
        """Expire overdue held reports, then write decisions to SQL: (expired, written)."""
        expired = self.expire_pending(now)
        return expired, self.flush_decisions()

    def expire_pending(self, now: int | None = None, batch: int = 500) -> int:
        """Reject held reports whose deadline passed; returns how many this call decided.

        Safe to run from any number of processes at once (the ingest workers'
        sweeps, the scheduler): each report is taken out by exactly one of them.
        """
        now = self._now_ms() if now is None else now
        total = 0
        while True:
            members: list[bytes] = self.client.zrangebyscore(  # type: ignore[assignment]
                self.keys.trust_deadlines, "-inf", now, start=0, num=batch
            )
            if not members:
                return total
            by_series: dict[str, list[str]] = {}
            for member in members:
                skey, _, rid = member.decode().partition("\t")
                by_series.setdefault(skey, []).append(rid)
            read = self.client.pipeline(transaction=False)
            for skey, rids in by_series.items():
                read.hmget(self.keys.trust_held(skey), rids)
            write = self.client.pipeline(transaction=False)
            takes: list[int] = []
            for (skey, rids), values in zip(by_series.items(), read.execute(), strict=True):
                for rid, raw in zip(rids, values, strict=True):
                    if raw is None:  # decided meanwhile; only its deadline was left
                        write.zrem(self.keys.trust_deadlines, f"{skey}\t{rid}")
                        continue
                    takes.append(len(write))
                    self._decide_held(
                        write, skey, _held_decoder.decode(raw), AuditVerdict.EXPIRED, None, now=now
                    )
            results = write.execute()
            total += sum(int(results[i]) for i in takes)
            if len(members) < batch:
                return total

    def flush_decisions(self, limit: int = 1_000) -> int:
        """Write outbox decisions to the SQL audit log and reputations; returns rows written.

        SQL first, then the outbox entries go: a crash in between writes them
        again next time, and the audit table's key makes that a no-op.
        """
        fields: list[bytes] = []
        records: list[AuditRecord] = []
        for field, raw in self.client.hscan_iter(self.keys.trust_outbox, count=limit):
            fields.append(field)
            try:
                records.append(_audit_decoder.decode(raw))
            except msgspec.ValidationError as exc:
                log.error("dropping unreadable trust decision %r: %s", field, exc)
            if len(fields) >= limit:
                break
        if not fields:
            return 0
        written = self.sql.run(lambda db: record_decisions(db, records))
        self.client.hdel(self.keys.trust_outbox, *fields)
        return written


def _times_by_series(observations: Sequence[Observation]) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for o in observations:
        out.setdefault(_series_key(o), []).append(o.observed_at)
    return out


def _audit(
    obs: Observation,
    rid: str,
    verdict: AuditVerdict,
    now: int,
    *,
    reasons: Sequence[str] = (),
    verified_price: int | None = None,
    refuted_event_id: str | None = None,
) -> AuditRecord:
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


def _push_on(pipe: redis.client.Pipeline, frontier: Frontier, tasks: Sequence[CrawlTask]) -> None:
    """Frontier.push, queued on the ingest transaction instead of its own pipeline.

    A held report and its verification crawl must commit together; the frontier's
    push script is the same one, so its one-task-per-product rule still holds.
    """
    max_size = str(frontier.max_size or 0)
    for chunk in _push_args(tasks):
        frontier._push(frontier._script_keys, [frontier._prefix, max_size, *chunk], client=pipe)


def policy_from_settings(settings: Settings) -> TrustPolicy:
    return TrustPolicy(
        drop_share=settings.trust_drop_share,
        rise_share=settings.trust_rise_share,
        quorum=settings.trust_quorum,
        window_ms=settings.trust_window_s * 1000,
        verify_tolerance_share=settings.trust_verify_tolerance_share,
        pending_ttl_ms=settings.trust_pending_ttl_s * 1000,
        spot_check_share=settings.trust_spot_check_share,
    )


def build_trust_gate(
    settings: Settings, client: redis.Redis, keys: Keys, store: PriceStore
) -> TrustGate:
    """The gate as a deployment configures it (close ``gate.sql`` when done)."""
    from pricewatch.storage.clickhouse_trust import all_time_lows

    return TrustGate(
        client,
        keys,
        partitions=settings.stream_partitions,
        sql=BlockingSql(settings.database_url),
        lows=lambda series: all_time_lows(store, series),
        frontier=Frontier(client, keys, lease_ms=settings.crawl_lease_ms),
        policy=policy_from_settings(settings),
        maxlen=settings.stream_maxlen,
    )


__all__ = [
    "AcceptedReport",
    "BlockingSql",
    "HeldReport",
    "TrustGate",
    "build_trust_gate",
    "policy_from_settings",
]

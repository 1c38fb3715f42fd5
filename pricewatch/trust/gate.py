"""Trust-but-verify at ingest: the gate that holds suspicious extension reports.

``TrustGate`` implements :class:`pricewatch.ingest.gate.Gate`. Crawler, import and
verification observations always pass; an extension report is judged by the pure
rules in :mod:`pricewatch.trust.rules`. Its records live in Redis
(:mod:`pricewatch.trust.store`).

Life of a held report:

1. ``settle`` records it in its series' held reports and deadlines, and pushes a
   VERIFY task onto the frontier's verification lane, all in the ingest batch's
   transaction: a crash either holds it once with its crawl queued, or not at all
   (the batch replays).
2. It is decided by the first of:

   * a verification observation of the same product (the crawler turns the
     VERIFY task into one) at or after the report's time: within tolerance the
     report is confirmed, otherwise refuted;
   * a quorum of independent trusted reporters agreeing with its price
     (``rules.assess`` accepts the report that completes the quorum; the agreeing
     held ones are confirmed with it);
   * its deadline: the sweeps (:mod:`pricewatch.trust.sweeps`) reject it.

   Taking a report out is one script that removes it only if it is still there, so
   two deciders (a verification and the expiry sweep) can never both decide it.
3. A confirmed report is re-published, unchanged, to the ``observations`` stream
   together with a ``trust_confirmed`` marker. The gate accepts any report carrying
   that marker, so it enters history with its own time. Nothing a client sends to the
   API can make a report pass unverified: only the store writes markers.
4. Decisions go to the outbox inside the same transaction and reach SQL (the
   ``report_audit`` table and the reporter's reputation) with the sweeps,
   idempotently by report id.

Reports accepted at once that changed the price are remembered for a window; a
sample of them (and every report accepted by quorum) gets a verification crawl
too. A verification that contradicts one publishes a
:class:`pricewatch.models.PriceCorrection` for its PriceChange: the alerts role
sends a correction to whoever was told.

``prepare`` does all the batch's reads in three round trips (Redis, SQL,
ClickHouse), and none at all for a batch without extension or verification
observations.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import redis
from sqlalchemy.ext.asyncio import AsyncEngine

from pricewatch.frontier import Frontier
from pricewatch.ingest.gate import Outcome, Verdict
from pricewatch.keys import Keys
from pricewatch.models import (
    CrawlTask,
    LastState,
    Observation,
    PriceCorrection,
    SeriesKey,
    Source,
    TaskKind,
    change_event_id,
    series_text,
)
from pricewatch.storage.sql_blocking import BlockingSql
from pricewatch.storage.sql_trust import AuditVerdict, armed_counts, reporter_counts
from pricewatch.storage.transactions import PipeFor
from pricewatch.trust.rules import (
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
from pricewatch.trust.store import AcceptedReport, HeldReport, RecentReport, TrustStore, audit_of
from pricewatch.trust.sweeps import Sweeps

log = logging.getLogger(__name__)

# the all-time low per series; a series with no price yet is absent
LowsSource = Callable[[Sequence[SeriesKey]], Mapping[SeriesKey, int]]


def _series(obs: Observation) -> SeriesKey:
    return SeriesKey(obs.market, obs.asin, obs.series.value)


def _text(obs: Observation) -> str:
    return series_text(obs.market, obs.asin, obs.series.value)


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
    # report id -> series text of the reports accepted for their confirmation marker
    accepted_confirmed: dict[str, str] = dataclasses.field(default_factory=dict)
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
    """The ingest :class:`~pricewatch.ingest.gate.Gate` for crowdsourced reports.

    ``lows`` returns the all-time low per series (see
    ``pricewatch.storage.clickhouse.all_time_lows``); it is cached for
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
        if len(frontier.partitions) != partitions:
            # a verification crawl is queued in the transaction of its report's
            # partition: the frontier must be split the same way
            raise ValueError(
                f"the frontier has {len(frontier.partitions)} partitions, the streams "
                f"{partitions}: they must be the same"
            )
        self.store = TrustStore(client, keys, partitions=partitions, maxlen=maxlen)
        self.sql = sql
        self.sweeps = Sweeps(self.store, sql, clock)
        self.lows = lows
        self.frontier = frontier
        self.policy = policy or TrustPolicy()
        self.clock = clock
        self.sweep_interval_ms = sweep_interval_ms
        self.lows_ttl_s = lows_ttl_s
        self._lows_cache: dict[SeriesKey, tuple[int | None, float]] = {}
        self._last_sweep: int | None = None
        self._batch = _Batch(now=0)

    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

    # -- Gate: prepare ------------------------------------------------------------------
    def prepare(self, observations: Sequence[Observation], state: Mapping[str, LastState]) -> None:
        now = self._now_ms()
        self._batch = batch = _Batch(now=now)
        self._maybe_sweep(now)
        reports = [o for o in observations if o.source is Source.EXTENSION]
        verifications = [o for o in observations if o.source is Source.VERIFICATION]
        if not reports and not verifications:
            return
        batch.active = True
        batch.verifications = verifications
        report_ids = [report_id(o) for o in reports]
        marked = {(_text(o), report_id(o)) for o in verifications}
        marked.update((_text(o), rid) for o, rid in zip(reports, report_ids, strict=True))
        report_series = sorted({_text(o) for o in reports})
        verified_series = sorted({_text(o) for o in verifications})
        window = self.policy.window_ms
        spans = {s: (min(times), max(times)) for s, times in _times_by_series(reports).items()}
        loaded = self.store.load(
            marked=sorted(marked),
            held=sorted({*report_series, *verified_series}),
            recent={s: (spans[s][0] - window, spans[s][1] + window) for s in report_series},
            accepted=verified_series,
        )
        batch.confirmed = loaded.confirmed
        batch.held = loaded.held
        batch.accepted = loaded.accepted

        to_assess = [
            o for o, rid in zip(reports, report_ids, strict=True) if rid not in batch.confirmed
        ]
        if not to_assess:
            return
        own_ids = set(report_ids)
        reporters = {o.reporter for o in to_assess if o.reporter}
        reporters |= {r.reporter for rs in loaded.recent.values() for r in rs if r.reporter}
        priced = [(*_series(o), o.price) for o in to_assess if o.price is not None]
        cap = self.policy.trusted_fire_limit + 1

        async def load(db: AsyncEngine) -> tuple[dict[str, tuple[int, int]], dict]:
            return await reporter_counts(db, reporters), await armed_counts(db, priced, cap)

        counts, batch.counts = self.sql.run(load)
        policy = self.policy
        batch.reputations = {r: reputation(*counts.get(r, (0, 0)), policy) for r in reporters}
        batch.lows = self._all_time_lows({_series(o) for o in to_assess})
        for s, rs in loaded.recent.items():
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
            batch.accepted_confirmed[rid] = _text(observation)
            return Verdict.ACCEPT
        skey = _text(observation)
        peers = batch.peers.setdefault(skey, [])
        price = observation.price
        series = _series(observation)
        ctx = ReportContext(
            price=price,
            observed_at=observation.observed_at,
            reporter=observation.reporter,
            reputation=self._reputation(observation.reporter),
            last_price=None if last is None else last.price,
            last_observed_at=None if last is None else last.observed_at,
            all_time_low=batch.lows.get(series),
            armed_subscriptions=0 if price is None else batch.counts.get((*series, price), 0),
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
            batch.accepted_confirmed[rid] = _text(observation)
            return Verdict.ACCEPT
        for record in batch.held.get(_text(observation), {}).values():
            reported = record.observation
            if reported.observed_at <= observation.observed_at and judge(
                reported.price, observation.price, self.policy
            ):
                batch.deferred[observation] = rid
                return Verdict.HOLD
        return Verdict.ACCEPT

    # -- Gate: settle -------------------------------------------------------------------
    def settle(self, outcome: Outcome, pipes: PipeFor) -> None:
        """Every write goes on the transaction of its product's partition."""
        batch = self._batch
        if not batch.active:
            return
        store = self.store
        held = [self._hold(obs, pipes) for obs in outcome.held if obs not in batch.deferred]
        for obs in outcome.rejected:
            decision = batch.decisions[obs]
            audit = audit_of(
                obs,
                decision.report_id,
                AuditVerdict.REJECTED,
                batch.now,
                reasons=decision.assessment.reasons,
            )
            store.to_outbox(pipes(obs.market, obs.asin), audit)
        window = self.policy.window_ms
        for skey, reports in batch.recent.items():
            store.remember_recent(_of_series(pipes, skey), skey, reports, window)
        for rid, skey in batch.accepted_confirmed.items():
            store.forget_confirmed(_of_series(pipes, skey), skey, rid)
        tasks = self._remember_accepted(outcome, pipes)
        self._verify(pipes)
        for obs, rid in batch.deferred.items():
            # behind the confirmed reports' entries: same product, same stream, in order
            store.republish_confirmed(pipes(obs.market, obs.asin), rid, obs)
        # a report held and decided in this same batch needs no crawl
        tasks += [t for skey, t in held if t.report_id in batch.held.get(skey, {})]
        for task in tasks:
            # a verification crawl is on the frontier exactly when its report is held
            self.frontier.push_on(pipes(task.market, task.asin or ""), [task])

    def _hold(self, obs: Observation, pipes: PipeFor) -> tuple[str, CrawlTask]:
        batch = self._batch
        decision = batch.decisions[obs]
        rid = decision.report_id
        skey = _text(obs)
        record = HeldReport(
            report_id=rid,
            observation=obs,
            reasons=[r.value for r in decision.assessment.reasons],
            deadline=batch.now + self.policy.pending_ttl_ms,
        )
        self.store.hold(pipes(obs.market, obs.asin), skey, record)
        batch.held.setdefault(skey, {})[rid] = record
        # more subscribers waiting on the answer, sooner crawled
        return skey, CrawlTask(
            market=obs.market,
            asin=obs.asin,
            kind=TaskKind.VERIFY,
            priority=float(1 + decision.armed),
            report_id=rid,
        )

    def _remember_accepted(self, outcome: Outcome, pipes: PipeFor) -> list[CrawlTask]:
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
            skey = _text(obs)
            record = AcceptedReport(
                report_id=decision.report_id,
                observation=obs,
                event_id=event_id,
                reasons=[r.value for r in decision.assessment.reasons],
            )
            pipe = pipes(obs.market, obs.asin)
            self.store.remember_accepted(pipe, skey, record, 3 * self.policy.window_ms)
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

    def _verify(self, pipes: PipeFor) -> None:
        """Judge held and recently accepted reports against this batch's verifications."""
        batch = self._batch
        window = self.policy.window_ms
        for v in sorted(batch.verifications, key=lambda o: o.observed_at):
            skey = _text(v)
            # everything decided here is about v's product
            pipe = pipes(v.market, v.asin)
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
                self.store.forget_accepted(pipe, skey, rid)
                if judge(acc.observation.price, v.price, self.policy):
                    verdict = AuditVerdict.CONFIRMED
                else:
                    verdict = AuditVerdict.CORRECTED
                    self.store.publish_correction(pipe, _correction(acc, v))
                audit = audit_of(
                    acc.observation,
                    rid,
                    verdict,
                    batch.now,
                    verified_price=v.price,
                    refuted_event_id=acc.event_id if verdict is AuditVerdict.CORRECTED else None,
                    reasons=acc.reasons,
                )
                self.store.to_outbox(pipe, audit)

    def _decide_held(
        self,
        pipe: redis.client.Pipeline,
        skey: str,
        record: HeldReport,
        verdict: AuditVerdict,
        verified_price: int | None,
    ) -> None:
        """Take a held report out (if still there) with its verdict, atomically."""
        self._batch.held.get(skey, {}).pop(record.report_id, None)
        audit = audit_of(
            record.observation,
            record.report_id,
            verdict,
            self._batch.now,
            reasons=record.reasons,
            verified_price=verified_price,
        )
        self.store.take(pipe, skey, record, audit)

    # -- sweeps -------------------------------------------------------------------------
    def _maybe_sweep(self, now: int) -> None:
        if self._last_sweep is not None and now - self._last_sweep < self.sweep_interval_ms:
            return
        self._last_sweep = now
        try:
            self.sweeps.maintain(now)
        except Exception:
            # Crawler observations must keep flowing while SQL is down; the sweep
            # loses nothing by waiting (held reports and the outbox stay in Redis).
            log.exception("trust-but-verify sweep failed; will retry")


def _of_series(pipes: PipeFor, skey: str) -> Any:
    """The transaction of a series' product (``series_text`` starts "market:asin:")."""
    market, asin, _ = skey.split(":", 2)
    return pipes(market, asin)


def _times_by_series(observations: Sequence[Observation]) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for o in observations:
        out.setdefault(_text(o), []).append(o.observed_at)
    return out


def _correction(acc: AcceptedReport, verification: Observation) -> PriceCorrection:
    obs = acc.observation
    return PriceCorrection(
        refuted_event_id=acc.event_id,
        market=obs.market,
        asin=obs.asin,
        series=obs.series,
        refuted_price=obs.price,
        actual_price=verification.price,
        currency=obs.currency or verification.currency,
    )


__all__ = ["LowsSource", "TrustGate"]

"""TrustGate in the real IngestWorker: held, confirmed, refuted, expired, quorum, corrections."""

from __future__ import annotations

import pytest

from pricewatch.models import Series, Source, TaskKind, change_event_id
from pricewatch.storage.sql_blocking import BlockingSql
from pricewatch.storage.sql_trust import AuditVerdict, audit_log
from pricewatch.trust import TrustGate, TrustPolicy, report_id
from tests.trust.conftest import ASIN, PARTITION, PARTITIONS, Env, ingest_worker

pytestmark = [pytest.mark.redis, pytest.mark.clickhouse]

HOUR = 3_600_000


def with_history(env: Env, price: int = 10_000) -> None:
    """Crawled history at ``price``: the last accepted price and the all-time low."""
    env.ingest(
        env.obs(price, source="crawler", at=env.clock.ms - 2 * HOUR),
        env.obs(price, source="crawler", at=env.clock.ms - HOUR),
    )


def watched(env: Env) -> Env:
    """``env`` with crawled history at 100.00 and an alert at 90.00: a report under
    90.00 would fire it, so the gate holds such a report."""
    with_history(env)
    env.subscribe(threshold=9_000)
    return env


def audit(env: Env) -> list:
    env.gate.sweeps.maintain()
    return env.sql.run(lambda db: audit_log(db))


def trust_keys(env: Env) -> list[bytes]:
    return list(env.client.scan_iter(match=f"{env.keys.prefix}trust:*"))


def test_crawler_only_batches_do_no_trust_work(make_env):
    env = make_env()
    with_history(env)
    env.ingest(env.obs(8_000, source="crawler"))
    assert [c.new_price for c in env.changes()] == [10_000, 8_000]
    assert trust_keys(env) == []
    assert env.frontier.size() == 0


def test_an_ordinary_report_is_accepted_at_once(make_env):
    # no spot checks: whether one report is sampled depends on its id (its time)
    env = make_env(TrustPolicy(spot_check_share=0.0))
    with_history(env)
    assert env.ingest(env.obs(9_900)) == 0
    last = env.changes()[-1]
    assert (last.new_price, last.source) == (9_900, Source.EXTENSION)
    assert env.frontier.size() == 0


def test_a_used_price_report_is_held_and_confirmed_in_its_own_series(make_env):
    env = make_env()
    for series in (Series.BUYBOX, Series.USED):
        env.ingest(
            env.obs(10_000, source="crawler", series=series, at=env.clock.ms - 2 * HOUR),
            env.obs(10_000, source="crawler", series=series, at=env.clock.ms - HOUR),
        )
    env.subscribe(threshold=9_000, series="used")

    def used() -> list[tuple[int | None, str]]:
        return [(c.new_price, c.source) for c in env.changes() if c.series == "used"]

    # a used price that would fire the used alert is held for a verification crawl
    report = env.obs(8_900, reporter="install:aaaaaaaa:ip1", series=Series.USED)
    assert env.ingest(report) == 1
    [task] = env.frontier.pop("crawler", now=env.clock.ms)
    assert (task.kind, task.report_id) == (TaskKind.VERIFY, report_id(report))
    assert used() == [(10_000, Source.CRAWLER)]
    # the verification crawl sees the used price too: the report is announced, in its series
    env.ingest(env.obs(8_900, source="verification", series=Series.USED), step_ms=60_000)
    assert used() == [(10_000, Source.CRAWLER), (8_900, Source.EXTENSION)]


def test_a_report_that_would_fire_an_alert_is_held_then_confirmed_with_its_own_time(make_env):
    env = watched(make_env())
    report = env.obs(8_900, reporter="install:aaaaaaaa:ip1")
    assert env.ingest(report) == 1
    assert [c.new_price for c in env.changes()] == [10_000]
    assert (report.observed_at, 8_900, "extension") not in env.stored()

    [task] = env.frontier.pop("crawler", now=env.clock.ms)
    assert (task.kind, task.asin, task.report_id) == (TaskKind.VERIFY, ASIN, report_id(report))
    env.ingest(env.obs(8_900, source="verification"), step_ms=60_000)

    # the confirmed report is announced and stored at the time it was made, and the
    # verification lands after it
    changes = env.changes()
    assert [(c.new_price, c.source, c.observed_at) for c in changes[1:]] == [
        (8_900, Source.EXTENSION, report.observed_at)
    ]
    assert [(price, source) for _, price, source in env.stored()] == [
        (10_000, "crawler"),
        (10_000, "crawler"),
        (8_900, "extension"),
        (8_900, "verification"),
    ]
    [record] = audit(env)
    assert (record.verdict, record.verified_price) == (AuditVerdict.CONFIRMED, 8_900)
    assert record.reasons  # why it was held
    reporter = env.reporter("install:aaaaaaaa:ip1")
    assert (reporter.confirmed, reporter.refuted) == (1, 0)
    assert env.client.hlen(env.keys.trust_held(PARTITION, f"us:{ASIN}:buybox")) == 0


def test_a_refuted_report_never_reaches_history_and_costs_reputation(make_env):
    env = watched(make_env())
    fake = env.obs(4_000, reporter="install:bbbbbbbb:ip2")
    assert env.ingest(fake) == 1
    env.ingest(env.obs(10_000, source="verification"), step_ms=60_000)
    env.drain()
    assert [c.new_price for c in env.changes()] == [10_000]
    assert all(price != 4_000 for _, price, _ in env.stored())
    [record] = audit(env)
    assert (record.verdict, record.price, record.verified_price) == (
        AuditVerdict.REFUTED,
        4_000,
        10_000,
    )
    reporter = env.reporter("install:bbbbbbbb:ip2")
    assert (reporter.confirmed, reporter.refuted) == (0, 1)
    # nothing was ever announced on it: no correction
    assert env.corrections() == []
    # a reporter under suspicion is held even for a report that fires nothing
    assert env.ingest(env.obs(9_500, reporter="install:bbbbbbbb:ip2")) == 1


def test_a_report_made_after_the_crawl_waits_for_the_next_one(make_env):
    env = watched(make_env())
    crawl_time = env.clock.ms + 500
    assert env.ingest(env.obs(8_000, at=crawl_time + 30_000)) == 1
    env.ingest(env.obs(10_000, source="verification", at=crawl_time))
    assert env.client.hlen(env.keys.trust_held(PARTITION, f"us:{ASIN}:buybox")) == 1
    assert audit(env) == []


def test_an_unverified_report_expires_as_rejected_exactly_once(make_env):
    env = watched(make_env(TrustPolicy(pending_ttl_ms=600_000)))
    env.ingest(env.obs(8_000))
    assert env.gate.sweeps.expire_pending(env.clock.ms + 599_000) == 0
    assert env.gate.sweeps.expire_pending(env.clock.ms + 601_000) == 1
    assert env.gate.sweeps.expire_pending(env.clock.ms + 601_000) == 0
    [record] = audit(env)
    assert record.verdict is AuditVerdict.EXPIRED
    # a verification arriving too late decides nothing more
    env.ingest(env.obs(8_000, source="verification"), step_ms=700_000)
    env.drain()
    assert [r.verdict for r in audit(env)] == [AuditVerdict.EXPIRED]
    reporter = env.reporter("install:aaaaaaaa:ip1")
    assert reporter is None  # expiry says nothing about the reporter's honesty


def test_a_quorum_of_independent_trusted_reporters_accepts_without_a_crawl(make_env):
    env = watched(make_env())
    trio = ["install:aaaaaaaa:ip1", "install:bbbbbbbb:ip2", "user:77"]
    for r in trio:
        env.vouch(r)
    assert env.ingest(env.obs(8_000, reporter=trio[0])) == 1
    assert env.ingest(env.obs(8_000, reporter=trio[1])) == 1
    assert env.ingest(env.obs(8_000, reporter=trio[2])) == 0
    changes = env.changes()
    assert (changes[-1].new_price, changes[-1].source) == (8_000, Source.EXTENSION)
    env.drain()
    verdicts = sorted(r.verdict.value for r in audit(env))
    assert verdicts == ["confirmed", "confirmed"]
    # and a crawl still checks the quorum's price
    assert [t.kind for t in env.frontier.pop("crawler", now=env.clock.ms)] == [TaskKind.VERIFY]


def test_a_swarm_of_installs_behind_one_ip_is_no_quorum(make_env):
    env = watched(make_env())
    swarm = [f"install:swarm{i:04d}:ipX" for i in range(6)]
    for r in swarm:
        env.vouch(r)
    held = sum(env.ingest(env.obs(5_000, reporter=r)) for r in swarm)
    assert held == 6
    assert [c.new_price for c in env.changes()] == [10_000]
    # one product, one verification crawl
    assert env.frontier.size() == 1


def test_a_spot_check_that_contradicts_an_announced_report_publishes_a_correction(make_env):
    env = make_env(TrustPolicy(spot_check_share=1.0))
    with_history(env)
    report = env.obs(9_850, reporter="install:cccccccc:ip3")
    assert env.ingest(report) == 0
    announced = env.changes()[-1]
    assert announced.event_id == change_event_id("us", ASIN, "buybox", report.observed_at, 9_850)
    [task] = env.frontier.pop("crawler", now=env.clock.ms)
    assert task.kind is TaskKind.VERIFY
    env.ingest(env.obs(10_100, source="verification"), step_ms=60_000)
    [correction] = env.corrections()
    assert (correction.refuted_event_id, correction.refuted_price, correction.actual_price) == (
        announced.event_id,
        9_850,
        10_100,
    )
    [record] = audit(env)
    assert (record.verdict, record.refuted_event_id) == (AuditVerdict.CORRECTED, announced.event_id)
    assert env.reporter("install:cccccccc:ip3").refuted == 1


def test_a_spot_check_that_agrees_raises_the_reporters_reputation(make_env):
    env = make_env(TrustPolicy(spot_check_share=1.0))
    with_history(env)
    env.ingest(env.obs(9_850, reporter="user:5"))
    env.ingest(env.obs(9_850, source="verification"), step_ms=60_000)
    assert env.corrections() == []
    assert [r.verdict for r in audit(env)] == [AuditVerdict.CONFIRMED]
    assert env.reporter("user:5").confirmed == 1


def test_a_reporter_with_a_record_of_false_reports_is_rejected_into_the_audit(make_env):
    env = make_env()
    with_history(env)

    async def refute(db):
        from pricewatch.storage.sql import record_verdict

        for _ in range(6):
            await record_verdict(db, "install:dddddddd:ip4", False)

    env.sql.run(refute)
    env.ingest(env.obs(9_900, reporter="install:dddddddd:ip4"))
    assert [c.new_price for c in env.changes()] == [10_000]
    [record] = audit(env)
    assert (record.verdict, record.price) == (AuditVerdict.REJECTED, 9_900)
    assert env.frontier.size() == 0


class CrashInSettle(TrustGate):
    def settle(self, outcome, pipes):
        super().settle(outcome, pipes)
        raise RuntimeError("crash before the transaction commits")


def test_a_crash_before_commit_neither_loses_nor_doubles_a_held_report(
    make_env, redis_client, keys, price_store, sql_url
):
    env = watched(make_env())
    crashing = CrashInSettle(
        redis_client,
        keys,
        partitions=PARTITIONS,
        sql=BlockingSql(sql_url),
        lows=env.gate.lows,
        frontier=env.frontier,
        clock=env.clock.seconds,
    )
    worker = ingest_worker(redis_client, keys, price_store, crashing, env.clock)
    try:
        env.publish(env.obs(8_000))
        with pytest.raises(RuntimeError, match="crash"):
            worker.process_batch(worker.next_batch())
    finally:
        crashing.sql.close()
    assert env.client.exists(env.keys.trust_held(PARTITION, f"us:{ASIN}:buybox")) == 0
    assert env.frontier.size() == 0

    # the restarted worker (same consumer) replays its pending batch
    restarted = ingest_worker(redis_client, keys, price_store, env.gate, env.clock)
    assert restarted.process_batch(restarted.next_batch()).held == 1
    assert restarted.next_batch() == []
    assert env.client.hlen(env.keys.trust_held(PARTITION, f"us:{ASIN}:buybox")) == 1
    assert env.client.zcard(env.keys.trust_deadlines(PARTITION)) == 1
    assert env.frontier.size() == 1


def test_flushing_decisions_twice_counts_reputation_once(make_env):
    env = watched(make_env())
    env.ingest(env.obs(8_900))
    outbox_before = env.client.hgetall(env.keys.trust_outbox(PARTITION))
    assert outbox_before == {}
    env.ingest(env.obs(8_900, source="verification"), step_ms=60_000)
    saved = env.client.hgetall(env.keys.trust_outbox(PARTITION))
    assert len(saved) == 1
    assert env.gate.sweeps.flush_decisions() == 1
    # a crash between the SQL commit and the clean-up leaves the entry behind
    env.client.hset(env.keys.trust_outbox(PARTITION), mapping=saved)
    assert env.gate.sweeps.flush_decisions() == 0
    assert env.client.hlen(env.keys.trust_outbox(PARTITION)) == 0
    assert env.reporter("install:aaaaaaaa:ip1").confirmed == 1

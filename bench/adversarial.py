"""Adversarial benchmark of trust-but-verify: honest and malicious extension reporters.

Real IngestWorker + TrustGate over a Redis server started here, chDB and SQLite
in a temp dir. Time is simulated (a clock every component reads), so two hours
of traffic run in about a minute; every delay below is in simulated seconds.

- A local-marketplace ``Catalog`` holds the true prices. Popular products carry
  price-drop subscriptions; each of them has one honest drop at a random time,
  always crossing at least one threshold. Other products drift up and down.
- Honest reporters report the true price of products they visit.
- 10 % of reporters are malicious, posting fake low prices on popular products:
  plain fakes, a swarm of installs behind one IP, prices just under the highest
  threshold, and a ring of distinct installs and IPs agreeing on one fake.
- A simulated crawler pops VERIFY tasks from the frontier and answers each with
  a ``source=verification`` observation of the catalog's true price after a
  realistic delay; ordinary crawls revisit popular products now and then.
- The alerts role is not run: an alert is a PriceChange on ``price-changes``
  that fires an armed subscription (its price at or below the threshold), and
  the bench disarms / re-arms subscriptions as the alerts role would.

Last line: ``false_alerts=N honest_drops_alerted=A/B median_alert_delay_s=D``
(D in simulated seconds, from the true drop to the PriceChange announcing it).
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import redis

from pricewatch.devtools.marketplace import Catalog
from pricewatch.frontier import Frontier
from pricewatch.ingest.worker import IngestWorker
from pricewatch.keys import INGEST_GROUP, OBSERVATIONS, PRICE_CHANGES, PRICE_CORRECTIONS, Keys
from pricewatch.models import Observation, PriceChange, Source, decode_many
from pricewatch.storage import sql
from pricewatch.storage.clickhouse import PriceStore, all_time_lows
from pricewatch.storage.sql_blocking import BlockingSql
from pricewatch.storage.streams import PartitionedStream
from pricewatch.trust import TrustGate, TrustPolicy, prices_agree

MARKET = "us"
DAY_MS = 86_400_000


@dataclasses.dataclass(frozen=True)
class Scenario:
    products: int = 60
    popular: int = 20
    honest: int = 180
    # share of all reporters that are malicious
    malicious_share: float = 0.10
    subscribers_per_product: int = 5
    duration_s: int = 2 * 3600
    tick_s: int = 10
    # each honest reporter visits a product with this probability per tick
    visit_rate: float = 0.04
    verify_delay_s: tuple[int, int] = (20, 90)
    crawl_every_s: int = 45 * 60
    partitions: int = 2
    seed: int = 7


@dataclasses.dataclass
class Result:
    false_alerts: int
    drops: int
    drops_alerted: int
    delays_s: list[float]
    false_changes: int
    corrections: int
    held: int
    verdicts: dict[str, int]

    @property
    def median_delay_s(self) -> float:
        return statistics.median(self.delays_s) if self.delays_s else float("nan")

    def summary(self) -> str:
        return (
            f"false_alerts={self.false_alerts} "
            f"honest_drops_alerted={self.drops_alerted}/{self.drops} "
            f"median_alert_delay_s={self.median_delay_s:.0f}"
        )


def unread(client: redis.Redis, stream_keys: list[str]) -> bool:
    """Whether the ingest group has messages it was never handed."""
    for key in stream_keys:
        groups = client.xinfo_groups(key)
        last = client.xinfo_stream(key)["last-generated-id"]
        if any(
            g["name"] == INGEST_GROUP.encode() and g["last-delivered-id"] != last for g in groups
        ):
            return True
    return False


class SimClock:
    def __init__(self, start_ms: int) -> None:
        self.ms = start_ms

    def __call__(self) -> float:
        return self.ms / 1000


@dataclasses.dataclass
class Reporter:
    id: str
    kind: str  # honest | plain | swarm | underbid | ring


def _reporter_ids(rng: random.Random, honest: int, malicious: int) -> list[Reporter]:
    def install(i: int, ip: str) -> str:
        return f"install:inst{rng.getrandbits(40):010x}{i}:{ip}"

    people = [
        Reporter(f"user:{1000 + i}" if i % 4 == 0 else install(i, f"ip{i:05d}"), "honest")
        for i in range(honest)
    ]
    # the malicious tenth: a few lone fakers, a swarm of installs behind one IP,
    # reporters who know the thresholds, and a ring of distinct installs and IPs
    kinds = ["plain", "swarm", "underbid", "ring"]
    bad = []
    for i in range(malicious):
        kind = kinds[i % len(kinds)]
        ip = "ipswarm0001" if kind == "swarm" else f"ipbad{i:04d}"
        bad.append(Reporter(install(10_000 + i, ip), kind))
    return people + bad


class Simulation:
    def __init__(
        self, scenario: Scenario, client: redis.Redis, keys: Keys, store: PriceStore, sql_url: str
    ) -> None:
        self.s = scenario
        self.rng = random.Random(scenario.seed)
        self.client = client
        self.keys = keys
        self.store = store
        self.sql_url = sql_url
        self.clock = SimClock(int(time.time() * 1000) - DAY_MS)
        self.start_ms = self.clock.ms
        self.catalog = Catalog()
        self.truth: dict[str, list[tuple[int, int]]] = {}
        self.thresholds: dict[str, list[tuple[int, int]]] = {}  # asin -> (sub id, threshold)
        self.armed: dict[int, bool] = {}
        self.drops: dict[str, tuple[int, int]] = {}  # asin -> (drop time, new price)
        self.alerted: dict[str, float] = {}
        self.dropped: set[str] = set()
        self.pending_answers: list[tuple[int, str]] = []
        self.stream = PartitionedStream(keys, OBSERVATIONS, scenario.partitions)
        self.changes_seen: dict[str, bytes] = {}
        self.false_alerts = 0
        self.false_changes = 0
        self.held = 0
        self.bench_sql = BlockingSql(sql_url)
        self.gate = TrustGate(
            client,
            keys,
            partitions=scenario.partitions,
            sql=BlockingSql(sql_url),
            lows=lambda series: all_time_lows(store, series),
            frontier=Frontier(client, keys, partitions=scenario.partitions),
            policy=TrustPolicy(),
            clock=self.clock,
        )
        self.frontier = Frontier(client, keys, partitions=scenario.partitions)
        self.worker = IngestWorker(
            client,
            keys,
            store,
            partitions=scenario.partitions,
            consumer="bench",
            batch_size=5_000,
            batch_ms=2,
            gate=self.gate,
            clock=self.clock,
        )

    def close(self) -> None:
        self.gate.sql.close()
        self.bench_sql.close()

    # -- truth -----------------------------------------------------------------------
    def true_price(self, asin: str, at_ms: int) -> int:
        price = self.truth[asin][0][1]
        for when, p in self.truth[asin]:
            if when <= at_ms:
                price = p
        return price

    def set_price(self, asin: str, price: int) -> None:
        self.catalog.set_price(MARKET, asin, price)
        self.truth[asin].append((self.clock.ms, price))

    # -- set-up ----------------------------------------------------------------------
    def setup(self) -> None:
        s, rng = self.s, self.rng
        self.asins = [f"B{i:09d}" for i in range(s.products)]
        self.popular = self.asins[: s.popular]
        history: list[Observation] = []
        for asin in self.asins:
            price = rng.randint(2_000, 60_000)
            self.catalog.add(MARKET, asin, f"Product {asin}", price)
            self.truth[asin] = [(0, price)]
            # ten days of crawled history at or above today's price: an all-time low
            for day in range(10, 0, -1):
                at = self.start_ms - day * DAY_MS
                history.append(
                    self._obs(asin, at, price + rng.randint(0, price // 10), Source.CRAWLER)
                )
            history.append(self._obs(asin, self.start_ms - 60_000, price, Source.CRAWLER))
        self.publish(history)
        self.drain()
        self.bench_sql.run(self._subscribe)
        span = s.duration_s * 1000
        for asin in self.popular:
            at = self.start_ms + rng.randint(span // 10, span * 8 // 10)
            price = self.truth[asin][0][1]
            self.drops[asin] = (at, int(price * rng.uniform(0.6, 0.85)))
        self.reporters = _reporter_ids(
            rng, s.honest, round(s.honest * s.malicious_share / (1 - s.malicious_share))
        )
        # the stream's history so far is set-up, not traffic
        for key in PartitionedStream(self.keys, PRICE_CHANGES, s.partitions).stream_keys():
            last = self.client.xrevrange(key, count=1)
            self.changes_seen[key] = last[0][0] if last else b"0"

    async def _subscribe(self, db: object) -> None:
        for n, asin in enumerate(self.popular):
            price = self.truth[asin][0][1]
            subs = []
            for k in range(self.s.subscribers_per_product):
                user = await sql.create_user(db, f"u{n}-{k}@example.com", "x")
                threshold = int(price * (0.95 - 0.03 * k))
                sub = await sql.create_subscription(
                    db,
                    user_id=user.id,
                    market=MARKET,
                    asin=asin,
                    series="buybox",
                    notification_type="EMAIL",
                    threshold=threshold,
                )
                subs.append((sub.id, threshold))
                self.armed[sub.id] = True
            self.thresholds[asin] = subs

    def _obs(
        self, asin: str, at: int, price: int | None, source: Source, reporter: str | None = None
    ) -> Observation:
        return Observation(
            market=MARKET,
            asin=asin,
            observed_at=at,
            availability="in_stock" if price is not None else "out_of_stock",
            source=source,
            price=price,
            currency="USD" if price is not None else None,
            reporter=reporter,
        )

    # -- plumbing --------------------------------------------------------------------
    def publish(self, observations: list[Observation]) -> None:
        if observations:
            self.stream.publish(self.client, ((o.market, o.asin, o) for o in observations))

    def drain(self) -> None:
        """Ingest until the group has read everything (re-published reports included).

        Asking the stream first avoids a blocking read on an empty stream, which
        Redis only times out at its ``hz`` tick (100 ms by default).
        """
        while unread(self.client, self.stream.stream_keys()):
            batch = self.worker.next_batch()
            if batch:
                self.held += self.worker.process_batch(batch).held

    def new_changes(self) -> list[PriceChange]:
        out = []
        for key, last in self.changes_seen.items():
            for msg_id, fields in self.client.xrange(key, min=f"({last.decode()}"):
                out.extend(decode_many(fields[b"d"], PriceChange))
                self.changes_seen[key] = msg_id
        return out

    # -- traffic ---------------------------------------------------------------------
    def tick(self) -> None:
        now = self.clock.ms
        rng = self.rng
        for asin, (at, price) in self.drops.items():
            if at <= now and asin not in self.dropped:
                self.dropped.add(asin)
                self.set_price(asin, price)
        for asin in self.asins[self.s.popular :]:
            if rng.random() < 0.002:
                old = self.true_price(asin, now)
                self.set_price(asin, max(100, int(old * rng.uniform(0.9, 1.1))))
        out: list[Observation] = []
        for reporter in self.reporters:
            out += self.act(reporter, now)
        out += self.crawl(now)
        self.publish(out)
        self.drain()
        self.account(now)

    def act(self, reporter: Reporter, now: int) -> list[Observation]:
        rng = self.rng
        if reporter.kind == "honest":
            if rng.random() >= self.s.visit_rate:
                return []
            pool = self.popular if rng.random() < 0.7 else self.asins
            asin = rng.choice(pool)
            at = now - rng.randint(0, 4_000)
            return [self._obs(asin, at, self.true_price(asin, at), Source.EXTENSION, reporter.id)]
        # the malicious act together on a shared schedule (every ~10 minutes)
        slot = (now - self.start_ms) // 600_000
        if (now - self.start_ms) % 600_000 >= self.s.tick_s * 1000:
            return []
        offset = ("plain", "swarm", "underbid", "ring").index(reporter.kind)
        target = self.popular[(slot * 7 + offset * 3) % len(self.popular)]
        truth = self.true_price(target, now)
        if reporter.kind == "underbid":
            price = max(t for _, t in self.thresholds[target]) - 1
            if price >= truth:
                return []
        elif reporter.kind == "plain":
            price = int(truth * rng.uniform(0.3, 0.6))
        else:  # swarm and ring: everyone posts the same fake
            price = int(truth * 0.5)
        return [self._obs(target, now, price, Source.EXTENSION, reporter.id)]

    def crawl(self, now: int) -> list[Observation]:
        """The crawler: verification tasks first (answered after a delay), then rounds."""
        out: list[Observation] = []
        for task in self.frontier.pop("sim-crawler", count=100, now=now):
            self.frontier.ack("sim-crawler", [task])
            lo, hi = self.s.verify_delay_s
            self.pending_answers.append((now + self.rng.randint(lo, hi) * 1000, task.asin or ""))
        due = [(t, a) for t, a in self.pending_answers if t <= now]
        self.pending_answers = [(t, a) for t, a in self.pending_answers if t > now]
        for at, asin in due:
            out.append(self._obs(asin, at, self.true_price(asin, at), Source.VERIFICATION))
        every = self.s.crawl_every_s * 1000
        tick = self.s.tick_s * 1000
        for i, asin in enumerate(self.popular):
            phase = i * every // len(self.popular)
            if (now - self.start_ms - phase) % every < tick:
                out.append(self._obs(asin, now, self.true_price(asin, now), Source.CRAWLER))
        return out

    def account(self, now: int) -> None:
        fired_batches = []
        for change in self.new_changes():
            asin = change.asin
            price = change.new_price
            truth = self.true_price(asin, change.observed_at)
            honest = prices_agree(price, truth, 0.02)
            if not honest:
                self.false_changes += 1
            fired = []
            for sub_id, threshold in self.thresholds.get(asin, []):
                if price is not None and price <= threshold and self.armed[sub_id]:
                    fired.append(sub_id)
                    self.armed[sub_id] = False
                elif price is None or price > threshold:
                    self.armed[sub_id] = True
            if price is not None:
                fired_batches.append((fired, change))
            if not fired:
                continue
            if not honest:
                self.false_alerts += 1
                print(f"false alert: {change}", file=sys.stderr)
            elif asin in self.drops and asin not in self.alerted:
                at, drop_price = self.drops[asin]
                if change.observed_at >= at and prices_agree(price, drop_price, 0.02):
                    self.alerted[asin] = (now - at) / 1000
        if fired_batches:
            self.bench_sql.run(lambda db: self._alerts_role(db, fired_batches))

    @staticmethod
    async def _alerts_role(db: object, batches: list[tuple[list[int], PriceChange]]) -> None:
        """What the alerts role does to subscriptions: disarm who fired, re-arm above."""
        for fired, change in batches:
            assert change.new_price is not None
            if fired:
                await sql.disarm(db, fired, change.new_price, change.observed_at)
            await sql.rearm_above(db, change.market, change.asin, change.series, change.new_price)

    # -- run -------------------------------------------------------------------------
    def run(self, progress: Callable[[str], None] | None = None) -> Result:
        self.setup()
        end = self.start_ms + self.s.duration_s * 1000
        step = self.s.tick_s * 1000
        while self.clock.ms < end:
            self.clock.ms += step
            self.tick()
            if progress and (self.clock.ms - self.start_ms) % 600_000 < step:
                progress(
                    f"t={(self.clock.ms - self.start_ms) // 1000}s "
                    f"alerted={len(self.alerted)}/{len(self.drops)} "
                    f"false={self.false_alerts} held={self.held}"
                )
        # let outstanding verifications land
        for _ in range(self.s.verify_delay_s[1] // self.s.tick_s + 2):
            self.clock.ms += step
            self.publish(self.crawl(self.clock.ms))
            self.drain()
            self.account(self.clock.ms)
        self.gate.sweeps.maintain()
        audit = self.bench_sql.run(lambda db: sql_trust_log(db))
        verdicts: dict[str, int] = {}
        for record in audit:
            verdicts[record.verdict.value] = verdicts.get(record.verdict.value, 0) + 1
        corrections = sum(
            self.client.xlen(k)
            for k in PartitionedStream(
                self.keys, PRICE_CORRECTIONS, self.s.partitions
            ).stream_keys()
        )
        return Result(
            false_alerts=self.false_alerts,
            drops=len(self.drops),
            drops_alerted=len(self.alerted),
            delays_s=sorted(self.alerted.values()),
            false_changes=self.false_changes,
            corrections=corrections,
            held=self.held,
            verdicts=verdicts,
        )


async def sql_trust_log(db: object) -> list:
    from pricewatch.storage.sql_trust import audit_log

    return await audit_log(db)  # type: ignore[arg-type]


def simulate(
    scenario: Scenario,
    client: redis.Redis,
    keys: Keys,
    store: PriceStore,
    sql_url: str,
    progress: Callable[[str], None] | None = None,
) -> Result:
    """Run one scenario against the given services (an empty Redis db, a migrated
    ClickHouse database, an empty SQL database)."""
    sql.migrate_sql(sql_url)
    sim = Simulation(scenario, client, keys, store, sql_url)
    try:
        return sim.run(progress)
    finally:
        sim.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=Scenario.products)
    parser.add_argument("--popular", type=int, default=Scenario.popular)
    parser.add_argument("--honest", type=int, default=Scenario.honest)
    parser.add_argument("--hours", type=float, default=Scenario.duration_s / 3600)
    parser.add_argument("--seed", type=int, default=Scenario.seed)
    args = parser.parse_args()
    scenario = Scenario(
        products=args.products,
        popular=args.popular,
        honest=args.honest,
        duration_s=int(args.hours * 3600),
        seed=args.seed,
    )
    from pricewatch.storage.clickhouse import get_clickhouse, migrate
    from pricewatch.storage.local_redis import local_redis

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="pw-adversarial-") as tmp:
        root = Path(tmp)
        with local_redis(root / "redis", persist=False) as url:
            client = redis.Redis.from_url(url)
            ch = get_clickhouse(f"chdb://{root / 'clickhouse'}")
            migrate(ch, "bench")
            store = PriceStore(ch, "bench")
            result = simulate(
                scenario,
                client,
                Keys(prefix="bench:"),
                store,
                f"sqlite+aiosqlite:///{root / 'pricewatch.db'}",
                progress=lambda line: print(line, flush=True),
            )
            client.close()
            ch.close()
    print(
        f"reports held={result.held} verdicts={result.verdicts} "
        f"corrections={result.corrections} false_price_changes={result.false_changes} "
        f"delays_s={[round(d) for d in result.delays_s]} "
        f"wall_s={time.perf_counter() - started:.1f}"
    )
    print(result.summary())


if __name__ == "__main__":
    main()

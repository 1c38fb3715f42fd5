"""Freshness simulation: how long price changes go unseen under a crawl budget.

A million products with Zipf-distributed interest (views per day) and log-normal change
rates share a crawl budget on a simulated clock. Every policy crawls each product
periodically at its rate, with a random phase; price changes are Poisson. The metric is
the interest-weighted mean detection delay: for every change, the time until a crawl sees
it, weighted by the product's interest.

Policies, all with the same clamps on the crawl interval:

- round robin: every product at the same rate;
- proportional to interest (true interest);
- ours: ``scheduler.scoring`` fed only with what the simulation let it observe: views
  counted over the last 7 and 30 days and changes seen between consecutive crawls, never
  the true rates. It starts from round robin and re-scores every ``--rescore-days``
  during a warm-up, then its last rates are measured;
- the optimum for this metric: rates proportional to sqrt(interest x true change rate).

Changes between two crawls are drawn per crawl gap (a gap shows a change with
probability 1 - exp(-lambda * gap), independently, which is exact for a Poisson process).
The measured period draws explicit change times, identical for every policy.

The last line is ``ours_vs_optimum=X ours_vs_round_robin=Y score_seconds=Z``: X and Y
are ratios of mean delays, Z the wall time of one full scoring pass over all products.

    .venv/bin/python bench/freshness.py [--products 1000000] [--seed 7]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from scheduler.scoring import (
    DAY_S,
    ScoringParams,
    censored_changes,
    change_rate,
    crawl_rates,
    importance,
    next_due,
    priority,
    water_fill,
)

FloatArray = np.ndarray


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--products", type=int, default=1_000_000)
    p.add_argument("--zipf", type=float, default=1.0, help="Zipf exponent of interest")
    p.add_argument(
        "--views-per-day",
        type=float,
        default=2_000_000.0,
        help="views per day over the whole catalogue",
    )
    p.add_argument(
        "--change-median", type=float, default=0.2, help="median price changes per product per day"
    )
    p.add_argument(
        "--change-sigma", type=float, default=1.5, help="log-normal sigma of the change rates"
    )
    p.add_argument(
        "--crawls-per-product-day",
        type=float,
        default=0.5,
        help="budget: mean crawls per product per day",
    )
    p.add_argument("--warmup-days", type=float, default=56.0)
    p.add_argument("--rescore-days", type=float, default=7.0)
    p.add_argument("--measure-days", type=float, default=14.0)
    p.add_argument("--seed", type=int, default=7)
    return p.parse_args()


class Observer:
    """What the scheduler can know: views it counted, changes its crawls revealed.

    Crawling is continuous across re-scorings, as in production: the next crawl of a
    product is due one (new) interval after its last crawl, or at once if that is past.
    """

    def __init__(self, rng: np.random.Generator, first_rates_per_day: FloatArray) -> None:
        n = first_rates_per_day.size
        self.last_crawl = -rng.random(n) / first_rates_per_day
        self.changed_gaps = np.zeros(n)
        self.gaps = np.zeros(n)
        self.observed_days = np.zeros(n)
        self.views_7d = np.zeros(n)
        self.views_30d = np.zeros(n)

    def crawl_epoch(
        self,
        rng: np.random.Generator,
        rates_per_day: FloatArray,
        true_changes: FloatArray,
        start: float,
        days: float,
    ) -> None:
        end = start + days
        gap = 1.0 / rates_per_day
        first = np.maximum(self.last_crawl + gap, start)
        crawled = first < end
        first_gap = first - self.last_crawl
        # the gap up to the first crawl of the epoch, then whole intervals
        more = np.where(crawled, np.floor((end - first) / gap - 1e-12), 0.0)
        more = np.maximum(more, 0.0)
        first_changed = crawled & (rng.random(gap.size) < -np.expm1(-true_changes * first_gap))
        changed = rng.binomial(more.astype(np.int64), -np.expm1(-true_changes * gap))
        self.changed_gaps += first_changed + changed
        self.gaps += crawled + more
        self.observed_days += np.where(crawled, first_gap, 0.0) + more * gap
        self.last_crawl = np.where(crawled, first + more * gap, self.last_crawl)

    def count_views(self, rng: np.random.Generator, interest: FloatArray) -> None:
        recent = rng.poisson(interest * 7.0)
        self.views_7d = recent.astype(np.float64)
        self.views_30d = (recent + rng.poisson(interest * 23.0)).astype(np.float64)


def score(observer: Observer, budget_per_s: float, params: ScoringParams) -> FloatArray:
    """One full pass of our scorer; returns crawls per day."""
    n = observer.views_7d.size
    w = importance(
        subscriptions=np.zeros(n),
        proximity=np.zeros(n),
        views_7d=observer.views_7d,
        views_30d=observer.views_30d,
        age_days=np.full(n, np.inf),
        params=params,
    )
    changes = censored_changes(observer.changed_gaps, observer.gaps)
    lam = change_rate(changes, observer.observed_days, params)
    rates, _ = crawl_rates(w, lam, budget_per_s, params)
    # the rest of a production pass: due times and frontier priorities
    now_ms = 10**12
    last = np.full(n, now_ms - 3_600_000, dtype=np.int64)
    next_due(last, np.zeros(n, dtype=np.int64), rates)
    priority(w, lam, last, now_ms)
    return rates * DAY_S


def detection_delay(
    rng: np.random.Generator,
    rates_per_day: FloatArray,
    counts: np.ndarray,
    times: FloatArray,
    interest: FloatArray,
) -> float:
    """Interest-weighted mean days from a change to the first crawl after it."""
    gap = 1.0 / rates_per_day
    phase = rng.random(rates_per_day.size) * gap
    gap_e = np.repeat(gap, counts)
    delay = np.mod(np.repeat(phase, counts) - times, gap_e)
    weight = np.repeat(interest, counts)
    return float((delay * weight).sum() / weight.sum())


def main() -> None:
    args = parse_args()
    rng = np.random.default_rng(args.seed)
    n = args.products
    params = ScoringParams()
    lo, hi = params.min_rate * DAY_S, params.max_rate * DAY_S

    ranks = rng.permutation(n) + 1.0
    interest = ranks**-args.zipf
    interest *= args.views_per_day / interest.sum()
    true_changes = args.change_median * np.exp(args.change_sigma * rng.standard_normal(n))
    budget_per_day = args.crawls_per_product_day * n
    budget_per_s = budget_per_day / DAY_S
    print(
        f"products={n} zipf={args.zipf} views/day={args.views_per_day:.0f} "
        f"changes/day: median={args.change_median} mean={true_changes.mean():.3f} "
        f"budget={budget_per_day:.0f} crawls/day ({budget_per_s:.2f}/s) "
        f"interval clamps=[{params.min_interval_s / 3600:.0f} h, "
        f"{params.max_interval_s / DAY_S:.0f} d]"
    )

    round_robin = water_fill(np.ones(n), budget_per_day, lo, hi)[0]
    proportional = water_fill(interest, budget_per_day, lo, hi)[0]
    optimum = water_fill(np.sqrt(interest * true_changes), budget_per_day, lo, hi)[0]

    observer = Observer(rng, round_robin)
    ours = round_robin
    elapsed = 0.0
    while elapsed < args.warmup_days:
        days = min(args.rescore_days, args.warmup_days - elapsed)
        observer.crawl_epoch(rng, ours, true_changes, elapsed, days)
        observer.count_views(rng, interest)
        elapsed += days
        ours = score(observer, budget_per_s, params)

    started = time.perf_counter()
    score(observer, budget_per_s, params)
    score_seconds = time.perf_counter() - started

    counts = rng.poisson(true_changes * args.measure_days)
    times = rng.random(int(counts.sum())) * args.measure_days
    print(f"measured changes: {counts.sum()} over {args.measure_days:.0f} days")
    delays = {}
    for name, rates in (
        ("round_robin", round_robin),
        ("proportional", proportional),
        ("ours", ours),
        ("optimum", optimum),
    ):
        spent = rates.sum()
        delays[name] = detection_delay(rng, rates, counts, times, interest)
        print(
            f"{name:>12}: weighted mean delay {delays[name] * 24:8.3f} h   crawls/day {spent:,.0f}"
        )
    print(
        f"ours_vs_optimum={delays['ours'] / delays['optimum']:.3f} "
        f"ours_vs_round_robin={delays['ours'] / delays['round_robin']:.3f} "
        f"score_seconds={score_seconds:.3f}"
    )


if __name__ == "__main__":
    main()

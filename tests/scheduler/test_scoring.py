"""Properties of the pure scorer: budget, clamps, monotonicity, the square-root rule."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler.scoring import (
    PRIORITY_CAP,
    ScoringParams,
    censored_changes,
    change_rate,
    crawl_rates,
    fleet_budget,
    importance,
    next_due,
    priority,
    rates_at_level,
    water_fill,
)

PARAMS = ScoringParams(min_interval_s=3600, max_interval_s=30 * 86400)
LO, HI = PARAMS.min_rate, PARAMS.max_rate

positive = st.floats(min_value=1e-4, max_value=1e4, allow_nan=False)


def _importance(n: int, **overrides: object) -> np.ndarray:
    args: dict[str, object] = {
        "subscriptions": np.zeros(n),
        "proximity": np.zeros(n),
        "views_7d": np.zeros(n),
        "views_30d": np.zeros(n),
        "age_days": np.full(n, np.inf),
    }
    args.update(overrides)
    return importance(**args, params=PARAMS)  # type: ignore[arg-type]


@settings(max_examples=200, deadline=None)
@given(
    weights=st.lists(positive, min_size=1, max_size=60),
    changes=st.lists(positive, min_size=60, max_size=60),
    fraction=st.floats(min_value=0.0, max_value=1.2),
)
def test_budget_and_clamps_are_respected(
    weights: list[float], changes: list[float], fraction: float
) -> None:
    n = len(weights)
    # budgets from "everyone at the floor" to beyond "everyone at the ceiling"
    budget = n * (LO + fraction * (HI - LO))
    rates, level = crawl_rates(weights, changes[:n], budget, PARAMS)
    assert np.all(rates >= LO * (1 - 1e-9))
    assert np.all(rates <= HI * (1 + 1e-9))
    if budget <= n * HI:
        assert math.isclose(rates.sum(), budget, rel_tol=1e-9)
    else:
        assert np.allclose(rates, HI) and level == math.inf


def test_budget_below_everyones_minimum_wins_over_the_clamp() -> None:
    rates, _ = water_fill([1.0, 4.0, 9.0], 3 * LO / 2, LO, HI)
    assert math.isclose(rates.sum(), 3 * LO / 2, rel_tol=1e-9)
    assert rates[0] < rates[1] < rates[2]


def test_clamped_products_free_and_consume_budget() -> None:
    # one huge share hits the ceiling, two tiny ones sit at the floor, the rest share
    shares = np.array([1e9, 1e-9, 1e-9, 1.0, 2.0])
    budget = HI + 2 * LO + 0.0003
    rates, level = water_fill(shares, budget, LO, HI)
    assert rates[0] == HI and rates[1] == rates[2] == LO
    assert math.isclose(rates[3] + rates[4], 0.0003, rel_tol=1e-9)
    assert math.isclose(rates[4] / rates[3], 2.0, rel_tol=1e-9)
    assert np.allclose(rates_at_level(shares, level, LO, HI), rates)


@settings(max_examples=100, deadline=None)
@given(a=positive, b=positive, la=positive, lb=positive)
def test_unclamped_rates_follow_the_square_root_rule(
    a: float, b: float, la: float, lb: float
) -> None:
    # a population wide enough that the two products stay inside the clamps
    crowd = np.full(100, 1.0)
    w = np.concatenate([[a, b], crowd])
    lam = np.concatenate([[la, lb], crowd])
    budget = 102 * (LO * HI) ** 0.5
    rates, _ = crawl_rates(w, lam, budget, PARAMS)
    if LO < rates[0] < HI and LO < rates[1] < HI:
        assert math.isclose(rates[0] / rates[1], math.sqrt(a * la / (b * lb)), rel_tol=1e-9)


def test_square_root_ratio_for_two_known_products() -> None:
    rates, _ = crawl_rates([4.0, 1.0, 1.0], [1.0, 1.0, 4.0], 3 * (LO * HI) ** 0.5, PARAMS)
    # 4 x 1 and 1 x 4 weigh the same; 1 x 1 gets half their rate
    assert math.isclose(rates[0], rates[2], rel_tol=1e-12)
    assert math.isclose(rates[0] / rates[1], 2.0, rel_tol=1e-9)


@settings(max_examples=100, deadline=None)
@given(
    w=st.lists(positive, min_size=3, max_size=30),
    bump=st.floats(min_value=1.01, max_value=100),
    which=st.sampled_from(["importance", "change"]),
)
def test_rates_are_monotone_in_importance_and_change_rate(
    w: list[float], bump: float, which: str
) -> None:
    lam = np.ones(len(w))
    budget = len(w) * (LO * HI) ** 0.5
    before, _ = crawl_rates(w, lam, budget, PARAMS)
    w2, lam2 = np.array(w), lam.copy()
    if which == "importance":
        w2[0] *= bump
    else:
        lam2[0] *= bump
    after, _ = crawl_rates(w2, lam2, budget, PARAMS)
    assert after[0] >= before[0] * (1 - 1e-9)
    # the others pay for it, never gain
    assert np.all(after[1:] <= before[1:] * (1 + 1e-9))


def test_importance_grows_with_every_signal() -> None:
    base = _importance(1)[0]
    assert _importance(1, subscriptions=np.array([1]))[0] > base
    assert _importance(1, views_7d=np.array([7]))[0] > base
    assert _importance(1, views_30d=np.array([30]))[0] > base
    assert _importance(1, age_days=np.array([1.0]))[0] > base
    subscribed = {"subscriptions": np.array([2, 2, 2])}
    near = _importance(3, proximity=np.array([0.5, 0.9, 1.0]), **subscribed)
    assert near[0] < near[1] < near[2]
    # proximity without subscribers means nothing
    assert _importance(1, proximity=np.array([1.0]))[0] == base


def test_importance_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="proximity"):
        _importance(1, proximity=np.array([1.5]))
    with pytest.raises(ValueError, match="views_7d"):
        _importance(1, views_7d=np.array([-1.0]))
    with pytest.raises(ValueError, match="budget"):
        water_fill([1.0], float("nan"), LO, HI)


def test_change_rate_is_the_gamma_poisson_posterior_mean() -> None:
    params = ScoringParams(prior_changes=1.0, prior_days=7.0)
    # no history: the prior mean
    assert change_rate([0], [0], params)[0] == pytest.approx(1 / 7)
    # a short history moves the estimate only part of the way
    short = change_rate([3], [3], params)[0]
    assert 1 / 7 < short < 1.0
    assert short == pytest.approx(4 / 10)
    # a long history dominates the prior
    assert change_rate([2000], [1000], params)[0] == pytest.approx(2.0, rel=0.01)
    assert change_rate([0], [365], params)[0] < 0.01
    with pytest.raises(ValueError):
        change_rate([-1], [3], params)


def test_censored_changes_recover_what_gaps_hide() -> None:
    # no change seen, or nothing observed: nothing to add
    assert censored_changes([0, 0], [10, 0]).tolist() == [0.0, 0.0]
    # rare changes: almost one change per changed gap
    assert censored_changes([1], [100])[0] == pytest.approx(1.005, rel=1e-3)
    # most gaps changed: more changes than changed gaps, still finite when all did
    assert censored_changes([8], [10])[0] > 8 * 1.5
    assert math.isfinite(censored_changes([10], [10])[0])
    with pytest.raises(ValueError):
        censored_changes([3], [2])


def test_a_recent_extension_report_pushes_the_next_crawl_back() -> None:
    hour = 3_600_000
    rates = np.full(3, 1 / 3600)  # hourly
    due = next_due(
        last_crawl_ms=[10 * hour, 10 * hour, 0],
        last_report_ms=[0, 10 * hour + hour // 2, 0],
        rates=rates,
    )
    assert due[0] == 11 * hour
    assert due[1] == 11 * hour + hour // 2
    assert due[2] == 0  # never observed: due now


def test_priority_orders_by_importance_change_and_overdueness() -> None:
    now = 100 * 86_400_000
    day = 86_400_000
    p = priority(
        [1, 2, 1, 1, 1, 1e9],
        [1, 1, 2, 1, 1, 1],
        [now - day, now - day, now - day, now - 2 * day, 0, now - day],
        now,
    )
    assert p[1] > p[0] and p[2] > p[0] and p[3] > p[0]
    assert p[4] > p[3]  # never observed counts as very stale
    assert p[5] == PRIORITY_CAP


def test_fleet_budget_follows_the_proxies() -> None:
    assert fleet_budget(10, 1.0, 0.1, 5.0) == pytest.approx(9.0)
    assert fleet_budget(0, 1.0, 0.0, 5.0) == pytest.approx(0.2)
    with pytest.raises(ValueError):
        fleet_budget(10, 1.0, 1.0, 5.0)


def test_scoring_params_are_checked() -> None:
    with pytest.raises(ValueError, match="interval"):
        ScoringParams(min_interval_s=7200, max_interval_s=3600)
    with pytest.raises(ValueError, match="prior_days"):
        ScoringParams(prior_days=0)

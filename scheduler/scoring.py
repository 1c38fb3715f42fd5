"""Crawl scoring: how often each product is crawled, as a pure function of arrays.

Everything here takes and returns numpy arrays (one element per product) and does no
I/O, so a full pass over a million products is a handful of vectorised operations.

The objective
-------------
A price change that nobody has seen yet is a missed alert or a stale chart. For a
product crawled periodically at rate ``r`` whose price changes as a Poisson process of
rate ``lambda``, a change waits on average ``1 / (2 r)`` until a crawl sees it. Weighting
every change by how much people care about the product (importance ``w``), the cost is::

    sum_i  w_i * lambda_i / (2 r_i)        subject to   sum_i r_i = B

and the Lagrange condition gives the square-root rule ``r_i = c * sqrt(w_i * lambda_i)``.
Each rate is clamped to ``[1 / max_interval, 1 / min_interval]``; the level ``c`` is then
found by water-filling (:func:`water_fill`): a product clamped at the minimum rate costs
budget that the others do not get, one clamped at the maximum frees what it cannot use,
and the unclamped ones share the rest, still in proportion to ``sqrt(w * lambda)``.

Budget
------
``B`` (crawls per second) is what the fleet may spend on scheduled crawls:
``proxies / proxy_interval_s`` (one request per interval per proxy IP, fleet-wide) times
``1 - verify_share``: verification crawls of suspicious reports jump the queue and must
find capacity left. See :func:`fleet_budget`. The budget is physical (politeness), so it
wins over the minimum rate: when ``n / max_interval > B`` the floor is dropped.

Importance
----------
In "views per day" units, so that every term has a meaning one can argue about::

    w = floor
        + q * views_7d / 7 + (1 - q) * views_30d / 30     # interest, views per day
        + sub_weight * subs * (1 + proximity_boost * p^4) # people waiting for a drop
        + new_bonus  * [first seen less than new_days ago]

- views: chart loads and extension reports per day. The month is the estimate (a week
  of a quiet product is a handful of views, too noisy to rank by); the week, with weight
  ``q = recent_view_weight`` (0.25), lets a sudden surge show before the month catches
  up. bench/freshness.py measured q = 0.5 about 2 % worse than 0.25 on stationary
  interest.
- ``subs``: active subscriptions. One subscriber counts as ``sub_weight`` views a day: a
  subscriber is a promise to alert, a view is a passing look.
- ``p`` in [0, 1]: how close the current price is to the nearest armed threshold
  (``threshold / price``, 1 when at or below it). ``p^4`` keeps the boost for prices
  within a few per cent of a threshold (p = 0.95: x0.81, p = 0.8: x0.41, p = 0.5: x0.06).
- newness: a newly discovered product has no history yet; a short burst of crawls
  learns its change rate and makes its chart useful.
- ``floor``: an unseen, unsubscribed product still gets its minimum share.

Change rate
-----------
Changes per day with a Gamma(a, b) prior: the posterior mean of a Poisson rate after
seeing ``k`` changes over ``t`` days is ``(k + a) / (t + b)`` (:func:`change_rate`).
With defaults a = 1, b = 7 a product with no history is assumed to change about once a
week, and a week of history already weighs as much as the prior. Changes are seen only
through crawls, and two changes between two crawls look like one, so a detected count
undercounts fast movers; :func:`censored_changes` corrects a count of "crawl intervals
that showed a change" for that before it enters the estimator.

Next crawl and priority
-----------------------
A product is due ``1 / r`` after it was last observed, by a crawl **or** an extension
report: a recent report pushes the next crawl back (:func:`next_due`). Never-observed
products are due now. On the frontier, due products are ranked by the interest-weighted
changes they have probably missed so far, ``w * lambda * age_days``
(:func:`priority`): important, volatile and overdue products come first. It is capped at
``PRIORITY_CAP`` so that a user-requested first crawl (priority 1000) still goes first.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import numpy.typing as npt

from pricewatch.history import DAY_MS
from pricewatch.politeness import fleet_rate

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

DAY_S = 86_400.0
PRIORITY_CAP = 999.0
# how stale a product never observed counts as, in days
UNKNOWN_AGE_DAYS = 30.0
_BISECTION_STEPS = 200


@dataclasses.dataclass(frozen=True, kw_only=True)
class ScoringParams:
    """The knobs of the scorer (see the module docstring for their meaning)."""

    # crawl interval clamps, seconds
    min_interval_s: float = 3_600.0
    max_interval_s: float = 30 * DAY_S
    # Gamma prior on the change rate (changes per day): mean a / b
    prior_changes: float = 1.0
    prior_days: float = 7.0
    # importance, in views per day
    importance_floor: float = 0.01
    recent_view_weight: float = 0.25
    sub_weight: float = 20.0
    proximity_boost: float = 4.0
    new_bonus: float = 5.0
    new_days: float = 7.0

    def __post_init__(self) -> None:
        if not 0 < self.min_interval_s <= self.max_interval_s:
            raise ValueError(
                f"need 0 < min_interval_s <= max_interval_s, got {self.min_interval_s} "
                f"and {self.max_interval_s}"
            )
        if not 0 <= self.recent_view_weight <= 1:
            raise ValueError(f"recent_view_weight must be in [0, 1], got {self.recent_view_weight}")
        for name in ("prior_changes", "prior_days", "importance_floor"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        for name in ("sub_weight", "proximity_boost", "new_bonus", "new_days"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must not be negative, got {getattr(self, name)}")

    @property
    def min_rate(self) -> float:
        """Crawls per second of the least important product."""
        return 1.0 / self.max_interval_s

    @property
    def max_rate(self) -> float:
        return 1.0 / self.min_interval_s


def fleet_budget(
    proxies: int, proxy_interval_s: float, verify_share: float, direct_interval_s: float
) -> float:
    """Scheduled crawls per second the fleet can afford.

    Without proxies the one home IP crawls every ``direct_interval_s``.
    """
    if not 0 <= verify_share < 1:
        raise ValueError(f"verify_share must be in [0, 1), got {verify_share}")
    return fleet_rate(proxies, proxy_interval_s, direct_interval_s) * (1.0 - verify_share)


def _as_float(name: str, values: npt.ArrayLike) -> FloatArray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {array.shape}")
    if not np.all(np.isfinite(array)) or np.any(array < 0):
        raise ValueError(f"{name} must be finite and non-negative")
    return array


def change_rate(
    changes: npt.ArrayLike, days: npt.ArrayLike, params: ScoringParams = ScoringParams()
) -> FloatArray:
    """Posterior mean changes per day, ``(changes + a) / (days + b)``."""
    k = _as_float("changes", changes)
    t = _as_float("days", days)
    return (k + params.prior_changes) / (t + params.prior_days)


def censored_changes(changed_intervals: npt.ArrayLike, intervals: npt.ArrayLike) -> FloatArray:
    """Expected number of changes behind ``changed_intervals`` of ``intervals`` crawl
    gaps that showed a change.

    A gap of length ``g`` shows a change with probability ``1 - exp(-lambda g)``; the
    maximum-likelihood ``lambda g`` is ``-log(1 - k / n)``, so ``n * -log(1 - k / n)``
    changes happened. When every gap changed the log diverges; half a gap is taken as
    unchanged (the usual continuity correction), which keeps the estimate finite.
    """
    k = _as_float("changed_intervals", changed_intervals)
    n = _as_float("intervals", intervals)
    if np.any(k > n):
        raise ValueError("changed_intervals cannot exceed intervals")
    safe_n = np.where(n > 0, n, 1.0)
    share = np.minimum(k, n - 0.5) / safe_n
    return np.where(n > 0, -safe_n * np.log1p(-np.clip(share, 0.0, None)), 0.0)


def importance(
    *,
    subscriptions: npt.ArrayLike,
    proximity: npt.ArrayLike,
    views_7d: npt.ArrayLike,
    views_30d: npt.ArrayLike,
    age_days: npt.ArrayLike,
    params: ScoringParams = ScoringParams(),
) -> FloatArray:
    """Importance in views-per-day units (formula in the module docstring).

    ``age_days`` is the time since the product was first seen (``inf`` if unknown).
    """
    subs = _as_float("subscriptions", subscriptions)
    p = _as_float("proximity", proximity)
    if np.any(p > 1):
        raise ValueError("proximity must be in [0, 1]")
    v7 = _as_float("views_7d", views_7d)
    v30 = _as_float("views_30d", views_30d)
    age = np.asarray(age_days, dtype=np.float64)
    if np.any(np.isnan(age)) or np.any(age < 0):
        raise ValueError("age_days must be non-negative (inf when unknown)")
    q = params.recent_view_weight
    views = q * v7 / 7.0 + (1.0 - q) * v30 / 30.0
    waiting = params.sub_weight * subs * (1.0 + params.proximity_boost * p**4)
    new = np.where(age < params.new_days, params.new_bonus, 0.0)
    return params.importance_floor + views + waiting + new


def water_fill(
    shares: npt.ArrayLike, budget: float, min_rate: float, max_rate: float
) -> tuple[FloatArray, float]:
    """Rates ``clip(level * share, min_rate, max_rate)`` that spend ``budget`` exactly.

    Returns the rates and the level, which prices further products against the same
    allocation (:func:`rates_at_level`) until the next full pass. When the budget cannot
    cover everyone's minimum the minimum is dropped (the budget is a politeness limit);
    when it exceeds everyone's maximum every product gets the maximum and the level is
    ``inf``.
    """
    s = _as_float("shares", shares)
    if not (np.isfinite(budget) and budget >= 0):
        raise ValueError(f"budget must be finite and non-negative, got {budget}")
    if not 0 <= min_rate <= max_rate:
        raise ValueError(f"need 0 <= min_rate <= max_rate, got {min_rate}, {max_rate}")
    n = s.size
    if n == 0:
        return np.zeros(0), 0.0
    if budget >= n * max_rate:
        return np.full(n, max_rate), float("inf")
    if budget < n * min_rate:
        min_rate = 0.0
    positive = s > 0
    if not positive.any():
        return np.full(n, budget / n), 0.0
    # Zero shares sit at min_rate whatever the level; if even every positive share at
    # max_rate cannot spend the budget, that is the best there is.
    ceiling = np.count_nonzero(positive) * max_rate + np.count_nonzero(~positive) * min_rate
    if budget >= ceiling:
        return np.where(positive, max_rate, min_rate), float("inf")

    def spent(level: float) -> float:
        return float(np.clip(level * s, min_rate, max_rate).sum())

    # The spend grows monotonically with the level; bisect in log space between a level
    # where everyone is at the floor and one where every positive share hits the ceiling.
    lo = np.log(max(min_rate, 1e-300) / s[positive].max()) - 1.0
    hi = np.log(max_rate / s[positive].min()) + 1.0
    for _ in range(_BISECTION_STEPS):
        mid = (lo + hi) / 2.0
        if spent(float(np.exp(mid))) < budget:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-13:
            break
    level = float(np.exp((lo + hi) / 2.0))
    # Exact solution on the free set found by the bisection.
    raw = level * s
    low = raw <= min_rate
    high = raw >= max_rate
    free = ~(low | high)
    free_share = float(s[free].sum())
    if free_share > 0:
        rest = budget - min_rate * np.count_nonzero(low) - max_rate * np.count_nonzero(high)
        level = rest / free_share
    return np.clip(level * s, min_rate, max_rate), level


def rates_at_level(
    shares: npt.ArrayLike, level: float, min_rate: float, max_rate: float
) -> FloatArray:
    """The rates a known water level gives (incremental re-scoring between full passes)."""
    s = _as_float("shares", shares)
    if np.isinf(level):
        return np.where(s > 0, max_rate, min_rate)
    return np.clip(level * s, min_rate, max_rate)


def crawl_shares(importance_: npt.ArrayLike, change_rate_: npt.ArrayLike) -> FloatArray:
    """The square-root rule: ``sqrt(importance * change rate)``."""
    return np.sqrt(_as_float("importance", importance_) * _as_float("change_rate", change_rate_))


def crawl_rates(
    importance_: npt.ArrayLike,
    change_rate_: npt.ArrayLike,
    budget: float,
    params: ScoringParams = ScoringParams(),
) -> tuple[FloatArray, float]:
    """Crawls per second per product under ``budget``; returns (rates, level)."""
    shares = crawl_shares(importance_, change_rate_)
    return water_fill(shares, budget, params.min_rate, params.max_rate)


def next_due(
    last_crawl_ms: npt.ArrayLike, last_report_ms: npt.ArrayLike, rates: npt.ArrayLike
) -> IntArray:
    """When each product should next be crawled (ms); 0 (now) if never observed.

    The clock restarts at the later of the last crawl and the last extension report:
    a product someone just reported needs no crawl for another interval.
    """
    crawl = np.asarray(last_crawl_ms, dtype=np.int64)
    report = np.asarray(last_report_ms, dtype=np.int64)
    r = _as_float("rates", rates)
    last = np.maximum(crawl, report)
    with np.errstate(divide="ignore"):
        interval_ms = np.where(r > 0, 1000.0 / r, np.inf)
    due = np.minimum(last + interval_ms, float(np.iinfo(np.int64).max // 2))
    return np.where(last > 0, due, 0).astype(np.int64)


def priority(
    importance_: npt.ArrayLike,
    change_rate_: npt.ArrayLike,
    last_observed_ms: npt.ArrayLike,
    now_ms: int,
    unknown_age_days: float = UNKNOWN_AGE_DAYS,
) -> FloatArray:
    """Frontier priority: interest-weighted changes probably missed since the last
    observation, ``importance * changes/day * age_days``, capped at ``PRIORITY_CAP``.

    A product never observed counts as ``unknown_age_days`` old.
    """
    w = _as_float("importance", importance_)
    lam = _as_float("change_rate", change_rate_)
    last = np.asarray(last_observed_ms, dtype=np.int64)
    age = np.where(last > 0, np.maximum(now_ms - last, 0) / DAY_MS, unknown_age_days)
    return np.minimum(w * lam * age, PRIORITY_CAP)

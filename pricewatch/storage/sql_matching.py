"""The alerts' statements for many price changes at once.

One change at a time costs half a dozen statements (re-arm, read the due page, claim,
disarm, look up e-mails) whatever they find, and each costs far more in building,
binding and handing it to the driver than the database spends on it: a worker that
matches changes one by one keeps up with a few dozen a second. These functions take
the changes of one *round*, at most one per product, so that none of them meets rows
another one touches and running them together equals running them one after the
other, and run each statement once for the round:

- re-arming and disarming: one statement with a parameter set per change (or per
  fired subscription);
- the first page of each change's due subscriptions: one ``UNION ALL`` of the
  per-change page reads, each still a seek into ``ix_subscriptions_due`` in page
  order (a change whose page comes back full reads its next pages on its own).

The statements are built once per shape, with named parameters, so that a round
costs binding its values and nothing more. The rules they apply are
:mod:`pricewatch.storage.sql_subscriptions`' own (``_due``, ``_rearm``): the same
conditions, bound per change.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, NamedTuple

from sqlalchemy import CompoundSelect, Integer, Update, bindparam, select, true, union_all, update

from pricewatch.storage.sql_engine import Db, transaction
from pricewatch.storage.sql_records import Subscription, from_result
from pricewatch.storage.sql_schema import subscriptions
from pricewatch.storage.sql_subscriptions import (
    _check_limit,
    _check_price,
    _due,
    _in_stock_alerts,
    _page,
    _price_alerts,
    _rearm,
    fired_values,
)

_sub = subscriptions.c
# page reads per UNION ALL: longer rounds take several (a statement per length is cached)
READS_PER_STATEMENT = 32


class PricedSeries(NamedTuple):
    """A series of a product at a price, as a change seen at ``observed_at`` says."""

    market: str
    asin: str
    series: str
    price: int
    observed_at: int


class SeenProduct(NamedTuple):
    """A product, as a change seen at ``observed_at`` says."""

    market: str
    asin: str
    observed_at: int


class Fired(NamedTuple):
    """A subscription a change fired: at ``price`` (None: in stock, no price shown),
    seen at ``observed_at``."""

    subscription_id: int
    price: int | None
    observed_at: int


def _bound(prefix: str, names: Sequence[str]) -> list[Any]:
    # Named "b_...": an UPDATE keeps its columns' own names for its SET clause.
    return [bindparam(f"b_{prefix}{name}") for name in names]


@functools.cache
def _rearm_above() -> Update:
    market, asin, series, price, seen = _bound("", ("market", "asin", "series", "price", "seen"))
    return _rearm([*_price_alerts(market, asin, series), _sub.threshold < price], seen)


@functools.cache
def _rearm_in_stock() -> Update:
    market, asin, seen = _bound("", ("market", "asin", "seen"))
    return _rearm(_in_stock_alerts(market, asin), seen)


@functools.cache
def _disarm() -> Update:
    sid, price, seen = _bound("", ("id", "price", "seen"))
    return (
        update(subscriptions)
        .where(_sub.id == sid, _sub.armed == true())
        .values(**fired_values(price, seen, seen))
    )


@functools.cache
def first_due_pages_query(reads: int) -> CompoundSelect:
    """``reads`` first pages of due price alerts, each its own index range, in one
    statement; bind it with :func:`first_due_pages_params`."""
    if reads <= 0:
        raise ValueError(f"reads must be positive, got {reads}")
    limit: Any = bindparam("b_limit", type_=Integer)
    pages = []
    for i in range(reads):
        market, asin, series, price, seen = _bound(
            f"{i}_", ("market", "asin", "series", "price", "seen")
        )
        page = _page(
            _due(_price_alerts(market, asin, series), seen).where(_sub.threshold >= price), limit
        ).subquery()
        # each page a subquery: SQLite takes no LIMIT on a bare member of a compound
        pages.append(select(page))
    return union_all(*pages)


def _priced_params(target: PricedSeries, prefix: str = "") -> dict[str, Any]:
    """``target``'s values, named as :func:`_bound` names them with ``prefix``."""
    _check_price("price", target.price)
    values = zip(("market", "asin", "series", "price", "seen"), target, strict=True)
    return {f"b_{prefix}{name}": value for name, value in values}


def first_due_pages_params(targets: Sequence[PricedSeries], limit: int) -> dict[str, Any]:
    _check_limit(limit)
    params: dict[str, Any] = {"b_limit": limit}
    for i, t in enumerate(targets):
        params.update(_priced_params(t, f"{i}_"))
    return params


def _distinct(keys: Sequence[tuple[str, ...]], what: str) -> None:
    if len(set(keys)) != len(keys):
        raise ValueError(f"one round names a {what} twice; its changes must run in turn")


async def first_due_pages(
    db: Db, targets: Sequence[PricedSeries], *, limit: int
) -> dict[tuple[str, str, str], list[Subscription]]:
    """Each target's first page of armed, active price alerts whose threshold is at
    or above its price (and whose last change came before it), as
    ``due_subscriptions`` reads it, by (market, asin, series). A target whose page is
    full reads its next pages with ``due_subscriptions(after=page[-1])``."""
    _distinct([(t.market, t.asin, t.series) for t in targets], "series")
    pages: dict[tuple[str, str, str], list[Subscription]] = {
        (t.market, t.asin, t.series): [] for t in targets
    }
    async with transaction(db) as conn:
        for start in range(0, len(targets), READS_PER_STATEMENT):
            chunk = targets[start : start + READS_PER_STATEMENT]
            stmt = first_due_pages_query(len(chunk))
            result = await conn.execute(stmt, first_due_pages_params(chunk, limit))
            for sub in from_result(result, Subscription):
                pages[sub.market, sub.asin, sub.series].append(sub)
    return pages


async def rearm_above_each(db: Db, targets: Sequence[PricedSeries]) -> None:
    """``rearm_above`` for each target (its series' fired alerts whose threshold is
    below its price, and whose last change came before it)."""
    if not targets:
        return
    _distinct([(t.market, t.asin, t.series) for t in targets], "series")
    async with transaction(db) as conn:
        await conn.execute(_rearm_above(), [_priced_params(t) for t in targets])


async def rearm_out_of_stock_each(db: Db, products: Sequence[SeenProduct]) -> None:
    """``rearm_out_of_stock`` for each product."""
    if not products:
        return
    _distinct([(p.market, p.asin) for p in products], "product")
    rows = [{"b_market": p.market, "b_asin": p.asin, "b_seen": p.observed_at} for p in products]
    async with transaction(db) as conn:
        await conn.execute(_rearm_in_stock(), rows)


async def disarm_each(db: Db, fired: Sequence[Fired]) -> None:
    """``disarm`` for each fired subscription, at its own change's price and page time."""
    if not fired:
        return
    for f in fired:
        if f.price is not None:
            _check_price("price", f.price)
    rows = [{"b_id": f.subscription_id, "b_price": f.price, "b_seen": f.observed_at} for f in fired]
    async with transaction(db) as conn:
        await conn.execute(_disarm(), rows)

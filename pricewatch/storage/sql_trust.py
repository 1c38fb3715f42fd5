"""Trust-but-verify in the relational store: the report audit, reputations, subscriber counts.

``report_audit`` keeps every held or rejected extension report once it is
decided (confirmed, refuted, expired, rejected), and every report accepted at
once that a spot-check crawl later judged. Its primary key is the report id,
which is what makes recording a verdict idempotent: the reporter's reputation
moves only in the transaction that inserts the audit row, so a verdict
recorded twice (a crash between the SQL commit and the Redis clean-up) counts
once.

The table joins the shared ``MetaData`` (``pricewatch.storage.sql_schema``), so
the schema the code queries and the migrations can be compared as one.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from typing import Any

import msgspec
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Index,
    Select,
    String,
    Table,
    func,
    literal,
    select,
    true,
    union_all,
)

from pricewatch.models import STOCK_SERIES, SubscriptionKind
from pricewatch.storage.sql_batches import in_batches
from pricewatch.storage.sql_dialect import upsert_insert
from pricewatch.storage.sql_engine import Db, transaction
from pricewatch.storage.sql_reporters import record_verdict
from pricewatch.storage.sql_schema import SubscriptionStatus, metadata, reporters, subscriptions


class AuditVerdict(enum.StrEnum):
    # a held report a verification crawl or a quorum of reporters agreed with
    CONFIRMED = "confirmed"
    # a held report a verification crawl contradicted
    REFUTED = "refuted"
    # a report accepted at once, announced, then contradicted by a spot check
    CORRECTED = "corrected"
    # a held report nobody verified in time
    EXPIRED = "expired"
    # refused outright (a reporter with a record of false reports)
    REJECTED = "rejected"


# verdicts that say something about the reporter's honesty
_CONFIRMS = frozenset({AuditVerdict.CONFIRMED})
_REFUTES = frozenset({AuditVerdict.REFUTED, AuditVerdict.CORRECTED})

report_audit = Table(
    "report_audit",
    metadata,
    Column("report_id", String(32), primary_key=True),
    Column("market", String(2), nullable=False),
    Column("asin", String(10), nullable=False),
    Column("series", String(16), nullable=False),
    Column("reporter", String(200), nullable=True),
    Column("observed_at", BigInteger, nullable=False),
    Column("price", BigInteger, nullable=True),
    Column("verdict", String(16), nullable=False),
    # why the report was held: comma-separated pricewatch.trust.Reason values
    Column("reasons", String(200), nullable=False, server_default=""),
    # what the verification crawl saw, when one decided
    Column("verified_price", BigInteger, nullable=True),
    # the PriceChange announced on this report and corrected since
    Column("refuted_event_id", String(64), nullable=True),
    Column("decided_at", BigInteger, nullable=False),
    CheckConstraint(
        f"verdict IN ({', '.join(repr(v.value) for v in AuditVerdict)})", name="verdict"
    ),
    # "what did this reporter send", and a product's report log
    Index(None, "reporter", "decided_at"),
    Index(None, "market", "asin", "decided_at"),
)


class AuditRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One decided report, as written to (and read from) ``report_audit``."""

    report_id: str
    market: str
    asin: str
    series: str
    reporter: str | None
    observed_at: int
    price: int | None
    verdict: AuditVerdict
    reasons: str = ""
    verified_price: int | None = None
    refuted_event_id: str | None = None
    decided_at: int


_COLUMNS = tuple(f.name for f in msgspec.structs.fields(AuditRecord))


async def record_decisions(db: Db, records: Iterable[AuditRecord]) -> int:
    """Write audit rows and move reputations, once per report id; returns rows written."""
    written = 0
    async with transaction(db) as conn:
        for record in records:
            values = {name: getattr(record, name) for name in _COLUMNS}
            values["verdict"] = record.verdict.value
            stmt = (
                upsert_insert(conn, report_audit)
                .values(**values)
                .on_conflict_do_nothing(index_elements=[report_audit.c.report_id])
            )
            if (await conn.execute(stmt)).rowcount != 1:
                continue
            written += 1
            if record.reporter and record.verdict in _CONFIRMS | _REFUTES:
                await record_verdict(
                    conn, record.reporter, record.verdict in _CONFIRMS, now=record.decided_at
                )
    return written


async def audit_log(
    db: Db, *, market: str | None = None, asin: str | None = None, reporter: str | None = None
) -> list[AuditRecord]:
    """Decided reports, oldest decision first, optionally of one product or reporter."""
    stmt = select(report_audit).order_by(report_audit.c.decided_at, report_audit.c.report_id)
    if market is not None:
        stmt = stmt.where(report_audit.c.market == market)
    if asin is not None:
        stmt = stmt.where(report_audit.c.asin == asin)
    if reporter is not None:
        stmt = stmt.where(report_audit.c.reporter == reporter)
    async with transaction(db) as conn:
        rows = (await conn.execute(stmt)).mappings().all()
    return [
        AuditRecord(
            **{name: row[name] for name in _COLUMNS if name != "verdict"},
            verdict=AuditVerdict(row["verdict"]),
        )
        for row in rows
    ]


async def reporter_counts(db: Db, reporter_ids: Iterable[str]) -> dict[str, tuple[int, int]]:
    """(confirmed, refuted) per known reporter; reporters never judged are absent."""
    found: dict[str, tuple[int, int]] = {}
    async with transaction(db) as conn:
        for chunk in in_batches(reporter_ids):
            stmt = select(reporters.c.id, reporters.c.confirmed, reporters.c.refuted).where(
                reporters.c.id.in_(chunk)
            )
            for rid, confirmed, refuted in await conn.execute(stmt):
                found[rid] = (int(confirmed), int(refuted))
    return found


_sub = subscriptions.c


def armed_count_query(market: str, asin: str, series: str, price: int, cap: int) -> Select:
    """How many armed, active subscriptions ``price`` would fire, counted up to ``cap``.

    The same range as the alerts' due query, so it reads ``ix_subscriptions_due``
    (product equality, then ``threshold >= price``). The cap bounds the cost on a
    product with 100,000 subscribers: the rules only ask "more than N?".

    A buy-box price is also the product in stock: the armed back-in-stock alerts count
    too (armed means the product was out of stock when last seen), so a report that
    makes an out-of-stock product "available" is judged by who it would tell.
    """

    def armed(*where: Any) -> Select:
        return (
            select(literal(1).label("one"))
            .where(
                _sub.market == market,
                _sub.asin == asin,
                _sub.series == series,
                *where,
                _sub.armed == true(),
                _sub.status == SubscriptionStatus.ACTIVE.value,
            )
            .limit(cap)
        )

    counted = armed(_sub.kind == SubscriptionKind.PRICE.value, _sub.threshold >= price)
    if series == STOCK_SERIES:
        in_stock = armed(
            _sub.kind == SubscriptionKind.BACK_IN_STOCK.value, _sub.threshold.is_(None)
        )
        # each part a subquery: SQLite takes no LIMIT on the members of a compound
        both = union_all(counted.subquery().select(), in_stock.subquery().select()).limit(cap)
        return select(func.count()).select_from(both.subquery())
    return select(func.count()).select_from(counted.subquery())


async def armed_counts(
    db: Db, items: Sequence[tuple[str, str, str, int]], cap: int
) -> dict[tuple[str, str, str, int], int]:
    """:func:`armed_count_query` for each distinct (market, asin, series, price)."""
    if cap <= 0:
        raise ValueError(f"cap must be positive, got {cap}")
    counts: dict[tuple[str, str, str, int], int] = {}
    async with transaction(db) as conn:
        for item in dict.fromkeys(items):
            stmt = armed_count_query(*item, cap=cap)
            counts[item] = int((await conn.execute(stmt)).scalar_one())
    return counts


__all__ = [
    "AuditRecord",
    "AuditVerdict",
    "armed_count_query",
    "armed_counts",
    "audit_log",
    "record_decisions",
    "report_audit",
    "reporter_counts",
]

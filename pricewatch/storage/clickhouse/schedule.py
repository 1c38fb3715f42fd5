"""The crawl schedule: every product's score and when its next crawl is due.

``crawl_schedule`` (migration 0006) is a ReplacingMergeTree(scored_at): re-scoring a
product is an insert, the newest score wins, and readers use FINAL.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

from clickhouse_connect.driver.client import Client

from pricewatch.history import DAY_MS
from pricewatch.storage.clickhouse.tables import Tables

if TYPE_CHECKING:  # the store only reads the arrays: the API need not load numpy
    import numpy as np
    import numpy.typing as npt

_WRITE_CHUNK = 100_000


class ScheduleRows(Protocol):
    """Scores of a pass as columns, one element per product of ``keys``."""

    @property
    def keys(self) -> Sequence[tuple[str, str]]: ...
    @property
    def importance(self) -> npt.NDArray[np.float64]: ...
    @property
    def change_rate(self) -> npt.NDArray[np.float64]: ...
    @property
    def rate(self) -> npt.NDArray[np.float64]: ...
    @property
    def last_observed_ms(self) -> npt.NDArray[np.int64]: ...
    @property
    def next_due_ms(self) -> npt.NDArray[np.int64]: ...


@dataclasses.dataclass(frozen=True)
class DueProduct:
    market: str
    asin: str
    importance: float
    change_rate: float
    last_observed_ms: int
    next_due_ms: int


class ScheduleStore(Tables):
    """The ``crawl_schedule`` table. Methods are blocking.

    ``unknown_age_days`` is how stale a never-observed product counts as in the
    frontier priority that :meth:`due` ranks by (the scheduler's scoring owns it).
    """

    def __init__(self, client: Client, database: str, *, unknown_age_days: float) -> None:
        super().__init__(client, database)
        self.unknown_age_days = unknown_age_days

    def write(self, scores: ScheduleRows, scored_at_ms: int) -> int:
        n = len(scores.keys)
        for start in range(0, n, _WRITE_CHUNK):
            part = slice(start, min(start + _WRITE_CHUNK, n))
            keys = scores.keys[part]
            columns: list[Sequence[Any]] = [
                [k[0] for k in keys],
                [k[1] for k in keys],
                scores.importance[part].tolist(),
                scores.change_rate[part].tolist(),
                scores.rate[part].tolist(),
                scores.last_observed_ms[part].tolist(),
                scores.next_due_ms[part].tolist(),
                [scored_at_ms] * len(keys),
            ]
            self.client.insert(
                f"{self.database}.crawl_schedule",
                columns,
                column_names=(
                    "market",
                    "asin",
                    "importance",
                    "change_rate",
                    "rate",
                    "last_observed",
                    "next_due",
                    "scored_at",
                ),
                column_oriented=True,
            )
        return n

    def due(self, before_ms: int, now_ms: int, limit: int) -> list[DueProduct]:
        """Up to ``limit`` products due before ``before_ms``, highest frontier priority
        first (the formula of :func:`scheduler.scoring.priority`, uncapped, evaluated
        here so that the limit keeps the best candidates rather than the first ones)."""
        if limit <= 0:
            return []
        result = self.client.query(
            f"""
            SELECT market, asin, importance, change_rate,
                   toUnixTimestamp64Milli(last_observed) AS seen,
                   toUnixTimestamp64Milli(next_due)
            FROM {self.database}.crawl_schedule FINAL
            WHERE next_due <= fromUnixTimestamp64Milli({{before:Int64}}, 'UTC')
            ORDER BY importance * change_rate
                     * if(seen > 0, greatest({{now:Int64}} - seen, 0) / {DAY_MS},
                          {self.unknown_age_days}) DESC,
                     market, asin
            LIMIT {{limit:UInt64}}
            """,
            parameters={"before": before_ms, "now": now_ms, "limit": limit},
        )
        return [DueProduct(*row) for row in result.result_rows]

    def scored(self) -> dict[tuple[str, str], dict[str, Any]]:
        """Every product's current row (operators, tests)."""
        result = self.client.query(
            f"""
            SELECT market, asin, importance, change_rate, rate,
                   toUnixTimestamp64Milli(last_observed), toUnixTimestamp64Milli(next_due),
                   toUnixTimestamp64Milli(scored_at)
            FROM {self.database}.crawl_schedule FINAL
            """
        )
        names = ("importance", "change_rate", "rate", "last_observed", "next_due", "scored_at")
        return {
            (row[0], row[1]): dict(zip(names, row[2:], strict=True)) for row in result.result_rows
        }

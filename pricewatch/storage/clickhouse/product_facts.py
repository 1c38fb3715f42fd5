"""Small reads about one product beside its chart: how often a series' price changed,
its recent drops, and when its next crawl is due.

A price change here is between two available prices: an out-of-stock spell between
them is no change of price (20 -> out of stock -> 20 is none, 20 -> out -> 15 is a drop).
"""

from __future__ import annotations

from typing import NamedTuple

from pricewatch.storage.clickhouse.tables import Tables


class PriceMove(NamedTuple):
    at_ms: int
    old: int
    new: int


class ProductFacts(Tables):
    """Reads of ``prices_raw`` and ``crawl_schedule`` for one product. Blocking."""

    def _moves(self, where: str) -> str:
        # each available sighting from the last one before the window on, with the
        # available price before it; the window's first row compares with that one
        return f"""
            SELECT at, price, previous FROM (
                SELECT toUnixTimestamp64Milli(observed_at) AS at, price,
                       lagInFrame(price, 1, toInt64(-1)) OVER (
                           ORDER BY observed_at
                           ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
                       ) AS previous
                FROM (
                    SELECT observed_at, assumeNotNull(price) AS price
                    FROM (
                        SELECT observed_at, price FROM {self.database}.prices_raw
                        WHERE market = {{market:String}} AND asin = {{asin:String}}
                          AND series = {{series:String}} AND price IS NOT NULL
                          AND observed_at < fromUnixTimestamp64Milli({{start:Int64}}, 'UTC')
                        ORDER BY observed_at DESC
                        LIMIT 1
                        UNION ALL
                        SELECT observed_at, price FROM {self.database}.prices_raw
                        WHERE market = {{market:String}} AND asin = {{asin:String}}
                          AND series = {{series:String}} AND price IS NOT NULL
                          AND observed_at >= fromUnixTimestamp64Milli({{start:Int64}}, 'UTC')
                          AND observed_at < fromUnixTimestamp64Milli({{end:Int64}}, 'UTC')
                    )
                )
            )
            WHERE previous >= 0 AND price != previous AND {where}
                  AND at >= {{start:Int64}}
        """

    def price_change_count(
        self, market: str, asin: str, series: str, start_ms: int, end_ms: int
    ) -> int:
        """How many times ``series``' available price changed in ``[start_ms, end_ms)``."""
        result = self.client.query(
            f"SELECT count() FROM ({self._moves('1')})",
            parameters={
                "market": market,
                "asin": asin,
                "series": series,
                "start": start_ms,
                "end": end_ms,
            },
        )
        return int(result.result_rows[0][0])

    def price_drops(
        self, market: str, asin: str, series: str, start_ms: int, end_ms: int, limit: int
    ) -> list[PriceMove]:
        """The newest ``limit`` times ``series``' available price fell in
        ``[start_ms, end_ms)``, newest first."""
        result = self.client.query(
            f"{self._moves('price < previous')} ORDER BY at DESC LIMIT {{limit:UInt32}}",
            parameters={
                "market": market,
                "asin": asin,
                "series": series,
                "start": start_ms,
                "end": end_ms,
                "limit": limit,
            },
        )
        return [PriceMove(int(at), int(old), int(new)) for at, new, old in result.result_rows]

    def next_due(self, market: str, asin: str) -> int | None:
        """When the scheduler last planned this product's next crawl (ms); None when it
        has not scored the product yet."""
        result = self.client.query(
            f"""
            SELECT toUnixTimestamp64Milli(next_due)
            FROM {self.database}.crawl_schedule FINAL
            WHERE market = {{market:String}} AND asin = {{asin:String}}
            LIMIT 1
            """,
            parameters={"market": market, "asin": asin},
        )
        rows = result.result_rows
        return int(rows[0][0]) if rows and rows[0][0] > 0 else None

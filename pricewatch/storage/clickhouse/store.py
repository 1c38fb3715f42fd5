"""``PriceStore``: the price, catalogue and view tables of one database together.

Ingest, the API and the importer each hold one; the scheduler's reads and the
schedule have their own modules (``scoring_inputs``, ``schedule``).
"""

from __future__ import annotations

from pricewatch.storage.clickhouse.chart_points import ChartPoints
from pricewatch.storage.clickhouse.price_history import PriceHistory
from pricewatch.storage.clickhouse.prices import Prices
from pricewatch.storage.clickhouse.product_facts import ProductFacts
from pricewatch.storage.clickhouse.products import Catalogue
from pricewatch.storage.clickhouse.views import ViewCounts


class PriceStore(Prices, PriceHistory, ChartPoints, ProductFacts, Catalogue, ViewCounts):
    """Price history, latest states, catalogue rows, views and small per-product facts
    (change counts, drops, the next crawl) in one ClickHouse database.

    The schema must exist (``migrate(client, database)``). Methods are blocking.
    """

"""Every ClickHouse statement of the project, by what it reads and writes.

- ``client``: ``get_clickhouse(url)``, an embedded chDB engine or an HTTP client to a
  server or cluster, chosen by URL; ``another_handle``, ``database_from_url``.
- ``tables``: the base of every store (one client, one database).
- ``prices``: accepted prices into ``prices_raw``, last states out.
- ``price_history``: chart buckets from the rollups.
- ``products``: the catalogue, merged on write.
- ``product_facts``: one product's change count, price drops and next crawl.
- ``views``: page views in, daily counts out, and the flush of the Redis counters.
- ``store``: ``PriceStore``, the four above together.
- ``schedule``: the crawl schedule the scheduler writes and refills the frontier from.
- ``scoring_inputs``: what the scheduler's scorer reads per product.
- ``trust``: the all-time lows trust-but-verify compares reports against.

The DDL and its numbered migrations live in ``pricewatch.schema`` (``migrate``).
"""

from pricewatch.schema.clickhouse_migrations import DEFAULT_DATABASE, migrate
from pricewatch.storage.clickhouse.client import (
    ClickHouseTarget,
    another_handle,
    database_from_url,
    embedded,
    get_clickhouse,
    parse_clickhouse_url,
)
from pricewatch.storage.clickhouse.prices import PRICE_COLUMNS
from pricewatch.storage.clickhouse.schedule import DueProduct, ScheduleRows, ScheduleStore
from pricewatch.storage.clickhouse.store import PriceStore
from pricewatch.storage.clickhouse.tables import Tables
from pricewatch.storage.clickhouse.trust import all_time_lows
from pricewatch.storage.clickhouse.views import ViewRow, flush_views, view_rows

__all__ = [
    "DEFAULT_DATABASE",
    "PRICE_COLUMNS",
    "ClickHouseTarget",
    "DueProduct",
    "PriceStore",
    "ScheduleRows",
    "ScheduleStore",
    "Tables",
    "ViewRow",
    "all_time_lows",
    "another_handle",
    "database_from_url",
    "embedded",
    "flush_views",
    "get_clickhouse",
    "migrate",
    "parse_clickhouse_url",
    "view_rows",
]

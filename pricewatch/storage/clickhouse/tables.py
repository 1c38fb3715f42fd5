"""What every ClickHouse store here stands on: one client and one database.

Every table name is qualified with the database, so one client can serve several
databases (production, and one per test).
"""

from __future__ import annotations

import datetime as dt

from clickhouse_connect.driver.client import Client

from pricewatch.schema.clickhouse_migrations import DEFAULT_DATABASE, check_database_name


class Tables:
    """The tables of one database, reached through one client. Methods are blocking.

    The schema must exist (``migrate(client, database)``).
    """

    def __init__(self, client: Client, database: str = DEFAULT_DATABASE) -> None:
        self.client = client
        self.database = check_database_name(database)

    def ping(self) -> None:
        """Raise unless ClickHouse (the server or the embedded engine) answers."""
        self.client.command("SELECT 1")


def utc_date(ts_ms: int) -> dt.date:
    """The UTC day of ``ts_ms``, as ``Date`` query parameters take it."""
    return dt.datetime.fromtimestamp(ts_ms // 1000, dt.UTC).date()

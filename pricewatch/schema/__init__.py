"""Database schemas: ClickHouse DDL with its numbered migrations, and the SQL schema.

``migrate(client, database="pricewatch", cluster=None)`` brings a ClickHouse database up
to date, on one node or ``ON CLUSTER`` (replicated tables behind Distributed ones).
"""

from pricewatch.schema.clickhouse_migrations import DEFAULT_DATABASE, migrate

__all__ = ["DEFAULT_DATABASE", "migrate"]

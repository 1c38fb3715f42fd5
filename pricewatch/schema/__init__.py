"""Database schemas: ClickHouse DDL with its numbered migrations, and the SQL schema.

``migrate(client, database="pricewatch")`` brings a ClickHouse database up to date.
"""

from pricewatch.schema.clickhouse_migrations import DEFAULT_DATABASE, migrate

__all__ = ["DEFAULT_DATABASE", "migrate"]

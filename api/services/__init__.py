"""What the controllers call: pure rules (windows, stats, report checks) and thin
adapters over Redis, SQL and ClickHouse."""

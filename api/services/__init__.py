"""What the controllers call: pure rules (windows, stats, report checks) and thin
adapters over Redis, SQL and ClickHouse. A service refuses a request by raising an
exception that carries its HTTP status (``api.services.refusals``)."""

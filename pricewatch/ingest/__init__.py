"""Ingest: observations stream -> checks -> ClickHouse -> price-change events."""

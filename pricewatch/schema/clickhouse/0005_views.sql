-- Product page views (website, extension), an input to crawl scheduling.
--
-- Raw events are only needed for a few weeks: monthly partitions let the TTL drop whole
-- parts (ttl_only_drop_parts) instead of rewriting them, so events live 90 days to about
-- four months. The daily counts are what the scheduler reads; SummingMergeTree adds up
-- the per-block counts on merge (readers still sum()).
CREATE TABLE IF NOT EXISTS {database}.{local:views}{on_cluster}
(
    market LowCardinality(String),
    asin   String CODEC(ZSTD(3)),
    at     DateTime64(3, 'UTC') CODEC(Delta, ZSTD(3)),
    source LowCardinality(String)
)
ENGINE = {engine:MergeTree}
PARTITION BY toYYYYMM(at)
ORDER BY (market, asin, at)
TTL toDateTime(at) + INTERVAL 90 DAY
SETTINGS ttl_only_drop_parts = 1, non_replicated_deduplication_window = 10000;

{distributed:views};

CREATE TABLE IF NOT EXISTS {database}.{local:views_daily}{on_cluster}
(
    market LowCardinality(String),
    asin   String CODEC(ZSTD(3)),
    day    Date,
    views  UInt64
)
ENGINE = {engine:SummingMergeTree}
ORDER BY (market, asin, day)
TTL day + INTERVAL 400 DAY
SETTINGS non_replicated_deduplication_window = 10000;

{distributed:views_daily};

CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.views_daily_mv{on_cluster} TO {database}.{local:views_daily}
AS SELECT market, asin, toDate(at) AS day, toUInt64(count()) AS views
FROM {database}.{local:views}
GROUP BY market, asin, day;

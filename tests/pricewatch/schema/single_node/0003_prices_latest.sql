-- The last accepted state per (market, asin, series), for ingest's cold start: when its
-- Redis cache misses it asks for thousands of keys at once, and reading them here costs
-- one short row per key instead of a product's whole history from prices_raw.
--
-- The view writes one row per key per insert block (argMax inside the block);
-- ReplacingMergeTree(observed_at) keeps the newest on merge and readers take argMax
-- again, so unmerged parts and out-of-order inserts are both correct.
CREATE TABLE IF NOT EXISTS {database}.prices_latest
(
    market       LowCardinality(String),
    asin         String CODEC(ZSTD(3)),
    series       LowCardinality(String),
    observed_at  DateTime64(3, 'UTC'),
    price        Nullable(Int64),
    availability LowCardinality(String)
)
ENGINE = ReplacingMergeTree(observed_at)
ORDER BY (market, asin, series)
SETTINGS index_granularity = 1024, non_replicated_deduplication_window = 10000;

CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.prices_latest_mv TO {database}.prices_latest
AS SELECT
    market,
    asin,
    series,
    latest_at AS observed_at,
    state.1 AS price,
    state.2 AS availability
FROM
(
    -- a subquery, so that the output aliases do not shadow the input columns
    SELECT
        market,
        asin,
        series,
        max(observed_at) AS latest_at,
        argMax(tuple(price, availability), observed_at) AS state
    FROM {database}.prices_raw
    GROUP BY market, asin, series
);

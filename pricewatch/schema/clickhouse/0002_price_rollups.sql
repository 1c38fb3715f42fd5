-- Hourly and daily rollups of prices_raw, what charts read (a short span of a
-- product's life is served as its change points, from prices_raw itself).
--
-- A price is a step function, so a bucket is summarised by what a chart needs to redraw
-- the steps: min/max of the available prices seen in it, the first and last state (the
-- price at the earliest / latest observation; argMin/argMax by time) and the sample count.
-- Inside the first/last states an unavailable (NULL) price is stored as -1: argMin/argMax
-- skip NULL arguments, and a NULL last state (out of stock) must win over an earlier
-- number. Readers turn -1 back into NULL. (Wrapping the price in a Tuple also keeps the
-- NULL, but the generic state made inserts about twice as slow.) Averages are
-- deliberately absent: with uneven sampling they are not the price anyone could buy at.
--
-- Cost: the hourly view dominates insert time (bench/storage.py: ~85-150 k rows/s with
-- all views against ~0.5-1 M rows/s for prices_raw alone on chDB), still far above the
-- design's ~1.2k observations/s. Sizes after OPTIMIZE FINAL: hourly 9.5 B/row (about one
-- row per raw point at a few crawls a day), daily 11.5 B/row.
--
-- AggregatingMergeTree keeps partial states per insert block and merges them in the
-- background, so readers always aggregate again (minMerge-style) by bucket.
-- Weekly and monthly charts are computed from the daily table at query time: at most a
-- few hundred daily rows per product-year, cheaper than two more rollups on every insert.
--
-- The same non_replicated_deduplication_window as prices_raw: with
-- deduplicate_blocks_in_dependent_materialized_views the views skip a replayed block too,
-- so a replay does not double the sample counts.
--
-- On a cluster the views read prices_raw_local and write the rollups' local tables, on
-- every node. A materialized view is an insert trigger on the table it selects from: on
-- the Distributed prices_raw it would fire only on the node that received an insert and
-- see the rows bound for every shard, and replication (which copies parts, not inserts)
-- would never fire it on the other replicas. On the local table it fires where the rows
-- are written, on the shard that owns the product; the replicas get the rollup's parts
-- by replication (and with insert deduplication a replayed block fires nothing).
CREATE TABLE IF NOT EXISTS {database}.{local:prices_hourly}{on_cluster}
(
    market      LowCardinality(String),
    asin        String CODEC(ZSTD(3)),
    series      LowCardinality(String),
    bucket      DateTime('UTC') CODEC(Delta, ZSTD(3)),
    min_price   SimpleAggregateFunction(min, Nullable(Int64)) CODEC(ZSTD(3)),
    max_price   SimpleAggregateFunction(max, Nullable(Int64)) CODEC(ZSTD(3)),
    first_state AggregateFunction(argMin, Int64, DateTime64(3, 'UTC'))
                CODEC(ZSTD(3)),
    last_state  AggregateFunction(argMax, Int64, DateTime64(3, 'UTC'))
                CODEC(ZSTD(3)),
    samples     SimpleAggregateFunction(sum, UInt64) CODEC(ZSTD(3))
)
ENGINE = {engine:AggregatingMergeTree}
ORDER BY (market, asin, series, bucket)
SETTINGS index_granularity = 1024, non_replicated_deduplication_window = 10000;

{distributed:prices_hourly};

CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.prices_hourly_mv{on_cluster} TO {database}.{local:prices_hourly}
AS SELECT
    market,
    asin,
    series,
    toStartOfHour(observed_at) AS bucket,
    min(price) AS min_price,
    max(price) AS max_price,
    argMinState(ifNull(price, -1), observed_at) AS first_state,
    argMaxState(ifNull(price, -1), observed_at) AS last_state,
    toUInt64(count()) AS samples
FROM {database}.{local:prices_raw}
GROUP BY market, asin, series, bucket;

CREATE TABLE IF NOT EXISTS {database}.{local:prices_daily}{on_cluster}
(
    market      LowCardinality(String),
    asin        String CODEC(ZSTD(3)),
    series      LowCardinality(String),
    bucket      Date CODEC(Delta, ZSTD(3)),
    min_price   SimpleAggregateFunction(min, Nullable(Int64)) CODEC(ZSTD(3)),
    max_price   SimpleAggregateFunction(max, Nullable(Int64)) CODEC(ZSTD(3)),
    first_state AggregateFunction(argMin, Int64, DateTime64(3, 'UTC'))
                CODEC(ZSTD(3)),
    last_state  AggregateFunction(argMax, Int64, DateTime64(3, 'UTC'))
                CODEC(ZSTD(3)),
    samples     SimpleAggregateFunction(sum, UInt64) CODEC(ZSTD(3))
)
ENGINE = {engine:AggregatingMergeTree}
ORDER BY (market, asin, series, bucket)
SETTINGS index_granularity = 1024, non_replicated_deduplication_window = 10000;

{distributed:prices_daily};

CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.prices_daily_mv{on_cluster} TO {database}.{local:prices_daily}
AS SELECT
    market,
    asin,
    series,
    toDate(observed_at) AS bucket,
    min(price) AS min_price,
    max(price) AS max_price,
    argMinState(ifNull(price, -1), observed_at) AS first_state,
    argMaxState(ifNull(price, -1), observed_at) AS last_state,
    toUInt64(count()) AS samples
FROM {database}.{local:prices_raw}
GROUP BY market, asin, series, bucket;

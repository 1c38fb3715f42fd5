-- Accepted price observations, one row per sighting (crawler, extension, verification).
--
-- ORDER BY (market, asin, series, observed_at): every read is "one product's series over
-- a time range" (charts, the price in force before a date), so a product's rows sit
-- together and in time order. It also makes the columns compress: within a product the
-- market/asin/series repeat, observed_at grows steadily and the price mostly repeats.
--
-- Codecs (bench/storage.py measures them): observed_at is Delta-encoded, T64 crops the
-- deltas to their ~25 significant bits, then ZSTD; what is left is mostly the sampling
-- jitter, which no codec can remove (crawls a few hours apart with minutes of jitter at
-- millisecond precision carry ~20 bits of entropy each). Measured per point on the
-- bench data: Delta+T64+ZSTD(3) 3.10 B, Delta+ZSTD(9) 3.26, Delta+ZSTD(3) 3.39,
-- DoubleDelta+ZSTD(3) 4.07, DoubleDelta 4.72. price is Delta + ZSTD because a price
-- repeats between changes and its delta is mostly 0 (~0.2 B/point). Low-cardinality strings are
-- dictionary-encoded. reporter is empty for crawler rows and compresses to nothing.
--
-- price is Nullable: NULL is a state, "no buy-box price" (out of stock, gone), never a
-- number. Aggregates skip NULLs, which is what min/max over available prices want.
--
-- No partitioning and index_granularity 1024: a chart reads one product. Measured with
-- bench/storage.py --compare-layouts (10,000 products x 2 years, 34 M points, chDB 26.9,
-- 2 cores), the "price before t" point lookup: unpartitioned, granularity 1024: p50 4.8 ms
-- (3.25 B/point); monthly partitions: p50 15.8 ms (3.57 B/point, every partition adds
-- its own index probe and its own compression restart); unpartitioned, granularity 8192:
-- p50 9.8 ms. A cluster shards by product; archival can move to partitions if needed.
--
-- ReplacingMergeTree: an exact replay of a row (same key and observed_at) collapses at
-- merge time, a last line of defence behind the insert deduplication below.
-- non_replicated_deduplication_window: the table remembers the hashes (or the
-- insert_deduplication_token) of its last N inserted blocks and skips a repeat, so a
-- batch replayed after a crash is stored once (on a cluster Replicated* engines do this
-- through Keeper).
CREATE TABLE IF NOT EXISTS {database}.prices_raw
(
    market       LowCardinality(String),
    asin         String CODEC(ZSTD(3)),
    series       LowCardinality(String),
    observed_at  DateTime64(3, 'UTC') CODEC(Delta, T64, ZSTD(3)),
    price        Nullable(Int64) CODEC(Delta, ZSTD(3)),
    currency     LowCardinality(String),
    availability LowCardinality(String),
    source       LowCardinality(String),
    reporter     String CODEC(ZSTD(3))
)
ENGINE = ReplacingMergeTree
ORDER BY (market, asin, series, observed_at)
SETTINGS index_granularity = 1024, non_replicated_deduplication_window = 10000;

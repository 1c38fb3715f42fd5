-- The price changes ingest published, one row per change of a money series: what the
-- home page's "biggest drops" starts from.
--
-- A product whose price did not move within the last 30 days cannot be under its
-- 30-day average, so the drops are found among the products with a change in the
-- window, read here in time order (ORDER BY market, series, observed_at): the scan is
-- the window's changes, not a marketplace's whole history in prices_raw, which is
-- ordered by product. Each change carries the price before and after it, so the highest
-- price a product held in the window, an upper bound of its average, comes from here
-- too; the exact time-weighted average is then read from prices_raw for the few
-- products that can still rank (pricewatch/storage/clickhouse/discovery.py).
--
-- The drops read the last 30 days; the rest is the price's story, kept as prices_raw
-- is (changes are a fraction of its rows). No TTL: history replayed with old dates
-- would expire as it lands. Monthly partitions, so a time range reads only its months
-- and an operator can drop old ones whole (ALTER TABLE ... DROP PARTITION).
--
-- MergeTree, with the insert deduplication window of the other tables: ingest inserts
-- a batch's changes with the batch's token, so a batch replayed after a crash adds no
-- second copy (and a copy would change nothing the drops read: which products changed
-- and the highest price each held). A backfill (import-csv) publishes no changes, so
-- it adds nothing here: the drops list is news.
CREATE TABLE IF NOT EXISTS {database}.{local:price_changes}{on_cluster}
(
    market      LowCardinality(String),
    series      LowCardinality(String),
    observed_at DateTime64(3, 'UTC') CODEC(Delta, ZSTD(3)),
    asin        String CODEC(ZSTD(3)),
    old_price   Nullable(Int64) CODEC(ZSTD(3)),
    new_price   Nullable(Int64) CODEC(ZSTD(3))
)
ENGINE = {engine:MergeTree}
PARTITION BY toYYYYMM(observed_at)
ORDER BY (market, series, observed_at, asin)
SETTINGS non_replicated_deduplication_window = 10000;

{distributed:price_changes};

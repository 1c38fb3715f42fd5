-- The crawl schedule: one row per product, written by the scheduler's scoring passes.
--
-- The full schedule lives here; Redis holds only the due-soon window (the frontier).
-- The refill job reads "due before now + window" in due order, so a product's row
-- carries what its frontier priority needs at refill time (importance, change rate, last
-- observation) and the rest is for operators asking "why is this crawled so often".
--
-- ReplacingMergeTree(scored_at): re-scoring a product is an insert, the newest score
-- wins on merge, and readers use FINAL (the refill query's WHERE on next_due is applied
-- after FINAL, so a stale row with an earlier due time is never returned). ORDER BY
-- (market, asin) because re-scoring and lookups go by product.
CREATE TABLE IF NOT EXISTS {database}.crawl_schedule
(
    market        LowCardinality(String),
    asin          String CODEC(ZSTD(3)),
    -- views-per-day units, see scheduler/scoring.py
    importance    Float64 CODEC(ZSTD(3)),
    -- estimated price changes per day
    change_rate   Float64 CODEC(ZSTD(3)),
    -- allocated crawls per second
    rate          Float64 CODEC(ZSTD(3)),
    -- the later of the last crawl and the last extension report (epoch 0: never)
    last_observed DateTime64(3, 'UTC') CODEC(Delta, ZSTD(3)),
    next_due      DateTime64(3, 'UTC') CODEC(Delta, ZSTD(3)),
    scored_at     DateTime64(3, 'UTC') CODEC(Delta, ZSTD(3))
)
ENGINE = ReplacingMergeTree(scored_at)
ORDER BY (market, asin);

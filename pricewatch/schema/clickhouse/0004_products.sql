-- Catalogue state, one row per (market, asin).
--
-- ReplacingMergeTree(last_seen): an upsert is an insert, the newest sighting wins on
-- merge, and a late, older upsert can never overwrite a newer one. Readers use FINAL on
-- a point key, which is cheap. Missing fields (a report without a title) are filled
-- from the stored row by the writer, so an upsert never erases what we knew.
CREATE TABLE IF NOT EXISTS {database}.{local:products}{on_cluster}
(
    market       LowCardinality(String),
    asin         String CODEC(ZSTD(3)),
    title        Nullable(String) CODEC(ZSTD(3)),
    image        Nullable(String) CODEC(ZSTD(3)),
    currency     LowCardinality(Nullable(String)),
    last_price   Nullable(Int64),
    availability LowCardinality(String),
    first_seen   DateTime64(3, 'UTC'),
    last_seen    DateTime64(3, 'UTC')
)
ENGINE = {engine:ReplacingMergeTree(last_seen)}
ORDER BY (market, asin);

{distributed:products};

-- What a product page says of the product besides its prices, kept as its current
-- attributes (not history): the buy-box seller, the average star rating in this
-- marketplace and how many rated it. The image was there from the start.
--
-- Nullable: unknown until a page shows it, and an upsert without it keeps the stored
-- value (the writer merges, see migration 0004). The rating has one decimal, as pages
-- print it.
ALTER TABLE {database}.products ADD COLUMN IF NOT EXISTS sold_by Nullable(String) CODEC(ZSTD(3));
ALTER TABLE {database}.products ADD COLUMN IF NOT EXISTS rating Nullable(Decimal(2, 1));
ALTER TABLE {database}.products ADD COLUMN IF NOT EXISTS review_count Nullable(UInt64);

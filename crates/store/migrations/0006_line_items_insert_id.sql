-- What an incremental refresh needs to find one insert's rows and to tell whether
-- any of them was stored before (see `Store::refresh_inserted`):
-- insert_id names the store consumer's insert a row came in (0 for rows written
-- before this migration, which no incremental refresh looks for), and
-- record_hash is the record key's 64-bit hash, 8 bytes a row to read where the
-- key itself is 64. One ALTER, applied whole or not at all.
ALTER TABLE line_items
    ADD COLUMN insert_id UInt64 DEFAULT 0,
    ADD COLUMN record_hash UInt64 MATERIALIZED cityHash64(record_key)

-- How each projection generation was made (see `Store::refresh_inserted`):
-- duplicate_free is 1 when the line items it sums held no record twice, so its
-- line item count is the raw row count and an insert may be added to it;
-- incremental is 1 when it was made by adding an insert, so the store consumer
-- recomputes it from the line items when the topic goes quiet, after a restart
-- too. Generations made before this migration read 0 and 0: the next refresh
-- of their period recomputes it. One ALTER, applied whole or not at all.
ALTER TABLE cost_daily_refresh
    ADD COLUMN duplicate_free UInt8 DEFAULT 0,
    ADD COLUMN incremental UInt8 DEFAULT 0

-- The places of money beyond 15 and of quantities beyond 18, up to 28. Each
-- amount x is stored as x truncated toward zero in its Decimal(38, 15) or
-- Decimal(38, 18) column plus x_rest = x - truncated in Decimal(38, 28); the rest
-- is below one unit of the last main place, so both sum without overflow and
-- sum(x) + sum(x_rest) is the exact total. Rows written before this migration had
-- no places beyond the main column, so their rest is 0. A rest is 0 where its
-- amount is NULL. One ALTER, so it is applied whole or not at all (ClickHouse
-- 18.16 has no ADD COLUMN IF NOT EXISTS; the migration runner treats "already
-- exists" as applied).
ALTER TABLE line_items
    ADD COLUMN billed_cost_rest Decimal(38, 28) DEFAULT 0,
    ADD COLUMN effective_cost_rest Decimal(38, 28) DEFAULT 0,
    ADD COLUMN list_cost_rest Decimal(38, 28) DEFAULT 0,
    ADD COLUMN contracted_cost_rest Decimal(38, 28) DEFAULT 0,
    ADD COLUMN pricing_quantity_rest Decimal(38, 28) DEFAULT 0,
    ADD COLUMN consumed_quantity_rest Decimal(38, 28) DEFAULT 0
